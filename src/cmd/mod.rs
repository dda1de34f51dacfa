//! Command-line interface: argument types and dispatch.

mod analysis;
mod device;
mod hpo;
mod soak;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// gestaltcam — offline face-based screening aid for rare genetic syndromes
/// (GestaltMatcher method). A screening aid, never a diagnosis.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    pub fn log_level(&self) -> &'static str {
        match self.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    }
}

/// Where the models are and which embedder to use.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Folder with MANIFEST.toml and the model files.
    #[arg(long, default_value = default_models_dir())]
    pub models: PathBuf,
    /// Embedder id from the manifest (default: the manifest's first embedder, the int8 model).
    #[arg(long)]
    pub embedder: Option<String>,
    /// No test-time augmentation (by default each face is also embedded mirrored and the two
    /// embeddings averaged).
    #[arg(long)]
    pub no_flip_tta: bool,
    /// Worker threads for many photos (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The models folder: beside the binary's install prefix on the device, else the source tree.
pub fn default_models_dir() -> &'static str {
    if std::path::Path::new("/usr/share/gestaltcam/models/MANIFEST.toml").exists() {
        "/usr/share/gestaltcam/models"
    } else {
        concat!(env!("CARGO_MANIFEST_DIR"), "/models")
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the device: camera, display, buttons (reads /etc/gestaltcam/config.toml).
    Run(device::RunArgs),
    /// Laptop demo: replay sample photos as the camera, PNG screens, a scripted capture.
    Demo(device::DemoArgs),
    /// The device loop for thousands of replayed captures (demo gallery, screens drawn in
    /// memory): prints VmRSS and open descriptors; fails if either keeps growing.
    Soak(soak::SoakArgs),
    /// Draw a test pattern on the configured panel (bring-up).
    TestPattern(device::RunArgs),
    /// Check device nodes, permissions, models and gallery.
    Doctor(device::RunArgs),
    /// Rank syndromes for one patient from one or more photos.
    Analyze(analysis::AnalyzeArgs),
    /// Build, inspect, sign and verify reference galleries.
    #[command(subcommand)]
    Gallery(analysis::GalleryCommand),
    /// Calibrate the "no close match" threshold on a labelled set and write it into the gallery.
    Calibrate(analysis::CalibrateArgs),
    /// Top-k accuracy of a gallery on a labelled probe set (GestaltMatcher protocol).
    Eval(analysis::EvalArgs),
}

/// Starts logging at `level` unless `RUST_LOG` says otherwise. Log lines never carry patient
/// photo names or embeddings: the inference runtime (tract) prints tensor values in its debug
/// log, so it stays at `warn` whatever the level unless `RUST_LOG` names one of its crates
/// (e.g. `tract_core=debug`).
pub fn init_logging(level: &str) {
    let _ = env_logger::Builder::new()
        .filter_module("tract", log::LevelFilter::Warn)
        .parse_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_secs()
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if !matches!(cli.command, Command::Run(_)) || cli.verbose > 0 {
        init_logging(cli.log_level());
    }
    match cli.command {
        Command::Run(a) => device::run(a),
        Command::Demo(a) => device::demo(a),
        Command::Soak(a) => soak::soak(a),
        Command::TestPattern(a) => device::test_pattern(a),
        Command::Doctor(a) => device::doctor(a),
        Command::Analyze(a) => analysis::analyze(a),
        Command::Gallery(c) => analysis::gallery(c),
        Command::Calibrate(a) => analysis::calibrate(a),
        Command::Eval(a) => analysis::eval(a),
    }
}
