//! `bundle make|verify|info` (a programme's laptop) and `bundle import` (the device, run by its
//! USB unit): signed content bundles, see docs/bundles.md.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use gestaltcam::bundle::format::{self, EntryKind, MakeInput};
use gestaltcam::bundle::import::{import_from_stick, ImportOptions, StickOutcome};
use gestaltcam::bundle::version::Version;
use gestaltcam::bundle::{fragment, rfc3339_utc, BundleManifest};
use gestaltcam::config::Config;
use gestaltcam::gallery;
use gestaltcam::hpo::{HPOA_FILE, OBO_FILE};
use gestaltcam::manifest::{Manifest, MANIFEST_FILE};
use gestaltcam::setup::content::DeviceCheck;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Make a signed bundle of galleries, models, HPO files and a config fragment.
    Make(MakeArgs),
    /// Check a bundle's every hash and its signature by the public key PUB.
    Verify {
        file: PathBuf,
        /// The programme's public key (PEM, as `gallery keygen` writes it).
        #[arg(long)]
        key: PathBuf,
    },
    /// Print a bundle's manifest and signer (nothing is verified: use `bundle verify`).
    Info {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// On the device: import the bundle at the top of a USB stick's folder. Prints one line
    /// (`bundle: imported NAME V`, `bundle: none`, `bundle: refused: REASON`); exit 3 when
    /// refused.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct MakeArgs {
    /// The programme's secret key (PKCS#8 PEM, as `gallery keygen` writes it).
    #[arg(long)]
    key: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Shown to the clinician, e.g. "GMDB 2026-06".
    #[arg(long)]
    name: String,
    /// Dotted numbers, e.g. 2026.06.1: a device takes only a newer version.
    #[arg(long)]
    version: String,
    /// RFC 3339 creation time (default: now).
    #[arg(long)]
    created: Option<String>,
    /// Oldest device version that can use it (default: this program's version).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    min_device_version: String,
    /// A gallery; the first is the device's gallery, any further ones its variants (the same
    /// cases built by other models).
    #[arg(long)]
    gallery: Vec<PathBuf>,
    /// A models folder: its MANIFEST.toml and every model file it names.
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// A folder with the HPO release files hp.obo and phenotype.hpoa.
    #[arg(long)]
    hpo: Option<PathBuf>,
    /// A config fragment (TOML) of the keys a programme may set (docs/bundles.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The stick's folder (mounted read-only); its top level is searched for *.gcb.
    #[arg(long)]
    stick: PathBuf,
    /// Device configuration (state_dir, trusted_keys_dir).
    #[arg(long, default_value = "/etc/gestaltcam/config.toml")]
    config: PathBuf,
    /// Accept a bundle that is not newer than the content in use (a technician's choice).
    #[arg(long)]
    allow_downgrade: bool,
}

pub fn bundle(c: BundleCommand) -> Result<()> {
    match c {
        BundleCommand::Make(a) => make(a),
        BundleCommand::Verify { file, key } => {
            let key = gallery::read_verifying_key(&key)?;
            let v = format::verify_file(&file, &[key], None)
                .with_context(|| format!("bundle {}", file.display()))?;
            println!(
                "bundle: verified {} {} ({} entries, {} bytes, signed by {})",
                v.manifest.name,
                v.manifest.version,
                v.manifest.entries.len(),
                v.manifest.payload_len(),
                v.trailer.fingerprint()
            );
            Ok(())
        }
        BundleCommand::Info { file, json } => info(&file, json),
        BundleCommand::Import(a) => import(a),
    }
}

fn make(a: MakeArgs) -> Result<()> {
    let key = gallery::read_signing_key(&a.key)?;
    let mut files = Vec::new();
    for (i, g) in a.gallery.iter().enumerate() {
        let kind = if i == 0 {
            EntryKind::Gallery
        } else {
            EntryKind::GalleryVariant
        };
        // Only a valid gallery is bundled.
        gallery::Gallery::load(g).with_context(|| format!("--gallery {}", g.display()))?;
        files.push((kind, format!("galleries/{}", file_name(g)?), g.clone()));
    }
    if let Some(dir) = &a.models_dir {
        let m =
            Manifest::load_dir(dir).with_context(|| format!("--models-dir {}", dir.display()))?;
        files.push((
            EntryKind::ModelManifest,
            format!("models/{MANIFEST_FILE}"),
            dir.join(MANIFEST_FILE),
        ));
        for e in &m.models {
            files.push((
                EntryKind::Model,
                format!("models/{}", e.file),
                dir.join(&e.file),
            ));
        }
    }
    if let Some(dir) = &a.hpo {
        for name in [OBO_FILE, HPOA_FILE] {
            files.push((EntryKind::Hpo, format!("hpo/{name}"), dir.join(name)));
        }
    }
    if let Some(path) = &a.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--config {}", path.display()))?;
        fragment::parse(&text).with_context(|| format!("--config {}", path.display()))?;
        files.push((EntryKind::Config, "config.toml".into(), path.clone()));
    }
    let created = match a.created {
        Some(c) => c,
        None => rfc3339_utc(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
    };
    let input = MakeInput {
        name: a.name,
        version: a.version,
        created,
        min_device_version: a.min_device_version,
        files,
    };
    let m = format::make(&input, &key, &a.out)
        .with_context(|| format!("making {}", a.out.display()))?;
    println!(
        "bundle: wrote {} ({} {}, {} entries, {} bytes of content)",
        a.out.display(),
        m.name,
        m.version,
        m.entries.len(),
        m.payload_len()
    );
    Ok(())
}

fn file_name(p: &Path) -> Result<String> {
    match p.file_name().and_then(|n| n.to_str()) {
        Some(n) => Ok(n.to_string()),
        None => bail!("{}: no file name", p.display()),
    }
}

/// What `bundle info --json` prints.
#[derive(serde::Serialize)]
struct Info<'a> {
    #[serde(flatten)]
    manifest: &'a BundleManifest,
    /// The signer's key fingerprint (not verified).
    signer: String,
}

fn info(file: &Path, json: bool) -> Result<()> {
    let (m, trailer) = format::peek(file).with_context(|| format!("bundle {}", file.display()))?;
    if json {
        let info = Info {
            manifest: &m,
            signer: trailer.fingerprint(),
        };
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("name:               {}", m.name);
    println!("version:            {}", m.version);
    println!("created:            {}", m.created);
    println!("min device version: {}", m.min_device_version);
    println!(
        "signer key:         {} (not verified: use `bundle verify`)",
        trailer.fingerprint()
    );
    println!("entries:");
    for e in &m.entries {
        let kind = serde_json::to_value(e.kind)?;
        println!(
            "  {:<16} {:<40} {:>12} {}",
            kind.as_str().unwrap_or("?"),
            e.path,
            e.size,
            &e.sha256[..16]
        );
    }
    Ok(())
}

fn import(a: ImportArgs) -> Result<()> {
    let loaded =
        Config::load(&a.config).with_context(|| format!("configuration {}", a.config.display()))?;
    let cfg = loaded.config;
    let opts = ImportOptions {
        state_dir: cfg.state_dir.clone(),
        trusted_keys_dir: cfg.trusted_keys_dir.clone(),
        allow_downgrade: a.allow_downgrade,
        device_version: Version::device(),
    };
    let outcome = import_from_stick(&a.stick, &opts, &DeviceCheck { cfg: &cfg });
    println!("{}", outcome.line());
    match outcome {
        StickOutcome::Refused(_) => Err(super::Exit(3).into()),
        _ => Ok(()),
    }
}
