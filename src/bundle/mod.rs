//! Signed content bundles: one file (`*.gcb`) that carries galleries, models with their
//! manifest, HPO release files and a small configuration fragment from a programme to its
//! devices on a USB stick (the format is described in docs/bundles.md).
//!
//! - [`format`]: the file itself: header, JSON manifest, payload, ed25519 signature; written by
//!   [`format::make`], read and checked by [`format::read_bundle`] in one streaming pass with
//!   bounded memory (galleries and models can be hundreds of MB).
//! - [`version`]: the dotted-number order of bundle and device versions.
//! - [`fragment`]: the configuration keys a programme may change, and how they are applied.
//! - [`store`]: `<state_dir>/content/`: staged folders, the `current` and `previous` symlinks,
//!   the atomic switch and the roll-back; re-verification of a content folder at start-up.
//! - [`import`]: a stick's bundle verified, staged, checked (by a [`import::ContentCheck`] the
//!   device provides) and switched in; the [`notice`] it leaves for the panel.
//!
//! Nothing here opens `/dev/*` or loads a model: the device's checks of staged content (models
//! load, galleries bind, HPO parses) live in [`crate::setup::content`].

pub mod format;
pub mod fragment;
pub mod import;
pub mod notice;
pub mod store;
pub mod version;

use std::path::PathBuf;

pub use format::{BundleManifest, Entry, EntryKind};

/// Why a bundle was refused or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a gestaltcam bundle (wrong magic bytes)")]
    NotABundle { path: PathBuf },
    #[error(
        "bundle format version {found} is not supported (this device reads version {supported})"
    )]
    UnsupportedFormat { found: u32, supported: u32 },
    #[error("truncated: the file ends at byte {got}, its manifest needs {expected}")]
    Truncated { got: u64, expected: u64 },
    #[error("{extra} unexpected byte(s) after the signature")]
    TrailingData { extra: u64 },
    #[error("bundle manifest: {0}")]
    Manifest(String),
    #[error("entry path `{path}`: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("entry `{path}` does not match its sha256 (altered or damaged)")]
    HashMismatch { path: String },
    #[error("signed by key {fingerprint}, which is not among the device's trusted keys")]
    UntrustedKey { fingerprint: String },
    #[error("the signature does not verify (the file was altered after signing)")]
    BadSignature,
    #[error("no trusted keys (`*.pub`) in {dir}")]
    NoTrustedKeys { dir: PathBuf },
    #[error("key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("version `{value}`: {reason}")]
    Version { value: String, reason: String },
    #[error("version {offered} is not newer than the content in use ({current}); a technician may pass --allow-downgrade")]
    Downgrade { current: String, offered: String },
    #[error("needs device version {needed} or later; this device runs {device}")]
    NeedsNewerDevice { needed: String, device: String },
    #[error("config fragment: {0}")]
    Fragment(String),
    #[error("content check: {what}: {message}")]
    Check { what: String, message: String },
    #[error("input {path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error("several bundles on the stick ({names}); leave one")]
    SeveralBundles { names: String },
}

impl BundleError {
    /// What the panel says about a refused bundle, in the clinician's words.
    pub fn clinician_text(&self) -> &'static str {
        use BundleError as E;
        match self {
            E::UntrustedKey { .. } | E::BadSignature | E::NoTrustedKeys { .. } => {
                "Update refused: not signed by your programme"
            }
            E::NeedsNewerDevice { .. } => "Update needs a newer device version",
            E::Downgrade { .. } => "Update refused: older than the content in use",
            E::Check { .. } | E::Fragment(_) => {
                "Update refused: its content failed the device's checks"
            }
            E::Read { .. } => "Update stopped: the stick could not be read. Nothing was changed",
            E::Write { .. } => "Update failed: the device could not store it. Nothing was changed",
            E::SeveralBundles { .. } => "Update refused: more than one update on the stick",
            _ => "Update refused: the file on the stick is damaged or incomplete",
        }
    }
}

pub type Result<T, E = BundleError> = std::result::Result<T, E>;

/// `secs` after 1970-01-01 UTC as RFC 3339 (`2026-06-01T09:00:00Z`): a bundle's `created`.
pub fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since the epoch (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_written_as_rfc3339() {
        assert_eq!(super::rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339_utc(1_780_304_400), "2026-06-01T09:00:00Z");
    }
}
