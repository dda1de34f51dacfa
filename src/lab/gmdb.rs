//! The GestaltMatcher Database (GMDB) release files: which image shows which syndrome.
//!
//! * **Split CSV** (`image_id, subject, label`; label = numeric syndrome id). Image files are
//!   found by a pattern such as `{image_id}.jpg`. One row is one image; a repeated image id is
//!   refused.
//! * **Rare-set split CSV**: the same columns plus `split`. GMDB evaluates its rare syndromes
//!   on several random splits, and an image that belongs to several of them is listed once per
//!   split, so here a repeated image id is **one image with several split memberships**: its
//!   rows must agree on subject and label, and become one case whose
//!   [`CaseEntry::splits`] lists the splits in file order. The same image twice in one split is
//!   refused. Without a split chosen every image is used once; [`LabelSet::in_split`] (the
//!   command line's `--split`) keeps the images of one split. GMDB files have no `role`: the
//!   gallery and the test images are separate files.
//! * **Syndromes TSV** (`syndrome_id, syndrome_name, OMIM`). GMDB writes the OMIM number as a
//!   float (`122470.0`); it is read as the integer `122470`, an empty cell as no OMIM, and any
//!   other value is an error naming the file and line.
//!
//! Errors name the file and the line (1-based, the header is line 1).

use super::labels::{
    column, line_of, non_empty, open_csv, open_file, optional_column, record_error, CaseEntry,
    LabelSet,
};
use crate::gallery::{GalleryError, Label, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads a GMDB split CSV (`image_id, subject, label[, split]`) and the syndromes TSV
/// (`syndrome_id, syndrome_name, OMIM`). `image_pattern` maps an image id to a file name, with
/// `{image_id}` replaced (e.g. `"{image_id}.jpg"`). Only syndromes that have at least one case
/// in the split become labels, in order of first appearance.
pub fn read_gmdb(split_csv: &Path, syndromes_tsv: &Path, image_pattern: &str) -> Result<LabelSet> {
    let syndromes = open_file(syndromes_tsv)?;
    let split = open_file(split_csv)?;
    read_gmdb_from(split, split_csv, syndromes, syndromes_tsv, image_pattern)
}

/// [`read_gmdb`] from any readers; the paths only name the sources in errors.
pub fn read_gmdb_from<S: Read, T: Read>(
    split: S,
    split_csv: &Path,
    syndromes: T,
    syndromes_tsv: &Path,
    image_pattern: &str,
) -> Result<LabelSet> {
    let syndromes = read_gmdb_syndromes(syndromes, syndromes_tsv)?;
    let files = Sources {
        split_csv,
        syndromes_tsv,
        image_pattern,
    };
    read_gmdb_split(split, &files, &syndromes)
}

/// An OMIM number as GMDB writes it: an integer (`122470`) or a float whose fraction is zero
/// (`122470.0`). Anything else is refused with the reason.
pub fn parse_omim(text: &str) -> std::result::Result<u32, String> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !fraction.bytes().all(|b| b == b'0') {
        return Err(format!("OMIM `{text}` is not an integer"));
    }
    whole
        .parse()
        .map_err(|_| format!("OMIM `{text}` is too large"))
}

/// A GMDB syndrome id's label and the line it is on (for duplicate errors).
type Syndromes = HashMap<String, (Label, u64)>;

/// The files a split is read from, for error messages and image paths.
struct Sources<'a> {
    split_csv: &'a Path,
    syndromes_tsv: &'a Path,
    image_pattern: &'a str,
}

/// The GMDB syndromes TSV (`syndrome_id, syndrome_name, OMIM`), by syndrome id.
fn read_gmdb_syndromes<T: Read>(syndromes: T, syndromes_tsv: &Path) -> Result<Syndromes> {
    let (mut rdr, headers) = open_csv(syndromes, syndromes_tsv, b'\t')?;
    let c_id = column(syndromes_tsv, &headers, &["syndrome_id", "label", "id"])?;
    let c_name = column(syndromes_tsv, &headers, &["syndrome_name", "name"])?;
    let c_omim = optional_column(&headers, &["omim"]);
    let mut syndromes = Syndromes::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| record_error(syndromes_tsv, e))?;
        let line = line_of(&rec, i as u64 + 2);
        let bad = |message: String| GalleryError::LabelLine {
            path: syndromes_tsv.to_path_buf(),
            line,
            message,
        };
        let id = non_empty(rec.get(c_id)).ok_or_else(|| bad("empty syndrome_id".into()))?;
        let name = non_empty(rec.get(c_name)).ok_or_else(|| bad("empty syndrome_name".into()))?;
        let omim = match c_omim.and_then(|c| non_empty(rec.get(c))) {
            Some(text) => Some(parse_omim(&text).map_err(bad)?.to_string()),
            None => None,
        };
        if let Some((_, first)) = syndromes.get(&id) {
            return Err(bad(format!(
                "syndrome_id `{id}` already appears on line {first}"
            )));
        }
        let label = Label {
            name,
            omim,
            genes: Vec::new(),
        };
        syndromes.insert(id, (label, line));
    }
    if syndromes.is_empty() {
        return Err(GalleryError::LabelEmpty {
            path: syndromes_tsv.to_path_buf(),
        });
    }
    Ok(syndromes)
}

/// The columns of a split CSV; `split` only in the rare sets.
struct SplitColumns {
    image: usize,
    subject: usize,
    label: usize,
    split: Option<usize>,
}

impl SplitColumns {
    fn find(path: &Path, headers: &[String]) -> Result<Self> {
        Ok(Self {
            image: column(path, headers, &["image_id", "image"])?,
            subject: column(path, headers, &["subject", "subject_id"])?,
            label: column(path, headers, &["label", "syndrome_id"])?,
            split: optional_column(headers, &["split"]),
        })
    }
}

/// One row of a split CSV.
struct SplitRow {
    image_id: String,
    subject: String,
    label_id: String,
    split: Option<String>,
    line: u64,
}

impl SplitRow {
    fn parse(rec: &csv::StringRecord, cols: &SplitColumns, path: &Path, line: u64) -> Result<Self> {
        let bad = |message: &str| GalleryError::LabelLine {
            path: path.to_path_buf(),
            line,
            message: message.to_string(),
        };
        let split = match cols.split {
            Some(c) => Some(non_empty(rec.get(c)).ok_or_else(|| bad("empty split"))?),
            None => None,
        };
        Ok(Self {
            image_id: non_empty(rec.get(cols.image)).ok_or_else(|| bad("empty image_id"))?,
            subject: non_empty(rec.get(cols.subject)).ok_or_else(|| bad("empty subject"))?,
            label_id: non_empty(rec.get(cols.label)).ok_or_else(|| bad("empty label"))?,
            split,
            line,
        })
    }
}

/// The GMDB split CSV: one case per image, its label the syndrome it names; syndromes become
/// labels in order of first appearance. Rows repeating an image id are merged when the file
/// has a `split` column (see the module doc), refused otherwise.
fn read_gmdb_split<S: Read>(split: S, files: &Sources, syndromes: &Syndromes) -> Result<LabelSet> {
    let path = files.split_csv;
    let (mut rdr, headers) = open_csv(split, path, b',')?;
    let cols = SplitColumns::find(path, &headers)?;
    let mut set = LabelSet::default();
    let mut label_of_id: HashMap<String, usize> = HashMap::new();
    let mut case_of_image: HashMap<String, (usize, u64)> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| record_error(path, e))?;
        let row = SplitRow::parse(&rec, &cols, path, line_of(&rec, i as u64 + 2))?;
        let label = match label_of_id.get(&row.label_id) {
            Some(&l) => l,
            None => {
                let l = add_label(&mut set, syndromes, files, &row)?;
                label_of_id.insert(row.label_id.clone(), l);
                l
            }
        };
        if let Some(&(case, first_line)) = case_of_image.get(&row.image_id) {
            add_membership(&mut set.cases[case], row, label, path, first_line)?;
            continue;
        }
        case_of_image.insert(row.image_id.clone(), (set.cases.len(), row.line));
        set.cases.push(CaseEntry {
            image: PathBuf::from(files.image_pattern.replace("{image_id}", &row.image_id)),
            case_id: row.image_id,
            subject: row.subject,
            label,
            role: None,
            splits: row.split.into_iter().collect(),
            genes: Vec::new(),
        });
    }
    if set.cases.is_empty() {
        return Err(GalleryError::LabelEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(set)
}

/// Adds the syndrome a row names as the set's next label; its index.
fn add_label(
    set: &mut LabelSet,
    syndromes: &Syndromes,
    files: &Sources,
    row: &SplitRow,
) -> Result<usize> {
    let (info, _) = syndromes
        .get(&row.label_id)
        .ok_or_else(|| GalleryError::UnknownLabelId {
            path: files.split_csv.to_path_buf(),
            line: row.line,
            label_id: row.label_id.clone(),
            syndromes: files.syndromes_tsv.to_path_buf(),
        })?;
    set.labels.push(info.clone());
    Ok(set.labels.len() - 1)
}

/// A row repeating an image id already read on `first_line`: one more split of that image in a
/// rare set (same subject and label, a new split); any other repetition is an error.
fn add_membership(
    case: &mut CaseEntry,
    row: SplitRow,
    label: usize,
    path: &Path,
    first_line: u64,
) -> Result<()> {
    let duplicate = || GalleryError::DuplicateCase {
        path: path.to_path_buf(),
        line: row.line,
        case_id: row.image_id.clone(),
        first_line,
    };
    let Some(split) = &row.split else {
        return Err(duplicate());
    };
    if case.subject != row.subject || case.label != label {
        return Err(GalleryError::LabelLine {
            path: path.to_path_buf(),
            line: row.line,
            message: format!(
                "image_id `{}` has another subject or label on line {first_line} (here subject \
                 `{}`, label `{}`): one image has one subject and one label",
                row.image_id, row.subject, row.label_id
            ),
        });
    }
    if case.splits.contains(split) {
        return Err(duplicate());
    }
    case.splits.push(split.clone());
    Ok(())
}

#[cfg(test)]
mod tests;
