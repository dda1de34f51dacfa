//! The laptop demo's device: licence-clean photos replayed as the camera, the DEMO gallery, a
//! scripted clinician who captures the photos and pages through every results page, and each
//! screen written as a numbered PNG file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embedded_graphics::prelude::Size;
use image::RgbImage;

use crate::app::{
    run_device, AppContext, ButtonEvent, Device, NullNotifier, RunOptions, RunReport,
    ScriptedButtons, SystemClock,
};
use crate::camera::{ReplayCamera, ReplayError};
use crate::config::{Config, PanelKind};
use crate::display::{DisplayError, PngScreen};
use crate::gallery::Gallery;
use crate::photo::{self, PhotoFileError};
use crate::pipeline::FacePipeline;
use crate::screening::PipelineAnalyzer;
use crate::ui::view::{Candidate, View};

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("reading {}", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Photo(#[from] PhotoFileError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// The photos the demo's camera replays: those `patient.txt` in the demo folder lists (one
/// path a line, relative to the folder; blank lines and `#` comments skipped).
pub fn demo_photos(demo_dir: &Path) -> Result<Vec<RgbImage>, DemoError> {
    let list = demo_dir.join("patient.txt");
    let text = std::fs::read_to_string(&list).map_err(|source| DemoError::List {
        path: list.clone(),
        source,
    })?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| Ok(photo::load_path(&demo_dir.join(line))?))
        .collect()
}

/// What the clinician saw in the demo.
#[derive(Debug)]
pub struct DemoOutcome {
    pub report: RunReport,
    /// The last results (or "no close match") screen.
    pub last_results: Option<View>,
    /// Every candidate shown, over all pages, by rank.
    pub seen: BTreeMap<usize, Candidate>,
}

/// The demo's device, ready to run.
pub struct Demo {
    camera: ReplayCamera,
    analyzer: PipelineAnalyzer,
    ctx: AppContext,
    buttons: ScriptedButtons,
    max_iterations: u64,
    panel: Size,
}

impl Demo {
    /// The demo with `pipeline` and the DEMO `gallery` (nothing clinical: no calibration set
    /// ships with it, so any match is accepted and the ranking is shown), `photos` replayed at
    /// 10 fps, on a `panel`-sized PNG screen, `photos_per_patient` captures.
    pub fn new(
        pipeline: FacePipeline,
        gallery: Gallery,
        photos: Vec<RgbImage>,
        panel: Size,
        photos_per_patient: usize,
    ) -> Result<Self, DemoError> {
        let labels = gallery.labels().len();
        let camera = ReplayCamera::from_images(photos, 10.0)?;
        let mut cfg = Config {
            photos_per_patient: photos_per_patient.max(1),
            ..Config::default()
        };
        // The demo's camera replays licence-clean photos: its screens may show them.
        cfg.display.panel = PanelKind::Png;
        cfg.display.png_picture = true;
        let mut analyzer = PipelineAnalyzer::new(Ok(pipeline), Ok(gallery));
        analyzer.demo = true;
        analyzer.top_k = cfg.top_k;
        let ctx = AppContext::for_panel(&cfg, panel);
        let (buttons, max_iterations) = clinician(&ctx, labels);
        Ok(Demo {
            camera,
            analyzer,
            ctx,
            buttons,
            max_iterations,
            panel,
        })
    }

    /// Runs the demo: each screen is written to `out/NNN.png` (from 001) and handed to
    /// `on_screen` with its number and how the write went.
    pub fn run(
        self,
        out: &Path,
        mut on_screen: impl FnMut(usize, &View, Result<(), DisplayError>),
    ) -> DemoOutcome {
        let mut screen = PngScreen::new(self.panel.width, self.panel.height);
        let mut shown = 0usize;
        let mut last_results = None;
        let mut seen = BTreeMap::new();
        let display = |view: &View| {
            shown += 1;
            let drawn = screen.show(view, &out.join(format!("{shown:03}.png")));
            on_screen(shown, view, drawn);
            remember_results(view, &mut seen, &mut last_results);
        };
        let mut dev = Device {
            camera: self.camera,
            buttons: self.buttons,
            clock: SystemClock::new(),
            analyzer: self.analyzer,
            display,
            notifier: NullNotifier,
        };
        let opts = RunOptions {
            max_iterations: Some(self.max_iterations),
            timeouts_as_lost: 3,
            ..RunOptions::default()
        };
        let report = run_device(&mut dev, &self.ctx, &opts);
        drop(dev);
        DemoOutcome {
            report,
            last_results,
            seen,
        }
    }
}

/// The scripted clinician: a capture every 4 frames, then "next" through every results page
/// and back to the first; and the iterations that takes.
fn clinician(ctx: &AppContext, labels: usize) -> (ScriptedButtons, u64) {
    let photos = ctx.photos_wanted as u64;
    let mut script: Vec<(u64, ButtonEvent)> = (0..photos)
        .map(|i| (4 + 4 * i, ButtonEvent::Capture))
        .collect();
    let after = 8 + 4 * photos;
    let pages = ctx.pages(ctx.top_k.min(labels)) as u64;
    script.extend((0..pages).map(|i| (after + 2 * i, ButtonEvent::Next)));
    (ScriptedButtons::at_frames(script), after + 2 * pages + 4)
}

/// Keeps the candidates of a results page and the last results screen.
fn remember_results(
    view: &View,
    seen: &mut BTreeMap<usize, Candidate>,
    last_results: &mut Option<View>,
) {
    if let View::Results { candidates, .. } = view {
        for c in candidates {
            seen.insert(c.rank, c.clone());
        }
    }
    if matches!(view, View::Results { .. } | View::NoCloseMatch { .. }) {
        *last_results = Some(view.clone());
    }
}
