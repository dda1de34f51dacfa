//! Exact nearest-case ranking.
//!
//! A syndrome's distance is the distance to its nearest gallery case (GestaltMatcher); syndromes
//! are ranked by it, ascending. Ties: between cases of one syndrome the first case in gallery
//! order is the nearest; between syndromes at equal distance the lower label index ranks first.
//!
//! * Cosine: distance = 1 − q·g on L2-normalised vectors (the query is normalised here).
//! * Euclidean: ‖q − g‖.
//!
//! The inner loops use 16 independent accumulators so LLVM vectorises them (no intrinsics, no
//! extra crates); memory is the embeddings plus one (distance, case) slot per label.
//!
//! The "no close match" threshold and the bands come from the gallery's calibration for the
//! number of photos actually fused ([`super::calibration`]): [`Ranking::threshold_photos`] says
//! which session size's measurement was used. A gallery with only a hand-set threshold uses it
//! as the 1-photo threshold with [`Band::Uncalibrated`] bands; a gallery with neither gives
//! uncalibrated bands and always reports `close_match = true` (it cannot say "no close match").
//!
//! Mean-embedding fusion re-normalises the mean to the photos' mean length for every metric
//! (the mean of unit vectors is shorter, which would shrink every euclidean distance).

use super::calibration::SessionCalibration;
use super::candidate::{Band, Candidate};
use super::format::Vectors;
use super::fusion::FusionMode;
use super::{Gallery, GalleryError, Result};
use crate::manifest::Metric;
use serde::Serialize;
use std::fmt;

const LANES: usize = 16;

#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Integer dot product of an i16-quantised query with an int8 row. Exact for any embedding size
/// ≤ 4096: each i32 lane sums at most 256 products of magnitude ≤ 32767·127 (< 2³¹), and the
/// lanes are added in i64.
#[inline]
fn dot_i16_i8(a: &[i16], b: &[i8]) -> i64 {
    let mut acc = [0i32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] = acc[i].wrapping_add(x[i] as i32 * y[i] as i32);
        }
    }
    let mut s: i64 = acc.iter().map(|&x| x as i64).sum();
    for (&x, &y) in ra.iter().zip(rb) {
        s += x as i64 * y as i64;
    }
    s
}

/// The query quantised to i16 with one scale (error ≈ 1/65,534 of its largest value, far below
/// the gallery's int8 error).
fn quantise_query(q: &[f32]) -> (Vec<i16>, f32) {
    let max = q.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; q.len()], 0.0);
    }
    let s = max / 32767.0;
    (
        q.iter()
            .map(|x| (x / s).round().clamp(-32767.0, 32767.0) as i16)
            .collect(),
        s,
    )
}

#[inline]
fn sq_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Per-label nearest case: `(distance, case index)`, `(∞, u32::MAX)` for a label with no case.
pub(crate) type LabelBest = Vec<(f32, u32)>;

fn band_name<S: serde::Serializer>(b: &Band, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(b.label())
}

/// One ranked syndrome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelMatch {
    /// 1-based.
    pub rank: usize,
    /// Index into the gallery's labels.
    pub label: usize,
    pub name: String,
    pub omim: Option<String>,
    pub genes: Vec<String>,
    /// Distance to the nearest case (after fusion).
    pub distance: f32,
    pub nearest_case: String,
    #[serde(serialize_with = "band_name")]
    pub band: Band,
}

/// A ranking: the top syndromes and whether the best is a close match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranking {
    pub matches: Vec<LabelMatch>,
    /// False when the best distance is above the calibrated threshold ("no close match").
    pub close_match: bool,
    pub threshold: Option<f32>,
    /// The session size whose calibration gave `threshold` and the bands (`None`: none).
    pub threshold_photos: Option<usize>,
    pub metric: Metric,
    pub photos: usize,
    pub fusion: Option<FusionMode>,
}

impl Ranking {
    /// The results screen's candidates. Similarity: cosine similarity (1 − d) for cosine
    /// galleries, 1 / (1 + d) for euclidean.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.matches
            .iter()
            .map(|m| Candidate {
                rank: m.rank,
                name: m.name.clone(),
                omim: m.omim.clone(),
                genes: m.genes.clone(),
                band: m.band,
                similarity: similarity(self.metric, m.distance),
                nearest_case: m.nearest_case.clone(),
                evidence: None,
            })
            .collect()
    }
}

/// Similarity shown in logs/JSON: higher is closer.
pub fn similarity(metric: Metric, distance: f32) -> f32 {
    match metric {
        Metric::Cosine => 1.0 - distance,
        Metric::Euclidean => 1.0 / (1.0 + distance.max(0.0)),
    }
}

impl fmt::Display for Ranking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.close_match {
            writeln!(f, "NO CLOSE MATCH (best distance above threshold {:?}); nearest syndromes for reference:", self.threshold)?;
        }
        for m in &self.matches {
            writeln!(
                f,
                "{:>3}. {:<50} OMIM {:<8} d={:.4} {:<8} nearest case {}",
                m.rank,
                m.name,
                m.omim.as_deref().unwrap_or("-"),
                m.distance,
                m.band.label(),
                m.nearest_case
            )?;
        }
        Ok(())
    }
}

impl Gallery {
    /// The threshold, its session size and the band measurement for `photos` photos fused by
    /// `fusion` (see the module docs).
    pub fn session_threshold(
        &self,
        photos: usize,
        fusion: Option<FusionMode>,
    ) -> (Option<f32>, Option<usize>, Option<&SessionCalibration>) {
        let fusion = fusion.unwrap_or_default();
        if let Some(s) = self
            .calibration
            .as_ref()
            .and_then(|c| c.for_photos(photos, fusion))
        {
            return (Some(s.threshold), Some(s.photos), Some(s));
        }
        match self.meta.threshold {
            Some(t) => (Some(t), Some(1), None),
            None => (None, None, None),
        }
    }

    pub(crate) fn prepare_query(&self, q: &[f32]) -> Result<Vec<f32>> {
        if q.len() != self.dim {
            return Err(GalleryError::DimensionMismatch {
                expected: self.dim,
                found: q.len(),
            });
        }
        if q.iter().any(|x| !x.is_finite()) {
            return Err(GalleryError::Input(
                "query embedding has NaN or infinite values".into(),
            ));
        }
        let mut q = q.to_vec();
        if self.meta.metric == Metric::Cosine {
            let n = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n == 0.0 {
                return Err(GalleryError::Input("query embedding is all zeros".into()));
            }
            q.iter_mut().for_each(|x| *x /= n);
        }
        Ok(q)
    }

    /// Per-label nearest distance for one prepared query (the hot loop).
    pub(crate) fn label_best(&self, q: &[f32]) -> LabelBest {
        let mut best: LabelBest = vec![(f32::INFINITY, u32::MAX); self.labels.len()];
        let labels = &self.case_label;
        // A label with cases always gets one: a score that overflowed (∞) or is undefined
        // (NaN, e.g. ∞ − ∞ from huge values) ranks it last instead of dropping it.
        self.scan_cases(q, |i, s| {
            let l = labels[i] as usize;
            let s = if s.is_nan() { f32::INFINITY } else { s };
            if s < best[l].0 || best[l].1 == u32::MAX {
                best[l] = (s, i as u32);
            }
        });
        for b in best.iter_mut().filter(|b| b.1 != u32::MAX) {
            b.0 = self.raw_to_distance(b.0);
        }
        best
    }

    /// Every case's distance to one prepared query, in gallery order (NaN becomes ∞).
    pub(crate) fn case_distances(&self, q: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.cases.len());
        self.scan_cases(q, |_, s| {
            out.push(if s.is_nan() { f32::INFINITY } else { s });
        });
        out.iter_mut().for_each(|d| *d = self.raw_to_distance(*d));
        out
    }

    /// A raw score of [`Gallery::scan_cases`] as the metric's distance.
    fn raw_to_distance(&self, raw: f32) -> f32 {
        match self.meta.metric {
            Metric::Cosine => 1.0 + raw,
            Metric::Euclidean => raw.max(0.0).sqrt(),
        }
    }

    /// Calls `visit(case index, raw score)` for every case in gallery order. Raw scores:
    /// cosine → −dot (smaller is closer), euclidean → squared distance.
    fn scan_cases(&self, q: &[f32], mut visit: impl FnMut(usize, f32)) {
        let dim = self.dim;
        match (&self.vectors, self.meta.metric) {
            (Vectors::F32(v), Metric::Cosine) => {
                for (i, row) in v.chunks_exact(dim).enumerate() {
                    visit(i, -dot_f32(q, row));
                }
            }
            (Vectors::F32(v), Metric::Euclidean) => {
                for (i, row) in v.chunks_exact(dim).enumerate() {
                    visit(i, sq_f32(q, row));
                }
            }
            (Vectors::Int8 { data, scales, .. }, Metric::Cosine) => {
                let (qi, qs) = quantise_query(q);
                for (i, (row, s)) in data.chunks_exact(dim).zip(scales).enumerate() {
                    visit(i, -(dot_i16_i8(&qi, row) as f32) * qs * s);
                }
            }
            (
                Vectors::Int8 {
                    data,
                    scales,
                    norms2,
                },
                Metric::Euclidean,
            ) => {
                // ‖q − s·r‖² = ‖q‖² − 2·s·(q·r) + ‖s·r‖²
                let (qi, qs) = quantise_query(q);
                let qn: f32 = q.iter().map(|x| x * x).sum();
                for (i, ((row, s), n2)) in
                    data.chunks_exact(dim).zip(scales).zip(norms2).enumerate()
                {
                    let d = qn - 2.0 * qs * s * dot_i16_i8(&qi, row) as f32 + n2;
                    visit(i, d.max(0.0));
                }
            }
        }
    }

    fn finish(
        &self,
        best: &LabelBest,
        k: usize,
        photos: usize,
        fusion: Option<FusionMode>,
    ) -> Ranking {
        let mut order: Vec<usize> = (0..best.len()).filter(|&l| best[l].1 != u32::MAX).collect();
        order.sort_by(|&a, &b| best[a].0.total_cmp(&best[b].0).then(a.cmp(&b)));
        order.truncate(k);
        let (t, threshold_photos, session) = self.session_threshold(photos, fusion);
        let band = |d: f32| session.map_or(Band::Uncalibrated, |s| s.band(d));
        let matches = order
            .iter()
            .enumerate()
            .map(|(r, &l)| LabelMatch {
                rank: r + 1,
                label: l,
                name: self.labels[l].name.clone(),
                omim: self.labels[l].omim.clone(),
                genes: self.labels[l].genes.clone(),
                distance: best[l].0,
                nearest_case: self.cases[best[l].1 as usize].case_id.clone(),
                band: band(best[l].0),
            })
            .collect::<Vec<_>>();
        let best_d = order.first().map(|&l| best[l].0).unwrap_or(f32::INFINITY);
        Ranking {
            close_match: t.map_or(true, |t| best_d <= t),
            matches,
            threshold: t,
            threshold_photos,
            metric: self.meta.metric,
            photos,
            fusion,
        }
    }

    /// Top `k` syndromes for one embedding.
    pub fn rank(&self, query: &[f32], k: usize) -> Result<Ranking> {
        let q = self.prepare_query(query)?;
        Ok(self.finish(&self.label_best(&q), k, 1, None))
    }

    /// Per-label distances (index = label; ∞ for a label without cases) for several photos of one
    /// patient, fused by `mode`.
    pub fn fused_label_best(
        &self,
        queries: &[Vec<f32>],
        mode: FusionMode,
    ) -> Result<Vec<(f32, u32)>> {
        self.fused_best(queries, mode, |q| self.label_best(q))
    }

    /// Per-group nearest `(distance, case)` for several photos fused by `mode`, where `best`
    /// gives one prepared query's per-group nearest case (groups: labels, or genes).
    pub(crate) fn fused_best(
        &self,
        queries: &[Vec<f32>],
        mode: FusionMode,
        best: impl Fn(&[f32]) -> LabelBest,
    ) -> Result<LabelBest> {
        if queries.is_empty() {
            return Err(GalleryError::Input("no photos to rank".into()));
        }
        let prepared = queries
            .iter()
            .map(|q| self.prepare_query(q))
            .collect::<Result<Vec<_>>>()?;
        Ok(match mode {
            FusionMode::MeanEmbedding => best(&self.mean_query(&prepared)?),
            FusionMode::MinDistance | FusionMode::MeanDistance => {
                let per: Vec<LabelBest> = prepared.iter().map(|q| best(q)).collect();
                fuse_distances(&per, mode == FusionMode::MeanDistance)
            }
        })
    }

    /// The mean of prepared queries, back to the photos' mean length (1 for unit embeddings,
    /// for every metric), prepared again.
    fn mean_query(&self, prepared: &[Vec<f32>]) -> Result<Vec<f32>> {
        let mut mean = vec![0f32; self.dim];
        for q in prepared {
            mean.iter_mut().zip(q).for_each(|(m, x)| *m += x);
        }
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let length = prepared.iter().map(|q| norm(q)).sum::<f32>() / prepared.len() as f32;
        let n = norm(&mean);
        if n > 0.0 && n.is_finite() {
            mean.iter_mut().for_each(|m| *m *= length / n);
        }
        self.prepare_query(&mean)
    }

    /// Top `k` syndromes for several photos of one patient.
    pub fn rank_photos(&self, queries: &[Vec<f32>], k: usize, mode: FusionMode) -> Result<Ranking> {
        let best = self.fused_label_best(queries, mode)?;
        Ok(self.finish(&best, k, queries.len(), Some(mode)))
    }
}

/// Per-photo per-group nearest cases combined: each group's nearest case is the one from the
/// photo closest to it; its distance is that minimum, or with `mean` the mean over the photos.
fn fuse_distances(per: &[LabelBest], mean: bool) -> LabelBest {
    let mut fused = per[0].clone();
    for p in &per[1..] {
        for (f, b) in fused.iter_mut().zip(p) {
            if b.0 < f.0 {
                *f = *b;
            }
        }
    }
    if mean {
        let n = per.len() as f32;
        for (g, f) in fused.iter_mut().enumerate() {
            if f.1 != u32::MAX {
                f.0 = per.iter().map(|p| p[g].0).sum::<f32>() / n;
            }
        }
    }
    fused
}

/// How far two galleries (e.g. f32 and its int8 copy) agree on the same queries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankAgreement {
    pub queries: usize,
    pub k: usize,
    /// Queries whose top-k syndrome lists are identical, in order.
    pub identical_top_k: usize,
    /// Queries whose top-1 syndrome is the same.
    pub same_top1: usize,
    /// Mean |top-k ∩ top-k'| / k.
    pub mean_overlap: f64,
    /// Largest difference in the top-1 distance.
    pub max_top1_distance_diff: f32,
}

impl fmt::Display for RankAgreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} queries, top-{}: identical lists {}/{} ({:.2}%), same top-1 {}/{}, mean overlap {:.4}, max top-1 distance diff {:.2e}",
            self.queries,
            self.k,
            self.identical_top_k,
            self.queries,
            100.0 * self.identical_top_k as f64 / self.queries.max(1) as f64,
            self.same_top1,
            self.queries,
            self.mean_overlap,
            self.max_top1_distance_diff
        )
    }
}

/// Ranks every query in both galleries and compares the top-`k` syndrome lists.
pub fn compare_rankings(
    a: &Gallery,
    b: &Gallery,
    queries: &[Vec<f32>],
    k: usize,
) -> Result<RankAgreement> {
    let k = k.max(1);
    let mut out = RankAgreement {
        queries: queries.len(),
        k,
        identical_top_k: 0,
        same_top1: 0,
        mean_overlap: 0.0,
        max_top1_distance_diff: 0.0,
    };
    for q in queries {
        let ra = a.rank(q, k)?;
        let rb = b.rank(q, k)?;
        let la: Vec<&str> = ra.matches.iter().map(|m| m.name.as_str()).collect();
        let lb: Vec<&str> = rb.matches.iter().map(|m| m.name.as_str()).collect();
        if la == lb {
            out.identical_top_k += 1;
        }
        if la.first() == lb.first() {
            out.same_top1 += 1;
        }
        let overlap = la.iter().filter(|n| lb.contains(n)).count();
        out.mean_overlap += overlap as f64 / la.len().max(1) as f64;
        if let (Some(x), Some(y)) = (ra.matches.first(), rb.matches.first()) {
            out.max_top1_distance_diff = out
                .max_top1_distance_diff
                .max((x.distance - y.distance).abs());
        }
    }
    out.mean_overlap /= queries.len().max(1) as f64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_match_naive_sums_for_any_length() {
        for n in [1usize, 7, 16, 17, 33, 128, 129] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let sq: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!((dot_f32(&a, &b) - dot).abs() < 1e-4, "{n}");
            assert!((sq_f32(&a, &b) - sq).abs() < 1e-4, "{n}");
            let ai: Vec<i16> = (0..n).map(|i| ((i * 997) % 32767) as i16 - 16000).collect();
            let bi: Vec<i8> = (0..n).map(|i| ((i * 37) % 255) as u8 as i8).collect();
            let di: i64 = ai.iter().zip(&bi).map(|(&x, &y)| x as i64 * y as i64).sum();
            assert_eq!(dot_i16_i8(&ai, &bi), di, "{n}");
        }
        // Extremes at the largest embedding size cannot overflow.
        let a = vec![-32767i16; 4096];
        let b = vec![-127i8; 4096];
        assert_eq!(dot_i16_i8(&a, &b), 4096 * 32767 * 127);
    }

    #[test]
    fn query_quantisation_is_fine() {
        let q: Vec<f32> = (0..128).map(|i| (i as f32 * 0.7).sin() * 0.2).collect();
        let (qi, s) = quantise_query(&q);
        for (x, &y) in q.iter().zip(&qi) {
            assert!((x - y as f32 * s).abs() <= s * 0.501);
        }
        assert_eq!(quantise_query(&[0.0, 0.0]).1, 0.0);
    }
}
