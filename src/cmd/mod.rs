//! Command-line interface: argument types and dispatch.

mod analysis;
mod bundle;
mod device;
mod hpo;
mod import;
mod report;
mod soak;

use clap::{Args, Parser, Subcommand};
use gestaltcam::embed::EmbedOptions;
use gestaltcam::pipeline::{self, FacePipeline, ModelsDirError};
use std::path::{Path, PathBuf};

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
    /// Folder with MANIFEST.toml and the model files. `auto`: the installed
    /// /usr/share/gestaltcam/models, else a `models/` folder beside or above the executable
    /// (a checkout's `target/release/gestaltcam` finds the checkout's models).
    #[arg(long, default_value = AUTO, value_parser = models_dir_arg)]
    pub models: PathBuf,
    /// Embedder (or `[[ensemble]]`) id from the manifest. Default: for a command that reads a gallery (analyze,
    /// eval --gallery, calibrate) the model that built it; otherwise, or when the manifest lacks
    /// that model, the manifest's first embedder (the int8 model).
    #[arg(long)]
    pub embedder: Option<String>,
    /// No test-time augmentation (by default each face is also embedded mirrored and the two
    /// embeddings averaged). An `[[ensemble]]` runs the variants its manifest entry names.
    #[arg(long)]
    pub no_flip_tta: bool,
    /// Worker threads for many photos (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    /// Loads the pipeline these flags name; the error says which models folder failed.
    pub fn load_pipeline(&self) -> Result<FacePipeline, ModelsDirError> {
        let opts = EmbedOptions {
            flip_tta: !self.no_flip_tta,
        };
        pipeline::load_models(&self.models, self.embedder.as_deref(), opts)
    }

    /// Loads the pipeline for reading `gallery`: `--embedder` when given, else the model the
    /// gallery records (an unreadable gallery falls back to the default; loading it then says
    /// why).
    pub fn load_pipeline_for_gallery(
        &self,
        gallery: &Path,
    ) -> Result<FacePipeline, ModelsDirError> {
        let opts = EmbedOptions {
            flip_tta: !self.no_flip_tta,
        };
        let recorded = gestaltcam::gallery::Gallery::peek_embedder_id(gallery).ok();
        pipeline::load_models_for_gallery(
            &self.models,
            self.embedder.as_deref(),
            recorded.as_deref(),
            opts,
        )
    }

    /// Worker threads for many photos: `--threads`, else every core.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(gestaltcam::lab::default_threads)
    }
}

/// `gallery import`: GestaltMatcher-Arc's encodings → a gallery bound to a manifest ensemble
/// (see `lab::import`). Shared by `analysis` (the subcommand) and `import` (the command).
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Encodings converted by models/tools/gmarc_convert.py (JSON lines, docs/gm-arc.md).
    #[arg(long)]
    pub encodings: PathBuf,
    /// GMDB split CSV (`image_id,subject,label[,split]`): which images, with labels and subjects.
    #[arg(long)]
    pub labels: PathBuf,
    /// GMDB syndromes TSV (`syndrome_id, syndrome_name, OMIM`).
    #[arg(long)]
    pub syndromes: PathBuf,
    /// GMDB rare sets: use only the images of this split.
    #[arg(long)]
    pub split: Option<String>,
    /// GM-Arc's image → disorder/genes metadata, converted (genes kept per image).
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// GM-Arc model key of each ensemble member, e.g. `m0=gm-arc-r50,m1=gm-arc-r100,m2=glint360k`.
    /// Default: by the ensemble's order (first member `m0`, second `m1`, …).
    #[arg(long)]
    pub model_map: Option<String>,
    #[arg(long)]
    pub out: PathBuf,
    /// Gallery name/version shown on the device.
    #[arg(long, default_value = "gallery")]
    pub name: String,
    /// Store embeddings as int8 with a per-case scale (4x smaller).
    #[arg(long)]
    pub int8: bool,
    /// The manifest `[[ensemble]]` id (--embedder) the gallery is bound to; its model files
    /// are not read.
    #[command(flatten)]
    pub models: ModelArgs,
}

/// `eval` options for the HPO simulation.
#[derive(Args, Debug, Clone)]
pub struct HpoSimArgs {
    /// Run the HPO question SIMULATION (gallery identities stand in for OMIM diseases) and print
    /// its table under `report.hpo_sim`.
    #[arg(long)]
    pub hpo_sim: bool,
    /// Seed of the simulation (disease assignment, person split, answers, noise). Its own
    /// name: `--seed` is the session draw's.
    #[arg(long, default_value_t = 14)]
    pub hpo_seed: u64,
    /// Folder with the unmodified HPO release files hp.obo and phenotype.hpoa (default: the
    /// installed /usr/share/gestaltcam/hpo, else a `data/hpo` folder beside or above the
    /// executable, as a checkout has it after `data/hpo/fetch.sh`).
    #[arg(long)]
    pub hpo_data: Option<PathBuf>,
}

/// `--panel WIDTHxHEIGHT` of `demo` and `soak`: the simulated panel's size in pixels.
pub fn parse_panel(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| anyhow::anyhow!("--panel WIDTHxHEIGHT, e.g. 240x240"))?;
    let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
    if !(64..=1024).contains(&w) || !(32..=1024).contains(&h) {
        anyhow::bail!("--panel {s}: size out of range");
    }
    Ok((w, h))
}

/// The value of `--models` / `--demo` that asks for [`find_data_dir`].
pub const AUTO: &str = "auto";

/// Where the `.deb` installs the bundled data folders.
pub const INSTALL_DIR: &str = "/usr/share/gestaltcam";

/// A bundled data folder the commands need, and the file that marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDir {
    /// `models/`, marked by `MANIFEST.toml`.
    Models,
    /// `demo/` (the laptop demo's gallery list and replayed photos), marked by `gallery.csv`.
    Demo,
    /// The HPO release files, marked by `hp.obo`: installed as `hpo/`, in a checkout
    /// `data/hpo/` (where `data/hpo/fetch.sh` puts them).
    Hpo,
}

impl DataDir {
    /// The folder's name under the install prefix.
    fn name(self) -> &'static str {
        match self {
            DataDir::Models => "models",
            DataDir::Demo => "demo",
            DataDir::Hpo => "hpo",
        }
    }

    /// The folder's path in a checkout (and so beside or above the executable).
    fn checkout_path(self) -> &'static str {
        match self {
            DataDir::Hpo => "data/hpo",
            other => other.name(),
        }
    }

    /// The command-line option that names the folder explicitly.
    fn flag(self) -> &'static str {
        match self {
            DataDir::Hpo => "hpo-data",
            other => other.name(),
        }
    }

    fn marker(self) -> &'static str {
        match self {
            DataDir::Models => gestaltcam::manifest::MANIFEST_FILE,
            DataDir::Demo => "gallery.csv",
            DataDir::Hpo => "hp.obo",
        }
    }
}

/// How many folders above the executable's are searched: enough for
/// `<checkout>/target/<triple>/release/deps/<test binary>`.
const EXE_LEVELS_UP: usize = 5;

/// Finds a data folder for a command-line default, in this order: the installed
/// `/usr/share/gestaltcam/<name>`, then `<name>/` (`data/hpo/` for the HPO files) in the
/// executable's folder or one of the [`EXE_LEVELS_UP`] folders above it
/// (`target/release/gestaltcam` run from a checkout finds `<checkout>/<name>`). A folder counts
/// only if it holds the marker file. The error names every place tried. (The `.deb` installs
/// `models/` only; the demo and the HPO files come from a checkout or are copied there.)
pub fn find_data_dir(kind: DataDir) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().ok();
    find_data_dir_in(kind, Path::new(INSTALL_DIR), exe.as_deref())
}

/// [`find_data_dir`] with the install prefix and the executable's path given.
pub fn find_data_dir_in(
    kind: DataDir,
    install_dir: &Path,
    exe: Option<&Path>,
) -> Result<PathBuf, String> {
    let mut candidates = vec![install_dir.join(kind.name())];
    if let Some(exe) = exe {
        let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_path_buf());
        candidates.extend(
            exe.ancestors()
                .skip(1)
                .take(EXE_LEVELS_UP + 1)
                .map(|d| d.join(kind.checkout_path())),
        );
    }
    if let Some(found) = candidates.iter().find(|d| d.join(kind.marker()).is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no `{name}` folder found (one holding {marker}); tried {tried}{exe}; pass --{flag} DIR",
        name = kind.name(),
        flag = kind.flag(),
        marker = kind.marker(),
        tried = tried.join(", "),
        exe = if exe.is_none() {
            " (the executable's own path is unknown)"
        } else {
            ""
        },
    ))
}

fn data_dir_arg(kind: DataDir, value: &str) -> Result<PathBuf, String> {
    if value == AUTO {
        find_data_dir(kind)
    } else {
        Ok(PathBuf::from(value))
    }
}

/// The HPO release folder: `explicit` (`--hpo-data DIR`) as given, else [`find_data_dir`]
/// (`/usr/share/gestaltcam/hpo`, then `data/hpo/` beside or above the executable).
pub fn hpo_data_dir(explicit: Option<&Path>) -> Result<PathBuf, String> {
    match explicit {
        Some(dir) => Ok(dir.to_path_buf()),
        None => find_data_dir(DataDir::Hpo),
    }
}

/// clap parser of `--models` (`auto` → [`find_data_dir`]).
pub fn models_dir_arg(value: &str) -> Result<PathBuf, String> {
    data_dir_arg(DataDir::Models, value)
}

/// clap parser of `--demo` (`auto` → [`find_data_dir`]).
pub fn demo_dir_arg(value: &str) -> Result<PathBuf, String> {
    data_dir_arg(DataDir::Demo, value)
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
    /// The device's usage report signed by its own key (--out), its public key
    /// (--public-key), or check a report (--verify FILE --key PUB).
    Report(report::ReportArgs),
    /// Rank syndromes for one patient from one or more photos.
    Analyze(analysis::AnalyzeArgs),
    /// Build, inspect, sign and verify reference galleries.
    #[command(subcommand)]
    Gallery(analysis::GalleryCommand),
    /// Calibrate the "no close match" threshold on a labelled set and write it into the gallery.
    Calibrate(analysis::CalibrateArgs),
    /// Top-k accuracy of a gallery on a labelled probe set (GestaltMatcher protocol).
    Eval(analysis::EvalArgs),
    /// Signed content bundles: make, verify, info (laptop); import from a USB stick (device).
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
}

/// An exit status other than 0 and 1 that a command asks for, its message already printed
/// (`bundle import` exits 3 when it refuses a bundle).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

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
        Command::Report(a) => report::report(a),
        Command::Analyze(a) => analysis::analyze(a),
        Command::Gallery(analysis::GalleryCommand::Import(a)) => import::import(*a),
        Command::Gallery(c) => analysis::gallery(c),
        Command::Calibrate(a) => analysis::calibrate(a),
        Command::Eval(a) if a.hpo.hpo_sim => {
            let role = a.set.role.as_deref();
            hpo::eval_hpo_sim(&a.models, &a.set.probes, role, &a.hpo, a.json)
        }
        Command::Eval(a) => analysis::eval(a),
        Command::Bundle(c) => bundle::bundle(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn data_dir_prefers_installed_then_walks_up_from_the_executable() {
        let tmp = tempfile::tempdir().unwrap();
        let (install, checkout) = (tmp.path().join("usr/share/g"), tmp.path().join("checkout"));
        let exe = checkout.join("target/release/gestaltcam");
        touch(&exe);
        touch(&checkout.join("models/MANIFEST.toml"));
        touch(&checkout.join("demo/gallery.csv"));
        // Nothing installed: the checkout's folders, found from target/release/.
        let models = find_data_dir_in(DataDir::Models, &install, Some(&exe)).unwrap();
        assert_eq!(models, checkout.join("models").canonicalize().unwrap());
        let demo = find_data_dir_in(DataDir::Demo, &install, Some(&exe)).unwrap();
        assert_eq!(demo, checkout.join("demo").canonicalize().unwrap());
        // A cross build's target/<triple>/release/deps/ reaches the checkout too.
        let deep = checkout.join("target/aarch64-unknown-linux-gnu/release/deps/it-0123");
        touch(&deep);
        let models = find_data_dir_in(DataDir::Models, &install, Some(&deep)).unwrap();
        assert_eq!(models, checkout.join("models").canonicalize().unwrap());
        // Installed wins.
        touch(&install.join("models/MANIFEST.toml"));
        let models = find_data_dir_in(DataDir::Models, &install, Some(&exe)).unwrap();
        assert_eq!(models, install.join("models"));
        // A folder without its marker file does not count.
        std::fs::create_dir_all(install.join("demo")).unwrap();
        let demo = find_data_dir_in(DataDir::Demo, &install, Some(&exe)).unwrap();
        assert_eq!(demo, checkout.join("demo").canonicalize().unwrap());
    }

    #[test]
    fn data_dir_error_names_every_place_tried() {
        let tmp = tempfile::tempdir().unwrap();
        let install = tmp.path().join("usr/share/g");
        let exe = tmp.path().join("a/b/gestaltcam");
        touch(&exe);
        let err = find_data_dir_in(DataDir::Demo, &install, Some(&exe)).unwrap_err();
        assert!(
            err.contains("no `demo` folder found (one holding gallery.csv)"),
            "{err}"
        );
        let b = exe.canonicalize().unwrap().parent().unwrap().to_path_buf();
        for dir in [
            install.join("demo"),
            b.join("demo"),
            b.parent().unwrap().join("demo"),
        ] {
            assert!(
                err.contains(&dir.display().to_string()),
                "{err} lacks {}",
                dir.display()
            );
        }
        assert!(err.ends_with("pass --demo DIR"), "{err}");
        let err = find_data_dir_in(DataDir::Models, &install, None).unwrap_err();
        assert!(
            err.contains("the executable's own path is unknown"),
            "{err}"
        );
    }

    #[test]
    fn hpo_data_is_installed_or_the_checkouts_data_hpo() {
        let tmp = tempfile::tempdir().unwrap();
        let (install, checkout) = (tmp.path().join("usr/share/g"), tmp.path().join("checkout"));
        let exe = checkout.join("target/debug/gestaltcam");
        touch(&exe);
        // Nothing anywhere: the error names the installed folder, the checkout's data/hpo and
        // the option.
        let err = find_data_dir_in(DataDir::Hpo, &install, Some(&exe)).unwrap_err();
        let checkout_hpo = checkout.canonicalize().unwrap().join("data/hpo");
        for dir in [install.join("hpo"), checkout_hpo.clone()] {
            assert!(
                err.contains(&dir.display().to_string()),
                "{err} lacks {dir:?}"
            );
        }
        assert!(err.contains("(one holding hp.obo)"), "{err}");
        assert!(err.ends_with("pass --hpo-data DIR"), "{err}");
        // The checkout's data/hpo, found from target/debug/.
        touch(&checkout.join("data/hpo/hp.obo"));
        let found = find_data_dir_in(DataDir::Hpo, &install, Some(&exe)).unwrap();
        assert_eq!(found, checkout_hpo);
        // The installed copy wins.
        touch(&install.join("hpo/hp.obo"));
        let found = find_data_dir_in(DataDir::Hpo, &install, Some(&exe)).unwrap();
        assert_eq!(found, install.join("hpo"));
        // An explicit folder is taken as given.
        let given = hpo_data_dir(Some(Path::new("/x/hpo"))).unwrap();
        assert_eq!(given, PathBuf::from("/x/hpo"));
    }

    #[test]
    fn an_explicit_folder_is_taken_as_given() {
        assert_eq!(
            models_dir_arg("/x/models").unwrap(),
            PathBuf::from("/x/models")
        );
        assert_eq!(demo_dir_arg("rel/demo").unwrap(), PathBuf::from("rel/demo"));
    }
}
