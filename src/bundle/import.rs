//! `gestaltcam bundle import`: a stick's bundle brought into `<state_dir>/content/`.
//!
//! In order, each step refusing with a reason and leaving `current` untouched:
//! the signer among the trusted keys, the device new enough, the version newer than the
//! content in use (unless `allow_downgrade`); then the bundle streamed from the stick into a
//! staging folder with every hash checked and the signature verified; the staged copy verified
//! again from disk (the stick may have vanished or lied mid-read); the device's own checks
//! ([`ContentCheck`]: models load, galleries bind, HPO parses); and only then the switch.
//! Every outcome but "no bundle" leaves a [`Notice`] for the panel.

use std::path::{Path, PathBuf};

use super::format::{self, BundleManifest};
use super::notice::{Notice, Outcome};
use super::store::{self, ContentStore};
use super::version::Version;
use super::{BundleError, Result};

/// The file extension of bundles.
pub const EXTENSION: &str = "gcb";

/// The device's checks of staged content, before it may be switched in.
pub trait ContentCheck {
    /// Checks the content staged in `dir`; on success, the clinician's line for the notice
    /// (e.g. "Gallery updated: GMDB 2026-06, 7,459 cases").
    fn check(&self, dir: &Path, manifest: &BundleManifest) -> Result<String>;
}

/// Where the import puts things and what it accepts.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub state_dir: PathBuf,
    pub trusted_keys_dir: PathBuf,
    pub allow_downgrade: bool,
    /// The version of the device software (`Version::device()`).
    pub device_version: Version,
}

/// What a successful import did.
#[derive(Debug, Clone)]
pub struct Imported {
    pub manifest: BundleManifest,
    /// The content folder `current` now names.
    pub folder: PathBuf,
    /// The clinician's line.
    pub text: String,
}

/// The single `*.gcb` file at the top of `stick`, if any (several are refused: which one was
/// meant is not a guess the device makes).
pub fn find_bundle(stick: &Path) -> Result<Option<PathBuf>> {
    let entries = std::fs::read_dir(stick).map_err(|source| BundleError::Read {
        path: stick.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case(EXTENSION))
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(BundleError::SeveralBundles {
            names: found
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Imports the bundle `file` (see the module documentation). Nothing of the content in use
/// changes unless this returns `Ok`.
pub fn import_bundle(
    file: &Path,
    opts: &ImportOptions,
    check: &dyn ContentCheck,
) -> Result<Imported> {
    let keys = store::trusted_keys(&opts.trusted_keys_dir)?;
    let (manifest, trailer) = format::peek(file)?;
    if !keys.iter().any(|k| k.as_bytes() == &trailer.public_key) {
        return Err(BundleError::UntrustedKey {
            fingerprint: trailer.fingerprint(),
        });
    }
    check_versions(&manifest, opts)?;
    let store = ContentStore::new(&opts.state_dir);
    let staged = store.stage()?;
    let result = (|| {
        let verified = format::verify_file(file, &keys, Some(&staged))?;
        if verified.manifest != manifest {
            return Err(BundleError::Manifest(
                "the file changed while it was being read".into(),
            ));
        }
        store::keep_signature(&staged, &verified)?;
        store::verify_dir(&staged, &keys)?;
        let text = check.check(&staged, &verified.manifest)?;
        let folder = store.switch_to(&staged, &verified)?;
        Ok(Imported {
            manifest: verified.manifest,
            folder,
            text,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    result
}

/// The device new enough, and the bundle newer than the content in use.
fn check_versions(manifest: &BundleManifest, opts: &ImportOptions) -> Result<()> {
    let needed = Version::parse(&manifest.min_device_version)?;
    if needed > opts.device_version {
        return Err(BundleError::NeedsNewerDevice {
            needed: manifest.min_device_version.clone(),
            device: opts.device_version.to_string(),
        });
    }
    let offered = Version::parse(&manifest.version)?;
    let store = ContentStore::new(&opts.state_dir);
    let current = store
        .current()
        .and_then(|dir| store::read_manifest(&dir).ok());
    if let Some(cur) = current {
        let newer = Version::parse(&cur.version).map_or(true, |v| offered > v);
        if !newer && !opts.allow_downgrade {
            return Err(BundleError::Downgrade {
                current: cur.version,
                offered: manifest.version.clone(),
            });
        }
    }
    Ok(())
}

/// What `bundle import --stick` did, as its one line says.
#[derive(Debug)]
pub enum StickOutcome {
    /// No `*.gcb` at the top of the stick.
    NoBundle,
    Imported(Imported),
    Refused(BundleError),
}

impl StickOutcome {
    /// `bundle: imported NAME V`, `bundle: none` or `bundle: refused: REASON`.
    pub fn line(&self) -> String {
        match self {
            StickOutcome::NoBundle => "bundle: none".into(),
            StickOutcome::Imported(i) => {
                format!(
                    "bundle: imported {} {}",
                    i.manifest.name, i.manifest.version
                )
            }
            StickOutcome::Refused(e) => format!("bundle: refused: {e}"),
        }
    }
}

/// Looks for a bundle on `stick`, imports it and writes the notice for the panel.
pub fn import_from_stick(
    stick: &Path,
    opts: &ImportOptions,
    check: &dyn ContentCheck,
) -> StickOutcome {
    let result = match find_bundle(stick) {
        Ok(None) => return StickOutcome::NoBundle,
        Ok(Some(f)) => import_bundle(&f, opts, check)
            .inspect_err(|e| log::error!("bundle {}: {e}", f.display())),
        Err(e) => Err(e),
    };
    let store = ContentStore::new(&opts.state_dir);
    let notice = notice_for(result.as_ref(), stick, &store);
    let written =
        crate::app::save::create_dir_0700(store.root()).and_then(|()| notice.write(store.root()));
    if let Err(e) = written {
        log::error!("cannot write the notice in {}: {e}", store.root().display());
    }
    match result {
        Ok(i) => StickOutcome::Imported(i),
        Err(e) => StickOutcome::Refused(e),
    }
}

fn notice_for(
    result: Result<&Imported, &BundleError>,
    stick: &Path,
    store: &ContentStore,
) -> Notice {
    let content = store
        .current()
        .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()));
    match result {
        Ok(i) => Notice {
            outcome: Outcome::Imported,
            text: i.text.clone(),
            detail: format!(
                "{} {} from {}",
                i.manifest.name,
                i.manifest.version,
                stick.display()
            ),
            name: Some(i.manifest.name.clone()),
            version: Some(i.manifest.version.clone()),
            switched: true,
            content,
        },
        Err(e) => {
            // The refused bundle's name, when its manifest can be read at all.
            let peeked = find_bundle(stick)
                .ok()
                .flatten()
                .and_then(|f| format::peek(&f).ok());
            Notice {
                outcome: Outcome::Refused,
                text: e.clinician_text().to_string(),
                detail: e.to_string(),
                name: peeked.as_ref().map(|(m, _)| m.name.clone()),
                version: peeked.map(|(m, _)| m.version),
                switched: false,
                content,
            }
        }
    }
}
