//! `run`, `demo`, `test-pattern`, `doctor`: the device and its bring-up tools. The library
//! assembles each ([`gestaltcam::setup`]); here they are parsed, dispatched and printed.

use super::ModelArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use embedded_graphics::prelude::Size;
use gestaltcam::config::{Config, PanelKind};
use gestaltcam::display::{sink::error_chain, PngScreen};
use gestaltcam::hw;
use gestaltcam::setup::demo::{demo_photos, Demo, DemoOutcome};
use gestaltcam::setup::doctor::{self, DoctorRow};
use gestaltcam::setup::{assemble, Wiring};
use gestaltcam::ui::view::{View, DISCLAIMER};
use std::path::{Path, PathBuf};

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

pub fn run(a: RunArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    super::init_logging(&cfg.log_level);
    let mut device = assemble(&cfg, Wiring::device())?;
    device.run();
    if device.restart_requested() {
        // A clean exit: the unit's Restart=always starts the device again, with the new content.
        log::warn!("exiting for a restart with the content just imported");
    }
    Ok(())
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

pub fn demo(a: DemoArgs) -> Result<()> {
    let (w, h) = super::parse_panel(&a.panel)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    // As on the device: each inference uses every core (`inference_threads = 0`).
    gestaltcam::pipeline::set_inference_threads(Config::default().inference_threads);
    let pipeline = a.models.load_pipeline()?;
    // The DEMO gallery is built in memory from bundled, licence-clean photos: nothing clinical
    // (no calibration set ships with it: any match is accepted so the ranking is shown).
    let gallery = gestaltcam::lab::demo_gallery(&pipeline, &a.demo)?;
    let photos = demo_photos(&a.demo)?;
    let demo = Demo::new(pipeline, gallery, photos, Size::new(w, h), a.photos)?;
    let outcome = demo.run(&a.out, |n, view, drawn| {
        println!("[screen {n:03}] {}", view.describe());
        if let Err(e) = drawn {
            eprintln!("display: {}", error_chain(&e));
        }
    });
    print_demo_summary(&outcome)?;
    println!("screens written to {}", a.out.display());
    Ok(())
}

/// The disclaimer and every rank the demo showed, with its band, similarity and nearest case.
fn print_demo_summary(outcome: &DemoOutcome) -> Result<()> {
    println!();
    println!("{DISCLAIMER}  (DEMO gallery: stand-in labels, not syndromes)");
    match &outcome.last_results {
        Some(View::Results { basis, total, .. }) => {
            if outcome.seen.len() != *total {
                bail!(
                    "the demo showed {} of the {total} ranks on its pages",
                    outcome.seen.len()
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
            for c in outcome.seen.values() {
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
            outcome.report.final_mode
        ),
    }
    Ok(())
}

pub fn test_pattern(a: RunArgs) -> Result<()> {
    let cfg = load_config(&a.config)?;
    if cfg.display.panel == PanelKind::Png {
        PngScreen::new(240, 240).test_pattern(&cfg.display.png_path)?;
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

/// Prints each part's rows; fails when any row did.
pub fn doctor(a: RunArgs) -> Result<()> {
    let mut failures = 0;
    let mut print = |rows: Vec<DoctorRow>| {
        for row in rows {
            println!("{row}");
            failures += usize::from(!row.ok);
        }
    };
    let (rows, cfg) = doctor::check_config(&a.config);
    print(rows);
    let Some(cfg) = cfg else {
        bail!("doctor: the configuration cannot be read");
    };
    doctor::check_parts(&cfg, &mut print);
    if failures > 0 {
        bail!("doctor: {failures} problem(s) found");
    }
    Ok(())
}
