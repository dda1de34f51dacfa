//! `models/MANIFEST.toml`: what each model file is, checked before it is used.
//!
//! One `[[model]]` table per file. Loading a model goes through [`Manifest::verify_file`], which
//! recomputes the file's sha256 and refuses a mismatch with a message naming the file, so a
//! corrupted or swapped model never runs. A clinic adds a second embedder (for example an exported
//! GestaltMatcher-Arc ArcFace model) by writing a manifest entry only.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The manifest's file name inside a models directory.
pub const MANIFEST_FILE: &str = "MANIFEST.toml";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("manifest {path} has no model with id `{id}` (it lists: {available})")]
    UnknownModel {
        path: PathBuf,
        id: String,
        available: String,
    },
    #[error("manifest {path} has no model with role `{role}`")]
    NoModelForRole { path: PathBuf, role: String },
    #[error("model `{id}` is invalid: {message}")]
    Invalid { id: String, message: String },
    #[error("cannot read model file {path}: {source}")]
    ReadModel {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "model file {path} does not match its manifest: sha256 is {actual}, manifest says {expected}; \
         the file is corrupt or was replaced, refusing to use it"
    )]
    HashMismatch {
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

/// Where a model file came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Provenance {
    /// Registry the source package came from (e.g. "PyPI").
    pub registry: String,
    pub package: String,
    pub version: String,
    /// Path of the original file inside the package.
    pub path: String,
    /// The tool in this repository that produced the committed file.
    #[serde(default)]
    pub tool: String,
    #[serde(default)]
    pub notes: String,
}

/// One `[[model]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub role: Role,
    /// File name relative to the manifest's directory.
    pub file: String,
    pub sha256: String,
    /// Model version string shown on the device's screens.
    pub version: String,
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
    /// Embedders: the distance galleries are ranked by.
    #[serde(default)]
    pub metric: Option<Metric>,
    /// Embedders: the aligned crop.
    #[serde(default)]
    pub template: Option<Template>,
    /// Whether the model's input was quantized (int8) — informational, shown by `doctor`.
    #[serde(default)]
    pub quantized: bool,
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
        if self.role == Role::Embedder {
            let size = self
                .embedding_size
                .ok_or_else(|| bad("an embedder needs embedding_size".into()))?;
            if size == 0 || size > 4096 {
                return Err(bad(format!("embedding_size {size} is out of range")));
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

    /// A stable identity for this model as galleries record it: sha256 over the model file's
    /// hash and the manifest entry fields that change what an embedding means.
    pub fn embedder_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"gestaltcam-embedder-v1\0");
        h.update(self.sha256.to_ascii_lowercase().as_bytes());
        h.update(
            format!(
                "{:?}{:?}{:?}{:?}",
                self.input_shape, self.colour_order, self.mean, self.std
            )
            .as_bytes(),
        );
        h.update(
            format!(
                "{:?}{:?}{:?}",
                self.embedding_size, self.metric, self.template
            )
            .as_bytes(),
        );
        hex::encode(h.finalize())
    }
}

/// A parsed manifest and the directory its files live in.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default)]
    model: Vec<ModelEntry>,
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
        let mut seen = std::collections::HashSet::new();
        for m in &file.model {
            m.validate()?;
            if !seen.insert(m.id.clone()) {
                return Err(ManifestError::Parse {
                    path: path.to_path_buf(),
                    message: format!("model id `{}` appears twice", m.id),
                });
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            models: file.model,
        })
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

    /// Path of an entry's file.
    pub fn file_path(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    /// Reads an entry's file and checks its sha256; returns the bytes.
    pub fn verify_file(&self, entry: &ModelEntry) -> Result<Vec<u8>, ManifestError> {
        let path = self.file_path(entry);
        let bytes = std::fs::read(&path).map_err(|source| ManifestError::ReadModel {
            path: path.clone(),
            source,
        })?;
        let actual = sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(ManifestError::HashMismatch {
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
