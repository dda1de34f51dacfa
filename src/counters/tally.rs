//! The counts: one [`DayCounts`] per day of use, in a [`Counters`] that is the whole
//! `counters.json`. Pure: [`Counters::apply`] adds one [`Happening`] to a day.
//!
//! Bounded: at most [`MAX_DAYS`] dated days (the oldest go first), at most
//! [`MAX_VERSIONS`] versions of each kind a day, and the maps are keyed by a fixed set of kinds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{issue_key, Happening, Versions};

/// The counters file's `format`.
pub const FORMAT: &str = "gestaltcam-counters";
/// The counters file's `version`: a reader refuses a higher one.
pub const VERSION: u32 = 1;
/// The day the counts of an untrustworthy clock go under.
pub const UNDATED: &str = "undated";
/// Dated days kept (about a year of daily use; the oldest are dropped first).
pub const MAX_DAYS: usize = 366;
/// The `not_taken` reason when there was no frame to take (no camera, or none yet).
pub const NO_FRAME: &str = "no_frame";
/// Versions of each kind kept per day.
pub const MAX_VERSIONS: usize = 8;

/// Everything counted, by day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    pub format: String,
    pub version: u32,
    /// The device was running when this was last written (a start that finds it set counts
    /// an unclean stop: power cut, crash or watchdog restart).
    pub running: bool,
    /// `"YYYY-MM-DD"` or [`UNDATED`] → that day's counts.
    pub days: BTreeMap<String, DayCounts>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            format: FORMAT.into(),
            version: VERSION,
            running: false,
            days: BTreeMap::new(),
        }
    }
}

/// One day's counts. Every field is a count; the maps are keyed by kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DayCounts {
    /// The device program started (a boot, or a restart).
    pub starts: u64,
    /// Stopped in order (shutdown, service stop).
    pub clean_stops: u64,
    /// A start found that the run before it had not stopped in order.
    pub unclean_stops: u64,
    /// Seconds the device program ran.
    pub uptime_s: u64,
    /// Patients whose photos were analysed.
    pub sessions: u64,
    /// Photos in those analyses.
    pub photos: u64,
    /// Capture presses that took no photo, by the preview's reason (`no_face`, `too_dark`, …).
    pub not_taken: BTreeMap<String, u64>,
    /// Analyses that found no usable face (the clinician retakes), by reason.
    pub retakes: BTreeMap<String, u64>,
    /// Results with ranked candidates.
    pub results_close_match: u64,
    /// Results that were "no close match".
    pub results_no_close_match: u64,
    /// Question rounds that ended with a re-ranked list.
    pub question_rounds: u64,
    /// Errors by kind (`camera_lost`, `model_failed`, …).
    pub errors: BTreeMap<String, u64>,
    /// Versions in use that day: `software`, `model`, `gallery`, `hpo`.
    pub versions: BTreeMap<String, BTreeSet<String>>,
}

impl DayCounts {
    /// The share of results that were "no close match", in whole percent; `None` without
    /// results.
    pub fn no_close_match_percent(&self) -> Option<u64> {
        let all = self.results_close_match + self.results_no_close_match;
        (all > 0).then(|| (self.results_no_close_match * 100 + all / 2) / all)
    }

    fn add(&mut self, what: &Happening) {
        match what {
            Happening::NotTaken(issue) => {
                bump(&mut self.not_taken, issue.map_or(NO_FRAME, issue_key))
            }
            Happening::Session { photos } => {
                self.sessions += 1;
                self.photos += *photos as u64;
            }
            Happening::Retake(issue) => bump(&mut self.retakes, issue_key(*issue)),
            Happening::Result {
                close_match,
                versions,
            } => {
                if *close_match {
                    self.results_close_match += 1;
                } else {
                    self.results_no_close_match += 1;
                }
                self.note_versions(versions);
            }
            Happening::QuestionRound => self.question_rounds += 1,
            Happening::Error(f) => bump(&mut self.errors, f.key()),
        }
    }

    fn note_versions(&mut self, v: &Versions) {
        self.note_version("model", &v.model);
        self.note_version("gallery", &v.gallery);
        if let Some(h) = &v.hpo {
            self.note_version("hpo", h);
        }
    }

    /// Keeps `value` under `kind` unless [`MAX_VERSIONS`] are kept already.
    pub fn note_version(&mut self, kind: &str, value: &str) {
        let set = self.versions.entry(kind.to_string()).or_default();
        if set.len() < MAX_VERSIONS && !value.is_empty() {
            set.insert(value.chars().take(80).collect());
        }
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    *map.entry(key.to_string()).or_default() += 1;
}

/// Whether `s` is a day key: `YYYY-MM-DD` with a plausible month and day.
pub fn is_day(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return false;
    }
    let month: u32 = s[5..7].parse().unwrap_or(0);
    let day: u32 = s[8..10].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

impl Counters {
    /// The day's counts, created if new: `day` when it is a day key, else [`UNDATED`]. Adding a
    /// dated day beyond [`MAX_DAYS`] drops the oldest.
    pub fn day_mut(&mut self, day: Option<&str>) -> &mut DayCounts {
        let key = match day {
            Some(d) if is_day(d) => d,
            Some(d) => {
                log::debug!("counters: {d:?} is not a day (YYYY-MM-DD): counted as undated");
                UNDATED
            }
            None => UNDATED,
        };
        if !self.days.contains_key(key) {
            self.days.insert(key.to_string(), DayCounts::default());
            self.trim();
        }
        self.days.get_mut(key).expect("inserted above")
    }

    /// Adds `what` to `day`.
    pub fn apply(&mut self, day: Option<&str>, what: &Happening) {
        self.day_mut(day).add(what);
    }

    /// Drops the oldest dated days beyond [`MAX_DAYS`].
    fn trim(&mut self) {
        while self.days.keys().filter(|k| *k != UNDATED).count() > MAX_DAYS {
            let oldest = self.days.keys().find(|k| *k != UNDATED).cloned();
            match oldest {
                Some(k) => self.days.remove(&k),
                None => break,
            };
        }
    }

    /// Dated days in order, then the undated counts.
    pub fn in_order(&self) -> impl Iterator<Item = (&String, &DayCounts)> {
        let dated = self.days.iter().filter(|(k, _)| *k != UNDATED);
        dated.chain(self.days.iter().filter(|(k, _)| *k == UNDATED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Failure;
    use crate::vision::quality::Issue;

    fn result(close_match: bool) -> Happening {
        Happening::Result {
            close_match,
            versions: Versions {
                model: "dlib-int8".into(),
                gallery: "GMDB 2026-06".into(),
                hpo: Some("HPO 2025-01-16".into()),
            },
        }
    }

    #[test]
    fn happenings_are_counted_on_their_day_and_undated_without_one() {
        let mut c = Counters::default();
        let d = Some("2026-12-07");
        c.apply(d, &Happening::Session { photos: 3 });
        c.apply(d, &Happening::Session { photos: 2 });
        c.apply(d, &Happening::NotTaken(Some(Issue::TooDark)));
        c.apply(d, &Happening::NotTaken(Some(Issue::TooDark)));
        c.apply(d, &Happening::Retake(Issue::NoFace));
        c.apply(d, &result(true));
        c.apply(d, &result(false));
        c.apply(d, &result(false));
        c.apply(d, &Happening::Error(Failure::CameraLost));
        c.apply(None, &Happening::Session { photos: 1 });
        c.apply(Some("7 Dec"), &Happening::QuestionRound);

        let day = &c.days["2026-12-07"];
        assert_eq!((day.sessions, day.photos), (2, 5));
        assert_eq!(day.not_taken["too_dark"], 2);
        assert_eq!(day.retakes["no_face"], 1);
        assert_eq!(
            (day.results_close_match, day.results_no_close_match),
            (1, 2)
        );
        assert_eq!(day.no_close_match_percent(), Some(67));
        assert_eq!(day.errors["camera_lost"], 1);
        assert_eq!(day.versions["gallery"].len(), 1);
        assert!(day.versions["hpo"].contains("HPO 2025-01-16"));
        let undated = &c.days[UNDATED];
        assert_eq!((undated.sessions, undated.question_rounds), (1, 1));
        assert_eq!(DayCounts::default().no_close_match_percent(), None);
    }

    #[test]
    fn days_and_versions_are_bounded() {
        let mut c = Counters::default();
        c.apply(None, &Happening::QuestionRound);
        for n in 0..(MAX_DAYS + 10) {
            let day = format!(
                "{}-{:02}-{:02}",
                2000 + n / 300,
                1 + (n / 28) % 12,
                1 + n % 28
            );
            c.apply(Some(&day), &Happening::Session { photos: 1 });
        }
        assert_eq!(
            c.days.len(),
            MAX_DAYS + 1,
            "dated days capped, undated kept"
        );
        assert!(c.days.contains_key(UNDATED));
        assert!(!c.days.contains_key("2000-01-01"), "the oldest went first");
        let day = c.day_mut(Some("2030-01-01"));
        for n in 0..20 {
            day.note_version("model", &format!("m{n}"));
        }
        assert_eq!(day.versions["model"].len(), MAX_VERSIONS);
    }

    #[test]
    fn day_keys_are_checked() {
        assert!(is_day("2026-12-07"));
        for bad in [
            "2026-13-01",
            "2026-12-7",
            "20261207",
            "2026-12-07T10",
            "abcd-ef-gh",
        ] {
            assert!(!is_day(bad), "{bad}");
        }
    }
}
