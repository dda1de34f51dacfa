//! Versions of bundles and of the device: dot-separated whole numbers (`1.4.2`, a date serial
//! `2026.06.1`), compared number by number, a missing number counting as 0 (`2026.06` =
//! `2026.6.0`). Anything else (letters, empty parts, signs) is refused, so the order is never a
//! guess.

use std::cmp::Ordering;

use super::{BundleError, Result};

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Vec<u64>);

impl Version {
    /// Parses `text`: 1 to 6 dot-separated whole numbers.
    pub fn parse(text: &str) -> Result<Version> {
        let bad = |reason: &str| BundleError::Version {
            value: text.to_string(),
            reason: reason.into(),
        };
        let parts: Vec<&str> = text.split('.').collect();
        if text.is_empty() || parts.len() > 6 {
            return Err(bad("expected 1 to 6 dot-separated numbers, e.g. 2026.06.1"));
        }
        parts
            .iter()
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 18 {
                    Err(bad("each part must be a whole number, e.g. 2026.06.1"))
                } else {
                    p.parse::<u64>().map_err(|_| bad("number out of range"))
                }
            })
            .collect::<Result<Vec<u64>>>()
            .map(Version)
    }

    /// The version of this build (`CARGO_PKG_VERSION`).
    pub fn device() -> Version {
        Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate's version is X.Y.Z")
    }

    fn part(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        (0..n)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_order_number_by_number() {
        assert!(v("2026.06.1") > v("2026.06"));
        assert!(v("2026.10") > v("2026.9.9"));
        assert_eq!(v("2026.06").cmp(&v("2026.6.0")), Ordering::Equal);
        assert!(v("0.2.0") > v("0.1.9"));
        assert!(v("1") < v("1.0.1"));
        assert_eq!(v("2026.06.1").to_string(), "2026.6.1");
    }

    #[test]
    fn anything_but_dotted_numbers_is_refused() {
        for bad in [
            "",
            "1..2",
            "v1",
            "1.2-rc1",
            "1.2.",
            "-1",
            "1.2.3.4.5.6.7",
            " 1",
        ] {
            let err = Version::parse(bad).unwrap_err();
            assert!(matches!(err, BundleError::Version { .. }), "{bad:?}: {err}");
        }
        assert!(Version::device() >= v("0.1.0"));
    }
}
