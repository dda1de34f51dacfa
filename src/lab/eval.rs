//! Evaluation (top-k accuracy, open-set numbers) and `gallery info`.
//!
//! A probe's rank is the 1-based position of its true syndrome in the full ranking (ties between
//! syndromes at equal distance: lower label index first, as in ranking). Top-k accuracy is
//! reported over all known probes and as the mean over syndromes of each syndrome's top-k
//! accuracy (GestaltMatcher's headline number). Probes whose syndrome is not in the gallery only
//! count in the open-set numbers. Per-subject results group probes by (subject, label) and fuse
//! their photos with each requested [`FusionMode`].
//!
//! Open set per session size ([`SessionOpenSet`]): sessions of 1 ..= `session_photos` photos are
//! drawn and fused exactly as calibration draws them ([`calibrate`](mod@super::calibrate)), each
//! judged with the gallery's threshold for that session size. Rates count every patient once (a
//! subject's sessions share one vote); the per-session rates are reported beside them. The 95%
//! intervals of the per-patient rates are Wilson intervals: `unknown_accepted_ci` over the unknown
//! subjects, `known_rejected_ci` over the known ones.

use super::shared::{min_distance, percent, sessions, subjects, Probe};
pub use super::threshold::wilson95;
use crate::gallery::calibration::Calibration;
use crate::gallery::fusion::FusionMode;
use crate::gallery::rank::LabelBest;
use crate::gallery::{Gallery, GalleryError, GalleryHeader, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// The k of top-k (default 1, 5, 10, 30).
    pub ks: Vec<usize>,
    /// Fusion modes to evaluate per subject (default: all three).
    pub fusions: Vec<FusionMode>,
    /// Threshold for the open-set numbers; `None` = the gallery's own.
    pub threshold: Option<f32>,
    /// Largest session size of the per-session open-set report (0 = no report).
    pub session_photos: usize,
    /// Fusion and seed of the sessions (as the device fuses; as calibration draws).
    pub session_fusion: FusionMode,
    pub session_seed: u64,
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
            session_photos: 0,
            session_fusion: FusionMode::default(),
            // Not calibration's seed: the draw differs even on the same photos.
            session_seed: 2,
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

/// Open-set behaviour of sessions of one size, at the gallery's threshold for that size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionOpenSet {
    /// Photos fused per session.
    pub photos: usize,
    pub threshold: Option<f32>,
    /// The session size whose calibration gave `threshold`.
    pub threshold_photos: Option<usize>,
    /// Unknown subjects (syndrome not in the gallery) with at least `photos` photos.
    pub unknown: usize,
    pub unknown_sessions: usize,
    /// Per patient: share of unknown subjects' sessions called a close match (false matches).
    pub unknown_accepted: Option<f64>,
    /// Wilson 95% interval of `unknown_accepted` over the unknown subjects.
    pub unknown_accepted_ci: Option<[f64; 2]>,
    /// The same interval under its earlier name (kept for readers of earlier reports).
    pub unknown_accepted_ci95: Option<[f64; 2]>,
    /// The same counted per session.
    pub unknown_accepted_sessions: Option<f64>,
    pub known: usize,
    pub known_sessions: usize,
    /// Per patient: share of known subjects' sessions wrongly called "no close match".
    pub known_rejected: Option<f64>,
    /// Wilson 95% interval of `known_rejected` over the known subjects.
    pub known_rejected_ci: Option<[f64; 2]>,
    pub known_rejected_sessions: Option<f64>,
    /// Per patient: share of known sessions with the true syndrome ranked first.
    pub known_top1: Option<f64>,
}

/// The per-session-size open-set report (see the module docs).
pub fn evaluate_sessions(
    gallery: &Gallery,
    probes: &[Probe],
    max_photos: usize,
    fusion: FusionMode,
    seed: u64,
) -> Result<Vec<SessionOpenSet>> {
    let groups = subjects(probes);
    let mut out = Vec::new();
    for n in 1..=max_photos {
        let results = sessions(gallery, &groups, n, fusion, seed)?;
        if results.is_empty() {
            continue;
        }
        let (threshold, threshold_photos, _) = gallery.session_threshold(n, Some(fusion));
        // Per subject: (weight sum of flagged sessions, sessions); known also top-1 hits.
        let mut unknown: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
        let mut known: BTreeMap<usize, (f64, f64, usize)> = BTreeMap::new();
        let (mut u_acc, mut k_rej) = (0usize, 0usize);
        for r in &results {
            let close = threshold.map_or(true, |t| min_distance(&r.best) <= t);
            match r.label {
                None => {
                    let e = unknown.entry(r.subject).or_default();
                    e.0 += r.weight * f64::from(u8::from(close));
                    e.1 += 1;
                    u_acc += usize::from(close);
                }
                Some(l) => {
                    let e = known.entry(r.subject).or_default();
                    e.0 += r.weight * f64::from(u8::from(!close));
                    e.1 += r.weight * f64::from(u8::from(rank_of(&r.best, l) == 1));
                    e.2 += 1;
                    k_rej += usize::from(!close);
                }
            }
        }
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        let u_rate = mean(unknown.values().map(|e| e.0).sum(), unknown.len());
        let k_rate = mean(known.values().map(|e| e.0).sum(), known.len());
        let u_sessions: usize = unknown.values().map(|e| e.1).sum();
        let k_sessions: usize = known.values().map(|e| e.2).sum();
        out.push(SessionOpenSet {
            photos: n,
            threshold,
            threshold_photos,
            unknown: unknown.len(),
            unknown_sessions: u_sessions,
            unknown_accepted: u_rate,
            unknown_accepted_ci: u_rate.map(|p| wilson95(p, unknown.len())),
            unknown_accepted_ci95: u_rate.map(|p| wilson95(p, unknown.len())),
            unknown_accepted_sessions: mean(u_acc as f64, u_sessions),
            known: known.len(),
            known_sessions: k_sessions,
            known_rejected: k_rate,
            known_rejected_ci: k_rate.map(|p| wilson95(p, known.len())),
            known_rejected_sessions: mean(k_rej as f64, k_sessions),
            known_top1: mean(known.values().map(|e| e.1).sum(), known.len()),
        });
    }
    Ok(out)
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
    /// Open set per session size (empty unless asked for).
    pub sessions: Vec<SessionOpenSet>,
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
        let pct = |r: Option<f64>| percent(r, 1);
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
        if !self.sessions.is_empty() {
            writeln!(
                f,
                "open set per session size (rates per patient; per session in brackets):"
            )?;
        }
        let pct = |r: Option<f64>| percent(r, 1);
        for s in &self.sessions {
            writeln!(
                f,
                "  {} photo(s), threshold {} ({}-photo calibration): unknown accepted {} (95% CI {}) [{}] of {} people ({} sessions); known rejected {} (95% CI {}) [{}] of {} people ({} sessions); known top-1 {}",
                s.photos,
                s.threshold.map_or("none".into(), |t| format!("{t:.4}")),
                s.threshold_photos.map_or("no".into(), |n| n.to_string()),
                pct(s.unknown_accepted),
                ci(s.unknown_accepted_ci),
                pct(s.unknown_accepted_sessions),
                s.unknown,
                s.unknown_sessions,
                pct(s.known_rejected),
                ci(s.known_rejected_ci),
                pct(s.known_rejected_sessions),
                s.known,
                s.known_sessions,
                pct(s.known_top1),
            )?;
        }
        Ok(())
    }
}

/// A 95% interval as `lo-hi%`, or `n/a`.
fn ci(interval: Option<[f64; 2]>) -> String {
    interval.map_or("n/a".into(), |[a, b]| {
        format!("{:.1}-{:.1}%", 100.0 * a, 100.0 * b)
    })
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
    let index = gallery.label_indices();
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
        sessions: evaluate_sessions(
            gallery,
            probes,
            opts.session_photos,
            opts.session_fusion,
            opts.session_seed,
        )?,
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
    /// The target the gallery was calibrated for, in one line (`None` when uncalibrated).
    pub operating_point: Option<String>,
    /// Thresholds and bands per session size, with the precision measured behind each band,
    /// the estimate behind each threshold and the trade-off at a few targets.
    pub calibration: Option<Calibration>,
    pub labels: Vec<LabelCount>,
}

impl fmt::Display for GalleryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.header;
        writeln!(f, "gallery        {}", h.name)?;
        writeln!(f, "format         v{}", h.format_version)?;
        writeln!(f, "embedder       {}", h.embedder_id)?;
        writeln!(f, "embedding      {}", h.embedding)?;
        writeln!(f, "metric         {:?}", h.metric)?;
        writeln!(
            f,
            "storage        {:?} ({} bytes of embeddings)",
            h.storage, self.embedding_bytes
        )?;
        writeln!(f, "embedding size {}", h.embedding_size)?;
        writeln!(f, "created        {} (unix seconds)", h.created_unix)?;
        match (&self.calibration, h.threshold) {
            (Some(c), _) => {
                writeln!(f, "operating point {}", c.operating_point())?;
                write!(f, "{c}")?
            }
            (None, Some(t)) => writeln!(
                f,
                "threshold      {t:.5} (set by hand: one threshold for every session size, bands uncalibrated)"
            )?,
            (None, None) => writeln!(f, "threshold      not calibrated (bands say \"uncalibrated\")")?,
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
        operating_point: gallery.calibration().map(|c| c.operating_point()),
        calibration: gallery.calibration().cloned(),
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
