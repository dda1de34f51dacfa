//! GestaltMatcher-Arc's (GM-Arc's) data files, in the neutral forms `models/tools/gmarc_convert.py`
//! writes from GM-Arc's pickles (the formats are documented in `docs/gm-arc.md`):
//!
//! * **metadata** (JSON lines): one record per disorder, gene and image, telling which
//!   disorder, patient and genes each GMDB image has; [`attach_metadata`] copies an image's
//!   genes into its [`CaseEntry::genes`] and their names into its label's gene list (the gallery's
//!   label table).
//! * **encodings** (JSON lines): one row per image × model × test-time variant, with the
//!   stored representation.
//!
//! Every error names the file and the line (1-based).

use super::labels::{open_file, CaseEntry, Gene, LabelSet};
use crate::gallery::{GalleryError, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A GMDB disorder (syndrome) as GM-Arc's metadata names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disorder {
    pub name: String,
    /// OMIM number, `None` when GM-Arc gives none.
    pub omim: Option<u32>,
}

/// What GM-Arc's metadata says about one GMDB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMeta {
    /// Key into [`GmArcMetadata::disorders`].
    pub disorder_id: String,
    /// The patient (GMDB subject) the image shows.
    pub patient_id: String,
    /// Keys into [`GmArcMetadata::genes`], in file order.
    pub gene_ids: Vec<String>,
}

/// GM-Arc's image → disorder and image → genes metadata, by GM-Arc's internal ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GmArcMetadata {
    pub disorders: BTreeMap<String, Disorder>,
    pub genes: BTreeMap<String, Gene>,
    /// By GMDB image id.
    pub images: BTreeMap<String, ImageMeta>,
}

impl GmArcMetadata {
    /// The genes of an image (none for an image the metadata does not list).
    pub fn genes_of(&self, image_id: &str) -> Vec<Gene> {
        let Some(image) = self.images.get(image_id) else {
            return Vec::new();
        };
        image
            .gene_ids
            .iter()
            .filter_map(|g| self.genes.get(g).cloned())
            .collect()
    }
}

/// One line of the metadata file.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum MetadataRecord {
    Disorder {
        id: String,
        name: String,
        omim: Option<u32>,
    },
    Gene {
        id: String,
        name: String,
        entrez_id: Option<u64>,
    },
    Image {
        id: String,
        disorder_id: String,
        patient_id: String,
        #[serde(default)]
        gene_ids: Vec<String>,
    },
}

/// An error on one line of a neutral file.
fn line_error(path: &Path, line: u64, message: impl Into<String>) -> GalleryError {
    GalleryError::LabelLine {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The non-blank lines of a JSON-lines file with their 1-based numbers, each parsed as `T`.
fn json_lines<R: Read, T: serde::de::DeserializeOwned>(
    reader: R,
    path: &Path,
) -> Result<Vec<(u64, T)>> {
    let mut rows = Vec::new();
    for (i, text) in BufReader::new(reader).lines().enumerate() {
        let line = i as u64 + 1;
        let text = text.map_err(|e| line_error(path, line, e.to_string()))?;
        if text.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&text).map_err(|e| line_error(path, line, e.to_string()))?;
        rows.push((line, row));
    }
    if rows.is_empty() {
        return Err(GalleryError::LabelEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

/// Reads a neutral metadata file (see the module doc).
pub fn read_metadata(path: &Path) -> Result<GmArcMetadata> {
    read_metadata_from(open_file(path)?, path)
}

/// [`read_metadata`] from any reader; `path` only names the source in errors. Every id is
/// unique within its kind, and every disorder and gene an image names is defined in the file.
pub fn read_metadata_from<R: Read>(reader: R, path: &Path) -> Result<GmArcMetadata> {
    let mut meta = GmArcMetadata::default();
    let mut first_line: HashMap<(&'static str, String), u64> = HashMap::new();
    let mut image_lines = Vec::new();
    for (line, record) in json_lines::<_, MetadataRecord>(reader, path)? {
        let (kind, id) = match &record {
            MetadataRecord::Disorder { id, .. } => ("disorder", id.clone()),
            MetadataRecord::Gene { id, .. } => ("gene", id.clone()),
            MetadataRecord::Image { id, .. } => ("image", id.clone()),
        };
        if let Some(first) = first_line.insert((kind, id.clone()), line) {
            return Err(line_error(
                path,
                line,
                format!("{kind} `{id}` already appears on line {first}"),
            ));
        }
        if kind == "image" {
            image_lines.push((id.clone(), line));
        }
        add_record(&mut meta, record);
    }
    for (id, line) in image_lines {
        check_image_refs(&meta, &id).map_err(|m| line_error(path, line, m))?;
    }
    Ok(meta)
}

/// Files one parsed record into the metadata.
fn add_record(meta: &mut GmArcMetadata, record: MetadataRecord) {
    match record {
        MetadataRecord::Disorder { id, name, omim } => {
            meta.disorders.insert(id, Disorder { name, omim });
        }
        MetadataRecord::Gene {
            id,
            name,
            entrez_id,
        } => {
            meta.genes.insert(id, Gene { name, entrez_id });
        }
        MetadataRecord::Image {
            id,
            disorder_id,
            patient_id,
            gene_ids,
        } => {
            let image = ImageMeta {
                disorder_id,
                patient_id,
                gene_ids,
            };
            meta.images.insert(id, image);
        }
    }
}

/// An image's disorder and genes must be defined in the file.
fn check_image_refs(meta: &GmArcMetadata, id: &str) -> std::result::Result<(), String> {
    let image = &meta.images[id];
    if !meta.disorders.contains_key(&image.disorder_id) {
        return Err(format!(
            "image `{id}` names disorder `{}`, which the file does not define",
            image.disorder_id
        ));
    }
    match image.gene_ids.iter().find(|g| !meta.genes.contains_key(*g)) {
        Some(g) => Err(format!(
            "image `{id}` names gene `{g}`, which the file does not define"
        )),
        None => Ok(()),
    }
}

/// Copies GM-Arc's genes into a label set: each case whose image id the metadata lists gets
/// that image's genes ([`CaseEntry::genes`]), and each label's gene list (the gallery's label
/// table) gains the names of its images' genes, kept sorted and unique. Cases the metadata does
/// not list are left as they are.
pub fn attach_metadata(set: &mut LabelSet, meta: &GmArcMetadata) {
    let mut names: Vec<BTreeSet<String>> = set
        .labels
        .iter()
        .map(|l| l.genes.iter().cloned().collect())
        .collect();
    for case in &mut set.cases {
        add_case_genes(case, meta, &mut names);
    }
    for (label, genes) in set.labels.iter_mut().zip(names) {
        label.genes = genes.into_iter().collect();
    }
}

/// One case's genes from the metadata, and their names into its label's set.
fn add_case_genes(case: &mut CaseEntry, meta: &GmArcMetadata, names: &mut [BTreeSet<String>]) {
    for gene in meta.genes_of(&case.case_id) {
        if let Some(set) = names.get_mut(case.label) {
            set.insert(gene.name.clone());
        }
        if !case.genes.contains(&gene) {
            case.genes.push(gene);
        }
    }
}

/// One row of GM-Arc's gallery encodings: one image through one model with one test-time
/// variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EncodingRow {
    /// GMDB image id: the text of `img_name` before its first `_`.
    pub image_id: String,
    /// The aligned image's file name, e.g. `1001_rot_aligned.jpg`.
    pub img_name: String,
    /// GM-Arc's model key, `m0`, `m1` or `m2`.
    pub model: String,
    /// Horizontally flipped before the model.
    #[serde(deserialize_with = "zero_or_one")]
    pub flip: bool,
    /// Converted to grey (luminance in all three channels) before the model.
    #[serde(deserialize_with = "zero_or_one")]
    pub gray: bool,
    /// The model's class scores (empty for a model without a classifier output).
    #[serde(default)]
    pub class_conf: Vec<f32>,
    /// The representation as GM-Arc stores it (not L2-normalised).
    pub representation: Vec<f32>,
}

/// A 0/1 flag as GM-Arc writes it.
fn zero_or_one<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    match u8::deserialize(d)? {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(serde::de::Error::custom(format!(
            "flag {n}, expected 0 or 1"
        ))),
    }
}

/// Reads a neutral encodings file (see the module doc).
pub fn read_encodings(path: &Path) -> Result<Vec<EncodingRow>> {
    read_encodings_from(open_file(path)?, path)
}

/// [`read_encodings`] from any reader; `path` only names the source in errors. Rows are
/// checked: the image id matches `img_name`, the vector is finite and as long as the first
/// row's, and no (image, model, flip, gray) appears twice.
pub fn read_encodings_from<R: Read>(reader: R, path: &Path) -> Result<Vec<EncodingRow>> {
    let rows = json_lines::<_, EncodingRow>(reader, path)?;
    let width = rows[0].1.representation.len();
    let mut seen: HashMap<(String, String, bool, bool), u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        check_encoding(&row, width).map_err(|m| line_error(path, line, m))?;
        let key = (row.image_id.clone(), row.model.clone(), row.flip, row.gray);
        if let Some(first) = seen.insert(key, line) {
            return Err(line_error(
                path,
                line,
                format!(
                    "image `{}`, model `{}`, flip {}, gray {} already appears on line {first}",
                    row.image_id, row.model, row.flip as u8, row.gray as u8
                ),
            ));
        }
        out.push(row);
    }
    Ok(out)
}

/// The image id GM-Arc derives from an aligned image's file name: the text before the first `_`.
pub fn image_id_of(img_name: &str) -> &str {
    img_name.split('_').next().unwrap_or(img_name)
}

/// One encodings row's own checks.
fn check_encoding(row: &EncodingRow, width: usize) -> std::result::Result<(), String> {
    if row.image_id.is_empty() || row.image_id != image_id_of(&row.img_name) {
        return Err(format!(
            "image_id `{}` is not the start of img_name `{}`",
            row.image_id, row.img_name
        ));
    }
    if row.model.trim().is_empty() {
        return Err("empty model".into());
    }
    if row.representation.is_empty() || row.representation.len() != width {
        return Err(format!(
            "representation has {} values, the first row {width}",
            row.representation.len()
        ));
    }
    if row.representation.iter().any(|x| !x.is_finite()) {
        return Err("representation has a NaN or infinite value".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
