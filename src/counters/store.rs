//! The device's [`Tally`]: the [`Counters`] kept in `<state_dir>/counters.json`.
//!
//! A counted happening is written at once, or [`COUNT_WRITE_GAP`] after the last write when
//! they come faster (a camera cable that comes and goes must not wear out the flash); the
//! uptime alone is written every [`UPTIME_WRITE_EVERY`] and at a clean stop. A power cut loses
//! at most that much. Writes are atomic (temp file, fsync, rename):
//! a power cut leaves the old or the new file. A file that cannot be read as counters is moved
//! aside to `counters.json.bad` (kept for a technician) and counting starts afresh; a failed
//! write is logged and retried with the next count, and never stops the device.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tally::{Counters, FORMAT, VERSION};
use super::{CountersError, Happening, Tally};

/// The counters file in `state_dir`.
pub const COUNTERS_FILE: &str = "counters.json";
/// The shortest time between two writes for counts.
pub const COUNT_WRITE_GAP: Duration = Duration::from_secs(5);
/// How often the uptime alone is written.
pub const UPTIME_WRITE_EVERY: Duration = Duration::from_secs(600);

/// Where the day comes from: `Some("YYYY-MM-DD")` when the clock is trustworthy, else `None`.
pub type Today = Box<dyn FnMut() -> Option<String> + Send>;

/// The counters file of `state_dir`.
pub fn counters_path(state_dir: &Path) -> PathBuf {
    state_dir.join(COUNTERS_FILE)
}

/// Reads the counters file; a missing file is no counts yet.
pub fn read(path: &Path) -> Result<Counters, CountersError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Counters::default()),
        Err(source) => {
            return Err(CountersError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let format = |message: String| CountersError::Format {
        path: path.to_path_buf(),
        message,
    };
    let c: Counters = serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))?;
    if c.format != FORMAT || c.version > VERSION {
        return Err(format(format!(
            "format {:?} version {} is not {FORMAT:?} version {VERSION} or older",
            c.format, c.version
        )));
    }
    Ok(c)
}

/// Writes `counters` to `path` atomically.
pub fn write(path: &Path, counters: &Counters) -> Result<(), CountersError> {
    let json = serde_json::to_vec_pretty(counters).map_err(|e| CountersError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    crate::gallery::write_atomic(path, &json).map_err(|e| CountersError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The counts of the running device, kept in its state folder.
pub struct Recorder {
    path: PathBuf,
    counters: Counters,
    today: Today,
    software: String,
    /// The loop's clock at the last uptime update, and the part of a second not yet counted.
    last_tick: Option<Duration>,
    carry: Duration,
    /// The loop's clock when the file was last written.
    written_at: Duration,
    /// Counts not yet written.
    counts_pending: bool,
    /// Uptime not yet written.
    uptime_pending: bool,
}

impl Recorder {
    /// The counters in `state_dir` (created 0700 if missing). A file that is not counters is
    /// moved aside to `counters.json.bad` and counting starts afresh (logged).
    pub fn open(state_dir: &Path, software: &str, today: Today) -> Result<Recorder, CountersError> {
        crate::app::save::create_dir_0700(state_dir).map_err(|source| CountersError::Write {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = counters_path(state_dir);
        let counters = match read(&path) {
            Ok(c) => c,
            Err(e @ CountersError::Format { .. }) => {
                let bad = state_dir.join(format!("{COUNTERS_FILE}.bad"));
                log::warn!("{e}: kept as {}, counting afresh", bad.display());
                std::fs::rename(&path, &bad).map_err(|source| CountersError::Write {
                    path: bad.clone(),
                    source,
                })?;
                Counters::default()
            }
            Err(e) => return Err(e),
        };
        Ok(Recorder {
            path,
            counters,
            today,
            software: software.into(),
            last_tick: None,
            carry: Duration::ZERO,
            written_at: Duration::ZERO,
            counts_pending: false,
            uptime_pending: false,
        })
    }

    /// The counts so far (as written, plus anything pending).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn day(&mut self) -> Option<String> {
        (self.today)()
    }

    /// Adds the time since the last tick to today's uptime, in whole seconds.
    fn add_uptime(&mut self, now: Duration) {
        let since = self
            .last_tick
            .map_or(Duration::ZERO, |t| now.saturating_sub(t));
        self.last_tick = Some(now);
        let total = self.carry + since;
        let secs = total.as_secs();
        self.carry = total - Duration::from_secs(secs);
        if secs > 0 {
            let day = self.day();
            self.counters.day_mut(day.as_deref()).uptime_s += secs;
            self.uptime_pending = true;
        }
    }

    /// Writes the file now; a failure is logged and the counts stay pending (tried again
    /// after [`COUNT_WRITE_GAP`]).
    fn write_now(&mut self, now: Duration) {
        self.written_at = now;
        match write(&self.path, &self.counters) {
            Ok(()) => (self.counts_pending, self.uptime_pending) = (false, false),
            Err(e) => {
                self.counts_pending = true;
                log::warn!("counters not written: {e}");
            }
        }
    }

    /// Writes pending counts once [`COUNT_WRITE_GAP`] has passed, uptime alone once
    /// [`UPTIME_WRITE_EVERY`] has.
    fn write_if_due(&mut self, now: Duration) {
        let since = now.saturating_sub(self.written_at);
        if self.counts_pending && since >= COUNT_WRITE_GAP
            || self.uptime_pending && since >= UPTIME_WRITE_EVERY
        {
            self.write_now(now);
        }
    }
}

impl Tally for Recorder {
    fn start(&mut self, now: Duration) {
        let day = self.day();
        let unclean = std::mem::replace(&mut self.counters.running, true);
        let d = self.counters.day_mut(day.as_deref());
        d.starts += 1;
        d.unclean_stops += u64::from(unclean);
        let software = self.software.clone();
        d.note_version("software", &software);
        self.last_tick = Some(now);
        self.write_now(now);
    }

    fn count(&mut self, what: &Happening, now: Duration) {
        self.add_uptime(now);
        let day = self.day();
        self.counters.apply(day.as_deref(), what);
        self.counts_pending = true;
        self.write_if_due(now);
    }

    fn tick(&mut self, now: Duration) {
        self.add_uptime(now);
        self.write_if_due(now);
    }

    fn stop(&mut self, now: Duration) {
        self.add_uptime(now);
        let day = self.day();
        self.counters.day_mut(day.as_deref()).clean_stops += 1;
        self.counters.running = false;
        self.write_now(now);
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("days", &self.counters.days.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{Failure, UNDATED};

    fn dated(day: &'static str) -> Today {
        Box::new(move || Some(day.to_string()))
    }

    #[test]
    fn counts_survive_a_restart_and_an_unclean_stop_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let s = |n| Duration::from_secs(n);
        let mut r = Recorder::open(dir.path(), "0.1.0", dated("2026-12-07")).unwrap();
        r.start(s(0));
        r.count(&Happening::Session { photos: 2 }, s(30));
        r.tick(s(90));
        // A power cut now: the file has the session, and 30 s of uptime (written with it).
        let mut again = Recorder::open(dir.path(), "0.1.0", dated("2026-12-07")).unwrap();
        let day = &again.counters().days["2026-12-07"];
        assert_eq!((day.starts, day.sessions, day.uptime_s), (1, 1, 30));
        again.start(s(0));
        again.count(&Happening::Error(Failure::CameraLost), s(5));
        again.tick(s(700));
        again.stop(s(1000));
        let c = read(&counters_path(dir.path())).unwrap();
        let day = &c.days["2026-12-07"];
        assert_eq!((day.starts, day.unclean_stops, day.clean_stops), (2, 1, 1));
        assert_eq!(day.uptime_s, 30 + 1000);
        assert_eq!(day.errors["camera_lost"], 1);
        assert!(day.versions["software"].contains("0.1.0"));
        assert!(!c.running);
    }

    #[test]
    fn uptime_alone_is_written_every_ten_minutes_and_seconds_carry() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::open(dir.path(), "0.1.0", Box::new(|| None)).unwrap();
        r.start(Duration::ZERO);
        for ms in (0..=599_900).step_by(700) {
            r.tick(Duration::from_millis(ms));
        }
        let on_disk = read(r.path()).unwrap();
        assert_eq!(
            on_disk.days[UNDATED].uptime_s, 0,
            "not written before ten minutes"
        );
        assert_eq!(
            r.counters().days[UNDATED].uptime_s,
            599,
            "fractions carried"
        );
        r.tick(Duration::from_secs(601));
        assert_eq!(read(r.path()).unwrap().days[UNDATED].uptime_s, 601);
    }

    #[test]
    fn counts_in_quick_succession_are_written_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::open(dir.path(), "0.1.0", Box::new(|| None)).unwrap();
        let ms = Duration::from_millis;
        r.start(ms(0));
        for t in (100..4000).step_by(100) {
            r.count(&Happening::Error(Failure::CameraLost), ms(t));
        }
        let lost = |c: &Counters| c.days[UNDATED].errors.get("camera_lost").copied();
        assert_eq!(lost(&read(r.path()).unwrap()), None, "not written yet");
        r.tick(ms(4900));
        assert_eq!(lost(&read(r.path()).unwrap()), None);
        r.tick(ms(5000));
        assert_eq!(lost(&read(r.path()).unwrap()), Some(39));
    }

    #[test]
    fn a_damaged_file_is_kept_aside_and_counting_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = counters_path(dir.path());
        std::fs::write(&path, b"{\"format\": \"gestaltcam-counters\", \"ver").unwrap();
        let mut r = Recorder::open(dir.path(), "0.1.0", Box::new(|| None)).unwrap();
        assert!(r.counters().days.is_empty());
        let bad = std::fs::read(dir.path().join("counters.json.bad")).unwrap();
        assert!(bad.starts_with(b"{\"format\""), "the damaged file is kept");
        r.start(Duration::ZERO);
        assert_eq!(read(&path).unwrap().days[UNDATED].starts, 1);

        // A newer format is not guessed at either.
        std::fs::write(
            &path,
            br#"{"format":"gestaltcam-counters","version":9,"running":false,"days":{}}"#,
        )
        .unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
