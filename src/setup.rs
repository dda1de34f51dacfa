//! The device's start-up wiring, in the library so tests run it as the device does:
//!
//! - [`analyzer_for`]: models checked against the manifest, the gallery verified (signature with
//!   a public key, content hash, same embedding model) and, when the configured gallery is
//!   refused, the last good copy from [`LastGood`] in its place, with a self-test warning.
//!   A refused model has no fallback: the device shows "Model refused" and gives no results.
//! - [`assemble()`]: the whole device from its configuration (display, camera, buttons, the run
//!   policy), ready for [`crate::app::run_device`]; hardware is opened through [`crate::hw`].
//! - [`content`]: content imported from a USB stick's bundle in place of the configured files
//!   (rolled back when it fails at start-up), its checks before an import, the update notice.
//! - [`doctor`]: the bring-up checks of `gestaltcam doctor`, one function per part.
//! - [`demo`]: the laptop demo's device (replayed photos, a scripted clinician, PNG screens).

pub mod assemble;
pub mod content;
pub mod demo;
pub mod doctor;

/// The panel sink lives with the display ([`crate::display::sink`]); named here too for the
/// callers that knew it as part of the set-up.
pub use crate::display::{PanelSink, PANEL_RETRY_EVERY};
pub use assemble::{assemble, device_today, Assembled, AssembledDevice, Keys, SetupError, Wiring};

use std::path::{Path, PathBuf};

use crate::config::{Config, AUTO_EMBEDDER};
use crate::embed::EmbedOptions;
use crate::gallery::{self, Gallery, GalleryError, LoadOptions};
use crate::manifest::{CpuFeatures, Manifest, ManifestError, ModelEntry, Role};
use crate::pipeline::{FacePipeline, Members, PhotoEmbedder, PipelineLoadError};
use crate::screening::{Phenotype, PipelineAnalyzer};

/// The analyzer the device runs with `cfg`: never fails, a part that could not be loaded is
/// kept as its error so the start-up screen says which part was refused and why.
pub fn analyzer_for(cfg: &Config) -> PipelineAnalyzer {
    let opts = EmbedOptions {
        flip_tta: cfg.flip_tta,
    };
    let model = Manifest::load_dir(&cfg.models_dir)
        .and_then(|m| choose_model(cfg, &m, CpuFeatures::detect()))
        .map_err(PipelineLoadError::from);
    let loaded = model.and_then(|choice| {
        log::info!("embedder {}: {}", choice.embedder, choice.why);
        let (p, preview) = FacePipeline::load_with_preview(
            &cfg.models_dir,
            Some(&choice.embedder),
            opts,
            cfg.preview_detector_side,
        )?;
        // A preview plan the detector cannot take costs speed, not results: one plan then.
        match preview {
            Ok(()) => log::info!(
                "live preview: detector at {:?}, captures at {:?}",
                p.preview_detector().input_hw(),
                p.detector().input_hw()
            ),
            Err(e) => log::warn!(
                "preview_detector_side = {} not used, the preview runs the full detector: {e}",
                cfg.preview_detector_side
            ),
        }
        Ok((p, choice.gallery))
    });
    let (pipeline, choice) = match loaded {
        Ok((p, gallery)) => {
            let cfg = Config {
                gallery,
                ..cfg.clone()
            };
            let choice = load_device_gallery(&cfg, Some(&p.embedder_id()));
            (Ok(p), choice)
        }
        Err(e) => {
            log::error!("models in {} refused: {e}", cfg.models_dir.display());
            // No fallback for models; the gallery is still read so its line can be shown.
            let gallery = Gallery::load(&cfg.gallery).map_err(|e| e.to_string());
            (
                Err(e.to_string()),
                GalleryChoice {
                    gallery,
                    refused: None,
                },
            )
        }
    };
    let mut a = PipelineAnalyzer::new(pipeline, choice.gallery);
    a.gallery_refused = choice.refused;
    a.top_k = cfg.top_k;
    a.phenotype = cfg.hpo_data.as_deref().map(|dir| {
        Phenotype::load(dir).map_err(|e| {
            log::warn!(
                "phenotype questions off: HPO data in {}: {e}",
                dir.display()
            );
            e.to_string()
        })
    });
    a
}

/// The embedder the device runs and the gallery file that goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelChoice {
    /// Manifest id of the embedder (or of the `[[ensemble]]`).
    pub embedder: String,
    /// `cfg.gallery` or one of `cfg.gallery_variants`: the file made by that embedder, or
    /// `cfg.gallery` when none was (it is then refused as made by another model, or replaced
    /// by the last good copy, by [`load_device_gallery`]).
    pub gallery: PathBuf,
    /// Why, for the log.
    pub why: String,
}

/// Chooses the embedder and its gallery file. Each gallery the configuration names (`gallery`,
/// then `gallery_variants`) is bound to the model that made it, whose id its header records:
///
/// - `embedder = "ID"`: that model, with the first gallery made by it.
/// - `embedder = "ENSEMBLE_ID"` (a manifest `[[ensemble]]`): the ensemble, with the first
///   gallery its recipe made (`auto` never picks an ensemble).
/// - `embedder = "auto"`: the manifest's embedders in the order the CPU prefers them
///   ([`Manifest::embedders_for`]: the QLinear int8 model where tract has its dot-product
///   kernel, the QDQ int8 model elsewhere), and the first of them that a gallery was made by.
///   When no gallery names a model of the manifest (a damaged or foreign gallery), the model
///   of the last good copy ([`LastGood`]), so that copy can take over; else the CPU's default.
///
/// Only headers are read here; [`load_device_gallery`] then checks the chosen file in full.
/// An unknown `embedder` id, or a manifest without embedders, is an error: "Model refused".
pub fn choose_model(
    cfg: &Config,
    manifest: &Manifest,
    cpu: CpuFeatures,
) -> Result<ModelChoice, ManifestError> {
    let auto = cfg.embedder == AUTO_EMBEDDER;
    if !auto && manifest.ensemble(&cfg.embedder).is_some() {
        return choose_ensemble(cfg, manifest);
    }
    let wanted: Vec<&ModelEntry> = if auto {
        manifest.embedders_for(cpu)
    } else {
        let e = manifest.model(&cfg.embedder)?;
        if e.role != Role::Embedder {
            return Err(ManifestError::Invalid {
                id: e.id.clone(),
                file: e.file.clone(),
                message: "the configured `embedder` is not an embedder".into(),
            });
        }
        vec![e]
    };
    let Some(&first) = wanted.first() else {
        return Err(ManifestError::NoModelForRole {
            path: manifest.path.clone(),
            role: "embedder".into(),
        });
    };
    let files = configured_galleries(cfg);
    let how = if auto {
        format!("auto, CPU with {}", cpu.describe())
    } else {
        "configured".to_string()
    };
    for (rank, e) in wanted.iter().enumerate() {
        let id = e.embedder_id();
        if let Some((path, _)) = files.iter().find(|(_, g)| g.as_deref() == Some(&id)) {
            let passed = if rank == 0 {
                String::new()
            } else {
                let ahead: Vec<&str> = wanted[..rank].iter().map(|w| w.id.as_str()).collect();
                format!(" (no gallery was made by {})", ahead.join(", "))
            };
            return Ok(ModelChoice {
                embedder: e.id.clone(),
                gallery: (*path).clone(),
                why: format!("{how}; gallery {}{passed}", path.display()),
            });
        }
    }
    let last_good = LastGood::new(&cfg.state_dir)
        .current()
        .ok()
        .flatten()
        .and_then(|p| Gallery::peek_embedder_id(&p).ok());
    let fallback = wanted
        .iter()
        .find(|e| last_good.as_deref() == Some(e.embedder_id().as_str()));
    let (e, why) = match fallback {
        Some(e) => (*e, "the last good gallery's model"),
        None => (first, "the CPU's default"),
    };
    Ok(ModelChoice {
        embedder: e.id.clone(),
        gallery: cfg.gallery.clone(),
        why: format!("{how}; no configured gallery was made by a model of the manifest: {why}"),
    })
}

/// `cfg.gallery` then `cfg.gallery_variants`, each with the embedder id its header records
/// (`None` when the header cannot be read: logged).
fn configured_galleries(cfg: &Config) -> Vec<(&PathBuf, Option<String>)> {
    std::iter::once(&cfg.gallery)
        .chain(&cfg.gallery_variants)
        .map(|path| match Gallery::peek_embedder_id(path) {
            Ok(id) => (path, Some(id)),
            Err(e) => {
                log::warn!("gallery {}: {e}", path.display());
                (path, None)
            }
        })
        .collect()
}

/// [`choose_model`] for `embedder = "ENSEMBLE_ID"` (a manifest `[[ensemble]]`): the ensemble,
/// with the first configured gallery its recipe made (the gallery id the header records is
/// the recipe's, [`crate::embed::EmbeddingRecipe::gallery_id`]), else `cfg.gallery` (then
/// refused as made by other models, or replaced by the last good copy).
fn choose_ensemble(cfg: &Config, manifest: &Manifest) -> Result<ModelChoice, ManifestError> {
    let id = cfg.embedder.as_str();
    let recipe = Members::named(manifest, id)
        .ok()
        .and_then(|m| m.recipe())
        .ok_or_else(|| ManifestError::Invalid {
            id: id.to_string(),
            file: String::new(),
            message: "the configured ensemble's members or variants are refused".into(),
        })?;
    let gallery_id = recipe.gallery_id();
    let files = configured_galleries(cfg);
    let made = files
        .iter()
        .find(|(_, g)| g.as_deref() == Some(gallery_id.as_str()));
    let (gallery, why) = match made {
        Some((path, _)) => ((*path).clone(), format!("gallery {}", path.display())),
        None => (
            cfg.gallery.clone(),
            "no configured gallery was made by it".to_string(),
        ),
    };
    Ok(ModelChoice {
        embedder: id.to_string(),
        gallery,
        why: format!("configured ensemble ({}); {why}", recipe.describe()),
    })
}

/// The gallery the device uses.
#[derive(Debug)]
pub struct GalleryChoice {
    /// The configured gallery, or the last good copy; the error is shown on the error screen.
    pub gallery: Result<Gallery, String>,
    /// `Some(why)` when `gallery` is the last good copy because the configured one was refused.
    pub refused: Option<String>,
}

/// Loads `cfg.gallery` with every check the device makes (public key signature when
/// configured, content hash, `embedder_id`). A gallery that passes is kept in
/// `cfg.state_dir` ([`LastGood::remember`]); one that is refused is replaced by the last good
/// copy, verified the same way.
pub fn load_device_gallery(cfg: &Config, embedder_id: Option<&str>) -> GalleryChoice {
    let public_key = match cfg
        .gallery_public_key
        .as_deref()
        .map(gallery::read_verifying_key)
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            log::error!("gallery public key: {e}");
            return GalleryChoice {
                gallery: Err(e.to_string()),
                refused: None,
            };
        }
    };
    let opts = LoadOptions {
        public_key,
        embedder_id: embedder_id.map(str::to_string),
    };
    let store = LastGood::new(&cfg.state_dir);
    match Gallery::load_with(&cfg.gallery, &opts) {
        Ok(g) => {
            if let Err(e) = store.remember(&cfg.gallery, &g, &opts) {
                log::warn!(
                    "cannot keep a last good copy of the gallery in {}: {e}",
                    store.dir().display()
                );
            }
            GalleryChoice {
                gallery: Ok(g),
                refused: None,
            }
        }
        Err(e) => {
            let why = short_reason(&e);
            log::error!("gallery {} refused: {e}", cfg.gallery.display());
            let fallback = match store.load(&opts) {
                Ok(Some(g)) => Ok(g),
                Ok(None) => Err("no last good copy".to_string()),
                Err(e2) => Err(format!(
                    "last good copy refused too ({})",
                    short_reason(&e2)
                )),
            };
            match fallback {
                Ok(g) => {
                    log::warn!(
                        "using the last good gallery {} ({} cases) from {}",
                        g.name(),
                        g.len(),
                        store.dir().display()
                    );
                    GalleryChoice {
                        gallery: Ok(g),
                        refused: Some(why),
                    }
                }
                Err(none) => GalleryChoice {
                    gallery: Err(format!("refused ({why}), {none} - {e}")),
                    refused: None,
                },
            }
        }
    }
}

/// A few words for the start-up screen on why a gallery was refused (the log has the rest).
pub fn short_reason(e: &GalleryError) -> String {
    use GalleryError as E;
    match e {
        E::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => "file missing",
        E::Read { .. } => "cannot be read",
        E::Truncated { .. } | E::TruncatedAt { .. } => "truncated",
        E::HashMismatch { .. } => "altered or corrupted",
        E::UnsupportedVersion { .. } => "unsupported format version",
        E::Unsigned { .. } => "not signed",
        E::BadSignature { .. } | E::SigFormat { .. } => "bad signature",
        E::EmbedderMismatch { .. } => "made for another model",
        E::Key { .. } => "public key unusable",
        _ => "corrupt",
    }
    .to_string()
}

const POINTER: &str = "last-good";
const COPY_PREFIX: &str = "last-good-";
const COPY_SUFFIX: &str = ".gmg";

/// The last gallery (and its `.sig`) that loaded and verified on this device, kept in the state
/// folder.
///
/// Copies are named by content hash (`last-good-<16 hex>.gmg`) and a pointer file `last-good`
/// names the current one. Each file is written with [`gallery::write_atomic`] (temp file,
/// fsync, rename, fsync of the folder), the copy is re-verified, and only then is the pointer
/// switched: a power cut at any moment leaves the pointer on a complete, verified pair.
#[derive(Debug, Clone)]
pub struct LastGood {
    dir: PathBuf,
}

impl LastGood {
    pub fn new(dir: &Path) -> Self {
        LastGood {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The copy the pointer names, if any (not verified).
    pub fn current(&self) -> Result<Option<PathBuf>, GalleryError> {
        let pointer = self.dir.join(POINTER);
        let text = match std::fs::read_to_string(&pointer) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(GalleryError::Read {
                    path: pointer,
                    source,
                })
            }
        };
        let name = text.trim();
        let well_formed = name.starts_with(COPY_PREFIX)
            && name.ends_with(COPY_SUFFIX)
            && !name.contains(['/', '\\'])
            && name.len() < 100;
        if !well_formed {
            return Err(GalleryError::Invalid(format!(
                "{} does not name a last good copy",
                pointer.display()
            )));
        }
        Ok(Some(self.dir.join(name)))
    }

    /// Loads the current copy with `opts` (the same checks as the configured gallery);
    /// `Ok(None)` when none was kept.
    pub fn load(&self, opts: &LoadOptions) -> Result<Option<Gallery>, GalleryError> {
        match self.current()? {
            Some(path) => Gallery::load_with(&path, opts).map(Some),
            None => Ok(None),
        }
    }

    /// Keeps `source` (and `source.sig`, if present), which loaded as `loaded` with `opts`, as
    /// the last good copy; returns the copy's path. Nothing is written when the copy is
    /// already current (no flash wear at every start).
    pub fn remember(
        &self,
        source: &Path,
        loaded: &Gallery,
        opts: &LoadOptions,
    ) -> Result<PathBuf, GalleryError> {
        let hash = loaded.content_hash();
        let name = format!("{COPY_PREFIX}{}{COPY_SUFFIX}", &hash[..16.min(hash.len())]);
        let copy = self.dir.join(&name);
        let copy_sig = gallery::sig_path(&copy);
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| GalleryError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let read_if_present = |path: &Path| match std::fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(GalleryError::Read {
                path: path.to_path_buf(),
                source,
            }),
        };
        let bytes = read(source)?;
        let sig = read_if_present(&gallery::sig_path(source))?;
        let current = self.current().ok().flatten();
        if current.as_deref() == Some(copy.as_path())
            && std::fs::read(&copy).ok().as_deref() == Some(bytes.as_slice())
            && std::fs::read(&copy_sig).ok() == sig
        {
            return Ok(copy);
        }
        create_private_dir(&self.dir)?;
        gallery::write_atomic(&copy, &bytes)?;
        match &sig {
            Some(s) => gallery::write_atomic(&copy_sig, s)?,
            None => match std::fs::remove_file(&copy_sig) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(GalleryError::Write {
                        path: copy_sig,
                        source,
                    })
                }
            },
        }
        // The copy must pass the same checks before it may replace the previous one (the
        // source could have changed between the two reads).
        let again = Gallery::load_with(&copy, opts)?;
        if again.content_hash() != loaded.content_hash() {
            return Err(GalleryError::Invalid(
                "the gallery changed while it was being copied".into(),
            ));
        }
        gallery::write_atomic(&self.dir.join(POINTER), format!("{name}\n").as_bytes())?;
        self.remove_others(&name);
        Ok(copy)
    }

    /// Removes copies the pointer no longer names (best effort).
    fn remove_others(&self, keep: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let keep_sig = format!("{keep}.sig");
        for e in entries.flatten() {
            let n = e.file_name();
            let Some(n) = n.to_str() else { continue };
            if n.starts_with(COPY_PREFIX) && n != keep && n != keep_sig {
                if let Err(err) = std::fs::remove_file(e.path()) {
                    log::warn!("cannot remove old gallery copy {n}: {err}");
                }
            }
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), GalleryError> {
    crate::app::save::create_dir_0700(dir).map_err(|source| GalleryError::Write {
        path: dir.to_path_buf(),
        source,
    })
}
