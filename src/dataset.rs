//! Labelled photo sets for evaluation and calibration, and embedding many photos on all cores.
//!
//! A labelled set is a CSV with a header: `image` (path relative to the CSV's folder unless
//! absolute), a label column named `label`, `syndrome` or `identity`, and optionally `subject`
//! (the patient; defaults to the label, as in identity datasets where a label is one person),
//! `case_id` (defaults to the image path) and `role` (`gallery`/`probe`, to split one file).
//! `../shared/faces/dev.csv` is such a file.

use crate::gallery::{
    self, Case, Gallery, GalleryError, GalleryMeta, Label, Probe, SkipReason, SkippedImage, Storage,
};
use crate::pipeline::PhotoEmbedder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} has no `{column}` column (it has: {found})")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        found: String,
    },
    #[error("{path}, line {line}: {message}")]
    Line {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path} lists no images{filter}")]
    Empty { path: PathBuf, filter: String },
    #[error("no usable gallery image: every one was skipped")]
    NothingUsable,
    #[error(transparent)]
    Gallery(#[from] GalleryError),
}

/// One row of a labelled set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImage {
    pub image: PathBuf,
    pub label: String,
    pub subject: String,
    pub case_id: String,
    pub role: Option<String>,
}

/// Reads a labelled set; keeps only rows whose role is `role` when one is given.
pub fn read_labelled_csv(
    path: &Path,
    role: Option<&str>,
) -> Result<Vec<LabelledImage>, DatasetError> {
    let read_err = |message: String| DatasetError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| read_err(e.to_string()))?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| read_err(e.to_string()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let missing = |column: &'static str| DatasetError::MissingColumn {
        path: path.to_path_buf(),
        column,
        found: headers.join(", "),
    };
    let image_col = col(&["image", "path", "file"]).ok_or_else(|| missing("image"))?;
    let label_col = col(&["label", "syndrome", "identity"]).ok_or_else(|| missing("label"))?;
    let subject_col = col(&["subject", "patient"]);
    let case_col = col(&["case_id", "case"]);
    let role_col = col(&["role"]);
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| DatasetError::Line {
            path: path.to_path_buf(),
            line,
            message: e.to_string(),
        })?;
        let field = |c: usize| rec.get(c).unwrap_or("").to_string();
        let (image, label) = (field(image_col), field(label_col));
        if image.is_empty() || label.is_empty() {
            return Err(DatasetError::Line {
                path: path.to_path_buf(),
                line,
                message: "empty image or label".into(),
            });
        }
        let row_role = role_col.map(field).filter(|r| !r.is_empty());
        if let Some(want) = role {
            if row_role.as_deref() != Some(want) {
                continue;
            }
        }
        let subject = subject_col
            .map(field)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| label.clone());
        let case_id = case_col
            .map(field)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| image.clone());
        let p = PathBuf::from(&image);
        out.push(LabelledImage {
            image: if p.is_absolute() { p } else { base.join(p) },
            label,
            subject,
            case_id,
            role: row_role,
        });
    }
    if out.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_path_buf(),
            filter: role
                .map(|r| format!(" with role `{r}`"))
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// One image's embedding, or why it has none.
pub type Embedded = Result<Vec<f32>, SkipReason>;

/// Embeds every image on `threads` threads (at least one), in input order. `progress` is
/// called with the number done so far.
pub fn embed_many<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    images: &[PathBuf],
    threads: usize,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) -> Vec<Embedded> {
    let threads = threads.clamp(1, 64);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let mut results: Vec<Option<Embedded>> = vec![None; images.len()];
    let chunks: Vec<Vec<(usize, Embedded)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = images.get(i) else { break };
                        mine.push((i, gallery::embed_image(embedder, path)));
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Some(p) = progress {
                            p(n);
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in chunks.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(SkipReason::ModelError("worker thread failed".into()))))
        .collect()
}

/// A gallery built from labelled rows, and the rows that were skipped.
pub struct BuiltGallery {
    pub gallery: Gallery,
    pub skipped: Vec<SkippedImage>,
}

/// Embeds `rows` and makes a gallery of them (labels in order of first appearance).
pub fn build_from_rows<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    rows: &[LabelledImage],
    name: &str,
    storage: Storage,
    threads: usize,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) -> Result<BuiltGallery, DatasetError> {
    let paths: Vec<PathBuf> = rows.iter().map(|r| r.image.clone()).collect();
    let embedded = embed_many(embedder, &paths, threads, progress);
    let mut labels: Vec<Label> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut cases = Vec::new();
    let mut flat = Vec::new();
    let mut skipped = Vec::new();
    for (row, result) in rows.iter().zip(embedded) {
        match result {
            Ok(v) => {
                let label = *index.entry(row.label.as_str()).or_insert_with(|| {
                    labels.push(Label {
                        name: row.label.clone(),
                        omim: None,
                        genes: Vec::new(),
                    });
                    (labels.len() - 1) as u32
                });
                cases.push(Case {
                    case_id: row.case_id.clone(),
                    subject: row.subject.clone(),
                    label,
                });
                flat.extend_from_slice(&v);
            }
            Err(reason) => skipped.push(SkippedImage {
                case_id: row.case_id.clone(),
                image: row.image.clone(),
                reason,
            }),
        }
    }
    if cases.is_empty() {
        return Err(DatasetError::NothingUsable);
    }
    let meta = GalleryMeta {
        embedder_id: embedder.embedder_id(),
        metric: embedder.metric(),
        name: name.to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        threshold: None,
        storage: Storage::F32,
    };
    let gallery = Gallery::from_parts(meta, labels, cases, embedder.embedding_size(), flat)?;
    let gallery = if storage == Storage::F32 {
        gallery
    } else {
        gallery.to_storage(storage)
    };
    Ok(BuiltGallery { gallery, skipped })
}

/// Embeds `rows` as evaluation probes; returns the probes and the rows that were skipped.
pub fn probes_from_rows<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    rows: &[LabelledImage],
    threads: usize,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) -> (Vec<Probe>, Vec<SkippedImage>) {
    let paths: Vec<PathBuf> = rows.iter().map(|r| r.image.clone()).collect();
    let mut probes = Vec::new();
    let mut skipped = Vec::new();
    for (row, result) in rows
        .iter()
        .zip(embed_many(embedder, &paths, threads, progress))
    {
        match result {
            Ok(embedding) => probes.push(Probe {
                label: row.label.clone(),
                subject: row.subject.clone(),
                embedding,
            }),
            Err(reason) => skipped.push(SkippedImage {
                case_id: row.case_id.clone(),
                image: row.image.clone(),
                reason,
            }),
        }
    }
    (probes, skipped)
}

/// Number of worker threads to use: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Skipped images counted by reason (`no-face`, `several-faces`, …), for summaries.
pub fn skip_counts(skipped: &[SkippedImage]) -> std::collections::BTreeMap<&'static str, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for s in skipped {
        *counts.entry(s.reason.kind()).or_insert(0) += 1;
    }
    counts
}
