//! Evaluation (top-k accuracy, open-set numbers) and `gallery info`.
//!
//! A probe's rank is the 1-based position of its true syndrome in the full ranking (ties between
//! syndromes at equal distance: lower label index first, as in ranking). Top-k accuracy is
//! reported over all known probes and as the mean over syndromes of each syndrome's top-k
//! accuracy (GestaltMatcher's headline number). Probes whose syndrome is not in the gallery only
//! count in the open-set numbers. Per-subject results group probes by (subject, label) and fuse
//! their photos with each requested [`FusionMode`].

use super::rank::{FusionMode, LabelBest};
use super::{Gallery, GalleryError, GalleryHeader, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// A labelled test embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Syndrome name (matched against the gallery's label names).
    pub label: String,
    /// Patient id: probes of one subject are fused in the per-subject results.
    pub subject: String,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// The k of top-k (default 1, 5, 10, 30).
    pub ks: Vec<usize>,
    /// Fusion modes to evaluate per subject (default: all three).
    pub fusions: Vec<FusionMode>,
    /// Threshold for the open-set numbers; `None` = the gallery's own.
    pub threshold: Option<f32>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            ks: vec![1, 5, 10, 30],
            fusions: vec![
                FusionMode::MeanEmbedding,
                FusionMode::MinDistance,
                FusionMode::MeanDistance,
            ],
            threshold: None,
        }
    }
}

/// Top-k accuracies for one way of ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopK {
    /// `None` for single photos, the fusion mode for per-subject results.
    pub fusion: Option<FusionMode>,
    /// Known queries (photos or subjects) counted.
    pub queries: usize,
    /// Distinct syndromes among them.
    pub labels: usize,
    pub ks: Vec<usize>,
    /// Share of queries with the true syndrome in the top k, per k.
    pub overall: Vec<f64>,
    /// Mean over syndromes of the per-syndrome share, per k.
    pub mean_over_labels: Vec<f64>,
    pub open_set: Option<OpenSet>,
}

/// Open-set behaviour at a threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenSet {
    pub threshold: f32,
    /// Queries whose syndrome is not in the gallery.
    pub unknown: usize,
    /// Share of them reported as "no close match" (higher is better).
    pub unknown_rejected: Option<f64>,
    pub known: usize,
    /// Share of in-gallery queries wrongly reported as "no close match" (lower is better).
    pub known_rejected: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub gallery: String,
    pub probes: usize,
    pub known_probes: usize,
    pub unknown_probes: usize,
    pub subjects: usize,
    pub per_photo: TopK,
    pub per_subject: Vec<TopK>,
}

fn fmt_topk(f: &mut fmt::Formatter<'_>, t: &TopK) -> fmt::Result {
    let name = t
        .fusion
        .map_or("per photo".to_string(), |m| format!("per subject ({m})"));
    write!(f, "{name:<32} n={:<6} labels={:<5}", t.queries, t.labels)?;
    for (i, k) in t.ks.iter().enumerate() {
        write!(
            f,
            " top{k}: {:.1}% / {:.1}%",
            100.0 * t.overall[i],
            100.0 * t.mean_over_labels[i]
        )?;
    }
    writeln!(f)?;
    if let Some(o) = &t.open_set {
        let pct = |r: Option<f64>| r.map_or("n/a".into(), |r| format!("{:.1}%", 100.0 * r));
        writeln!(
            f,
            "{:<32} threshold {:.4}: unknown rejected {} of {}, known wrongly rejected {} of {}",
            "",
            o.threshold,
            pct(o.unknown_rejected),
            o.unknown,
            pct(o.known_rejected),
            o.known
        )?;
    }
    Ok(())
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gallery {}: {} probes ({} known, {} unknown syndromes), {} subjects; accuracy overall / mean over syndromes",
            self.gallery, self.probes, self.known_probes, self.unknown_probes, self.subjects
        )?;
        fmt_topk(f, &self.per_photo)?;
        for t in &self.per_subject {
            fmt_topk(f, t)?;
        }
        Ok(())
    }
}

/// 1-based rank of `label` in a per-label distance list.
fn rank_of(best: &LabelBest, label: usize) -> usize {
    let (d, _) = best[label];
    1 + best
        .iter()
        .enumerate()
        .filter(|&(l, b)| b.1 != u32::MAX && (b.0 < d || (b.0 == d && l < label)))
        .count()
}

fn min_distance(best: &LabelBest) -> f32 {
    best.iter()
        .filter(|b| b.1 != u32::MAX)
        .map(|b| b.0)
        .fold(f32::INFINITY, f32::min)
}

/// Accumulates (true label or None, best per-label distances) into a TopK block.
fn score(
    results: &[(Option<usize>, LabelBest)],
    ks: &[usize],
    threshold: Option<f32>,
    fusion: Option<FusionMode>,
) -> TopK {
    let mut hits = vec![0usize; ks.len()];
    let mut per_label: BTreeMap<usize, (usize, Vec<usize>)> = BTreeMap::new();
    let (mut known, mut unknown, mut known_rej, mut unknown_rej) = (0, 0, 0, 0);
    for (label, best) in results {
        let rejected = threshold.is_some_and(|t| min_distance(best) > t);
        match label {
            Some(l) => {
                known += 1;
                known_rej += rejected as usize;
                let r = rank_of(best, *l);
                let e = per_label
                    .entry(*l)
                    .or_insert_with(|| (0, vec![0; ks.len()]));
                e.0 += 1;
                for (i, &k) in ks.iter().enumerate() {
                    if r <= k {
                        hits[i] += 1;
                        e.1[i] += 1;
                    }
                }
            }
            None => {
                unknown += 1;
                unknown_rej += rejected as usize;
            }
        }
    }
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mean_over_labels = (0..ks.len())
        .map(|i| {
            if per_label.is_empty() {
                0.0
            } else {
                per_label
                    .values()
                    .map(|(n, h)| share(h[i], *n))
                    .sum::<f64>()
                    / per_label.len() as f64
            }
        })
        .collect();
    TopK {
        fusion,
        queries: known,
        labels: per_label.len(),
        ks: ks.to_vec(),
        overall: hits.iter().map(|&h| share(h, known)).collect(),
        mean_over_labels,
        open_set: threshold.map(|t| OpenSet {
            threshold: t,
            unknown,
            unknown_rejected: (unknown > 0).then(|| share(unknown_rej, unknown)),
            known,
            known_rejected: (known > 0).then(|| share(known_rej, known)),
        }),
    }
}

/// Evaluates `probes` against `gallery` (see the module docs).
pub fn evaluate(gallery: &Gallery, probes: &[Probe], opts: &EvalOptions) -> Result<EvalReport> {
    if probes.is_empty() {
        return Err(GalleryError::Input("no probes to evaluate".into()));
    }
    if opts.ks.is_empty() || opts.ks.contains(&0) {
        return Err(GalleryError::Input(
            "top-k values must be at least 1".into(),
        ));
    }
    let index: HashMap<&str, usize> = gallery
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    let threshold = opts.threshold.or(gallery.threshold());
    let mut per_photo = Vec::with_capacity(probes.len());
    let mut groups: BTreeMap<(&str, &str), Vec<Vec<f32>>> = BTreeMap::new();
    for p in probes {
        let label = index.get(p.label.as_str()).copied();
        let best = gallery
            .fused_label_best(std::slice::from_ref(&p.embedding), FusionMode::MinDistance)?;
        per_photo.push((label, best));
        groups
            .entry((p.subject.as_str(), p.label.as_str()))
            .or_default()
            .push(p.embedding.clone());
    }
    let per_subject = opts
        .fusions
        .iter()
        .map(|&mode| {
            let results = groups
                .iter()
                .map(|((_, label), embs)| {
                    Ok((
                        index.get(label).copied(),
                        gallery.fused_label_best(embs, mode)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(score(&results, &opts.ks, threshold, Some(mode)))
        })
        .collect::<Result<Vec<_>>>()?;
    let known = per_photo.iter().filter(|r| r.0.is_some()).count();
    Ok(EvalReport {
        gallery: gallery.name().to_string(),
        probes: probes.len(),
        known_probes: known,
        unknown_probes: probes.len() - known,
        subjects: groups.len(),
        per_photo: score(&per_photo, &opts.ks, threshold, None),
        per_subject,
    })
}

/// One syndrome's line in `gallery info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelCount {
    pub name: String,
    pub omim: Option<String>,
    pub genes: Vec<String>,
    pub cases: usize,
    pub subjects: usize,
}

/// What `gallery info` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GalleryInfo {
    pub header: GalleryHeader,
    pub embedding_bytes: usize,
    pub subjects: usize,
    pub labels: Vec<LabelCount>,
}

impl fmt::Display for GalleryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        writeln!(f, "gallery        {}", h.name)?;
        writeln!(f, "format         v{}", h.format_version)?;
        writeln!(f, "embedder       {}", h.embedder_id)?;
        writeln!(f, "metric         {:?}", h.metric)?;
        writeln!(
            f,
            "storage        {:?} ({} bytes of embeddings)",
            h.storage, self.embedding_bytes
        )?;
        writeln!(f, "embedding size {}", h.embedding_size)?;
        writeln!(f, "created        {} (unix seconds)", h.created_unix)?;
        match h.threshold {
            Some(t) => writeln!(f, "threshold      {t:.5}")?,
            None => writeln!(f, "threshold      not calibrated")?,
        }
        writeln!(f, "content sha256 {}", h.content_hash)?;
        writeln!(
            f,
            "{} syndromes, {} cases, {} subjects",
            h.label_count, h.case_count, self.subjects
        )?;
        for l in &self.labels {
            writeln!(
                f,
                "  {:>5} cases {:>5} subjects  {} (OMIM {})",
                l.cases,
                l.subjects,
                l.name,
                l.omim.as_deref().unwrap_or("-")
            )?;
        }
        Ok(())
    }
}

/// The header and cases per syndrome.
pub fn info(gallery: &Gallery) -> GalleryInfo {
    let mut cases = vec![0usize; gallery.labels.len()];
    let mut subjects: Vec<std::collections::HashSet<&str>> =
        vec![Default::default(); gallery.labels.len()];
    let mut all = std::collections::HashSet::new();
    for c in &gallery.cases {
        cases[c.label as usize] += 1;
        subjects[c.label as usize].insert(c.subject.as_str());
        all.insert(c.subject.as_str());
    }
    GalleryInfo {
        header: gallery.header(),
        embedding_bytes: gallery.embedding_bytes(),
        subjects: all.len(),
        labels: gallery
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| LabelCount {
                name: l.name.clone(),
                omim: l.omim.clone(),
                genes: l.genes.clone(),
                cases: cases[i],
                subjects: subjects[i].len(),
            })
            .collect(),
    }
}
