//! Building a gallery (and evaluation probes) from labelled photos: the one builder.
//!
//! Each listed image is decoded and embedded on all the threads asked for; an unusable image is
//! skipped with its reason and never stops the build. Labels left without any case are dropped
//! (and reported). A build with no usable image fails and writes nothing (the caller saves the
//! returned gallery). Progress is a callback `(done, total)`: the command line draws the bar.

use super::labels::{CaseEntry, LabelSet};
use super::shared::Probe;
use crate::embed::EmbeddingRecipe;
use crate::gallery::{Case, Gallery, GalleryError, GalleryMeta, Label, Result, Storage};
use crate::manifest::Metric;
use crate::pipeline::{PhotoEmbedder, UnusablePhotoError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why an image gave no gallery case.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum SkipReason {
    MissingFile,
    Unreadable(String),
    NoFace,
    SeveralFaces(usize),
    FaceTooSmall,
    /// Detector or embedding model failure.
    ModelError(String),
    /// The embedder returned a vector of the wrong size or with NaN/∞.
    BadEmbedding(String),
    /// An imported image lacks one (model, variant) pair of the recipe.
    MissingPair(String),
}

impl SkipReason {
    /// Short key used for the per-reason counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingFile => "missing-file",
            Self::Unreadable(_) => "unreadable",
            Self::NoFace => "no-face",
            Self::SeveralFaces(_) => "several-faces",
            Self::FaceTooSmall => "face-too-small",
            Self::ModelError(_) => "model-error",
            Self::BadEmbedding(_) => "bad-embedding",
            Self::MissingPair(_) => "missing-pair",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingFile => f.write_str("file not found"),
            Self::Unreadable(m) => write!(f, "cannot decode image: {m}"),
            Self::NoFace => f.write_str("no face found"),
            Self::SeveralFaces(n) => write!(f, "{n} faces found"),
            Self::FaceTooSmall => f.write_str("face too small"),
            Self::ModelError(m) => write!(f, "model failed: {m}"),
            Self::BadEmbedding(m) => write!(f, "bad embedding: {m}"),
            Self::MissingPair(m) => write!(f, "missing pair: {m}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedImage {
    pub case_id: String,
    pub image: PathBuf,
    pub reason: SkipReason,
}

/// What a build did.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct BuildSummary {
    pub listed: usize,
    pub used: usize,
    pub labels: usize,
    pub skipped: Vec<SkippedImage>,
    /// Skips per [`SkipReason::kind`].
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// Labels dropped because none of their images was usable.
    pub labels_without_cases: Vec<String>,
    pub seconds: f64,
}

impl BuildSummary {
    /// Records an image that gave no case, and why.
    pub(super) fn skip(&mut self, case_id: String, image: PathBuf, reason: SkipReason) {
        *self
            .skipped_by_reason
            .entry(reason.kind().to_string())
            .or_default() += 1;
        self.skipped.push(SkippedImage {
            case_id,
            image,
            reason,
        });
    }
}

impl fmt::Display for BuildSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} of {} images used, {} syndromes, {} skipped ({:.1} s)",
            self.used,
            self.listed,
            self.labels,
            self.skipped.len(),
            self.seconds
        )?;
        for (k, n) in &self.skipped_by_reason {
            writeln!(f, "  skipped {k}: {n}")?;
        }
        for s in &self.skipped {
            writeln!(f, "  {} ({}): {}", s.case_id, s.image.display(), s.reason)?;
        }
        if !self.labels_without_cases.is_empty() {
            writeln!(
                f,
                "  syndromes without a usable image (left out): {}",
                self.labels_without_cases.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Build settings.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Gallery name/version string.
    pub name: String,
    pub storage: Storage,
    /// Creation time; `None` = now.
    pub created_unix: Option<u64>,
    /// Worker threads embedding photos (0 = [`default_threads`]).
    pub threads: usize,
}

/// `(done, total)` after each image, from any worker thread.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Number of worker threads to use: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One image's embedding, or why it has none.
pub type Embedded = std::result::Result<Vec<f32>, SkipReason>;

/// Decodes and embeds every image on `threads` threads (0 = all cores), results in input order.
pub fn embed_many<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    images: &[PathBuf],
    threads: usize,
    progress: Option<Progress<'_>>,
) -> Vec<Embedded> {
    let threads = if threads == 0 {
        default_threads()
    } else {
        threads
    }
    .clamp(1, 64);
    let total = images.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let chunks: Vec<Vec<(usize, Embedded)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(total.max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = images.get(i) else { break };
                        mine.push((i, embed_image(embedder, path)));
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if let Some(p) = progress {
                            p(n, total);
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
    let mut results: Vec<Option<Embedded>> = vec![None; total];
    for (i, r) in chunks.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(SkipReason::ModelError("worker thread failed".into()))))
        .collect()
}

fn decode_image(path: &Path) -> std::result::Result<image::RgbImage, SkipReason> {
    if !path.is_file() {
        return Err(SkipReason::MissingFile);
    }
    // Decoded under a neutral name: skip reasons reach logs and screens, file names (which may
    // name a patient) do not.
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > crate::photo::MAX_FILE_BYTES);
    if too_big {
        return Err(SkipReason::Unreadable("file too large".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| SkipReason::Unreadable(e.kind().to_string()))?;
    crate::photo::decode(&bytes, "the image").map_err(|e| SkipReason::Unreadable(e.to_string()))
}

/// Decodes and embeds one image file; the error says why it is unusable.
pub fn embed_image<E: PhotoEmbedder + ?Sized>(
    embedder: &E,
    path: &Path,
) -> std::result::Result<Vec<f32>, SkipReason> {
    let img = decode_image(path)?;
    let e = embedder.embed_photo(&img).map_err(skip_reason)?;
    check_vector(&e.vector, embedder.embedding_size())?;
    Ok(e.vector)
}

/// [`embed_image`] by the real pipeline, with how the photo was embedded (landmarks,
/// alignment, the passes' norms: `analyze --json`).
pub fn embed_image_traced(
    pipeline: &crate::pipeline::FacePipeline,
    path: &Path,
) -> std::result::Result<(Vec<f32>, crate::pipeline::PhotoTrace), SkipReason> {
    let img = decode_image(path)?;
    let (e, trace) = pipeline.embed_photo_traced(&img).map_err(skip_reason)?;
    check_vector(&e.vector, pipeline.embedding_size())?;
    Ok((e.vector, trace))
}

/// Why a photo the pipeline refused is skipped.
fn skip_reason(e: UnusablePhotoError) -> SkipReason {
    match e {
        UnusablePhotoError::NoFace => SkipReason::NoFace,
        UnusablePhotoError::SeveralFaces { count } => SkipReason::SeveralFaces(count),
        UnusablePhotoError::FaceTooSmall { .. } => SkipReason::FaceTooSmall,
        UnusablePhotoError::Detect(m) | UnusablePhotoError::Embed(m) => SkipReason::ModelError(m),
    }
}

/// Refuses an embedding of the wrong length or with a NaN/∞ value.
fn check_vector(v: &[f32], size: usize) -> std::result::Result<(), SkipReason> {
    if v.len() != size {
        return Err(SkipReason::BadEmbedding(format!(
            "{} values, expected {size}",
            v.len()
        )));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(SkipReason::BadEmbedding("NaN or infinite value".into()));
    }
    Ok(())
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks every case's label index and embeds its image (relative to `image_root` unless
/// absolute); the embeddings in case order, with the skips recorded in a summary.
fn embed_cases<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    labels: &LabelSet,
    image_root: &Path,
    threads: usize,
    progress: Option<Progress<'_>>,
) -> Result<(Vec<Embedded>, Vec<PathBuf>, BuildSummary)> {
    if let Some(c) = labels.cases.iter().find(|c| c.label >= labels.labels.len()) {
        return Err(GalleryError::Input(format!(
            "case {} has label index {} but there are {} labels",
            c.case_id,
            c.label,
            labels.labels.len()
        )));
    }
    let paths: Vec<PathBuf> = labels
        .cases
        .iter()
        .map(|c| image_root.join(&c.image))
        .collect();
    let embedded = embed_many(embedder, &paths, threads, progress);
    let mut summary = BuildSummary {
        listed: labels.cases.len(),
        ..Default::default()
    };
    for ((c, path), e) in labels.cases.iter().zip(&paths).zip(&embedded) {
        if let Err(reason) = e {
            log::warn!("skipping {} ({}): {reason}", c.case_id, path.display());
            summary.skip(c.case_id.clone(), path.clone(), reason.clone());
        }
    }
    Ok((embedded, paths, summary))
}

fn nothing_usable(summary: &BuildSummary) -> GalleryError {
    let counts = summary
        .skipped_by_reason
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    GalleryError::NothingUsable {
        total: summary.listed,
        summary: if counts.is_empty() {
            "no images listed".into()
        } else {
            counts
        },
    }
}

/// Embeds every listed image (paths relative to `image_root` unless absolute) and returns the
/// gallery and what was skipped.
pub fn build_gallery<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    labels: &LabelSet,
    image_root: &Path,
    opts: &BuildOptions,
    progress: Option<Progress<'_>>,
) -> Result<(Gallery, BuildSummary)> {
    let start = std::time::Instant::now();
    let (embedded, _, mut summary) =
        embed_cases(embedder, labels, image_root, opts.threads, progress)?;
    summary.seconds = start.elapsed().as_secs_f64();
    let made = MadeBy {
        embedder_id: embedder.embedder_id(),
        metric: embedder.metric(),
        dim: embedder.embedding_size(),
        recipe: embedder.recipe(),
    };
    assemble_gallery(labels, embedded, summary, &made, opts)
}

/// What made a gallery's vectors: recorded in its header (and recipe block).
pub(super) struct MadeBy {
    pub embedder_id: String,
    pub metric: Metric,
    /// Length of each stored vector.
    pub dim: usize,
    pub recipe: Option<EmbeddingRecipe>,
}

/// The gallery of the cases whose vector is usable (one [`Embedded`] per listed case, in
/// order): labels without a usable case are dropped and reported in `summary`, each case keeps
/// its genes. Fails when no case is usable.
pub(super) fn assemble_gallery(
    labels: &LabelSet,
    embedded: Vec<Embedded>,
    mut summary: BuildSummary,
    made: &MadeBy,
    opts: &BuildOptions,
) -> Result<(Gallery, BuildSummary)> {
    let mut used_cases: Vec<&CaseEntry> = Vec::new();
    let mut flat: Vec<f32> = Vec::new();
    for (c, e) in labels.cases.iter().zip(embedded) {
        if let Ok(v) = e {
            flat.extend_from_slice(&v);
            used_cases.push(c);
        }
    }
    if used_cases.is_empty() {
        return Err(nothing_usable(&summary));
    }
    let (new_index, out_labels) = kept_labels(labels, &used_cases, &mut summary);
    let cases = used_cases
        .iter()
        .map(|c| Case {
            case_id: c.case_id.clone(),
            subject: c.subject.clone(),
            label: new_index[c.label],
        })
        .collect();
    summary.used = used_cases.len();
    summary.labels = out_labels.len();
    let meta = GalleryMeta {
        embedder_id: made.embedder_id.clone(),
        metric: made.metric,
        name: opts.name.clone(),
        created_unix: opts.created_unix.unwrap_or_else(now_unix),
        threshold: None,
        storage: opts.storage,
    };
    let mut g = Gallery::from_parts(meta, out_labels, cases, made.dim, flat)?;
    if let Some(recipe) = &made.recipe {
        g.set_recipe(recipe.clone())?;
    }
    // Genes per case (GM-Arc's metadata, `attach_metadata`); none stores nothing.
    g.set_case_genes(used_cases.iter().map(|c| c.genes.clone()).collect())?;
    Ok((g, summary))
}

/// The labels that have a used case, in their original order, and each original label's new
/// index; the others are listed in `summary.labels_without_cases`.
fn kept_labels(
    labels: &LabelSet,
    used_cases: &[&CaseEntry],
    summary: &mut BuildSummary,
) -> (Vec<u32>, Vec<Label>) {
    let mut new_index = vec![u32::MAX; labels.labels.len()];
    let mut out_labels = Vec::new();
    for c in used_cases {
        new_index[c.label] = 0;
    }
    for (i, l) in labels.labels.iter().enumerate() {
        if new_index[i] == u32::MAX {
            summary.labels_without_cases.push(l.name.clone());
        } else {
            new_index[i] = out_labels.len() as u32;
            out_labels.push(l.clone());
        }
    }
    (new_index, out_labels)
}

/// Embeds every listed image of a label set as evaluation/calibration probes (label name,
/// subject, embedding) in case order, skipping unusable images with reasons exactly like
/// [`build_gallery`]. Fails only when no image is usable.
pub fn embed_probes<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    labels: &LabelSet,
    image_root: &Path,
    threads: usize,
    progress: Option<Progress<'_>>,
) -> Result<(Vec<Probe>, BuildSummary)> {
    let start = std::time::Instant::now();
    let (embedded, _, mut summary) = embed_cases(embedder, labels, image_root, threads, progress)?;
    let probes: Vec<Probe> = labels
        .cases
        .iter()
        .zip(embedded)
        .filter_map(|(c, e)| {
            e.ok().map(|embedding| Probe {
                label: labels.label_name(c).to_string(),
                subject: c.subject.clone(),
                embedding,
            })
        })
        .collect();
    summary.labels = labels.labels.len();
    summary.used = probes.len();
    summary.seconds = start.elapsed().as_secs_f64();
    if probes.is_empty() {
        return Err(nothing_usable(&summary));
    }
    Ok((probes, summary))
}
