//! `run`, `demo`, `test-pattern`, `doctor`: the device and its bring-up tools.

use super::analysis::load_gallery;
use super::ModelArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use embedded_graphics::prelude::Size;
use gestaltcam::analyzer::PipelineAnalyzer;
use gestaltcam::app::buttons::{ButtonError, KeyboardButtons};
use gestaltcam::app::{
    run_device, AppContext, ButtonEvent, Buttons, Device, RunOptions, ScriptedButtons, ViewSink,
};
use gestaltcam::camera::{Camera, ReplayCamera, SystemClock};
use gestaltcam::config::{Config, PanelKind};
use gestaltcam::display::{MonoPngDisplay, Panel, PngDisplay};
use gestaltcam::embed::EmbedOptions;
use gestaltcam::manifest::Manifest;
use gestaltcam::pipeline::FacePipeline;
use gestaltcam::setup::{analyzer_for, PanelSink};
use gestaltcam::ui::view::{CheckState, SelfCheck, View, DISCLAIMER};
use gestaltcam::{hw, photo};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Device configuration (TOML).
    #[arg(long, default_value = "/etc/gestaltcam/config.toml")]
    config: PathBuf,
}

fn load_config(path: &Path) -> Result<Config> {
    let loaded = Config::load(path).with_context(|| format!("configuration {}", path.display()))?;
    for w in &loaded.warnings {
        log::warn!("{}: {w}", path.display());
    }
    Ok(loaded.config)
}

/// The display and its size in pixels (which decides how many candidates a page holds).
fn open_sink(cfg: &Config) -> Result<(Box<dyn ViewSink>, Size)> {
    if cfg.display.panel == PanelKind::Png {
        let path = cfg.display.png_path.clone();
        let mut screen = Screen::new(240, 240);
        let sink = move |view: &View| {
            if let Err(e) = screen.show(view, &path) {
                log::error!("display: {e:#}");
            }
        };
        return Ok((Box::new(sink), Size::new(240, 240)));
    }
    let panel = hw::open_panel(&cfg.display).context("opening the display")?;
    log::info!("display: {}", panel.name());
    let size = panel.resolution();
    Ok((Box::new(PanelSink::new(panel)), size))
}

/// Sets `flag` on SIGTERM and SIGINT, so the loop blanks the panel and stops the camera.
fn stop_on_signals(flag: &Arc<AtomicBool>) -> Result<()> {
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(flag))
            .with_context(|| format!("installing the handler for signal {sig}"))?;
    }
    Ok(())
}

/// The longest a single analysis job may take on the slowest board before the watchdog is
/// left to restart the device (3 photos with flip TTA take seconds on a Pi Zero 2 W).
const ANALYSIS_STUCK_AFTER: Duration = Duration::from_secs(60);

pub fn run(a: RunArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    super::init_logging(&cfg.log_level);
    let threads = gestaltcam::pipeline::set_inference_threads(cfg.inference_threads);
    log::info!("model inference on {threads} thread(s)");
    let mut analyzer = analyzer_for(&cfg);
    let (sink, panel_size) = open_sink(&cfg)?;
    let display = LoggedSink(sink);
    let mut ctx = AppContext::for_panel(&cfg, panel_size);
    ctx.watchdog_interval = hw::SystemdNotifier::watchdog_interval().or(ctx.watchdog_interval);
    let clock = SystemClock::new();
    let camera = device_camera(&cfg, clock, &mut analyzer)?;
    let replay = cfg.camera.replay.is_some();
    let shutdown = Arc::new(AtomicBool::new(false));
    stop_on_signals(&shutdown)?;
    let buttons: Box<dyn Buttons> = if cfg.keyboard_buttons() {
        log::info!("buttons: keyboard (type c + Enter to capture, n next, x clear)");
        let keys = KeyboardButtons::stdin();
        if replay {
            Box::new(KeysUntilEof {
                keys,
                shutdown: shutdown.clone(),
            })
        } else {
            Box::new(keys)
        }
    } else {
        Box::new(hw::GpioButtons::open(&cfg.buttons).context("opening the buttons")?)
    };
    let mut dev = Device {
        camera,
        buttons,
        clock,
        analyzer,
        display,
        notifier: hw::SystemdNotifier::new(),
    };
    let opts = RunOptions {
        save_dir: cfg.saving.enabled.then(|| cfg.saving.directory.clone()),
        timeouts_as_lost: 3,
        // A replay camera does not block: pace it at the configured rate.
        frame_interval: replay.then(|| Duration::from_secs_f64(1.0 / f64::from(cfg.camera.fps))),
        // No camera: look for it (and read the buttons) ten times a second, not in a busy loop.
        camera_retry: Some(Duration::from_millis(100)),
        // A live camera: the models run on their own thread, so the camera, the buttons and
        // the screen stay live while a frame or a session is analysed. (A replay runs step by
        // step, reproducibly.) A job that hangs for a minute stops the watchdog pings.
        analysis_thread: !replay,
        analysis_stuck_after: Some(ANALYSIS_STUCK_AFTER),
        shutdown: Some(shutdown),
        ..RunOptions::default()
    };
    let report = run_device(&mut dev, &ctx, &opts);
    // Counts only: the names of saved captures are patient photos and stay out of the log.
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
    Ok(())
}

/// The device's display, each screen also logged at debug level (no patient data: a screen shows
/// no photo and no file name). Forwards `idle` so a panel can redraw after a bus error.
struct LoggedSink(Box<dyn ViewSink>);

impl ViewSink for LoggedSink {
    fn show(&mut self, view: &View) {
        log::debug!("screen: {}", describe(view));
        self.0.show(view);
    }
    fn idle(&mut self) {
        self.0.idle();
    }
}

/// The camera: still images replayed at `fps` when `[camera] replay` is set (development and
/// tests: a whole session without a camera), else the USB camera.
fn device_camera(
    cfg: &Config,
    clock: SystemClock,
    analyzer: &mut PipelineAnalyzer,
) -> Result<Box<dyn Camera>> {
    let Some(path) = &cfg.camera.replay else {
        return usb_camera(cfg, clock, analyzer);
    };
    let camera = ReplayCamera::from_path(path, cfg.camera.fps as f32)
        .with_context(|| format!("[camera] replay = {}", path.display()))?;
    log::info!(
        "camera: replaying {} image(s) at {} fps instead of a camera",
        camera.len(),
        cfg.camera.fps
    );
    analyzer.extra_checks.push(SelfCheck {
        name: "Camera".into(),
        state: CheckState::Ok,
        detail: format!("replay: {} images", camera.len()),
    });
    Ok(Box::new(camera))
}

/// The USB camera, reopened by itself after an unplug; its self-test line says whether it is
/// there now (a missing camera is not fatal: the device waits for it).
#[cfg(feature = "camera-v4l")]
fn usb_camera(
    cfg: &Config,
    clock: SystemClock,
    analyzer: &mut PipelineAnalyzer,
) -> Result<Box<dyn Camera>> {
    let (state, detail) = match hw::camera::device_index(&cfg.camera.device) {
        Ok((_, path)) => (CheckState::Ok, path.display().to_string()),
        Err(e) => (CheckState::Pending, format!("waiting: {e}")),
    };
    analyzer.extra_checks.push(SelfCheck {
        name: "Camera".into(),
        state,
        detail,
    });
    Ok(Box::new(hw::reconnecting_camera(&cfg.camera, clock)))
}

#[cfg(not(feature = "camera-v4l"))]
fn usb_camera(_: &Config, _: SystemClock, _: &mut PipelineAnalyzer) -> Result<Box<dyn Camera>> {
    bail!(
        "this build has no camera support: build with `--features camera-v4l` (the device build \
         does), or set `[camera] replay` to replay images"
    )
}

/// Keys on stdin for a replayed session, which ends when stdin does (Ctrl-D, or a test closing
/// the pipe) once every typed key has been handled.
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

/// A laptop screen: a colour or (for 128×64) monochrome framebuffer saved as PNG.
enum Screen {
    Colour(PngDisplay),
    Mono(MonoPngDisplay),
}

impl Screen {
    fn new(width: u32, height: u32) -> Self {
        if height <= 64 {
            Screen::Mono(MonoPngDisplay::new(width, height))
        } else {
            Screen::Colour(PngDisplay::new(width, height))
        }
    }

    fn show(&mut self, view: &View, path: &Path) -> Result<()> {
        match self {
            Screen::Colour(fb) => {
                fb.draw_view(view)?;
                fb.save_png(path)?;
            }
            Screen::Mono(fb) => {
                fb.draw_view(view)?;
                fb.save_png(path)?;
            }
        }
        Ok(())
    }

    fn test_pattern(&mut self, path: &Path) -> Result<()> {
        match self {
            Screen::Colour(fb) => {
                fb.test_pattern()?;
                fb.save_png(path)?;
            }
            Screen::Mono(fb) => {
                fb.test_pattern()?;
                fb.save_png(path)?;
            }
        }
        Ok(())
    }
}

/// The camera's lines of `doctor`: what it offers and the mode chosen (one open, as the device
/// does it), then one real frame, described by 8 decoded pixels along its middle row (enough to
/// check colours against a known test pattern; no picture is written).
#[cfg(feature = "camera-v4l")]
fn doctor_camera(cfg: &Config, line: &mut dyn FnMut(bool, &str, String)) {
    let mut camera = match hw::V4lCamera::open(&cfg.camera) {
        Ok(c) => c,
        Err(e) => return line(false, "camera", e.to_string()),
    };
    line(
        true,
        "camera",
        format!("{}; chose {}", camera.probe(), camera.choice()),
    );
    // A bad or late first frame is not yet a fault: try a few.
    let mut last = None;
    for _ in 0..5 {
        match camera.frame() {
            Ok(f) => {
                let (format, w, h) = camera.format();
                let y = h / 2;
                let samples: Vec<String> = (0..8)
                    .map(|i| {
                        let p = f.image.get_pixel((2 * i + 1) * w / 16, y).0;
                        format!("{},{},{}", p[0], p[1], p[2])
                    })
                    .collect();
                return line(
                    true,
                    "frame",
                    format!(
                        "{w}x{h} {}, row h/2 at x=(2i+1)w/16: {}",
                        format.name(),
                        samples.join(" ")
                    ),
                );
            }
            Err(e) => last = Some(e),
        }
    }
    line(
        false,
        "frame",
        last.map_or_else(|| "no frame".into(), |e| e.to_string()),
    );
}

/// A short text form of a view, for the terminal.
fn describe(view: &View) -> String {
    match view {
        View::Blank => "(blank)".into(),
        View::Starting { checks } => format!(
            "starting: {}",
            checks
                .iter()
                .map(|c| format!("{} {:?} ({})", c.name, c.state, c.detail))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        View::Preview {
            guidance,
            photos_taken,
            photos_wanted,
            ..
        } => format!(
            "preview: {} [{photos_taken}/{photos_wanted} photos]",
            guidance.text()
        ),
        View::Capturing { photo, of } => format!("capturing photo {photo} of {of}"),
        View::Analysing { photos } => format!("analysing {photos} photo(s)"),
        View::Results {
            candidates,
            page,
            pages,
            total,
            basis,
            questions_next,
        } => {
            let ranks = match (candidates.first(), candidates.last()) {
                (Some(a), Some(b)) if a.rank == b.rank => format!("rank {}", a.rank),
                (Some(a), Some(b)) => format!("ranks {}-{}", a.rank, b.rank),
                _ => "no ranks".into(),
            };
            format!(
                "results page {}/{pages}: {ranks} of {total} [{}] from {} reference cases{}",
                page + 1,
                candidates
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.band.label()))
                    .collect::<Vec<_>>()
                    .join("; "),
                basis.reference_cases,
                if basis.demo { " (DEMO gallery)" } else { "" }
            ) + if *questions_next {
                "; next: phenotype questions"
            } else {
                ""
            }
        }
        View::Question {
            number,
            max,
            question,
            basis,
        } => format!(
            "question {number} of at most {max}: {question} ({})",
            basis.phenotype.as_deref().unwrap_or("HPO")
        ),
        View::NoCloseMatch { basis } => format!(
            "no close match among {} reference cases",
            basis.reference_cases
        ),
        View::Error { kind, technical } => format!("error ({kind:?}): {technical}"),
    }
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the screens are written as PNG files.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Simulated panel: 240x240, 320x240 or 128x64.
    #[arg(long, default_value = "240x240")]
    panel: String,
    /// Photos per patient to capture.
    #[arg(long, default_value_t = 2)]
    photos: usize,
    /// Folder with the demo's gallery.csv and patient.txt. `auto`: /usr/share/gestaltcam/demo,
    /// else a `demo/` folder beside or above the executable (a checkout's).
    #[arg(long, default_value = super::AUTO, value_parser = super::demo_dir_arg)]
    demo: PathBuf,
    #[command(flatten)]
    models: ModelArgs,
}

pub(super) fn parse_panel(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .context("--panel WIDTHxHEIGHT, e.g. 240x240")?;
    let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
    if !(64..=1024).contains(&w) || !(32..=1024).contains(&h) {
        bail!("--panel {s}: size out of range");
    }
    Ok((w, h))
}

pub fn demo(a: DemoArgs) -> Result<()> {
    let (w, h) = parse_panel(&a.panel)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // As on the device: each inference uses every core (`inference_threads = 0`).
    gestaltcam::pipeline::set_inference_threads(Config::default().inference_threads);
    let pipeline = super::analysis::load_pipeline(&a.models)?;
    // The DEMO gallery is built in memory from bundled, licence-clean photos: nothing clinical
    // (no calibration set ships with it: any match is accepted so the ranking is shown).
    let gallery = gestaltcam::soak::demo_gallery(&pipeline, &a.demo)?;
    let labels = gallery.labels().len();
    let list = a.demo.join("patient.txt");
    let text =
        std::fs::read_to_string(&list).with_context(|| format!("reading {}", list.display()))?;
    let mut images = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        images.push(photo::load_path(&a.demo.join(line))?);
    }
    let camera = ReplayCamera::from_images(images, 10.0)?;
    let mut analyzer = PipelineAnalyzer::new(Ok(pipeline), Ok(gallery));
    analyzer.demo = true;
    let mut cfg = Config {
        photos_per_patient: a.photos.max(1),
        ..Config::default()
    };
    // The demo's camera replays licence-clean photos: its screens may show them.
    cfg.display.panel = PanelKind::Png;
    cfg.display.png_picture = true;
    analyzer.top_k = cfg.top_k;
    let ctx = AppContext::for_panel(&cfg, Size::new(w, h));
    // The scripted clinician: capture a photo every 4 frames, then page through every results
    // page and back to the first.
    let mut script: Vec<(u64, ButtonEvent)> = (0..ctx.photos_wanted as u64)
        .map(|i| (4 + 4 * i, ButtonEvent::Capture))
        .collect();
    let after = 8 + 4 * ctx.photos_wanted as u64;
    let pages = ctx.pages(ctx.top_k.min(labels)) as u64;
    script.extend((0..pages).map(|i| (after + 2 * i, ButtonEvent::Next)));
    let max_iterations = after + 2 * pages + 4;
    let mut screen = Screen::new(w, h);
    let mut shown = 0usize;
    let mut last_results: Option<View> = None;
    // Every rank the clinician saw, over all pages.
    let mut seen = std::collections::BTreeMap::new();
    let out = a.out.clone();
    let display = |view: &View| {
        shown += 1;
        let file = out.join(format!("{shown:03}.png"));
        println!("[screen {shown:03}] {}", describe(view));
        if let Err(e) = screen.show(view, &file) {
            eprintln!("display: {e:#}");
        }
        if let View::Results { candidates, .. } = view {
            for c in candidates {
                seen.insert(c.rank, c.clone());
            }
        }
        if matches!(view, View::Results { .. } | View::NoCloseMatch { .. }) {
            last_results = Some(view.clone());
        }
    };
    let mut dev = Device {
        camera,
        buttons: ScriptedButtons::at_frames(script),
        clock: SystemClock::new(),
        analyzer,
        display,
        notifier: gestaltcam::app::NullNotifier,
    };
    let opts = RunOptions {
        max_iterations: Some(max_iterations),
        timeouts_as_lost: 3,
        ..RunOptions::default()
    };
    let report = run_device(&mut dev, &ctx, &opts);
    drop(dev);
    println!();
    println!("{DISCLAIMER}  (DEMO gallery: stand-in labels, not syndromes)");
    match last_results {
        Some(View::Results { basis, total, .. }) => {
            if seen.len() != total {
                bail!(
                    "the demo showed {} of the {total} ranks on its pages",
                    seen.len()
                );
            }
            println!(
                "{} photo(s) combined, {} reference cases, model {}",
                basis.photos, basis.reference_cases, basis.model_version
            );
            println!(
                "{:>4}  {:<40} {:>12} {:>10}  nearest case",
                "rank", "label", "band", "similarity"
            );
            for c in seen.values() {
                println!(
                    "{:>4}  {:<40} {:>12} {:>10.3}  {}",
                    c.rank,
                    c.name,
                    c.band.label(),
                    c.similarity,
                    c.nearest_case
                );
            }
        }
        Some(View::NoCloseMatch { .. }) => println!("no close match"),
        _ => bail!(
            "the demo ended without results (final state: {})",
            report.final_mode
        ),
    }
    println!("screens written to {}", a.out.display());
    Ok(())
}

pub fn test_pattern(a: RunArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    if cfg.display.panel == PanelKind::Png {
        Screen::new(240, 240).test_pattern(&cfg.display.png_path)?;
        println!("test pattern written to {}", cfg.display.png_path.display());
        return Ok(());
    }
    let mut panel = hw::open_panel(&cfg.display).context("opening the display")?;
    panel.test_pattern()?;
    println!(
        "test pattern on {} ({}x{}): colour bars, corners marked. See board/README.md if it looks wrong.",
        panel.name(),
        panel.resolution().width,
        panel.resolution().height
    );
    Ok(())
}

pub fn doctor(a: RunArgs) -> Result<()> {
    let mut failures = 0;
    let mut line = |ok: bool, what: &str, detail: String| {
        println!("{} {what:<10} {detail}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    let cfg = match Config::load(&a.config) {
        Ok(l) => {
            line(true, "config", a.config.display().to_string());
            for w in &l.warnings {
                line(false, "config", format!("{w}"));
            }
            l.config
        }
        Err(e) => {
            line(false, "config", e.to_string());
            bail!("doctor: the configuration cannot be read");
        }
    };
    // The embedder the device would run, and the gallery file that goes with it.
    let mut choice = None;
    match Manifest::load_dir(&cfg.models_dir) {
        Ok(m) => {
            for entry in &m.models {
                match m.verify_file(entry) {
                    Ok(bytes) => line(
                        true,
                        "model",
                        format!("{} ({} bytes, sha256 ok)", entry.id, bytes.len()),
                    ),
                    Err(e) => line(false, "model", e.to_string()),
                }
            }
            match gestaltcam::setup::choose_model(
                &cfg,
                &m,
                gestaltcam::manifest::CpuFeatures::detect(),
            ) {
                Ok(c) => {
                    line(true, "embedder", format!("{} ({})", c.embedder, c.why));
                    choice = Some(c);
                }
                Err(e) => line(false, "embedder", e.to_string()),
            }
        }
        Err(e) => line(false, "models", e.to_string()),
    }
    let (embedder, gallery) = match &choice {
        Some(c) => (Some(c.embedder.as_str()), c.gallery.clone()),
        None => (None, cfg.gallery.clone()),
    };
    match FacePipeline::load_with_preview(
        &cfg.models_dir,
        embedder,
        EmbedOptions {
            flip_tta: cfg.flip_tta,
        },
        cfg.preview_detector_side,
    ) {
        Ok((p, preview)) => {
            match preview {
                Ok(()) => line(
                    true,
                    "preview",
                    format!(
                        "detector at {}×{} on the live preview, {}×{} on captures",
                        p.preview_detector().input_hw().1,
                        p.preview_detector().input_hw().0,
                        p.detector().input_hw().1,
                        p.detector().input_hw().0
                    ),
                ),
                Err(e) => line(
                    false,
                    "preview",
                    format!(
                        "preview_detector_side = {} not usable (the preview runs the full \
                         detector): {e}",
                        cfg.preview_detector_side
                    ),
                ),
            }
            match load_gallery(&gallery, &p, cfg.gallery_public_key.as_deref()) {
                Ok(g) => line(
                    true,
                    "gallery",
                    format!(
                        "{}: {} cases, {} syndromes, threshold {:?}{}",
                        g.name(),
                        g.len(),
                        g.labels().len(),
                        g.threshold(),
                        g.calibration()
                            .map_or(String::new(), |c| format!(", {}", c.operating_point()))
                    ),
                ),
                Err(e) => line(false, "gallery", format!("{e}")),
            }
        }
        Err(e) => line(false, "pipeline", e.to_string()),
    }
    #[cfg(feature = "camera-v4l")]
    if cfg.camera.replay.is_none() {
        doctor_camera(&cfg, &mut line);
    }
    let mut nodes: Vec<(&str, PathBuf)> = Vec::new();
    if cfg.display.panel.uses_spi() {
        nodes.push(("display", cfg.display.spi_device.clone()));
        nodes.push(("display", cfg.display.gpiochip.clone()));
    }
    if cfg.display.panel.uses_i2c() {
        nodes.push(("display", cfg.display.i2c_device.clone()));
    }
    if !cfg.keyboard_buttons() {
        nodes.push(("buttons", cfg.buttons.gpiochip.clone()));
    }
    for (what, path) in nodes {
        match hw::check_node(&path) {
            Ok(()) => line(true, what, format!("{} (read/write ok)", path.display())),
            Err(e) => line(false, what, e.to_string()),
        }
    }
    if cfg.saving.enabled {
        line(
            true,
            "saving",
            format!(
                "ENABLED: captures are written to {}",
                cfg.saving.directory.display()
            ),
        );
    } else {
        line(
            true,
            "saving",
            "disabled: no patient photo or embedding is written".into(),
        );
    }
    if failures > 0 {
        bail!("doctor: {failures} problem(s) found");
    }
    Ok(())
}
