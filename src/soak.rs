//! Soak runs: the real device loop ([`run_device`]) for thousands of replayed captures, with a
//! scripted clinician who reacts to the screens (capture when the preview says ready, clear the
//! results, retry after a failed analysis), every screen drawn into an in-memory framebuffer
//! (real drawing, nothing written), and the process's resident memory and open file
//! descriptors sampled from `/proc/self` along the way.
//!
//! Used by `gestaltcam soak` and `tests/it/soak.rs`.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analysis::Analyzer;
use crate::app::buttons::{ButtonError, Buttons};
use crate::app::{
    run_device, AppContext, ButtonEvent, Device, NullNotifier, RunOptions, RunReport, ViewSink,
};
use crate::camera::{Camera, SystemClock};
use crate::config::Config;
use crate::display::{MonoPngDisplay, Panel, PngDisplay};
use crate::ui::view::{Guidance, View};

/// Why a soak run could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("cannot read {path}: {source}")]
    Proc {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no VmRSS line in /proc/self/status")]
    NoRss,
    #[error("the soak run reads /proc/self, which needs Linux")]
    NotLinux,
    #[error("bad soak options: {0}")]
    Options(String),
    #[error("the run stopped after {done} of {wanted} captures (final state: {state})")]
    Stalled {
        done: u64,
        wanted: u64,
        state: String,
    },
    #[error("display: {0}")]
    Display(String),
}

/// Resident memory and open file descriptors of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// `VmRSS` from `/proc/self/status`, KiB.
    pub rss_kib: u64,
    /// Entries of `/proc/self/fd` (including the one used to list it).
    pub fds: usize,
}

impl ProcSample {
    /// Reads `/proc/self` now. Off Linux: [`SoakError::NotLinux`].
    #[cfg(not(target_os = "linux"))]
    pub fn now() -> Result<Self, SoakError> {
        Err(SoakError::NotLinux)
    }

    /// Reads `/proc/self` now. Off Linux: [`SoakError::NotLinux`].
    #[cfg(target_os = "linux")]
    pub fn now() -> Result<Self, SoakError> {
        let proc_err = |path: &str| {
            let path = PathBuf::from(path);
            move |source| SoakError::Proc { path, source }
        };
        let status =
            std::fs::read_to_string("/proc/self/status").map_err(proc_err("/proc/self/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or(SoakError::NoRss)?;
        let fds = std::fs::read_dir("/proc/self/fd")
            .map_err(proc_err("/proc/self/fd"))?
            .count();
        Ok(ProcSample { rss_kib, fds })
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// One line of the soak table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoakRow {
    /// Photos captured so far.
    pub captures: u64,
    /// Patients (sessions) finished so far.
    pub sessions: u64,
    pub sample: ProcSample,
    /// Since the loop started (models already loaded).
    pub elapsed: Duration,
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakOptions {
    /// Photos to capture in all.
    pub captures: u64,
    pub photos_per_patient: usize,
    /// Sample every this many captures (at the end of the session that reaches it).
    pub sample_every: u64,
    /// Captures before the baseline sample that growth is measured from (allocator pools,
    /// model scratch buffers and lazily built tables settle first).
    pub warmup: u64,
    /// The simulated panel, e.g. 240×240 (colour) or 128×64 (monochrome).
    pub panel: (u32, u32),
}

impl Default for SoakOptions {
    fn default() -> Self {
        SoakOptions {
            captures: 2000,
            photos_per_patient: 1,
            sample_every: 200,
            warmup: 100,
            panel: (240, 240),
        }
    }
}

impl SoakOptions {
    pub fn validate(&self) -> Result<(), SoakError> {
        if self.captures == 0 || self.sample_every == 0 {
            return Err(SoakError::Options(
                "captures and sample interval must be at least 1".into(),
            ));
        }
        if self.warmup >= self.captures {
            return Err(SoakError::Options(format!(
                "warm-up ({}) must be fewer captures than the run ({})",
                self.warmup, self.captures
            )));
        }
        Ok(())
    }
}

/// The table and what the loop did.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Before the loop (models and gallery loaded).
    pub start: ProcSample,
    /// Every sample, in order; the last one is taken when the last capture's session ends.
    pub rows: Vec<SoakRow>,
    /// The first sample at or after `warmup` captures.
    pub baseline: SoakRow,
    pub end: SoakRow,
    pub run: RunReport,
    /// Result screens (ranked candidates or "no close match").
    pub results: u64,
    /// Analyses that failed (e.g. no usable face); the clinician pressed a button and went on.
    pub failed_analyses: u64,
    /// Screens drawn into the framebuffer.
    pub screens: u64,
}

impl SoakReport {
    /// RSS growth from the baseline to the end, KiB (negative: it shrank).
    pub fn rss_growth_kib(&self) -> i64 {
        self.end.sample.rss_kib as i64 - self.baseline.sample.rss_kib as i64
    }

    /// Open descriptors at the end minus at the baseline.
    pub fn fd_change(&self) -> i64 {
        self.end.sample.fds as i64 - self.baseline.sample.fds as i64
    }

    /// Flat enough: RSS grew at most `max_growth_kib` after warm-up and no descriptor leaked.
    pub fn check(&self, max_growth_kib: u64) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.rss_growth_kib() > max_growth_kib as i64 {
            problems.push(format!(
                "RSS grew {} KiB after warm-up (bound {max_growth_kib} KiB)",
                self.rss_growth_kib()
            ));
        }
        if self.fd_change() > 0 {
            problems.push(format!("{} file descriptor(s) leaked", self.fd_change()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// The table header matching [`format_row`].
pub fn table_header() -> String {
    format!(
        "{:>9} {:>9} {:>10} {:>6} {:>10}",
        "captures", "sessions", "VmRSS MiB", "fds", "elapsed s"
    )
}

pub fn format_row(r: &SoakRow) -> String {
    format!(
        "{:>9} {:>9} {:>10.1} {:>6} {:>10.1}",
        r.captures,
        r.sessions,
        r.sample.rss_mib(),
        r.sample.fds,
        r.elapsed.as_secs_f64()
    )
}

/// What the clinician does next, decided from the screen last shown.
#[derive(Debug, Default)]
struct Clinician {
    press: Option<ButtonEvent>,
    captures: u64,
    sessions: u64,
    results: u64,
    failed: u64,
    screens: u64,
    wanted: u64,
    every: u64,
    warmup: u64,
    next_sample: u64,
    started: Option<Instant>,
    rows: Vec<SoakRow>,
    error: Option<SoakError>,
    shutdown: Arc<AtomicBool>,
}

impl Clinician {
    fn saw(&mut self, view: &View) {
        self.screens += 1;
        self.press = match view {
            View::Preview {
                guidance: Guidance::Ready,
                ..
            } => Some(ButtonEvent::Capture),
            View::Capturing { .. } => {
                self.captures += 1;
                None
            }
            View::Results { .. } | View::NoCloseMatch { .. } => {
                self.results += 1;
                self.session_done();
                Some(ButtonEvent::Clear)
            }
            // An analysis that found no usable face: any button returns to the preview.
            View::Error { .. } if self.captures > 0 => {
                self.failed += 1;
                self.session_done();
                Some(ButtonEvent::Next)
            }
            // Starting, analysing, preview guidance other than ready: wait for frames.
            _ => None,
        };
    }

    fn session_done(&mut self) {
        self.sessions += 1;
        let done = self.captures >= self.wanted;
        if self.captures >= self.next_sample || done {
            self.sample();
            self.next_sample = next_sample(self.captures, self.every, self.warmup);
        }
        if done {
            self.shutdown.store(true, Ordering::SeqCst);
        }
    }

    fn sample(&mut self) {
        match ProcSample::now() {
            Ok(sample) => self.rows.push(SoakRow {
                captures: self.captures,
                sessions: self.sessions,
                sample,
                elapsed: self.started.map_or(Duration::ZERO, |t| t.elapsed()),
            }),
            Err(e) => {
                self.error.get_or_insert(e);
                self.shutdown.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// The first capture count after `captures` to sample at: the warm-up, then every multiple of
/// `every`.
fn next_sample(captures: u64, every: u64, warmup: u64) -> u64 {
    let next_multiple = (captures / every + 1) * every;
    if captures < warmup {
        next_multiple.min(warmup)
    } else {
        next_multiple
    }
}

struct ClinicianButtons(Rc<RefCell<Clinician>>);

impl Buttons for ClinicianButtons {
    fn poll(&mut self, _: Duration, _: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        // Pressed again every iteration until the screen changes (a capture is refused while
        // the latest frame is not ready yet).
        Ok(self.0.borrow().press.into_iter().collect())
    }
}

/// Draws each screen into a framebuffer (what a panel driver does before pushing pixels),
/// then lets the clinician look at it.
struct FramebufferSink {
    panel: Box<dyn Panel>,
    clinician: Rc<RefCell<Clinician>>,
    rows_seen: usize,
    on_row: Box<dyn FnMut(&SoakRow)>,
}

impl ViewSink for FramebufferSink {
    fn show(&mut self, view: &View) {
        if let Err(e) = self.panel.draw_view(view) {
            let mut c = self.clinician.borrow_mut();
            c.error.get_or_insert(SoakError::Display(e.to_string()));
            c.shutdown.store(true, Ordering::SeqCst);
        }
        let mut c = self.clinician.borrow_mut();
        c.saw(view);
        while self.rows_seen < c.rows.len() {
            (self.on_row)(&c.rows[self.rows_seen]);
            self.rows_seen += 1;
        }
    }
}

/// Runs the device loop with `camera` and `analyzer` until `opts.captures` photos have been
/// captured and analysed; `on_row` sees each sample as it is taken.
pub fn run_soak<C, A>(
    camera: C,
    analyzer: A,
    opts: &SoakOptions,
    on_row: impl FnMut(&SoakRow) + 'static,
) -> Result<SoakReport, SoakError>
where
    C: Camera,
    A: Analyzer + Send,
{
    opts.validate()?;
    let (w, h) = opts.panel;
    let panel: Box<dyn Panel> = if h <= 64 {
        Box::new(MonoPngDisplay::new(w, h))
    } else {
        Box::new(PngDisplay::new(w, h))
    };
    let cfg = Config {
        photos_per_patient: opts.photos_per_patient.max(1),
        idle_timeout_s: 0,
        ..Config::default()
    };
    let ctx = AppContext::for_panel(&cfg, embedded_graphics::prelude::Size::new(w, h));
    let shutdown = Arc::new(AtomicBool::new(false));
    let clinician = Rc::new(RefCell::new(Clinician {
        wanted: opts.captures,
        every: opts.sample_every,
        warmup: opts.warmup,
        next_sample: next_sample(0, opts.sample_every, opts.warmup),
        shutdown: shutdown.clone(),
        ..Clinician::default()
    }));
    let start = ProcSample::now()?;
    clinician.borrow_mut().started = Some(Instant::now());
    let mut dev = Device {
        camera,
        buttons: ClinicianButtons(clinician.clone()),
        clock: SystemClock::new(),
        analyzer,
        display: FramebufferSink {
            panel,
            clinician: clinician.clone(),
            rows_seen: 0,
            on_row: Box::new(on_row),
        },
        notifier: NullNotifier,
    };
    let run_opts = RunOptions {
        // A stuck clinician must not hang the run: a capture takes a handful of iterations.
        max_iterations: Some(opts.captures.saturating_mul(50).saturating_add(1000)),
        shutdown: Some(shutdown),
        timeouts_as_lost: 3,
        ..RunOptions::default()
    };
    let run = run_device(&mut dev, &ctx, &run_opts);
    drop(dev);
    let c = Rc::try_unwrap(clinician)
        .map_err(|_| SoakError::Options("the clinician is still shared".into()))?
        .into_inner();
    if let Some(e) = c.error {
        return Err(e);
    }
    if c.captures < opts.captures {
        return Err(SoakError::Stalled {
            done: c.captures,
            wanted: opts.captures,
            state: run.final_mode,
        });
    }
    let baseline = *c
        .rows
        .iter()
        .find(|r| r.captures >= opts.warmup)
        .ok_or_else(|| SoakError::Options("no sample after the warm-up".into()))?;
    let end = *c.rows.last().expect("a sample after the warm-up exists");
    Ok(SoakReport {
        start,
        baseline,
        end,
        rows: c.rows,
        run,
        results: c.results,
        failed_analyses: c.failed,
        screens: c.screens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_at_the_warmup_then_every_multiple() {
        let mut at = vec![];
        let mut c = 0;
        while c < 1000 {
            c = next_sample(c, 200, 50);
            at.push(c);
        }
        assert_eq!(at, vec![50, 200, 400, 600, 800, 1000]);
        assert_eq!(next_sample(0, 10, 0), 10);
    }

    #[test]
    fn proc_sample_reads_rss_and_fds() {
        let s = ProcSample::now().unwrap();
        // stdin, stdout, stderr and the directory handle used to count them, at least.
        assert!(s.rss_kib > 1024 && s.fds >= 4, "{s:?}");
    }

    #[test]
    fn check_flags_growth_and_leaks() {
        let row = |captures, rss_kib, fds| SoakRow {
            captures,
            sessions: captures,
            sample: ProcSample { rss_kib, fds },
            elapsed: Duration::ZERO,
        };
        let report = |end: SoakRow| SoakReport {
            start: ProcSample {
                rss_kib: 1000,
                fds: 5,
            },
            rows: vec![row(10, 2000, 6), end],
            baseline: row(10, 2000, 6),
            end,
            run: RunReport::default(),
            results: 0,
            failed_analyses: 0,
            screens: 0,
        };
        assert!(report(row(100, 2500, 6)).check(1024).is_ok());
        assert_eq!(report(row(100, 2500, 6)).rss_growth_kib(), 500);
        let e = report(row(100, 4000, 7)).check(1024).unwrap_err();
        assert!(
            e.contains("RSS grew 2000 KiB") && e.contains("1 file descriptor"),
            "{e}"
        );
        assert!(report(row(100, 1900, 5)).check(0).is_ok());
    }
}
