//! The usage report: the device's counters as versioned JSON, with a detached signature by the
//! device's own key ([`super::DeviceKey`]).
//!
//! `R` is signed by `R.sig`, a two-line text file:
//!
//! ```text
//! gestaltcam-report-signature v1
//! <128 hex digits: the ed25519 signature>
//! ```
//!
//! The signed message is `b"gestaltcam-report-signature-v1\0"` followed by the sha256 of the
//! whole report file: any changed byte fails [`verify`]. The fields are documented in
//! `docs/usage-report.md`.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{key::device_id, Counters, CountersError, DayCounts, DeviceKey};

/// The report's `format`.
pub const FORMAT: &str = "gestaltcam-usage-report";
/// The report's `version`: a reader refuses a higher one.
pub const VERSION: u32 = 1;
const SIG_HEADER: &str = "gestaltcam-report-signature v1";
const DOMAIN: &[u8] = b"gestaltcam-report-signature-v1\0";

/// The report file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub format: String,
    pub version: u32,
    /// The short id of the device's key ([`super::key::device_id`]).
    pub device_id: String,
    /// The device's ed25519 public key, 64 hex digits.
    pub device_public_key: String,
    /// The `gestaltcam` version that wrote the report.
    pub software_version: String,
    /// The day the report was made; `null` when the device's clock was not trustworthy.
    pub made_on: Option<String>,
    /// Dated days in order, then the `undated` counts.
    pub days: Vec<ReportDay>,
}

/// One day of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDay {
    /// `YYYY-MM-DD` or `undated`.
    pub day: String,
    /// Results that were "no close match", in whole percent of the day's results; `null`
    /// without results.
    pub no_close_match_percent: Option<u64>,
    pub counts: DayCounts,
}

impl Report {
    /// The report of `counters`, by the device with `key`, made on `today`.
    pub fn new(counters: &Counters, key: &DeviceKey, software: &str, today: Option<&str>) -> Self {
        let days = counters
            .in_order()
            .map(|(day, counts)| ReportDay {
                day: day.clone(),
                no_close_match_percent: counts.no_close_match_percent(),
                counts: counts.clone(),
            })
            .collect();
        Report {
            format: FORMAT.into(),
            version: VERSION,
            device_id: key.device_id(),
            device_public_key: hex::encode(key.public().as_bytes()),
            software_version: software.into(),
            made_on: today
                .filter(|d| super::tally::is_day(d))
                .map(str::to_string),
            days,
        }
    }
}

/// `R` → `R.sig`.
pub fn sig_path(report: &Path) -> PathBuf {
    let mut s = report.as_os_str().to_os_string();
    s.push(".sig");
    PathBuf::from(s)
}

fn message(bytes: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(bytes));
    m
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CountersError> {
    crate::gallery::write_atomic(path, bytes).map_err(|e| CountersError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Writes `report` to `out` and its signature by `key` to `out.sig` (each atomically; the
/// signature last); returns the signature's path.
pub fn write_signed(
    report: &Report,
    key: &DeviceKey,
    out: &Path,
) -> Result<PathBuf, CountersError> {
    let mut bytes = serde_json::to_vec_pretty(report).map_err(|e| CountersError::Format {
        path: out.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    let sig = key.signing_key().sign(&message(&bytes));
    let sig_file = sig_path(out);
    write_file(out, &bytes)?;
    write_file(
        &sig_file,
        format!("{SIG_HEADER}\n{}\n", hex::encode(sig.to_bytes())).as_bytes(),
    )?;
    Ok(sig_file)
}

/// Checks `report` against `report.sig` with the device's public `key`, then reads it.
pub fn verify(report: &Path, key: &VerifyingKey) -> Result<Report, CountersError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| CountersError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let bytes = read(report)?;
    let sp = sig_path(report);
    let text = read(&sp)?;
    let bad = |path: &Path, message: &str| CountersError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    };
    let text = std::str::from_utf8(&text).map_err(|_| bad(&sp, "not text"))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(SIG_HEADER) {
        return Err(bad(
            &sp,
            "missing the `gestaltcam-report-signature v1` line",
        ));
    }
    let raw: [u8; 64] = lines
        .next()
        .and_then(|l| hex::decode(l.trim()).ok())
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad(&sp, "second line is not 128 hex digits"))?;
    key.verify(&message(&bytes), &Signature::from_bytes(&raw))
        .map_err(|_| CountersError::BadSignature { sig: sp.clone() })?;
    let r: Report = serde_json::from_slice(&bytes).map_err(|e| bad(report, &e.to_string()))?;
    if r.format != FORMAT || r.version > VERSION {
        return Err(bad(
            report,
            "not a gestaltcam usage report this version reads",
        ));
    }
    if r.device_public_key != hex::encode(key.as_bytes()) || r.device_id != device_id(key) {
        return Err(bad(report, "names another device than the key"));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{Happening, UNDATED};

    fn counters() -> Counters {
        let mut c = Counters::default();
        c.apply(Some("2026-12-07"), &Happening::Session { photos: 2 });
        c.apply(None, &Happening::QuestionRound);
        c.apply(Some("2026-12-06"), &Happening::Session { photos: 1 });
        c
    }

    #[test]
    fn a_signed_report_verifies_and_any_changed_byte_fails() {
        let dir = tempfile::tempdir().unwrap();
        let key = DeviceKey::load_or_create(&dir.path().join("state")).unwrap();
        let out = dir.path().join("report.json");
        let report = Report::new(&counters(), &key, "0.1.0", Some("2026-12-07"));
        let days: Vec<&str> = report.days.iter().map(|d| d.day.as_str()).collect();
        assert_eq!(days, ["2026-12-06", "2026-12-07", UNDATED]);
        write_signed(&report, &key, &out).unwrap();
        assert_eq!(verify(&out, &key.public()).unwrap(), report);

        let good = std::fs::read(&out).unwrap();
        for at in [0, good.len() / 2, good.len() - 2] {
            let mut changed = good.clone();
            changed[at] ^= 0x01;
            std::fs::write(&out, &changed).unwrap();
            let err = verify(&out, &key.public()).unwrap_err();
            assert!(matches!(err, CountersError::BadSignature { .. }), "{err:?}");
        }
        std::fs::write(&out, &good).unwrap();
        let other = DeviceKey::load_or_create(&dir.path().join("other")).unwrap();
        assert!(matches!(
            verify(&out, &other.public()),
            Err(CountersError::BadSignature { .. })
        ));
        std::fs::remove_file(sig_path(&out)).unwrap();
        assert!(matches!(
            verify(&out, &key.public()),
            Err(CountersError::Read { .. })
        ));
    }

    #[test]
    fn an_untrusted_day_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let key = DeviceKey::load_or_create(dir.path()).unwrap();
        assert_eq!(Report::new(&counters(), &key, "0.1.0", None).made_on, None);
        assert_eq!(
            Report::new(&counters(), &key, "0.1.0", Some("07/12/2026")).made_on,
            None
        );
    }
}
