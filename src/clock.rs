//! Whether the device's date can be trusted. A Raspberry Pi has no real-time clock: after a
//! power cut without network its clock may say 1970, or any time it last saved. The device
//! trusts its clock only when the time is
//!
//! - not earlier than its own build time ([`BUILD_TIME`], fixed when the binary is built), and
//! - not earlier than the last trusted time it saw ([`TrustStore`], kept in the state
//!   folder and raised while the clock is trusted, and by the creation time of a programme's
//!   bundle: [`raise_last_trusted`]).
//!
//! Nothing refuses to work because of the date; a date that is not trusted is simply not shown
//! or encoded anywhere ([`TrustedClock::today`] is `None`), and the log says "clock not
//! trusted". Everything here is pure but [`store::FileStore`] (the state file) and
//! [`SystemWall`] (the system's time).

pub mod store;

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01 UTC.
pub type Unix = i64;

/// The build's own time: the commit time of the source, or `SOURCE_DATE_EPOCH` (build.rs), so
/// the same source builds the same binary.
pub const BUILD_TIME: Unix = parse_decimal(env!("GESTALTCAM_BUILD_TIME"));

// build.rs never embeds a time before 2026-12-01 (its floor).
const _: () = assert!(BUILD_TIME >= 1_796_083_200);

/// How far the saved last trusted time may lag the clock before it is written again.
pub const SAVE_EVERY: Unix = 3600;

/// `s` as a decimal number (for the build time, at compile time).
const fn parse_decimal(s: &str) -> Unix {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: Unix = 0;
    while i < b.len() {
        assert!(
            b[i].is_ascii_digit(),
            "GESTALTCAM_BUILD_TIME is not a number"
        );
        v = v * 10 + (b[i] - b'0') as Unix;
        i += 1;
    }
    v
}

/// Why a time could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("{0:?} is not a time of the form 2026-06-01T12:00:00Z")]
    BadTime(String),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The verdict on one reading of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    /// Earlier than the build: the clock was reset (1970 after a power cut).
    BeforeBuild {
        build: Unix,
    },
    /// Earlier than a time the device already saw as trusted.
    BeforeLastTrusted {
        last: Unix,
    },
}

/// The verdict on `now` for a device built at `build` that last trusted `last`.
pub fn judge(now: Unix, build: Unix, last: Option<Unix>) -> Trust {
    match last {
        _ if now < build => Trust::BeforeBuild { build },
        Some(last) if now < last => Trust::BeforeLastTrusted { last },
        _ => Trust::Trusted,
    }
}

/// The new last trusted time after a bundle created at `created` was accepted: the later of
/// the two (a bundle cannot have been made after the time it reached the device).
pub fn raise(last: Option<Unix>, created: Unix) -> Unix {
    last.map_or(created, |l| l.max(created))
}

/// Raises the last trusted time kept in `store` to `created` (a bundle's creation time; the
/// bundle import calls this after a verified bundle); returns the time kept.
pub fn raise_last_trusted(store: &mut dyn TrustStore, created: Unix) -> Result<Unix, ClockError> {
    let last = store.load()?;
    let kept = raise(last, created);
    if Some(kept) != last {
        store.save(kept)?;
    }
    Ok(kept)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day) → days since 1970-01-01 (`days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC day of `t`: `2026-12-07`.
pub fn day(t: Unix) -> String {
    let (y, m, d) = civil(t.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `t` as RFC 3339 in UTC: `2026-12-07T06:40:00Z`.
pub fn rfc3339(t: Unix) -> String {
    let s = t.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        day(t),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Reads an RFC 3339 time (`2026-06-01T12:00:00Z`, `…+02:00`, fractions of a second ignored).
pub fn parse_rfc3339(s: &str) -> Result<Unix, ClockError> {
    let bad = || ClockError::BadTime(s.to_string());
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, ClockError> {
        let t = s.get(r).ok_or_else(bad)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    if h > 23 || mi > 59 || se > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let oh: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let om: i64 = rest[4..6].parse().map_err(|_| bad())?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Ok(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// The wall clock: seconds since 1970 as the system says (which may be wrong).
pub trait WallClock {
    fn now(&self) -> Unix;
}

/// The system's time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemWall;

impl WallClock for SystemWall {
    fn now(&self) -> Unix {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as Unix,
            Err(e) => -(e.duration().as_secs() as Unix),
        }
    }
}

/// A fixed time (tests, and a device whose caller decides the time).
#[derive(Debug, Clone, Copy)]
pub struct FixedWall(pub Unix);

impl WallClock for FixedWall {
    fn now(&self) -> Unix {
        self.0
    }
}

/// Where the last trusted time is kept.
pub trait TrustStore {
    /// The time kept, `None` when none was ever kept.
    fn load(&mut self) -> Result<Option<Unix>, ClockError>;
    /// Keeps `t` (atomically: a power cut leaves the old time or the new one).
    fn save(&mut self, t: Unix) -> Result<(), ClockError>;
}

/// A store in memory (tests; a device without a state folder).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore(pub Option<Unix>);

impl TrustStore for MemoryStore {
    fn load(&mut self) -> Result<Option<Unix>, ClockError> {
        Ok(self.0)
    }
    fn save(&mut self, t: Unix) -> Result<(), ClockError> {
        self.0 = Some(t);
        Ok(())
    }
}

/// The device's clock with its verdict: [`TrustedClock::today`] is the day to show or encode,
/// `None` when the clock is not trusted.
pub struct TrustedClock {
    wall: Box<dyn WallClock + Send>,
    store: Box<dyn TrustStore + Send>,
    build: Unix,
    /// The last trusted time as kept (loaded once, then kept in step with the store).
    last: Option<Unix>,
    /// The last verdict logged, so a change is logged once.
    logged: Option<Trust>,
}

impl std::fmt::Debug for TrustedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedClock")
            .field("build", &self.build)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl TrustedClock {
    /// A clock built at [`BUILD_TIME`] reading `wall`, keeping the last trusted time in
    /// `store`. A store that cannot be read is logged and counts as empty (the build time
    /// still holds).
    pub fn new(wall: Box<dyn WallClock + Send>, mut store: Box<dyn TrustStore + Send>) -> Self {
        let last = store.load().unwrap_or_else(|e| {
            log::warn!("last trusted time unreadable, using the build time only: {e}");
            None
        });
        TrustedClock {
            wall,
            store,
            build: BUILD_TIME,
            last,
            logged: None,
        }
    }

    /// The same with another build time (tests).
    pub fn with_build_time(mut self, build: Unix) -> Self {
        self.build = build;
        self
    }

    /// The verdict now; a trusted time raises the kept last trusted time (written at most
    /// every [`SAVE_EVERY`] seconds).
    pub fn check(&mut self) -> (Unix, Trust) {
        let now = self.wall.now();
        let verdict = judge(now, self.build, self.last);
        if self.logged != Some(verdict) {
            match verdict {
                Trust::Trusted => log::info!("clock trusted: {}", rfc3339(now)),
                Trust::BeforeBuild { build } => log::warn!(
                    "clock not trusted: {} is before this build ({}); no date is shown",
                    rfc3339(now),
                    rfc3339(build)
                ),
                Trust::BeforeLastTrusted { last } => log::warn!(
                    "clock not trusted: {} is before the last trusted time {}; no date is shown",
                    rfc3339(now),
                    rfc3339(last)
                ),
            }
            self.logged = Some(verdict);
        }
        if verdict == Trust::Trusted && self.last.map_or(true, |l| now - l >= SAVE_EVERY) {
            match self.store.save(now) {
                Ok(()) => self.last = Some(now),
                Err(e) => log::warn!("keeping the last trusted time: {e}"),
            }
        }
        (now, verdict)
    }

    /// The UTC day when the clock is trusted.
    pub fn today(&mut self) -> Option<String> {
        match self.check() {
            (now, Trust::Trusted) => Some(day(now)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: Unix = 1_780_000_000; // 2026-05-28

    #[test]
    fn days_and_times_are_utc_calendar_dates() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(day(-1), "1969-12-31");
        for t in [0, 951_827_696, 1_780_000_000, 4_102_444_800, 1_709_164_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)).unwrap(), t, "{}", rfc3339(t));
        }
        assert_eq!(
            parse_rfc3339("2026-06-01T14:00:00.25+02:00").unwrap(),
            parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
        );
        for bad in [
            "",
            "2026-06-01",
            "2026-13-01T00:00:00Z",
            "2026-06-01T12:00:00",
            "x".repeat(20).as_str(),
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_clock_is_trusted_after_the_build_and_the_last_trusted_time() {
        assert_eq!(judge(0, BUILD, None), Trust::BeforeBuild { build: BUILD });
        assert_eq!(judge(BUILD + 10, BUILD, None), Trust::Trusted);
        let last = BUILD + 1000;
        assert_eq!(
            judge(BUILD + 10, BUILD, Some(last)),
            Trust::BeforeLastTrusted { last }
        );
        assert_eq!(judge(last, BUILD, Some(last)), Trust::Trusted);
    }

    #[test]
    fn a_trusted_clock_keeps_its_time_and_a_bundle_raises_it() {
        let t = BUILD + 86_400;
        let mut c = TrustedClock::new(Box::new(FixedWall(t)), Box::new(MemoryStore(None)))
            .with_build_time(BUILD);
        assert_eq!(c.today().as_deref(), Some("2026-05-29"));
        assert_eq!(c.last, Some(t));
        // After a power cut the clock says 1970: no date, and the kept time stays.
        let mut store = MemoryStore(Some(t));
        let mut reset = TrustedClock::new(Box::new(FixedWall(0)), Box::new(store.clone()))
            .with_build_time(BUILD);
        assert_eq!(reset.today(), None);
        // A bundle made later than the kept time raises it; an older one does not lower it.
        assert_eq!(raise_last_trusted(&mut store, t + 50).unwrap(), t + 50);
        assert_eq!(raise_last_trusted(&mut store, t - 50).unwrap(), t + 50);
        let mut behind =
            TrustedClock::new(Box::new(FixedWall(t + 10)), Box::new(store)).with_build_time(BUILD);
        assert_eq!(behind.today(), None);
    }
}
