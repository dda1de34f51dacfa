//! `soak`: the device loop for thousands of replayed captures; RSS and open descriptors must
//! stay flat.

use super::ModelArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use gestaltcam::camera::ReplayCamera;
use gestaltcam::lab::demo_gallery;
use gestaltcam::screening::PipelineAnalyzer;
use gestaltcam::soak::{self, SoakOptions};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Photos to capture in all (one analysis per patient).
    #[arg(long, default_value_t = 2000)]
    captures: u64,
    /// Photos per patient.
    #[arg(long, default_value_t = 1)]
    photos_per_patient: usize,
    /// Print a table row every this many captures.
    #[arg(long, default_value_t = 200)]
    every: u64,
    /// Captures before the baseline that growth is measured from.
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Fail when RSS grows more than this after the warm-up (MiB). Open descriptors must not
    /// grow at all.
    #[arg(long, default_value_t = 8.0)]
    max_rss_growth_mib: f64,
    /// Simulated panel: 240x240, 320x240 or 128x64 (drawn in memory, never written).
    #[arg(long, default_value = "240x240")]
    panel: String,
    /// Folder with the demo's gallery.csv (the gallery, built in memory) and patient.txt (the
    /// replayed photos); `auto` finds it as `demo --demo` does.
    #[arg(long, default_value = super::AUTO, value_parser = super::demo_dir_arg)]
    demo: PathBuf,
    #[command(flatten)]
    models: ModelArgs,
}

pub fn soak(a: SoakArgs) -> Result<()> {
    let panel = super::parse_panel(&a.panel)?;
    if !(a.max_rss_growth_mib.is_finite() && a.max_rss_growth_mib >= 0.0) {
        bail!("--max-rss-growth-mib must be a non-negative number");
    }
    let opts = SoakOptions {
        captures: a.captures,
        photos_per_patient: a.photos_per_patient.clamp(1, 10),
        sample_every: a.every,
        warmup: a.warmup,
        panel,
    };
    opts.validate()?;
    let pipeline = a.models.load_pipeline()?;
    let gallery = demo_gallery(&pipeline, &a.demo)?;
    let camera = ReplayCamera::from_path(&a.demo.join("patient.txt"), 15.0)
        .context("the demo's replayed photos")?;
    let mut analyzer = PipelineAnalyzer::new(Ok(pipeline), Ok(gallery));
    analyzer.demo = true;
    println!(
        "soak: {} captures, {} photo(s) per patient, {} replayed image(s), panel {}x{}, warm-up {} captures",
        opts.captures,
        opts.photos_per_patient,
        camera.len(),
        panel.0,
        panel.1,
        opts.warmup
    );
    let start = soak::ProcSample::now()?;
    println!(
        "models and gallery loaded: VmRSS {:.1} MiB, {} fds",
        start.rss_mib(),
        start.fds
    );
    println!("{}", soak::table_header());
    let report = soak::run_soak(camera, analyzer, &opts, |row| {
        println!("{}", soak::format_row(row));
    })?;
    let secs = report.end.elapsed.as_secs_f64();
    println!();
    println!(
        "{} captures, {} sessions ({} results, {} failed analyses), {} frames, {} screens drawn in {:.1} s ({:.1} captures/s)",
        report.end.captures,
        report.end.sessions,
        report.results,
        report.failed_analyses,
        report.run.frames,
        report.screens,
        secs,
        report.end.captures as f64 / secs.max(1e-9)
    );
    println!(
        "VmRSS: start {:.1} MiB, after warm-up ({} captures) {:.1} MiB, end {:.1} MiB: growth {:+.1} MiB after warm-up (bound {:.1} MiB)",
        report.start.rss_mib(),
        report.baseline.captures,
        report.baseline.sample.rss_mib(),
        report.end.sample.rss_mib(),
        report.rss_growth_kib() as f64 / 1024.0,
        a.max_rss_growth_mib
    );
    println!(
        "open fds: start {}, after warm-up {}, end {}: change {:+}",
        report.start.fds,
        report.baseline.sample.fds,
        report.end.sample.fds,
        report.fd_change()
    );
    let bound_kib = (a.max_rss_growth_mib * 1024.0).round() as u64;
    if let Err(problem) = report.check(bound_kib) {
        bail!("soak failed: {problem}");
    }
    println!("soak passed: RSS and open descriptors flat");
    Ok(())
}
