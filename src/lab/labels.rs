//! Label files: which image shows which syndrome. The one reader of labelled photos: gallery
//! builds, calibration, evaluation and the HPO simulation all read their photos here.
//!
//! Two formats:
//! * a plain CSV with a header row naming at least `image` and a label column (`label`,
//!   `syndrome` or `identity`); optional columns `omim`, `genes` (separated by `;` or `|`),
//!   `subject` (patient id), `case_id` and `role` (`gallery`/`probe`, to split one file, as in
//!   `../shared/faces/dev.csv`). A missing `case_id` defaults to the image path. A missing
//!   `subject` defaults to the label when the label column is `identity` (an identity is one
//!   person) and to the case id otherwise (without a patient column, each photo is its own
//!   patient).
//! * the GestaltMatcher Database (GMDB) release, read in [`super::gmdb`]; GM-Arc's image →
//!   disorder/genes metadata is added by [`super::gmarc`].
//!
//! Image paths are kept as written; builders resolve them against an image root (the CSV's
//! folder for labelled sets, see [`LabelSet::root_of`]). Errors name the file and the line
//! (1-based, the header is line 1).

use crate::gallery::{GalleryError, Label, Result};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One reference photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseEntry {
    pub case_id: String,
    /// Patient id: several photos of one patient share it.
    pub subject: String,
    /// Index into [`LabelSet::labels`].
    pub label: usize,
    /// Image path, relative to the image root unless absolute.
    pub image: PathBuf,
    /// The `role` column (`gallery`, `probe`), when the file has one.
    pub role: Option<String>,
    /// The GMDB rare sets' `split` column: every split this image belongs to, in file order
    /// (see [`super::gmdb`]); empty for files without that column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<String>,
    /// The genes of this image's patient, from GM-Arc's metadata ([`super::gmarc`]); empty when
    /// none were read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub genes: Vec<Gene>,
}

// A gene of a reference image: the gallery's type (a gallery file stores genes per case).
pub use crate::gallery::Gene;

/// Labels and the cases that show them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LabelSet {
    pub labels: Vec<Label>,
    pub cases: Vec<CaseEntry>,
}

impl LabelSet {
    /// Index of a label by name.
    pub fn label_index(&self, name: &str) -> Option<usize> {
        self.labels.iter().position(|l| l.name == name)
    }

    /// The name of a case's label.
    pub fn label_name(&self, case: &CaseEntry) -> &str {
        self.labels.get(case.label).map_or("", |l| l.name.as_str())
    }

    /// The same labels with only the cases `keep` accepts (labels left without cases stay; the
    /// builders drop them).
    pub fn filter(&self, keep: impl Fn(&CaseEntry) -> bool) -> LabelSet {
        LabelSet {
            labels: self.labels.clone(),
            cases: self.cases.iter().filter(|c| keep(c)).cloned().collect(),
        }
    }

    /// The cases whose role is `role`; an error naming the file when there are none.
    pub fn with_role(&self, role: &str, path: &Path) -> Result<LabelSet> {
        let set = self.filter(|c| c.role.as_deref() == Some(role));
        if set.cases.is_empty() {
            return Err(GalleryError::Input(format!(
                "{} lists no images with role `{role}`",
                path.display()
            )));
        }
        Ok(set)
    }

    /// The cases that belong to GMDB split `split`; an error naming the file when there are none.
    pub fn in_split(&self, split: &str, path: &Path) -> Result<LabelSet> {
        let set = self.filter(|c| c.splits.iter().any(|s| s == split));
        if set.cases.is_empty() {
            return Err(GalleryError::Input(format!(
                "{} lists no images in split `{split}`",
                path.display()
            )));
        }
        Ok(set)
    }

    /// The folder a label file's relative image paths start from: the file's own folder.
    pub fn root_of(path: &Path) -> PathBuf {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }
}

pub(super) fn open_csv<R: Read>(
    reader: R,
    path: &Path,
    delimiter: u8,
) -> Result<(csv::Reader<R>, Vec<String>)> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(reader);
    let headers = rdr.headers().map_err(|e| GalleryError::LabelRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let headers: Vec<String> = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(GalleryError::LabelEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok((rdr, headers))
}

pub(super) fn open_file(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|e| GalleryError::LabelRead {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

pub(super) fn column(path: &Path, headers: &[String], names: &[&str]) -> Result<usize> {
    optional_column(headers, names).ok_or_else(|| GalleryError::MissingColumn {
        path: path.to_path_buf(),
        column: names[0].to_string(),
        found: headers.join(", "),
    })
}

pub(super) fn optional_column(headers: &[String], names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.contains(&h.as_str()))
}

pub(super) fn line_of(rec: &csv::StringRecord, fallback: u64) -> u64 {
    rec.position().map(|p| p.line()).unwrap_or(fallback)
}

pub(super) fn record_error(path: &Path, e: csv::Error) -> GalleryError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    GalleryError::LabelLine {
        path: path.to_path_buf(),
        line,
        message: e.to_string(),
    }
}

fn split_genes(s: &str) -> Vec<String> {
    s.split([';', '|', ','])
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads a plain `image,label[,omim,genes,subject,case_id,role]` CSV.
pub fn read_label_csv(path: &Path) -> Result<LabelSet> {
    read_label_csv_from(open_file(path)?, path)
}

/// [`read_label_csv`] from any reader; `path` only names the source in errors.
pub fn read_label_csv_from<R: Read>(reader: R, path: &Path) -> Result<LabelSet> {
    let (mut rdr, headers) = open_csv(reader, path, b',')?;
    let c_image = column(path, &headers, &["image", "image_path", "path", "file"])?;
    let c_label = column(path, &headers, &["label", "syndrome", "identity"])?;
    let label_is_a_person = headers[c_label] == "identity";
    let c_role = optional_column(&headers, &["role"]);
    let c_omim = optional_column(&headers, &["omim"]);
    let c_genes = optional_column(&headers, &["genes", "gene"]);
    let c_subject = optional_column(&headers, &["subject", "patient", "patient_id"]);
    let c_case = optional_column(&headers, &["case_id", "case"]);

    let mut set = LabelSet::default();
    let mut by_name: HashMap<String, (usize, u64)> = HashMap::new();
    let mut genes: Vec<BTreeSet<String>> = Vec::new();
    let mut seen_case: HashMap<String, u64> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| record_error(path, e))?;
        let line = line_of(&rec, i as u64 + 2);
        let bad = |message: String| GalleryError::LabelLine {
            path: path.to_path_buf(),
            line,
            message,
        };
        let image = non_empty(rec.get(c_image)).ok_or_else(|| bad("empty image".into()))?;
        let label = non_empty(rec.get(c_label)).ok_or_else(|| bad("empty label".into()))?;
        let omim = c_omim.and_then(|c| non_empty(rec.get(c)));
        let row_genes = c_genes
            .and_then(|c| rec.get(c))
            .map(split_genes)
            .unwrap_or_default();
        let case_id = c_case
            .and_then(|c| non_empty(rec.get(c)))
            .unwrap_or_else(|| image.clone());
        let subject = c_subject
            .and_then(|c| non_empty(rec.get(c)))
            .unwrap_or_else(|| {
                if label_is_a_person {
                    label.clone()
                } else {
                    case_id.clone()
                }
            });
        let role = c_role.and_then(|c| non_empty(rec.get(c)));

        let idx = match by_name.get(&label) {
            Some(&(idx, first_line)) => {
                let known = &mut set.labels[idx];
                match (&known.omim, &omim) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(bad(format!(
                            "label `{label}` has OMIM {b} here but {a} on line {first_line}"
                        )))
                    }
                    (None, Some(b)) => known.omim = Some(b.clone()),
                    _ => {}
                }
                idx
            }
            None => {
                set.labels.push(Label {
                    name: label.clone(),
                    omim,
                    genes: Vec::new(),
                });
                genes.push(BTreeSet::new());
                by_name.insert(label, (set.labels.len() - 1, line));
                set.labels.len() - 1
            }
        };
        genes[idx].extend(row_genes);
        if let Some(&first_line) = seen_case.get(&case_id) {
            return Err(GalleryError::DuplicateCase {
                path: path.to_path_buf(),
                line,
                case_id,
                first_line,
            });
        }
        seen_case.insert(case_id.clone(), line);
        set.cases.push(CaseEntry {
            case_id,
            subject,
            label: idx,
            image: PathBuf::from(image),
            role,
            splits: Vec::new(),
            genes: Vec::new(),
        });
    }
    for (l, g) in set.labels.iter_mut().zip(genes) {
        l.genes = g.into_iter().collect();
    }
    if set.cases.is_empty() {
        return Err(GalleryError::LabelEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(set)
}
