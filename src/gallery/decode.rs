//! Reading a gallery file's bytes back (the layout is in [`super::format`]): one reader per
//! section of the file — the fixed header, the strings, the labels, the cases, the embeddings
//! and the calibration block — each checking every length before it is used, in the order the
//! format's docs give. Never panics on any input.

use super::calibration::Calibration;
use super::format::{
    hash_bytes, Case, Gallery, GalleryMeta, Gene, Label, Storage, Vectors, FIXED_HEADER,
    FLAG_CALIBRATION, FLAG_CASE_GENES, FLAG_THRESHOLD, FORMAT_VERSION, HASH_AT, MAGIC,
    MAX_CALIBRATION, MAX_DIM, MAX_STR,
};
use super::recipe::{FLAG_RECIPE, MAX_RECIPE};
use super::{GalleryError, Result};
use crate::manifest::Metric;
use std::path::Path;

/// The fixed header's fields after magic and version, as read: not yet trusted.
struct RawHeader {
    storage: Storage,
    metric: Metric,
    flags: u32,
    dim: u32,
    label_count: usize,
    case_count: usize,
    threshold: f32,
    created_unix: u64,
    file_len: u64,
}

/// The fixed header's fields once the content hash matched and each was checked.
struct Header {
    storage: Storage,
    metric: Metric,
    flags: u32,
    dim: usize,
    label_count: usize,
    case_count: usize,
    threshold: Option<f32>,
    created_unix: u64,
}

impl Gallery {
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
        let raw = read_raw_header(bytes)?;
        let stored_hash = check_length_and_hash(bytes, raw.file_len)?;
        // From here the content is what its writer hashed, but still untrusted.
        let h = check_header(raw)?;
        let mut r = Reader {
            b: bytes,
            pos: FIXED_HEADER,
        };
        let embedder_id = r.str("embedder id")?;
        let name = r.str("gallery name")?;
        let labels = read_labels(&mut r, h.label_count)?;
        let cases = read_cases(&mut r, h.case_count, h.label_count)?;
        let body = r.take_exact(h.case_count, row_bytes(h.storage, h.dim), "embeddings")?;
        let calibration = read_calibration(&mut r, h.flags)?;
        let recipe = read_recipe(&mut r, h.flags, &embedder_id)?;
        let case_genes = read_case_genes(&mut r, h.flags, h.case_count)?;
        if r.pos != bytes.len() {
            return Err(GalleryError::Malformed(format!(
                "{} bytes left after the embeddings",
                bytes.len() - r.pos
            )));
        }
        let vectors = read_vectors(body, h.storage, h.dim, &cases)?;
        check_unique_case_ids(&cases)?;
        Ok(Gallery {
            meta: GalleryMeta {
                embedder_id,
                metric: h.metric,
                name,
                created_unix: h.created_unix,
                threshold: h.threshold,
                storage: h.storage,
            },
            dim: h.dim,
            labels,
            case_label: cases.iter().map(|c| c.label).collect(),
            cases,
            vectors,
            calibration,
            recipe,
            case_genes,
            content_hash: hex::encode(stored_hash),
        })
    }
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
/// The fixed header after magic and version (bytes 10..48), unknown storage and metric codes
/// refused.
fn read_raw_header(bytes: &[u8]) -> Result<RawHeader> {
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
    Ok(RawHeader {
        storage,
        metric,
        flags: r.u32("header")?,
        dim: r.u32("header")?,
        label_count: r.u32("header")? as usize,
        case_count: r.u32("header")? as usize,
        threshold: r.f32("header")?,
        created_unix: r.u64("header")?,
        file_len: r.u64("header")?,
    })
}

/// The file's length against the header's, then the content hash; returns the stored hash.
fn check_length_and_hash(bytes: &[u8], file_len: u64) -> Result<&[u8]> {
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
    Ok(stored_hash)
}

/// The hashed header's own checks: known flags, embedding size in range, a finite threshold
/// when one is flagged, at least one case.
fn check_header(raw: RawHeader) -> Result<Header> {
    let flags = raw.flags;
    if flags & !(FLAG_THRESHOLD | FLAG_CALIBRATION | FLAG_RECIPE | FLAG_CASE_GENES) != 0 {
        return Err(GalleryError::Malformed(format!("unknown flags {flags:#x}")));
    }
    let dim = raw.dim;
    if dim == 0 || dim > MAX_DIM {
        return Err(GalleryError::Malformed(format!(
            "embedding size {dim} is out of range 1..={MAX_DIM}"
        )));
    }
    let threshold = if flags & FLAG_THRESHOLD != 0 {
        if !raw.threshold.is_finite() {
            return Err(GalleryError::Malformed("threshold is not finite".into()));
        }
        Some(raw.threshold)
    } else {
        None
    };
    if raw.case_count == 0 {
        return Err(GalleryError::EmptyGallery);
    }
    Ok(Header {
        storage: raw.storage,
        metric: raw.metric,
        flags,
        dim: dim as usize,
        label_count: raw.label_count,
        case_count: raw.case_count,
        threshold,
        created_unix: raw.created_unix,
    })
}

/// The labels section: name, OMIM ("" = none), genes.
fn read_labels(r: &mut Reader<'_>, label_count: usize) -> Result<Vec<Label>> {
    // Every label takes at least 12 bytes: check before allocating.
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
    Ok(labels)
}

/// The cases section: case id, subject, label index (which must name a label).
fn read_cases(r: &mut Reader<'_>, case_count: usize, label_count: usize) -> Result<Vec<Case>> {
    // Every case takes at least 12 bytes: check before allocating.
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
    Ok(cases)
}

/// Bytes of one case's embedding row in the file.
fn row_bytes(storage: Storage, dim: usize) -> usize {
    match storage {
        Storage::F32 => dim * 4,
        Storage::Int8 => 4 + dim,
    }
}

/// The calibration block, present when its flag is set: length, then JSON, then its checks.
fn read_calibration(r: &mut Reader<'_>, flags: u32) -> Result<Option<Calibration>> {
    if flags & FLAG_CALIBRATION == 0 {
        return Ok(None);
    }
    let n = r.u32("calibration")? as usize;
    if n > MAX_CALIBRATION {
        return Err(GalleryError::Malformed(format!(
            "calibration block is {n} bytes (limit {MAX_CALIBRATION})"
        )));
    }
    let c: Calibration = serde_json::from_slice(r.take(n, "calibration")?)
        .map_err(|e| GalleryError::Malformed(format!("calibration block: {e}")))?;
    c.validate()?;
    Ok(Some(c))
}

/// The recipe block when the header flags one ([`super::recipe`]).
fn read_recipe(
    r: &mut Reader<'_>,
    flags: u32,
    embedder_id: &str,
) -> Result<Option<crate::embed::EmbeddingRecipe>> {
    if flags & FLAG_RECIPE == 0 {
        return Ok(None);
    }
    let n = r.u32("recipe")? as usize;
    if n > MAX_RECIPE {
        return Err(GalleryError::Malformed(format!(
            "recipe block is {n} bytes (limit {MAX_RECIPE})"
        )));
    }
    super::recipe::parse_recipe(r.take(n, "recipe")?, embedder_id).map(Some)
}

/// The case-genes block, present when its flag is set: per case a gene count, then each
/// gene's name and Entrez id (0 = none).
fn read_case_genes(r: &mut Reader<'_>, flags: u32, case_count: usize) -> Result<Vec<Vec<Gene>>> {
    if flags & FLAG_CASE_GENES == 0 {
        return Ok(Vec::new());
    }
    // Every case takes at least 4 bytes, every gene 12: check before allocating.
    r.need_items(case_count, 4, "case genes")?;
    let mut out = Vec::with_capacity(case_count);
    for _ in 0..case_count {
        let n = r.u32("case genes")? as usize;
        r.need_items(n, 12, "case genes")?;
        let mut genes = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str("case genes")?;
            let entrez = r.u64("case genes")?;
            genes.push(Gene {
                name,
                entrez_id: (entrez != 0).then_some(entrez),
            });
        }
        out.push(genes);
    }
    Ok(out)
}

/// The embeddings section (`body`, already sized to the cases), refusing NaN/∞ values (f32)
/// and scales whose dequantised values would not be finite (int8).
fn read_vectors(body: &[u8], storage: Storage, dim: usize, cases: &[Case]) -> Result<Vectors> {
    let finite_or = |ok: bool, i: usize| {
        if ok {
            Ok(())
        } else {
            Err(GalleryError::NonFinite {
                case: cases[i].case_id.clone(),
            })
        }
    };
    match storage {
        Storage::F32 => {
            let v: Vec<f32> = body
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            for (i, row) in v.chunks_exact(dim).enumerate() {
                finite_or(row.iter().all(|x| x.is_finite()), i)?;
            }
            Ok(Vectors::F32(v))
        }
        Storage::Int8 => {
            let mut data = Vec::with_capacity(cases.len() * dim);
            let mut scales = Vec::with_capacity(cases.len());
            for (i, row) in body.chunks_exact(row_bytes(storage, dim)).enumerate() {
                let s = f32::from_le_bytes([row[0], row[1], row[2], row[3]]);
                // Every dequantised value (−127..=127 × s) must be finite too.
                finite_or((s.abs() * 127.0).is_finite(), i)?;
                scales.push(s);
                data.extend(row[4..].iter().map(|&b| b as i8));
            }
            Ok(Vectors::int8(data, scales, dim))
        }
    }
}

/// Refuses a case id that appears twice.
fn check_unique_case_ids(cases: &[Case]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(cases.len());
    for c in cases {
        if !seen.insert(c.case_id.as_str()) {
            return Err(GalleryError::Malformed(format!(
                "case id `{}` appears twice",
                c.case_id
            )));
        }
    }
    Ok(())
}

/// A cursor over the file's bytes; every read names the section it is in, for the error.
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
