//! `models/MANIFEST.toml`: what each model file is, checked before it is used.
//!
//! One `[[model]]` table per file. Loading a model goes through [`Manifest::verify_file`], which
//! recomputes the file's sha256 and refuses a mismatch with a message naming the file, so a
//! corrupted or swapped model never runs. A clinic adds a second embedder (for example an exported
//! GestaltMatcher-Arc ArcFace model) by writing a manifest entry only: the minimal entry and
//! what each field is for are in `models/README.md` ("A clinic's own embedder"). Every error
//! about an entry names its id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod ensemble;
pub use ensemble::EnsembleEntry;

/// The manifest's file name inside a models directory.
pub const MANIFEST_FILE: &str = "MANIFEST.toml";

/// Largest `embedding_size` an entry may declare: room for an ensemble of 3 models × 4 test-time
/// variants × 1,024 values (GM-Arc's is 3 × 4 × 512 = 6,144), while a garbage value (a
/// mistyped exponent) is still refused before any buffer is sized by it.
pub const MAX_EMBEDDING_SIZE: usize = 16_384;

/// Why a manifest or one of its model files was refused. Every error about one entry names the
/// entry's id (and its file where one is involved), so a clinic with several models knows which
/// entry to fix.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("manifest {path}: model `{id}` (entry {index}) is not valid: {message}")]
    Entry {
        path: PathBuf,
        id: String,
        /// 1-based position of the `[[model]]` table.
        index: usize,
        message: String,
    },
    #[error("manifest {path} has no model with id `{id}` (it lists: {available})")]
    UnknownModel {
        path: PathBuf,
        id: String,
        available: String,
    },
    #[error("manifest {path} has no model with role `{role}`")]
    NoModelForRole { path: PathBuf, role: String },
    #[error("model `{id}` (file `{file}`) is invalid: {message}")]
    Invalid {
        id: String,
        file: String,
        message: String,
    },
    #[error("cannot read model file {path} (model `{id}`): {source}")]
    ReadModel {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "model file {path} does not match its manifest: sha256 is {actual}, manifest says {expected}; \
         the file is corrupt or was replaced, refusing to use it (model `{id}`)"
    )]
    HashMismatch {
        /// The entry's id (boxed: keeps the error, which every model load returns, small).
        id: Box<str>,
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Detector,
    Embedder,
}

/// Distance between embeddings, as named by the embedder's manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// 1 − cosine similarity.
    #[default]
    Cosine,
    /// Euclidean (L2) distance.
    Euclidean,
}

/// Channel order of the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    Rgb,
    Bgr,
}

/// Memory layout of the model's input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Nchw,
    Nhwc,
}

/// A model's input as the detector and the embedder both fill it: the one place where an RGB
/// pixel becomes model values. Model channel `k` reads RGB channel [`Self::source_channel`]`(k)`
/// (the manifest's `colour_order`) and holds `(value − mean[k]) / std[k]`, stored at
/// [`Self::index`] for the manifest's `layout`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputSpec {
    pub height: usize,
    pub width: usize,
    layout: Layout,
    source: [usize; 3],
    mean: [f32; 3],
    std: [f32; 3],
}

impl InputSpec {
    /// The tensor shape, batch 1.
    pub fn shape(&self) -> [usize; 4] {
        match self.layout {
            Layout::Nchw => [1, 3, self.height, self.width],
            Layout::Nhwc => [1, self.height, self.width, 3],
        }
    }

    /// Number of values in the tensor.
    pub fn len(&self) -> usize {
        3 * self.height * self.width
    }

    /// Never true for a validated manifest entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The RGB channel (0 = R) that model channel `k` reads.
    pub fn source_channel(&self, k: usize) -> usize {
        self.source[k]
    }

    /// Where model channel `k` of pixel (`x`, `y`) goes in the flat tensor.
    #[inline]
    pub fn index(&self, k: usize, y: usize, x: usize) -> usize {
        match self.layout {
            Layout::Nchw => (k * self.height + y) * self.width + x,
            Layout::Nhwc => (y * self.width + x) * 3 + k,
        }
    }

    /// How far apart in the flat tensor two horizontally adjacent values of one channel are:
    /// 1 in NCHW, 3 in NHWC ([`Self::index`]).
    pub fn x_step(&self) -> usize {
        match self.layout {
            Layout::Nchw => 1,
            Layout::Nhwc => 3,
        }
    }

    /// A source value (0–255 scale) normalised for model channel `k`.
    #[inline]
    pub fn normalise(&self, k: usize, v: f32) -> f32 {
        (v - self.mean[k]) / self.std[k]
    }

    /// [`Self::normalise`] for model channel `k`, as a function of the value (the same
    /// arithmetic, without looking up the channel for each value).
    #[inline]
    pub fn normaliser(&self, k: usize) -> impl Fn(f32) -> f32 {
        let (mean, std) = (self.mean[k], self.std[k]);
        move |v| (v - mean) / std
    }
}

/// The five alignment points in the order every detector here reports them: the subject's right
/// eye, left eye, nose tip, right mouth corner, left mouth corner (the ArcFace order; the subject's
/// right is the image's left).
pub type FivePoints = [[f32; 2]; 5];

/// Where the five points land in the aligned crop the embedder expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Crop width and height in pixels.
    pub size: [u32; 2],
    /// Target positions of the five points, in crop pixels.
    pub points: FivePoints,
}

/// How a face is aligned onto an embedder's template (`alignment` in a manifest entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AlignmentMode {
    /// Least-squares similarity of the detected landmarks onto the template, sampled with
    /// imageproc's bilinear warp (a smoothing downscale first for large faces): the device's
    /// original alignment, kept bit for bit.
    #[default]
    FivePoint,
    /// The same fit, sampled by an OpenCV-style bilinear `warpAffine` (rounded, border 0, no
    /// prefilter): `crate::vision::warp`.
    FivePointOpencv,
    /// GestaltMatcher-Arc's path: the photo rotated about the nose so the eyes are level,
    /// detected again, landmarks truncated to integers, the fit and the OpenCV-style warp:
    /// `crate::vision::gmarc`.
    GmArc,
}

impl AlignmentMode {
    /// The mode's manifest spelling (`five-point`, `five-point-opencv`, `gm-arc`), for logs and
    /// `analyze --json`.
    pub fn name(self) -> &'static str {
        match self {
            AlignmentMode::FivePoint => "five-point",
            AlignmentMode::FivePointOpencv => "five-point-opencv",
            AlignmentMode::GmArc => "gm-arc",
        }
    }
}

/// Where a model file came from. Optional in a manifest entry (a clinic's private model has no
/// public source), and so is each field: empty when not given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Provenance {
    /// Registry the source package came from (e.g. "PyPI").
    #[serde(default)]
    pub registry: String,
    #[serde(default)]
    pub package: String,
    #[serde(default)]
    pub version: String,
    /// Path of the original file inside the package.
    #[serde(default)]
    pub path: String,
    /// The tool in this repository that produced the committed file.
    #[serde(default)]
    pub tool: String,
    #[serde(default)]
    pub notes: String,
}

/// A CPU feature that decides which embedder computes cheapest (`default_with` in a manifest
/// entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuFeature {
    /// The ARMv8.2 dot-product instructions (SDOT/UDOT): the Cortex-A76 of a Pi 5 has them, the
    /// A72 of a Pi 4 and the A53 of a Zero 2 W do not. tract's int8 matrix kernel uses them
    /// where present (SMLAL otherwise).
    Dotprod,
}

/// What the device's CPU has, of the [`CpuFeature`]s a manifest can name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub dotprod: bool,
}

impl CpuFeatures {
    /// This CPU's features, as tract's kernel choice sees them: on aarch64 tract-linalg's own
    /// test for its SDOT kernel (the kernel's HWCAP bit or a core known to have it;
    /// `TRACT_DOTPROD_DISABLE=1`, which makes tract use its SMLAL kernel, makes it absent here
    /// too); none elsewhere.
    pub fn detect() -> Self {
        #[cfg(target_arch = "aarch64")]
        let dotprod = tract_linalg::arm64::has_dotprod();
        #[cfg(not(target_arch = "aarch64"))]
        let dotprod = false;
        CpuFeatures { dotprod }
    }

    pub fn has(&self, feature: CpuFeature) -> bool {
        match feature {
            CpuFeature::Dotprod => self.dotprod,
        }
    }

    /// `dot product` or `no dot product`: for the log and `doctor`.
    pub fn describe(&self) -> &'static str {
        if self.dotprod {
            "dot product"
        } else {
            "no dot product"
        }
    }
}

/// One `[[model]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub role: Role,
    /// File name relative to the manifest's directory.
    pub file: String,
    pub sha256: String,
    /// Model version string shown on the device's screens; the id when not given.
    #[serde(default)]
    pub version: String,
    /// The model's licence, as its owner states it; empty when not given.
    #[serde(default)]
    pub licence: String,
    /// Input tensor shape, e.g. `[1, 3, 150, 150]`.
    pub input_shape: Vec<usize>,
    #[serde(default)]
    pub layout: Layout,
    pub colour_order: ColourOrder,
    /// Input = (pixel − mean) / std, per channel in `colour_order`, pixels in 0..=255.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Embedders: output size.
    #[serde(default)]
    pub embedding_size: Option<usize>,
    /// Embedders: the name of the graph output that is the embedding. Required when the graph
    /// has several outputs (GM-Arc's fine-tuned export gives `logits` then the representation);
    /// a one-output graph needs none.
    #[serde(default)]
    pub output: Option<String>,
    /// Embedders: the distance galleries are ranked by.
    #[serde(default)]
    pub metric: Option<Metric>,
    /// Embedders: the aligned crop.
    #[serde(default)]
    pub template: Option<Template>,
    /// Embedders: how a face is aligned onto `template` (`five-point` when not given).
    #[serde(default)]
    pub alignment: AlignmentMode,
    /// Whether the model's input was quantized (int8) — informational, shown by `doctor`.
    #[serde(default)]
    pub quantized: bool,
    /// Embedders: the device's default on CPUs with this feature, ahead of the role's first
    /// entry (see [`Manifest::embedders_for`]). Not part of [`Self::embedder_id`].
    #[serde(default)]
    pub default_with: Option<CpuFeature>,
    /// Where the file came from; optional.
    #[serde(default)]
    pub provenance: Provenance,
    /// Model-specific parameters (detector anchors, thresholds…), read by the module that runs it.
    #[serde(default)]
    pub params: toml::Table,
}

impl ModelEntry {
    /// Checks the fields a model of this role needs.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let bad = |message: String| ManifestError::Invalid {
            id: self.id.clone(),
            file: self.file.clone(),
            message,
        };
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "sha256 `{}` is not 64 hex digits",
                self.sha256
            )));
        }
        if self.input_shape.len() != 4 || self.input_shape.contains(&0) {
            return Err(bad(format!(
                "input_shape {:?} must have 4 non-zero dimensions",
                self.input_shape
            )));
        }
        if self.std.iter().any(|s| !s.is_finite() || *s == 0.0)
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err(bad("mean/std must be finite and std non-zero".into()));
        }
        // Exactly one plain path component: not "", ".", "..", "/x", "sub/x.onnx".
        let mut parts = Path::new(&self.file).components();
        let plain = matches!(
            (parts.next(), parts.next()),
            (Some(std::path::Component::Normal(_)), None)
        );
        if !plain || self.file.contains("..") || self.file.ends_with('/') {
            return Err(bad(format!(
                "file `{}` must be a plain name inside the models directory",
                self.file
            )));
        }
        if self.role != Role::Embedder && self.default_with.is_some() {
            return Err(bad("default_with is for embedders only".into()));
        }
        if self.role != Role::Embedder && self.alignment != AlignmentMode::default() {
            return Err(bad("alignment is for embedders only".into()));
        }
        if self.role != Role::Embedder && self.output.is_some() {
            return Err(bad("output is for embedders only".into()));
        }
        if self.role == Role::Embedder {
            let size = self
                .embedding_size
                .ok_or_else(|| bad("an embedder needs embedding_size".into()))?;
            if size == 0 || size > MAX_EMBEDDING_SIZE {
                return Err(bad(format!(
                    "embedding_size {size} is out of range 1..={MAX_EMBEDDING_SIZE}"
                )));
            }
            if self.output.as_deref().is_some_and(|o| o.trim().is_empty()) {
                return Err(bad("output must name a graph output".into()));
            }
            if self.metric.is_none() {
                return Err(bad("an embedder needs metric (cosine or euclidean)".into()));
            }
            let t = self
                .template
                .as_ref()
                .ok_or_else(|| bad("an embedder needs an alignment template".into()))?;
            let (w, h) = (t.size[0] as f32, t.size[1] as f32);
            if t.size[0] == 0 || t.size[1] == 0 {
                return Err(bad("template size must be non-zero".into()));
            }
            if t.points.iter().any(|p| {
                !(p[0].is_finite()
                    && p[1].is_finite()
                    && p[0] >= 0.0
                    && p[0] <= w
                    && p[1] >= 0.0
                    && p[1] <= h)
            }) {
                return Err(bad("template points must lie inside the crop".into()));
            }
        }
        Ok(())
    }

    /// The model's input height and width.
    pub fn input_hw(&self) -> (usize, usize) {
        match self.layout {
            Layout::Nchw => (self.input_shape[2], self.input_shape[3]),
            Layout::Nhwc => (self.input_shape[1], self.input_shape[2]),
        }
    }

    /// How pixels become this model's input values (see [`InputSpec`]).
    pub fn input_spec(&self) -> InputSpec {
        let (height, width) = self.input_hw();
        InputSpec {
            height,
            width,
            layout: self.layout,
            source: match self.colour_order {
                ColourOrder::Rgb => [0, 1, 2],
                ColourOrder::Bgr => [2, 1, 0],
            },
            mean: self.mean,
            std: self.std,
        }
    }

    /// The identity galleries record for this model: lower-case hex sha256 of
    /// [`Self::embedder_id_text`] (the model file's sha256 plus the entry fields that change what
    /// an embedding means).
    ///
    /// Which fields: the file hash, `input_shape`, `colour_order`, `mean`, `std`,
    /// `embedding_size`, `metric`, `template` and, when given, `output`. Not `id`, `version`, `licence`, `file`,
    /// `quantized`, `provenance` or `params` (renaming or re-documenting a model keeps its
    /// galleries), and not `layout`: a file runs correctly with one layout only, so its sha256
    /// already fixes it.
    ///
    /// Migration: until this was written out by hand, the id hashed `Debug` output of the same
    /// fields, which Rust does not promise to keep stable. [`Self::embedder_id_text`] writes
    /// exactly the bytes that `Debug` wrote with the toolchains galleries were built with, so
    /// every existing gallery keeps its id and loads unchanged (no alias, no rebuild); the unit
    /// tests pin the ids of the shipped models and compare with the old `Debug` form.
    pub fn embedder_id(&self) -> String {
        hex::encode(Sha256::digest(self.embedder_id_text()))
    }

    /// The bytes [`Self::embedder_id`] hashes (format "gestaltcam-embedder-v1"):
    ///
    /// ```text
    /// gestaltcam-embedder-v1 NUL <sha256, lower-case hex>
    /// [1, 3, 150, 150] Rgb [m0, m1, m2] [s0, s1, s2]
    /// Some(128) Some(Euclidean) Some(Template { size: [w, h], points: [[x, y], …] })
    /// ```
    ///
    /// written without the spaces between fields; `None` for a missing optional field; floats as
    /// the shortest decimal that reads back as the same `f32`, with `.0` when it has no fraction
    /// (`256.0`), and in exponent form (`1e-5`, `2.5e16`) below 1e-4 or from 1e16 on.
    pub fn embedder_id_text(&self) -> Vec<u8> {
        fn float(x: f32, out: &mut String) {
            let a = x.abs();
            if x.is_finite() && a != 0.0 && !(1e-4..1e16).contains(&a) {
                out.push_str(&format!("{x:e}"));
            } else {
                let s = x.to_string();
                let whole = x.is_finite() && !s.contains('.');
                out.push_str(&s);
                if whole {
                    out.push_str(".0");
                }
            }
        }
        fn list<T>(items: &[T], out: &mut String, mut item: impl FnMut(&T, &mut String)) {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                item(x, out);
            }
            out.push(']');
        }
        fn option<T>(v: &Option<T>, out: &mut String, item: impl FnOnce(&T, &mut String)) {
            match v {
                Some(x) => {
                    out.push_str("Some(");
                    item(x, out);
                    out.push(')');
                }
                None => out.push_str("None"),
            }
        }
        let mut t = String::from("gestaltcam-embedder-v1\0");
        t.push_str(&self.sha256.to_ascii_lowercase());
        list(&self.input_shape, &mut t, |n, o| o.push_str(&n.to_string()));
        t.push_str(match self.colour_order {
            ColourOrder::Rgb => "Rgb",
            ColourOrder::Bgr => "Bgr",
        });
        list(&self.mean, &mut t, |x, o| float(*x, o));
        list(&self.std, &mut t, |x, o| float(*x, o));
        option(&self.embedding_size, &mut t, |n, o| {
            o.push_str(&n.to_string())
        });
        option(&self.metric, &mut t, |m, o| {
            o.push_str(match m {
                Metric::Cosine => "Cosine",
                Metric::Euclidean => "Euclidean",
            })
        });
        option(&self.template, &mut t, |tp, o| {
            o.push_str("Template { size: ");
            list(&tp.size, o, |n, o| o.push_str(&n.to_string()));
            o.push_str(", points: ");
            list(&tp.points, o, |p, o| list(p, o, |x, o| float(*x, o)));
            o.push_str(" }");
        });
        // Added with output selection; absent for every entry without `output`, so their ids
        // (and galleries) are unchanged.
        if let Some(output) = &self.output {
            t.push_str(" output=");
            t.push_str(output);
        }
        // Added with alignment modes; absent for the default mode, so existing ids stay.
        if self.alignment != AlignmentMode::default() {
            t.push_str(" alignment=");
            t.push_str(self.alignment.name());
        }
        t.into_bytes()
    }
}

/// A parsed manifest and the directory its files live in.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub models: Vec<ModelEntry>,
    /// Declared embedder sets (`[[ensemble]]` tables; [`EnsembleEntry`]).
    pub ensembles: Vec<EnsembleEntry>,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default)]
    model: Vec<toml::Table>,
    #[serde(default)]
    ensemble: Vec<EnsembleEntry>,
}

/// One `[[model]]` table read into an entry and validated; the error names the entry's id (and
/// its position and the manifest when a field is missing or mistyped, its file when a value is
/// invalid).
fn parse_entry(table: toml::Table, index: usize, path: &Path) -> Result<ModelEntry, ManifestError> {
    let id = match table.get("id") {
        Some(toml::Value::String(id)) => id.clone(),
        _ => "(no id)".to_string(),
    };
    let entry_err = |message: String| ManifestError::Entry {
        path: path.to_path_buf(),
        id: id.clone(),
        index,
        message,
    };
    let mut entry: ModelEntry = table
        .try_into()
        .map_err(|e: toml::de::Error| entry_err(e.message().to_string()))?;
    entry.validate()?;
    if entry.version.is_empty() {
        entry.version = entry.id.clone();
    }
    Ok(entry)
}

impl Manifest {
    /// Reads `<dir>/MANIFEST.toml`.
    pub fn load_dir(dir: &Path) -> Result<Self, ManifestError> {
        Self::load(&dir.join(MANIFEST_FILE))
    }

    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::parse(&text, path, &dir)
    }

    /// Parses manifest text; `path` is only used in messages, `dir` is where model files live.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Self, ManifestError> {
        let file: ManifestFile = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let models = file
            .model
            .into_iter()
            .enumerate()
            .map(|(i, table)| parse_entry(table, i + 1, path))
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = std::collections::HashSet::new();
        for m in &models {
            if !seen.insert(m.id.clone()) {
                return Err(ManifestError::Parse {
                    path: path.to_path_buf(),
                    message: format!("model id `{}` appears twice", m.id),
                });
            }
        }
        let manifest = Self {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            models,
            ensembles: file.ensemble,
        };
        manifest.check_ensembles()?;
        Ok(manifest)
    }

    /// The entry with this id.
    pub fn model(&self, id: &str) -> Result<&ModelEntry, ManifestError> {
        self.models
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ManifestError::UnknownModel {
                path: self.path.clone(),
                id: id.to_string(),
                available: self
                    .models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The first entry with this role (the default detector / embedder).
    pub fn first_with_role(&self, role: Role) -> Result<&ModelEntry, ManifestError> {
        self.models
            .iter()
            .find(|m| m.role == role)
            .ok_or_else(|| ManifestError::NoModelForRole {
                path: self.path.clone(),
                role: format!("{role:?}").to_lowercase(),
            })
    }

    /// The embedders in the order the device prefers them on `cpu`: first those whose
    /// `default_with` feature the CPU has, then those without `default_with`, then the rest;
    /// manifest order within each. The first is the device's default embedder on that CPU.
    pub fn embedders_for(&self, cpu: CpuFeatures) -> Vec<&ModelEntry> {
        let rank = |m: &ModelEntry| match m.default_with {
            Some(f) if cpu.has(f) => 0,
            None => 1,
            Some(_) => 2,
        };
        let mut v: Vec<&ModelEntry> = self
            .models
            .iter()
            .filter(|m| m.role == Role::Embedder)
            .collect();
        v.sort_by_key(|m| rank(m)); // stable: manifest order within a rank
        v
    }

    /// The device's default embedder on `cpu` (the first of [`Self::embedders_for`]).
    pub fn default_embedder(&self, cpu: CpuFeatures) -> Result<&ModelEntry, ManifestError> {
        self.embedders_for(cpu)
            .into_iter()
            .next()
            .ok_or_else(|| ManifestError::NoModelForRole {
                path: self.path.clone(),
                role: "embedder".into(),
            })
    }

    /// The embedder entry whose [`ModelEntry::embedder_id`] is `embedder_id` (the id a gallery
    /// records of the model that built it); the first such in manifest order.
    pub fn embedder_with_id(&self, embedder_id: &str) -> Option<&ModelEntry> {
        self.models
            .iter()
            .filter(|m| m.role == Role::Embedder)
            .find(|m| m.embedder_id().eq_ignore_ascii_case(embedder_id))
    }

    /// The embedder a command that reads a gallery runs: the entry `explicit` names (`--embedder`)
    /// when given; else the one that built the gallery (`gallery_embedder_id`, its recorded id)
    /// when the manifest has it; else the manifest's first embedder (the gallery is then refused
    /// when loaded, naming both ids).
    pub fn embedder_for_gallery(
        &self,
        explicit: Option<&str>,
        gallery_embedder_id: Option<&str>,
    ) -> Result<&ModelEntry, ManifestError> {
        if let Some(id) = explicit {
            return self.model(id);
        }
        match gallery_embedder_id.and_then(|g| self.embedder_with_id(g)) {
            Some(entry) => Ok(entry),
            None => self.first_with_role(Role::Embedder),
        }
    }

    /// Path of an entry's file.
    pub fn file_path(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    /// Reads an entry's file and checks its sha256; returns the bytes.
    pub fn verify_file(&self, entry: &ModelEntry) -> Result<Vec<u8>, ManifestError> {
        let path = self.file_path(entry);
        let bytes = std::fs::read(&path).map_err(|source| ManifestError::ReadModel {
            id: entry.id.clone(),
            path: path.clone(),
            source,
        })?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(ManifestError::HashMismatch {
                id: entry.id.as_str().into(),
                path,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests;

/// The checkout's `models/` folder: the unit tests (`manifest/tests.rs`) read the shipped
/// manifest from it. Never in a built binary.
#[cfg(test)]
fn checkout_models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}
