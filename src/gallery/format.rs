//! The binary gallery file (format version 1), little-endian throughout.
//!
//! ```text
//! offset size  field
//!  0      8    magic b"GCAMGAL\0"
//!  8      2    format version (u16) = 1
//! 10      1    storage: 0 = f32, 1 = int8 with a per-row f32 scale
//! 11      1    metric: 0 = cosine, 1 = euclidean
//! 12      4    flags (u32): bit 0 = threshold present, bit 1 = calibration block present;
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
//!              [`super::calibrate::Calibration`] (at most 4 MiB)
//! str = u32 byte length + UTF-8 bytes (at most 65,536 bytes)
//! ```
//!
//! Loading checks, in order: magic, version (an unknown version names itself), file length
//! against the header (truncated → says so), the content hash, then every length before it is
//! used (so a file with a valid hash but lying counts is still refused, never allocated for),
//! label indices, and NaN/∞ in vectors and scales. Cosine galleries hold L2-normalised vectors
//! (normalised when built; the file's hash protects them after that).
//!
//! Saving is atomic ([`write_atomic`]): a temp file in the same directory, fsync, rename, fsync of
//! the directory; a power cut leaves the old or the new file.

use super::calibrate::Calibration;
use super::{GalleryError, Result};
use crate::manifest::Metric;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MAGIC: [u8; 8] = *b"GCAMGAL\0";
pub const FORMAT_VERSION: u16 = 1;
const FIXED_HEADER: usize = 80;
const HASH_AT: usize = 48;
const MAX_STR: usize = 65_536;
const MAX_DIM: u32 = 4096;
const FLAG_THRESHOLD: u32 = 1;
const FLAG_CALIBRATION: u32 = 2;
const MAX_CALIBRATION: usize = 4 << 20;

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

/// What a new gallery is: the caller's part of the header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryMeta {
    pub embedder_id: String,
    pub metric: Metric,
    /// Gallery name/version shown on screens, e.g. "gmdb-1.1.0-train".
    pub name: String,
    /// Unix seconds.
    pub created_unix: u64,
    /// "No close match" threshold on the best distance (see [`super::calibrate()`]).
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
    /// Session-true threshold and bands ([`super::calibrate()`]); `None` = not calibrated.
    pub(crate) calibration: Option<Calibration>,
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
                .any(|c| too_long(&c.case_id) || too_long(&c.subject));
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

    /// The embedder id a gallery file's header names, read from its first bytes without
    /// checking the rest (not the hash, not a signature): enough to choose which model to load,
    /// never enough to use the gallery, which [`Gallery::load_with`] then checks in full.
    pub fn peek_embedder_id(path: &Path) -> Result<String> {
        use std::io::Read;
        let read_err = |source| GalleryError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut head = Vec::with_capacity(FIXED_HEADER + 4 + MAX_STR);
        std::fs::File::open(path)
            .map_err(read_err)?
            .take((FIXED_HEADER + 4 + MAX_STR) as u64)
            .read_to_end(&mut head)
            .map_err(read_err)?;
        check_fixed_header(&head)?;
        Reader {
            b: &head,
            pos: FIXED_HEADER,
        }
        .str("embedder id")
    }

    /// Decodes and checks a gallery file's bytes. Never panics on any input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_fixed_header(bytes)?;
        let mut r = Reader { b: bytes, pos: 10 };
        let storage = match r.u8("header")? {
            0 => Storage::F32,
            1 => Storage::Int8,
            s => return Err(GalleryError::Malformed(format!("unknown storage code {s}"))),
        };
        let metric = match r.u8("header")? {
            0 => Metric::Cosine,
            1 => Metric::Euclidean,
            m => return Err(GalleryError::Malformed(format!("unknown metric code {m}"))),
        };
        let flags = r.u32("header")?;
        let dim = r.u32("header")?;
        let label_count = r.u32("header")? as usize;
        let case_count = r.u32("header")? as usize;
        let threshold = r.f32("header")?;
        let created_unix = r.u64("header")?;
        let file_len = r.u64("header")?;
        let actual = bytes.len() as u64;
        if actual < file_len {
            return Err(GalleryError::Truncated {
                expected: file_len,
                actual,
            });
        }
        if actual > file_len {
            return Err(GalleryError::TrailingData {
                extra: actual - file_len,
            });
        }
        let stored_hash = &bytes[HASH_AT..HASH_AT + 32];
        let computed = hash_bytes(bytes);
        if stored_hash != computed {
            return Err(GalleryError::HashMismatch {
                expected: hex::encode(stored_hash),
                actual: hex::encode(computed),
            });
        }
        // From here the content is what its writer hashed, but still untrusted.
        if flags & !(FLAG_THRESHOLD | FLAG_CALIBRATION) != 0 {
            return Err(GalleryError::Malformed(format!("unknown flags {flags:#x}")));
        }
        if dim == 0 || dim > MAX_DIM {
            return Err(GalleryError::Malformed(format!(
                "embedding size {dim} is out of range 1..={MAX_DIM}"
            )));
        }
        let dim = dim as usize;
        let threshold = if flags & FLAG_THRESHOLD != 0 {
            if !threshold.is_finite() {
                return Err(GalleryError::Malformed("threshold is not finite".into()));
            }
            Some(threshold)
        } else {
            None
        };
        if case_count == 0 {
            return Err(GalleryError::EmptyGallery);
        }
        r.pos = FIXED_HEADER;
        let embedder_id = r.str("embedder id")?;
        let name = r.str("gallery name")?;
        // Every label takes at least 12 bytes, every case at least 12: check before allocating.
        r.need_items(label_count, 12, "labels")?;
        let mut labels = Vec::with_capacity(label_count);
        for _ in 0..label_count {
            let name = r.str("labels")?;
            let omim = r.str("labels")?;
            let gene_count = r.u32("labels")? as usize;
            r.need_items(gene_count, 4, "labels")?;
            let mut genes = Vec::with_capacity(gene_count);
            for _ in 0..gene_count {
                genes.push(r.str("labels")?);
            }
            labels.push(Label {
                name,
                omim: (!omim.is_empty()).then_some(omim),
                genes,
            });
        }
        r.need_items(case_count, 12, "cases")?;
        let mut cases = Vec::with_capacity(case_count);
        for _ in 0..case_count {
            let case_id = r.str("cases")?;
            let subject = r.str("cases")?;
            let label = r.u32("cases")?;
            if label as usize >= label_count {
                return Err(GalleryError::LabelIndexOutOfRange {
                    case: case_id,
                    index: label,
                    count: label_count,
                });
            }
            cases.push(Case {
                case_id,
                subject,
                label,
            });
        }
        let row_bytes = match storage {
            Storage::F32 => dim * 4,
            Storage::Int8 => 4 + dim,
        };
        let body = r.take_exact(case_count, row_bytes, "embeddings")?;
        let calibration = if flags & FLAG_CALIBRATION != 0 {
            let n = r.u32("calibration")? as usize;
            if n > MAX_CALIBRATION {
                return Err(GalleryError::Malformed(format!(
                    "calibration block is {n} bytes (limit {MAX_CALIBRATION})"
                )));
            }
            let c: Calibration = serde_json::from_slice(r.take(n, "calibration")?)
                .map_err(|e| GalleryError::Malformed(format!("calibration block: {e}")))?;
            c.validate()?;
            Some(c)
        } else {
            None
        };
        if r.pos != bytes.len() {
            return Err(GalleryError::Malformed(format!(
                "{} bytes left after the embeddings",
                bytes.len() - r.pos
            )));
        }
        let finite_or = |ok: bool, i: usize| {
            if ok {
                Ok(())
            } else {
                Err(GalleryError::NonFinite {
                    case: cases[i].case_id.clone(),
                })
            }
        };
        let vectors = match storage {
            Storage::F32 => {
                let v: Vec<f32> = body
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                for (i, row) in v.chunks_exact(dim).enumerate() {
                    finite_or(row.iter().all(|x| x.is_finite()), i)?;
                }
                Vectors::F32(v)
            }
            Storage::Int8 => {
                let mut data = Vec::with_capacity(case_count * dim);
                let mut scales = Vec::with_capacity(case_count);
                for (i, row) in body.chunks_exact(row_bytes).enumerate() {
                    let s = f32::from_le_bytes([row[0], row[1], row[2], row[3]]);
                    // Every dequantised value (−127..=127 × s) must be finite too.
                    finite_or((s.abs() * 127.0).is_finite(), i)?;
                    scales.push(s);
                    data.extend(row[4..].iter().map(|&b| b as i8));
                }
                Vectors::int8(data, scales, dim)
            }
        };
        let case_label = cases.iter().map(|c| c.label).collect();
        let mut seen = std::collections::HashSet::with_capacity(cases.len());
        for c in &cases {
            if !seen.insert(c.case_id.as_str()) {
                return Err(GalleryError::Malformed(format!(
                    "case id `{}` appears twice",
                    c.case_id
                )));
            }
        }
        Ok(Gallery {
            meta: GalleryMeta {
                embedder_id,
                metric,
                name,
                created_unix,
                threshold,
                storage,
            },
            dim,
            labels,
            cases,
            case_label,
            vectors,
            calibration,
            content_hash: hex::encode(stored_hash),
        })
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// The checks every reader of a gallery file starts with: magic, then format version, then
/// room for the fixed header (the most telling error first).
fn check_fixed_header(bytes: &[u8]) -> Result<()> {
    let n = bytes.len().min(MAGIC.len());
    if bytes[..n] != MAGIC[..n] {
        return Err(GalleryError::BadMagic);
    }
    let truncated = || GalleryError::Truncated {
        expected: FIXED_HEADER as u64,
        actual: bytes.len() as u64,
    };
    if bytes.len() < 10 {
        return Err(truncated());
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(GalleryError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if bytes.len() < FIXED_HEADER {
        return Err(truncated());
    }
    Ok(())
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
fn hash_bytes(b: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&b[..HASH_AT]);
    h.update(&b[HASH_AT + 32..]);
    h.finalize().into()
}

fn content_hash(unhashed: &[u8]) -> String {
    hex::encode(hash_bytes(unhashed))
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let left = self.b.len() - self.pos;
        if n > left {
            return Err(GalleryError::TruncatedAt {
                what,
                offset: self.pos,
                needed: n - left,
            });
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn take_exact(&mut self, count: usize, size: usize, what: &'static str) -> Result<&'a [u8]> {
        let n = count
            .checked_mul(size)
            .ok_or_else(|| GalleryError::Malformed(format!("{what} size overflows")))?;
        self.take(n, what)
    }
    fn need_items(&self, count: usize, min_size: usize, what: &'static str) -> Result<()> {
        let left = self.b.len() - self.pos;
        match count.checked_mul(min_size) {
            Some(n) if n <= left => Ok(()),
            _ => Err(GalleryError::Malformed(format!(
                "{count} {what} cannot fit in the {left} bytes left"
            ))),
        }
    }
    fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn f32(&mut self, what: &'static str) -> Result<f32> {
        Ok(f32::from_bits(self.u32(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self, what: &'static str) -> Result<String> {
        let n = self.u32(what)? as usize;
        if n > MAX_STR {
            return Err(GalleryError::Malformed(format!(
                "a string in the {what} is {n} bytes (limit {MAX_STR})"
            )));
        }
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec())
            .map_err(|_| GalleryError::Malformed(format!("a string in the {what} is not UTF-8")))
    }
}

// -------------------------------------------------------------------- atomic write

const TEMP_MARK: &str = ".tmp-";

fn temp_prefix(path: &Path) -> Result<(PathBuf, String)> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| GalleryError::Invalid(format!("{} has no file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((dir, format!(".{file_name}{TEMP_MARK}")))
}

/// Removes temp files a previous interrupted [`write_atomic`] of `path` left behind; returns how
/// many. Loading never looks at them.
pub fn remove_stale_temp_files(path: &Path) -> Result<usize> {
    let (dir, prefix) = temp_prefix(path)?;
    let wr = |source| GalleryError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut removed = 0;
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(wr(e)),
    };
    for e in entries {
        let e = e.map_err(wr)?;
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            std::fs::remove_file(e.path()).map_err(wr)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically: stale temp files are removed, a new temp file is created
/// in the same directory, written, fsynced, renamed over `path`, and the directory is fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_via(path, bytes, |f, b| f.write_all(b))
}

/// [`write_atomic`] with the write step injected (tests use a writer that fails part-way, as a
/// power cut would). On failure the temp file is removed and `path` is untouched.
pub fn write_atomic_via(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> std::io::Result<()>,
) -> Result<()> {
    let wr = |source| GalleryError::Write {
        path: path.to_path_buf(),
        source,
    };
    remove_stale_temp_files(path)?;
    let (dir, prefix) = temp_prefix(path)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!("{prefix}{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        write(&mut f, bytes)?;
        f.flush()?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename durable. Directories cannot be opened for fsync on every platform.
        #[cfg(unix)]
        File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(wr(e));
    }
    Ok(())
}
