//! The binary gallery file (format version 1), little-endian throughout.
//!
//! ```text
//! offset size  field
//!  0      8    magic b"GCAMGAL\0"
//!  8      2    format version (u16) = 1
//! 10      1    storage: 0 = f32, 1 = int8 with a per-row f32 scale
//! 11      1    metric: 0 = cosine, 1 = euclidean
//! 12      4    flags (u32): bit 0 = threshold present, bit 1 = calibration block present,
//!              bit 2 = recipe block present; bit 3 = case-genes block present;
//!              other bits must be 0
//! 16      4    embedding size (u32, 1..=4096)
//! 20      4    label count (u32)
//! 24      4    case count (u32)
//! 28      4    "no close match" threshold (f32; meaningful when flag bit 0 is set)
//! 32      8    creation time, unix seconds (u64)
//! 40      8    total file length in bytes (u64)
//! 48     32    sha256 over bytes [0, 48) followed by bytes [80, end)
//! 80      -    embedder id (str), gallery name/version (str)
//!              labels × (name str, OMIM str ("" = none), gene count u32, genes str…)
//!              cases  × (case id str, subject str, label index u32)
//!              embeddings: f32 → case count × size × f32
//!                          int8 → case count × (scale f32, size × i8)
//!              calibration (flag bit 1): u32 byte length + UTF-8 JSON of
//!              [`super::calibration::Calibration`] (at most 4 MiB)
//!              recipe (flag bit 2): u32 byte length + UTF-8 JSON of the embedder set and
//!              variants it was built with ([`super::recipe`]; at most 1 MiB)
//!              case genes (flag bit 3): per case, u32 gene count, genes ×
//!              (name str, Entrez id u64, 0 = none)
//! str = u32 byte length + UTF-8 bytes (at most 65,536 bytes)
//! ```
//!
//! Loading ([`super::decode`]) checks, in order: magic, version (an unknown version names
//! itself), file length against the header (truncated → says so), the content hash, then every
//! length before it is used (so a file with a valid hash but lying counts is still refused,
//! never allocated for), label indices, and NaN/∞ in vectors and scales. Cosine galleries hold L2-normalised vectors
//! (normalised when built; the file's hash protects them after that).
//!
//! The case-genes block (each reference image's genes, from GM-Arc's metadata; used by
//! [`super::genes`]) was added without a version change: a file without it is read as a
//! gallery with no genes per case, and a gallery without genes per case writes exactly the
//! bytes it always did. A build older than the block refuses a file that has it (unknown flag)
//! rather than misreading it.
//!
//! Saving is atomic ([`write_atomic`]): a temp file in the same directory, fsync, rename, fsync of
//! the directory; a power cut leaves the old or the new file.

use super::atomic::write_atomic;
use super::calibration::Calibration;
use super::recipe::FLAG_RECIPE;
use super::{GalleryError, Result};
use crate::manifest::Metric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The first bytes of every gallery file.
pub const MAGIC: [u8; 8] = *b"GCAMGAL\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the fixed header (the strings start here).
pub(super) const FIXED_HEADER: usize = 80;
/// Where the content hash sits in the fixed header (32 bytes).
pub(super) const HASH_AT: usize = 48;
/// Longest string the file may hold.
pub(super) const MAX_STR: usize = 65_536;
/// Largest embedding size: the largest a manifest entry may declare (room for a 3-model ×
/// 4-variant ensemble), so any embedder's gallery can be written and read.
pub(super) const MAX_DIM: u32 = crate::manifest::MAX_EMBEDDING_SIZE as u32;
/// Header flag: the threshold field is meaningful.
pub(super) const FLAG_THRESHOLD: u32 = 1;
/// Header flag: a calibration block follows the embeddings.
pub(super) const FLAG_CALIBRATION: u32 = 2;
/// Header flag: a case-genes block follows the calibration block.
pub(super) const FLAG_CASE_GENES: u32 = 8;
/// Largest calibration block (JSON bytes).
pub(super) const MAX_CALIBRATION: usize = 4 << 20;

/// How embeddings are stored (in the file and in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    #[default]
    F32,
    /// One i8 per value plus one f32 scale per case (4× smaller; see
    /// [`super::compare_rankings`]).
    Int8,
}

/// A syndrome in the gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub name: String,
    pub omim: Option<String>,
    pub genes: Vec<String>,
}

/// A reference photo in the gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    pub case_id: String,
    pub subject: String,
    /// Index into the gallery's labels.
    pub label: u32,
}

/// A gene a reference case carries, as GM-Arc's metadata names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Gene {
    /// Gene symbol, e.g. `NIPBL` (for a syndrome without one gene, GM-Arc puts the syndrome's
    /// name here).
    pub name: String,
    /// NCBI Entrez gene id, e.g. 25836; `None` when GM-Arc gives none.
    pub entrez_id: Option<u64>,
}

/// What a new gallery is: the caller's part of the header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryMeta {
    pub embedder_id: String,
    pub metric: Metric,
    /// Gallery name/version shown on screens, e.g. "gmdb-1.1.0-train".
    pub name: String,
    /// Unix seconds.
    pub created_unix: u64,
    /// "No close match" threshold on the best distance (see [`crate::lab::calibrate()`]).
    pub threshold: Option<f32>,
    pub storage: Storage,
}

/// The decoded file header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryHeader {
    pub format_version: u16,
    pub embedder_id: String,
    pub metric: Metric,
    pub storage: Storage,
    pub embedding_size: usize,
    pub label_count: usize,
    pub case_count: usize,
    pub created_unix: u64,
    pub threshold: Option<f32>,
    pub name: String,
    /// The embedder set and variants it was built with, described ([`Gallery::recipe`]).
    pub embedding: String,
    /// Hex sha256 of the content as last written/read.
    pub content_hash: String,
}

/// How [`Gallery::load_with`] checks what it loads.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Refuse the gallery unless `<gallery>.sig` verifies with this key.
    pub public_key: Option<ed25519_dalek::VerifyingKey>,
    /// Refuse the gallery unless it was built with this embedder.
    pub embedder_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Vectors {
    F32(Vec<f32>),
    Int8 {
        data: Vec<i8>,
        scales: Vec<f32>,
        /// Squared norm of each dequantised row (derived, not stored in the file).
        norms2: Vec<f32>,
    },
}

impl Vectors {
    pub(crate) fn int8(data: Vec<i8>, scales: Vec<f32>, dim: usize) -> Self {
        let norms2 = data
            .chunks_exact(dim)
            .zip(&scales)
            .map(|(row, s)| {
                let n: i64 = row.iter().map(|&q| q as i64 * q as i64).sum();
                n as f32 * s * s
            })
            .collect();
        Vectors::Int8 {
            data,
            scales,
            norms2,
        }
    }
}

/// A loaded gallery: labels, cases and their embeddings, ready to rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Gallery {
    pub(crate) meta: GalleryMeta,
    pub(crate) dim: usize,
    pub(crate) labels: Vec<Label>,
    pub(crate) cases: Vec<Case>,
    /// Case → label index, kept apart for the ranking loop.
    pub(crate) case_label: Vec<u32>,
    pub(crate) vectors: Vectors,
    /// Session-true threshold and bands ([`crate::lab::calibrate()`]); `None` = not calibrated.
    pub(crate) calibration: Option<Calibration>,
    /// The embedder set and variants it was built with; `None`: written before recipes.
    pub(crate) recipe: Option<crate::embed::EmbeddingRecipe>,
    /// Each case's own genes, in case order; empty = the file stores none ([`super::genes`]).
    pub(crate) case_genes: Vec<Vec<Gene>>,
    pub(crate) content_hash: String,
}

fn l2_normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Quantises one row: per-row scale, values in −127..=127. For cosine galleries the scale makes
/// the dequantised row unit-length, so cosine is exact on the quantised direction.
fn quantise_row(row: &[f32], metric: Metric, out: &mut Vec<i8>) -> f32 {
    let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        out.resize(out.len() + row.len(), 0);
        return 0.0;
    }
    let s = max / 127.0;
    let start = out.len();
    out.extend(
        row.iter()
            .map(|x| (x / s).round().clamp(-127.0, 127.0) as i8),
    );
    match metric {
        Metric::Euclidean => s,
        Metric::Cosine => {
            let n = out[start..]
                .iter()
                .map(|&q| (q as f32) * (q as f32))
                .sum::<f32>()
                .sqrt();
            if n > 0.0 {
                1.0 / n
            } else {
                0.0
            }
        }
    }
}

impl Gallery {
    /// Builds a gallery from labels, cases and one embedding per case (row-major, `dim` per
    /// case). Cosine galleries are L2-normalised here.
    pub fn from_parts(
        meta: GalleryMeta,
        labels: Vec<Label>,
        cases: Vec<Case>,
        dim: usize,
        embeddings: Vec<f32>,
    ) -> Result<Self> {
        if cases.is_empty() {
            return Err(GalleryError::EmptyGallery);
        }
        if dim == 0 || dim > MAX_DIM as usize {
            return Err(GalleryError::Invalid(format!(
                "embedding size {dim} is out of range 1..={MAX_DIM}"
            )));
        }
        if cases.len() > u32::MAX as usize || labels.len() > u32::MAX as usize {
            return Err(GalleryError::Invalid("too many cases or labels".into()));
        }
        if embeddings.len() != cases.len() * dim {
            return Err(GalleryError::Invalid(format!(
                "{} embedding values for {} cases of size {dim}",
                embeddings.len(),
                cases.len()
            )));
        }
        if let Some(t) = meta.threshold {
            if !t.is_finite() {
                return Err(GalleryError::Invalid("threshold must be finite".into()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for c in &cases {
            if c.label as usize >= labels.len() {
                return Err(GalleryError::LabelIndexOutOfRange {
                    case: c.case_id.clone(),
                    index: c.label,
                    count: labels.len(),
                });
            }
            if !seen.insert(c.case_id.as_str()) {
                return Err(GalleryError::Invalid(format!(
                    "case id `{}` appears twice",
                    c.case_id
                )));
            }
        }
        let mut embeddings = embeddings;
        for (c, row) in cases.iter().zip(embeddings.chunks_exact_mut(dim)) {
            if row.iter().any(|x| !x.is_finite()) {
                return Err(GalleryError::NonFinite {
                    case: c.case_id.clone(),
                });
            }
            if meta.metric == Metric::Cosine {
                l2_normalise(row);
            }
        }
        let vectors = match meta.storage {
            Storage::F32 => Vectors::F32(embeddings),
            Storage::Int8 => {
                let mut data = Vec::with_capacity(embeddings.len());
                let scales = embeddings
                    .chunks_exact(dim)
                    .map(|row| quantise_row(row, meta.metric, &mut data))
                    .collect();
                Vectors::int8(data, scales, dim)
            }
        };
        let case_label = cases.iter().map(|c| c.label).collect();
        let mut g = Gallery {
            meta,
            dim,
            labels,
            cases,
            case_label,
            vectors,
            calibration: None,
            recipe: None,
            case_genes: Vec::new(),
            content_hash: String::new(),
        };
        g.content_hash = content_hash(&g.encode_unhashed());
        Ok(g)
    }

    /// The same gallery stored another way (f32 → int8 quantises; int8 → f32 dequantises).
    pub fn to_storage(&self, storage: Storage) -> Gallery {
        if storage == self.meta.storage {
            return self.clone();
        }
        let mut flat = Vec::with_capacity(self.cases.len() * self.dim);
        for i in 0..self.cases.len() {
            flat.extend(self.vector(i));
        }
        let meta = GalleryMeta {
            storage,
            ..self.meta.clone()
        };
        let mut g = self.clone();
        g.meta = meta;
        g.vectors = match storage {
            Storage::F32 => Vectors::F32(flat),
            Storage::Int8 => {
                let mut data = Vec::with_capacity(flat.len());
                let scales = flat
                    .chunks_exact(self.dim)
                    .map(|row| quantise_row(row, self.meta.metric, &mut data))
                    .collect();
                Vectors::int8(data, scales, self.dim)
            }
        };
        g.content_hash = content_hash(&g.encode_unhashed());
        g
    }

    /// Label name → index, for matching probes (which carry names) to this gallery's labels.
    pub fn label_indices(&self) -> std::collections::HashMap<&str, usize> {
        self.labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.as_str(), i))
            .collect()
    }

    pub fn header(&self) -> GalleryHeader {
        GalleryHeader {
            format_version: FORMAT_VERSION,
            embedder_id: self.meta.embedder_id.clone(),
            metric: self.meta.metric,
            storage: self.meta.storage,
            embedding_size: self.dim,
            label_count: self.labels.len(),
            case_count: self.cases.len(),
            created_unix: self.meta.created_unix,
            threshold: self.meta.threshold,
            name: self.meta.name.clone(),
            embedding: self.recipe().describe(),
            content_hash: self.content_hash.clone(),
        }
    }
    pub fn meta(&self) -> &GalleryMeta {
        &self.meta
    }
    pub fn embedder_id(&self) -> &str {
        &self.meta.embedder_id
    }
    pub fn metric(&self) -> Metric {
        self.meta.metric
    }
    pub fn storage(&self) -> Storage {
        self.meta.storage
    }
    pub fn name(&self) -> &str {
        &self.meta.name
    }
    pub fn embedding_size(&self) -> usize {
        self.dim
    }
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }
    pub fn len(&self) -> usize {
        self.cases.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
    pub fn threshold(&self) -> Option<f32> {
        self.meta.threshold
    }
    /// Sets (or clears) a single "no close match" threshold by hand, dropping any measured
    /// calibration (its bands would no longer match); save to keep it (and re-sign).
    pub fn set_threshold(&mut self, t: Option<f32>) -> Result<()> {
        if let Some(t) = t {
            if !t.is_finite() {
                return Err(GalleryError::Invalid("threshold must be finite".into()));
            }
        }
        self.meta.threshold = t;
        self.calibration = None;
        self.content_hash = content_hash(&self.encode_unhashed());
        Ok(())
    }
    /// The session-true calibration, if the gallery was calibrated by this version.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }
    /// Stores (or clears) a calibration; the header threshold becomes its 1-photo threshold,
    /// so older tools still read one. Save to keep it (and re-sign).
    pub fn set_calibration(&mut self, c: Option<Calibration>) -> Result<()> {
        if let Some(c) = &c {
            c.validate()
                .map_err(|e| GalleryError::Invalid(e.to_string()))?;
        }
        self.meta.threshold = match &c {
            Some(c) => c.for_photos(1, c.fusion).map(|s| s.threshold),
            None => None,
        };
        self.calibration = c;
        self.content_hash = content_hash(&self.encode_unhashed());
        Ok(())
    }
    /// Recomputes the content hash after a change to what the file stores.
    pub(super) fn refresh_content_hash(&mut self) {
        self.content_hash = content_hash(&self.encode_unhashed());
    }
    /// Hex sha256 content hash (as stored in the file).
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }
    /// Bytes held by the embeddings in memory.
    pub fn embedding_bytes(&self) -> usize {
        match &self.vectors {
            Vectors::F32(v) => v.len() * 4,
            Vectors::Int8 { data, scales, .. } => data.len() + scales.len() * 4,
        }
    }

    /// Case `i`'s embedding as f32 (dequantised for int8). Panics if `i >= len()`.
    pub fn vector(&self, i: usize) -> Vec<f32> {
        let r = i * self.dim..(i + 1) * self.dim;
        match &self.vectors {
            Vectors::F32(v) => v[r].to_vec(),
            Vectors::Int8 { data, scales, .. } => {
                data[r].iter().map(|&q| q as f32 * scales[i]).collect()
            }
        }
    }

    /// Refuses a gallery made by another embedding model; the message names both ids.
    pub fn check_embedder(&self, model_id: &str) -> Result<()> {
        if self.meta.embedder_id != model_id {
            return Err(GalleryError::EmbedderMismatch {
                gallery: self.meta.embedder_id.clone(),
                model: model_id.to_string(),
            });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- encoding

    /// The whole file with the hash field zeroed.
    fn encode_unhashed(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(FIXED_HEADER + self.embedding_bytes() + 64 * self.len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.push(match self.meta.storage {
            Storage::F32 => 0,
            Storage::Int8 => 1,
        });
        b.push(match self.meta.metric {
            Metric::Cosine => 0,
            Metric::Euclidean => 1,
        });
        let mut flags = 0;
        if self.meta.threshold.is_some() {
            flags |= FLAG_THRESHOLD;
        }
        if self.calibration.is_some() {
            flags |= FLAG_CALIBRATION;
        }
        if self.recipe.is_some() {
            flags |= FLAG_RECIPE;
        }
        if !self.case_genes.is_empty() {
            flags |= FLAG_CASE_GENES;
        }
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&(self.dim as u32).to_le_bytes());
        b.extend_from_slice(&(self.labels.len() as u32).to_le_bytes());
        b.extend_from_slice(&(self.cases.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.meta.threshold.unwrap_or(0.0).to_le_bytes());
        b.extend_from_slice(&self.meta.created_unix.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes()); // file length, patched below
        b.extend_from_slice(&[0u8; 32]);
        put_str(&mut b, &self.meta.embedder_id);
        put_str(&mut b, &self.meta.name);
        for l in &self.labels {
            put_str(&mut b, &l.name);
            put_str(&mut b, l.omim.as_deref().unwrap_or(""));
            b.extend_from_slice(&(l.genes.len() as u32).to_le_bytes());
            for g in &l.genes {
                put_str(&mut b, g);
            }
        }
        for c in &self.cases {
            put_str(&mut b, &c.case_id);
            put_str(&mut b, &c.subject);
            b.extend_from_slice(&c.label.to_le_bytes());
        }
        match &self.vectors {
            Vectors::F32(v) => v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes())),
            Vectors::Int8 { data, scales, .. } => {
                for (row, s) in data.chunks_exact(self.dim).zip(scales) {
                    b.extend_from_slice(&s.to_le_bytes());
                    b.extend(row.iter().map(|&q| q as u8));
                }
            }
        }
        if let Some(c) = &self.calibration {
            // Serialising plain data cannot fail.
            let json = serde_json::to_vec(c).unwrap_or_default();
            b.extend_from_slice(&(json.len() as u32).to_le_bytes());
            b.extend_from_slice(&json);
        }
        super::recipe::put_recipe(&mut b, self.recipe.as_ref());
        if !self.case_genes.is_empty() {
            put_case_genes(&mut b, &self.case_genes);
        }
        let len = b.len() as u64;
        b[40..48].copy_from_slice(&len.to_le_bytes());
        b
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.encode_unhashed();
        let h = hash_bytes(&b);
        b[HASH_AT..HASH_AT + 32].copy_from_slice(&h);
        b
    }

    /// Writes the gallery atomically (see [`write_atomic`]). Strings longer than 64 KiB are
    /// refused.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.check_strings()?;
        write_atomic(path, &self.to_bytes())
    }

    fn check_strings(&self) -> Result<()> {
        let too_long = |s: &str| s.len() > MAX_STR;
        let any = too_long(&self.meta.embedder_id)
            || too_long(&self.meta.name)
            || self.labels.iter().any(|l| {
                too_long(&l.name)
                    || l.omim.as_deref().is_some_and(too_long)
                    || l.genes.iter().any(|g| too_long(g))
            })
            || self
                .cases
                .iter()
                .any(|c| too_long(&c.case_id) || too_long(&c.subject))
            || self.case_genes.iter().flatten().any(|g| too_long(&g.name));
        if any {
            return Err(GalleryError::Invalid(format!(
                "a string is longer than {MAX_STR} bytes"
            )));
        }
        Ok(())
    }

    // ---------------------------------------------------------------- decoding

    /// Reads and checks a gallery file (no signature check; see [`Gallery::load_with`]).
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &LoadOptions::default())
    }

    /// Reads a gallery, refusing it unless it passes every check `opts` asks for.
    pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| GalleryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(key) = &opts.public_key {
            super::sign::verify_bytes(path, &bytes, key)?;
        }
        let g = Self::from_bytes(&bytes)?;
        if let Some(id) = &opts.embedder_id {
            g.check_embedder(id)?;
        }
        Ok(g)
    }
}

/// The case-genes block: per case, the gene count and each gene's name and Entrez id (0 = none).
fn put_case_genes(b: &mut Vec<u8>, case_genes: &[Vec<Gene>]) {
    for genes in case_genes {
        b.extend_from_slice(&(genes.len() as u32).to_le_bytes());
        for g in genes {
            put_str(b, &g.name);
            b.extend_from_slice(&g.entrez_id.unwrap_or(0).to_le_bytes());
        }
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Recomputes a gallery file's content hash in place (bytes 48..80, the sha256 of everything
/// else), for tools and tests that edit a file on purpose. Files shorter than the header are
/// left alone (false).
pub fn rehash(bytes: &mut [u8]) -> bool {
    if bytes.len() < HASH_AT + 32 {
        return false;
    }
    let h = hash_bytes(bytes);
    bytes[HASH_AT..HASH_AT + 32].copy_from_slice(&h);
    true
}

/// sha256 over the file with the hash field skipped.
pub(super) fn hash_bytes(b: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&b[..HASH_AT]);
    h.update(&b[HASH_AT + 32..]);
    h.finalize().into()
}

fn content_hash(unhashed: &[u8]) -> String {
    hex::encode(hash_bytes(unhashed))
}
