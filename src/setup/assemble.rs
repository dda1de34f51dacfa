//! The device assembled from its configuration: the display (a panel, or a PNG file on a
//! laptop), the camera (USB, or still images replayed), the buttons (GPIO, or keys typed on
//! stdin), the analyzer and the run policy. `gestaltcam run` is [`assemble`] then
//! [`Assembled::run`]; a test does the same with its own stop flag and keys ([`Wiring`]).

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_graphics::prelude::Size;

use super::content::{self, NoticeSink};
use crate::app::buttons::{ButtonError, KeyboardButtons};
use crate::app::ViewSink;
use crate::app::{run_device, AppContext, ButtonEvent, Buttons, Device, RunOptions, RunReport};
use crate::bundle::notice::NoticeFile;
use crate::bundle::store::ContentStore;
use crate::camera::{Camera, ReplayCamera, ReplayError, SystemClock};
use crate::clock::{store::FileStore, SystemWall, TrustedClock};
use crate::config::{Config, PanelKind};
use crate::counters::{self, store::Today, DeviceKey, Recorder};
use crate::display::{LoggedSink, PanelSink, PngFileSink};
use crate::hw::{self, HwError};
use crate::screening::PipelineAnalyzer;
use crate::ui::view::{CheckState, Loading, SelfCheck, View};

/// Why the device could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("opening the display")]
    Display(#[source] HwError),
    #[error("opening the buttons")]
    Buttons(#[source] HwError),
    #[error("[camera] replay = {}", path.display())]
    Replay {
        path: std::path::PathBuf,
        #[source]
        source: ReplayError,
    },
    #[error(
        "this build has no camera support: build with `--features camera-v4l` (the device build \
         does), or set `[camera] replay` to replay images"
    )]
    NoCameraSupport,
    #[error("installing the handler for signal {signal}")]
    Signal {
        signal: i32,
        #[source]
        source: std::io::Error,
    },
}

/// Where keyboard buttons are read from, when the configuration has keyboard buttons.
pub enum Keys {
    /// Lines typed on the terminal (the device on a laptop).
    Stdin,
    /// Lines from any reader (a test's script).
    Reader(Box<dyn Read + Send>),
}

/// What the caller decides that the configuration does not say.
pub struct Wiring {
    /// Setting it stops the device: the panel is blanked and the camera stopped.
    pub shutdown: Arc<AtomicBool>,
    /// SIGTERM and SIGINT set [`Wiring::shutdown`] (the device; a test stops it itself).
    pub stop_on_signals: bool,
    /// Where keyboard buttons come from.
    pub keys: Keys,
    /// How long an update notice stays on the panel ([`content::NOTICE_SHOWN`]).
    pub notice_shown: Duration,
    /// The day the counters count under ([`crate::counters`]): `Some("YYYY-MM-DD")` when the
    /// clock is trustworthy, `None` when not. Unset: the day of the calendar below
    /// ([`device_today`]).
    pub today: Option<Today>,
    /// The wall clock with its trust verdict, consulted from assembly on (the counters open
    /// under its day). Unset: the device's own ([`device_calendar`]).
    pub calendar: Option<Arc<Mutex<TrustedClock>>>,
}

impl Wiring {
    /// The device's: keys on stdin, stopped by SIGTERM or SIGINT.
    pub fn device() -> Self {
        Wiring {
            shutdown: Arc::new(AtomicBool::new(false)),
            stop_on_signals: true,
            keys: Keys::Stdin,
            notice_shown: content::NOTICE_SHOWN,
            today: None,
            calendar: None,
        }
    }

    /// A test's: keys read from `keys`, stopped only through [`Wiring::shutdown`].
    pub fn with_keys(keys: impl Read + Send + 'static) -> Self {
        Wiring {
            shutdown: Arc::new(AtomicBool::new(false)),
            stop_on_signals: false,
            keys: Keys::Reader(Box::new(keys)),
            notice_shown: content::NOTICE_SHOWN,
            today: None,
            calendar: None,
        }
    }
}

/// The device's wall clock with its trust verdict ([`crate::clock`]): the last trusted time is
/// kept in `state_dir`.
pub fn device_calendar(state_dir: &Path) -> Arc<Mutex<TrustedClock>> {
    let store = FileStore::in_state_dir(state_dir);
    Arc::new(Mutex::new(TrustedClock::new(
        Box::new(SystemWall),
        Box::new(store),
    )))
}

/// The day the device counts under and dates its reports with, from `calendar`: none while
/// its clock cannot be trusted, so counts go under `undated`. A Raspberry Pi has no real-time
/// clock and its date after a power cut without network may be wrong; a wrong day is worse
/// than none.
pub fn device_today(calendar: Arc<Mutex<TrustedClock>>) -> Today {
    Box::new(move || calendar.lock().ok().and_then(|mut c| c.today()))
}

/// The device's parts as [`assemble`] builds them.
pub type AssembledDevice = Device<
    Box<dyn Camera>,
    Box<dyn Buttons>,
    SystemClock,
    PipelineAnalyzer,
    LoggedSink,
    hw::SystemdNotifier,
>;

/// A device ready to run: its parts, the app's context and the run policy.
pub struct Assembled {
    pub device: AssembledDevice,
    pub ctx: AppContext,
    pub opts: RunOptions,
    /// Set when the run ended because new content was switched in (an update notice): the
    /// caller exits so that systemd starts the device again with it.
    pub restart: Arc<AtomicBool>,
    /// The short id of the device's own key ([`crate::counters::DeviceKey::device_id`]);
    /// `None` when the key could not be read or made.
    pub device_id: Option<String>,
}

impl Assembled {
    /// Whether the run ended for a restart with new content ([`Assembled::restart`]).
    pub fn restart_requested(&self) -> bool {
        self.restart.load(Ordering::SeqCst)
    }

    /// Runs the device until it is stopped, then logs what happened (counts only).
    pub fn run(&mut self) -> RunReport {
        let report = run_device(&mut self.device, &self.ctx, &self.opts);
        log_report(&report);
        report
    }
}

/// The longest a single analysis job may go without reporting progress on the slowest board
/// before the watchdog is left to restart the device (3 photos with flip TTA take seconds on a
/// Pi Zero 2 W; a session reports every model pass, so only one pass must fit).
pub const ANALYSIS_STUCK_AFTER: Duration = Duration::from_secs(60);

/// Builds the device `cfg` describes: inference threads, display, analyzer (models and gallery,
/// their loading shown on the display), camera, buttons and run policy.
pub fn assemble(cfg: &Config, wiring: Wiring) -> Result<Assembled, SetupError> {
    let threads = crate::pipeline::set_inference_threads(cfg.inference_threads);
    log::info!("model inference on {threads} thread(s)");
    let (mut sink, panel_size) = open_sink(cfg)?;
    let clock = SystemClock::new();
    // A camera setting that is wrong is refused before minutes go into loading models.
    let (camera, camera_check) = device_camera(cfg, clock)?;
    let mut notifier = hw::SystemdNotifier::new();
    // The content imported from a USB stick, when there is some, in place of the configured
    // files (or rolled back: see `content::start`); each load shown on the display.
    let (cfg, mut analyzer) = content::start(cfg, &mut |c: &Config| {
        load_showing_progress(c, sink.as_mut(), &mut notifier)
    });
    let cfg = &cfg;
    analyzer.extra_checks.push(camera_check);
    let mut ctx = AppContext::for_panel(cfg, panel_size);
    ctx.watchdog_interval = hw::SystemdNotifier::watchdog_interval().or(ctx.watchdog_interval);
    let store = ContentStore::new(&cfg.state_dir);
    let running = store
        .current()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    let notices = NoticeSink::new(
        sink,
        NoticeFile::new(store.root()),
        running,
        wiring.shutdown.clone(),
    );
    let restart = notices.restart.clone();
    let replay = cfg.camera.replay.is_some();
    if wiring.stop_on_signals {
        stop_on_signals(&wiring.shutdown)?;
    }
    let buttons = device_buttons(cfg, wiring.keys, replay, &wiring.shutdown)?;
    let calendar = wiring
        .calendar
        .unwrap_or_else(|| device_calendar(&cfg.state_dir));
    let today = wiring
        .today
        .unwrap_or_else(|| device_today(calendar.clone()));
    let (counters, device_id) = open_counters(cfg, today);
    // The result code names the device ([`crate::handoff`]); empty: no device line.
    ctx.device_id = device_id.clone().unwrap_or_default();
    let device = Device {
        camera,
        buttons,
        clock,
        analyzer,
        display: LoggedSink::new(Box::new(notices)),
        notifier,
    };
    let opts = RunOptions {
        counters,
        calendar: Some(calendar),
        ..run_options(cfg, wiring.shutdown)
    };
    Ok(Assembled {
        device,
        ctx,
        opts,
        restart,
        device_id,
    })
}

/// The device's counters and the id of its key (made on the first start), both in
/// `state_dir`. Neither is needed to screen: a failure is logged and the device runs without.
fn open_counters(cfg: &Config, today: Today) -> (Option<counters::Handle>, Option<String>) {
    let device_id = match DeviceKey::load_or_create(&cfg.state_dir) {
        Ok(key) => {
            log::info!("device id {}", key.device_id());
            Some(key.device_id())
        }
        Err(e) => {
            log::warn!("no device key, usage reports cannot be signed: {e}");
            None
        }
    };
    let counters = match Recorder::open(&cfg.state_dir, env!("CARGO_PKG_VERSION"), today) {
        Ok(r) => Some(counters::Handle::new(r)),
        Err(e) => {
            log::warn!("not counting: {e}");
            None
        }
    };
    (counters, device_id)
}

/// The analyzer for `cfg` ([`super::analyzer_for_board`]), loaded on a thread of its own while
/// this one shows each step ("Loading model 2 of 3") on `sink` and tells systemd, which gives
/// start-up more time with every step (heavy models take minutes on the smallest boards).
fn load_showing_progress(
    cfg: &Config,
    sink: &mut dyn ViewSink,
    notifier: &mut hw::SystemdNotifier,
) -> PipelineAnalyzer {
    let board = super::board_memory();
    let (tx, steps) = std::sync::mpsc::channel::<Loading>();
    std::thread::scope(|s| {
        let loading = s.spawn(move || {
            let report = move |step| {
                let _ = tx.send(step);
            };
            super::analyzer_for_board(cfg, board, &report)
        });
        // Ends when the loading thread drops its end.
        for step in steps {
            log::info!("starting: {}", step.text());
            sink.show(&View::Loading(step));
            notifier.loading(&step.text());
        }
        loading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The display and its size in pixels (which decides how many candidates a page holds).
fn open_sink(cfg: &Config) -> Result<(Box<dyn ViewSink>, Size), SetupError> {
    if cfg.display.panel == PanelKind::Png {
        let sink = PngFileSink::new(240, 240, cfg.display.png_path.clone());
        return Ok((Box::new(sink), Size::new(240, 240)));
    }
    let panel = hw::open_panel(&cfg.display).map_err(SetupError::Display)?;
    log::info!("display: {}", panel.name());
    let size = panel.resolution();
    Ok((Box::new(PanelSink::new(panel)), size))
}

/// Sets `flag` on SIGTERM and SIGINT, so the loop blanks the panel and stops the camera.
fn stop_on_signals(flag: &Arc<AtomicBool>) -> Result<(), SetupError> {
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(flag))
            .map_err(|source| SetupError::Signal { signal, source })?;
    }
    Ok(())
}

/// The buttons: keys (typed on stdin, or `keys`) when the configuration asks for them, else
/// the GPIO buttons. A replayed session with keys ends when the keys do ([`KeysUntilEof`]).
fn device_buttons(
    cfg: &Config,
    keys: Keys,
    replay: bool,
    shutdown: &Arc<AtomicBool>,
) -> Result<Box<dyn Buttons>, SetupError> {
    if !cfg.keyboard_buttons() {
        let gpio = hw::GpioButtons::open(&cfg.buttons).map_err(SetupError::Buttons)?;
        return Ok(Box::new(gpio));
    }
    log::info!("buttons: keyboard (type c + Enter to capture, n next, x clear)");
    let keys = match keys {
        Keys::Stdin => KeyboardButtons::stdin(),
        Keys::Reader(r) => KeyboardButtons::from_reader(r),
    };
    if !replay {
        return Ok(Box::new(keys));
    }
    Ok(Box::new(KeysUntilEof {
        keys,
        shutdown: shutdown.clone(),
    }))
}

/// How the device runs: paced for a replay camera, the models on their own thread for a live
/// one, stopped by `shutdown`.
fn run_options(cfg: &Config, shutdown: Arc<AtomicBool>) -> RunOptions {
    let replay = cfg.camera.replay.is_some();
    RunOptions {
        save_dir: cfg.saving.enabled.then(|| cfg.saving.directory.clone()),
        timeouts_as_lost: 3,
        // A replay camera does not block: pace it at the configured rate.
        frame_interval: replay.then(|| Duration::from_secs_f64(1.0 / f64::from(cfg.camera.fps))),
        // No camera: look for it (and read the buttons) ten times a second, not in a busy loop.
        camera_retry: Some(Duration::from_millis(100)),
        // A live camera: the models run on their own thread, so the camera, the buttons and
        // the screen stay live while a frame or a session is analysed. (A replay runs step by
        // step, reproducibly.) A job that reports no progress for a minute stops the watchdog
        // pings.
        analysis_thread: !replay,
        analysis_stuck_after: Some(ANALYSIS_STUCK_AFTER),
        shutdown: Some(shutdown),
        ..RunOptions::default()
    }
}

/// Logs the end of a run. Counts only: the names of saved captures are patient photos and stay
/// out of the log.
fn log_report(report: &RunReport) {
    log::info!(
        "stopped after {} iterations: {} frames, {} camera errors, {} screens, {} analyses, \
         {} photo(s) saved, {} save errors, {} button errors, final state {}",
        report.iterations,
        report.frames,
        report.camera_errors,
        report.views_shown,
        report.analyses,
        report.saved.len(),
        report.save_errors,
        report.button_errors,
        report.final_mode
    );
}

/// The camera: still images replayed at `fps` when `[camera] replay` is set (development and
/// tests: a whole session without a camera), else the USB camera; and its self-test line.
fn device_camera(
    cfg: &Config,
    clock: SystemClock,
) -> Result<(Box<dyn Camera>, SelfCheck), SetupError> {
    let Some(path) = &cfg.camera.replay else {
        return usb_camera(cfg, clock);
    };
    let camera = ReplayCamera::from_path(path, cfg.camera.fps as f32).map_err(|source| {
        SetupError::Replay {
            path: path.clone(),
            source,
        }
    })?;
    log::info!(
        "camera: replaying {} image(s) at {} fps instead of a camera",
        camera.len(),
        cfg.camera.fps
    );
    let check = SelfCheck {
        name: "Camera".into(),
        state: CheckState::Ok,
        detail: format!("replay: {} images", camera.len()),
    };
    Ok((Box::new(camera), check))
}

/// The USB camera, reopened by itself after an unplug; its self-test line says whether it is
/// there now (a missing camera is not fatal: the device waits for it).
#[cfg(feature = "camera-v4l")]
fn usb_camera(
    cfg: &Config,
    clock: SystemClock,
) -> Result<(Box<dyn Camera>, SelfCheck), SetupError> {
    let (state, detail) = match hw::camera::device_index(&cfg.camera.device) {
        Ok((_, path)) => (CheckState::Ok, path.display().to_string()),
        Err(e) => (CheckState::Pending, format!("waiting: {e}")),
    };
    let check = SelfCheck {
        name: "Camera".into(),
        state,
        detail,
    };
    Ok((Box::new(hw::reconnecting_camera(&cfg.camera, clock)), check))
}

/// Without camera support only a replay can stand in for the camera.
#[cfg(not(feature = "camera-v4l"))]
fn usb_camera(_: &Config, _: SystemClock) -> Result<(Box<dyn Camera>, SelfCheck), SetupError> {
    Err(SetupError::NoCameraSupport)
}

/// Keys for a replayed session, which ends when the keys do (Ctrl-D on stdin, or a test
/// closing its pipe) once every typed key has been handled.
struct KeysUntilEof {
    keys: KeyboardButtons,
    shutdown: Arc<AtomicBool>,
}

impl Buttons for KeysUntilEof {
    fn poll(&mut self, now: Duration, frame: u64) -> Result<Vec<ButtonEvent>, ButtonError> {
        let events = self.keys.poll(now, frame)?;
        if self.keys.is_closed() && !self.shutdown.swap(true, Ordering::SeqCst) {
            log::info!("stdin closed: ending the replayed session");
        }
        Ok(events)
    }
}
