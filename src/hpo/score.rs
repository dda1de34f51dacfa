//! The likelihood-ratio model, the face likelihood and the posterior over the top candidates
//! (formula and constants: the module docs of [`crate::hpo`]).

use super::{HpoIndex, QueryTerm, TermId};
use serde::{Deserialize, Serialize};

/// Candidates kept in the posterior (the face ranking's top N).
pub const TOP_N: usize = 30;
/// Bins of the face-distance histograms.
pub const FACE_BINS: usize = 40;
/// |ln LR_face| is clipped to this many nats.
pub const FACE_LOG_LR_CAP: f32 = 12.0;

/// A clinician's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    No,
    DontKnow,
}

/// The per-term answer model (constants documented in [`crate::hpo`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LrModel {
    /// α: P(yes | disease) for a term the disease is not annotated with.
    pub unannotated_yes: f32,
    /// Frequency of an annotation that gives none.
    pub default_frequency: f32,
    /// μ: P(no | disease) is at least this for an annotated term.
    pub miss: f32,
}

impl Default for LrModel {
    fn default() -> Self {
        LrModel {
            unannotated_yes: 0.05,
            default_frequency: 0.5,
            miss: 0.02,
        }
    }
}

impl LrModel {
    /// P(yes | disease) from [`super::Disease::frequency_in`]'s result.
    pub fn p_yes(&self, annotated: Option<Option<f32>>) -> f32 {
        match annotated {
            None => self.unannotated_yes,
            Some(f) => f
                .unwrap_or(self.default_frequency)
                .clamp(self.unannotated_yes, 1.0 - self.miss),
        }
    }

    /// b_q = α + (1 − α − μ) · s_q.
    pub fn background(&self, share: f32) -> f32 {
        self.unannotated_yes + (1.0 - self.unannotated_yes - self.miss) * share
    }

    /// ln LR of an answer given P(yes | disease) = p and background b.
    pub fn log_lr(&self, p: f32, b: f32, answer: Answer) -> f32 {
        match answer {
            Answer::Yes => (p / b).ln(),
            Answer::No => ((1.0 - p) / (1.0 - b)).ln(),
            Answer::DontKnow => 0.0,
        }
    }
}

/// Smoothed, non-increasing ln(p_same(d) / p_diff(d)) of a face distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceLikelihood {
    /// Bin centres, increasing.
    pub centres: Vec<f32>,
    /// ln LR at each centre, non-increasing.
    pub log_lr: Vec<f32>,
}

fn percentile(sorted: &[f32], q: f64) -> f32 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl FaceLikelihood {
    /// Fits from distances of probes to their own label (`same`) and to other labels
    /// (`different`). Errors when either is empty or not finite.
    pub fn from_samples(same: &[f32], different: &[f32]) -> Result<Self, super::HpoError> {
        let bad = |m: &str| super::HpoError::Sim(format!("face likelihood: {m}"));
        if same.is_empty() || different.is_empty() {
            return Err(bad("needs same-label and different-label distances"));
        }
        if same.iter().chain(different).any(|x| !x.is_finite()) {
            return Err(bad("distances must be finite"));
        }
        let sorted = |xs: &[f32]| {
            let mut v = xs.to_vec();
            v.sort_by(f32::total_cmp);
            v
        };
        let (s, d) = (sorted(same), sorted(different));
        // The range covers both distributions: pooled percentiles would put every close
        // same-label distance (and the nearest other labels) into one flat first bin.
        let lo = percentile(&s, 0.005).min(percentile(&d, 0.005));
        let hi = percentile(&s, 0.995).max(percentile(&d, 0.995));
        let hi = if hi > lo { hi } else { lo + 1e-3 };
        let edges: Vec<f32> = (0..=FACE_BINS)
            .map(|i| lo + (hi - lo) * i as f32 / FACE_BINS as f32)
            .collect();
        let count = |xs: &[f32]| {
            let mut c = vec![0u64; FACE_BINS];
            for &x in xs {
                let k = (((x - lo) / (hi - lo)) * FACE_BINS as f32).floor();
                c[(k.max(0.0) as usize).min(FACE_BINS - 1)] += 1;
            }
            c
        };
        Self::from_histogram(&edges, &count(same), &count(different))
    }

    /// From the same/different distance histograms a calibrated gallery stores for one
    /// session size (`Gallery::session_threshold`'s calibration).
    pub fn from_session(
        session: &crate::gallery::SessionCalibration,
    ) -> Result<Self, super::HpoError> {
        let h = &session.histogram;
        Self::from_histogram(&h.edges, &h.same, &h.different)
    }

    /// Fits from histograms over `edges` (len = bins + 1, increasing).
    pub fn from_histogram(
        edges: &[f32],
        same: &[u64],
        different: &[u64],
    ) -> Result<Self, super::HpoError> {
        let bad = |m: &str| super::HpoError::Sim(format!("face likelihood: {m}"));
        let bins = same.len();
        if bins == 0 || different.len() != bins || edges.len() != bins + 1 {
            return Err(bad("edges must be one longer than both histograms"));
        }
        if edges
            .windows(2)
            .any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        {
            return Err(bad("edges must increase"));
        }
        let (s_tot, d_tot) = (
            same.iter().sum::<u64>() as f64,
            different.iter().sum::<u64>() as f64,
        );
        if s_tot == 0.0 || d_tot == 0.0 {
            return Err(bad("a histogram is empty"));
        }
        let half = 0.5 * bins as f64;
        let mut values: Vec<f64> = (0..bins)
            .map(|i| {
                let ps = (same[i] as f64 + 0.5) / (s_tot + half);
                let pd = (different[i] as f64 + 0.5) / (d_tot + half);
                (ps / pd).ln()
            })
            .collect();
        let weights: Vec<f64> = (0..bins)
            .map(|i| (same[i] + different[i]) as f64 + 1.0)
            .collect();
        pav_non_increasing(&mut values, &weights);
        let cap = FACE_LOG_LR_CAP as f64;
        Ok(FaceLikelihood {
            centres: edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect(),
            log_lr: values.iter().map(|v| v.clamp(-cap, cap) as f32).collect(),
        })
    }

    /// ln LR_face at distance `d`.
    pub fn log_lr(&self, d: f32) -> f32 {
        let c = &self.centres;
        if !d.is_finite() {
            return *self.log_lr.last().unwrap_or(&0.0);
        }
        if d <= c[0] {
            return self.log_lr[0];
        }
        let k = c.partition_point(|&x| x < d);
        if k >= c.len() {
            return self.log_lr[c.len() - 1];
        }
        let t = (d - c[k - 1]) / (c[k] - c[k - 1]);
        self.log_lr[k - 1] + t * (self.log_lr[k] - self.log_lr[k - 1])
    }
}

/// Weighted pool-adjacent-violators: the closest non-increasing sequence (weighted least squares).
fn pav_non_increasing(v: &mut [f64], w: &[f64]) {
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new(); // (mean, weight, length)
    for (&x, &wt) in v.iter().zip(w) {
        blocks.push((x, wt, 1));
        while blocks.len() > 1 {
            let n = blocks.len();
            if blocks[n - 2].0 >= blocks[n - 1].0 {
                break;
            }
            let b = blocks.pop().unwrap_or((0.0, 0.0, 0));
            let a = blocks.last_mut().expect("two blocks");
            let wsum = a.1 + b.1;
            a.0 = (a.0 * a.1 + b.0 * b.1) / wsum;
            a.1 = wsum;
            a.2 += b.2;
        }
    }
    let mut i = 0;
    for (m, _, len) in blocks {
        for x in &mut v[i..i + len] {
            *x = m;
        }
        i += len;
    }
}

/// A face candidate handed in by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The caller's id for it (e.g. the gallery label index).
    pub label: usize,
    pub name: String,
    /// OMIM number, if the syndrome has one.
    pub omim: Option<u32>,
    /// Face distance (nearest case, after fusion).
    pub distance: f32,
}

impl Candidate {
    /// A face ranking's matches as candidates, in rank order (label = gallery label index).
    pub fn from_ranking(ranking: &crate::gallery::Ranking) -> Vec<Candidate> {
        ranking
            .matches
            .iter()
            .map(|m| Candidate {
                label: m.label,
                name: m.name.clone(),
                omim: m.omim.as_deref().and_then(super::parse_omim),
                distance: m.distance,
            })
            .collect()
    }
}

/// One answered term's effect on one candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub term: String,
    pub label: String,
    pub answer: Answer,
    /// ln LR (0 for face-only candidates and "don't know").
    pub log_lr: f32,
}

/// A candidate with its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub label: usize,
    pub name: String,
    pub omim: Option<u32>,
    pub distance: f32,
    /// True when the OMIM id is missing or has no annotations: ranked by face only.
    pub face_only: bool,
    pub face_log_lr: f32,
    pub contributions: Vec<Contribution>,
    /// ln prior + ln LR_face + Σ contributions.
    pub log_score: f32,
    pub posterior: f32,
}

/// The posterior over the top candidates as answers come in.
#[derive(Debug, Clone)]
pub struct Differential<'a> {
    index: &'a HpoIndex,
    model: LrModel,
    bank: &'a [QueryTerm],
    scored: Vec<Scored>,
    /// P(yes | candidate) per candidate per bank question (b_q for face-only candidates).
    p_yes: Vec<Vec<f32>>,
    asked: Vec<TermId>,
}

impl<'a> Differential<'a> {
    /// Starts from the face ranking: the first `top_n` candidates by distance (uniform prior).
    pub fn new(
        index: &'a HpoIndex,
        model: LrModel,
        face: &FaceLikelihood,
        candidates: &[Candidate],
        bank: &'a [QueryTerm],
        top_n: usize,
    ) -> Self {
        let mut c: Vec<&Candidate> = candidates.iter().collect();
        c.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        c.truncate(top_n.max(1));
        let prior = -(c.len() as f32).ln();
        let mut p_yes = Vec::with_capacity(c.len());
        let scored = c
            .iter()
            .map(|cand| {
                let disease = cand.omim.and_then(|o| index.disease(o));
                p_yes.push(
                    bank.iter()
                        .map(|q| match disease {
                            Some(d) => model.p_yes(d.frequency_in(&q.set)),
                            None => model.background(q.share),
                        })
                        .collect(),
                );
                let face_log_lr = face.log_lr(cand.distance);
                Scored {
                    label: cand.label,
                    name: cand.name.clone(),
                    omim: cand.omim,
                    distance: cand.distance,
                    face_only: disease.is_none(),
                    face_log_lr,
                    contributions: Vec::new(),
                    log_score: prior + face_log_lr,
                    posterior: 0.0,
                }
            })
            .collect();
        let mut d = Differential {
            index,
            model,
            bank,
            scored,
            p_yes,
            asked: Vec::new(),
        };
        d.normalise();
        d
    }

    fn normalise(&mut self) {
        let m = self
            .scored
            .iter()
            .map(|s| s.log_score)
            .fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = self.scored.iter().map(|s| (s.log_score - m).exp()).sum();
        for s in &mut self.scored {
            s.posterior = (s.log_score - m).exp() / z;
        }
    }

    /// Records the answer to bank question `q`.
    pub fn answer_question(&mut self, q: usize, answer: Answer) {
        let term = &self.bank[q];
        let b = self.model.background(term.share);
        for (s, p) in self.scored.iter_mut().zip(&self.p_yes) {
            let l = if s.face_only {
                0.0
            } else {
                self.model.log_lr(p[q], b, answer)
            };
            s.log_score += l;
            s.contributions.push(Contribution {
                term: term.id.to_string(),
                label: term.label.clone(),
                answer,
                log_lr: l,
            });
        }
        self.asked.push(term.id);
        self.normalise();
    }

    /// Records the answer to any term (the command line's `--hpo`).
    pub fn answer_term(&mut self, term: &QueryTerm, answer: Answer) {
        let b = self.model.background(term.share);
        for s in &mut self.scored {
            let l = match s.omim.and_then(|o| self.index.disease(o)) {
                Some(d) if !s.face_only => {
                    self.model
                        .log_lr(self.model.p_yes(d.frequency_in(&term.set)), b, answer)
                }
                _ => 0.0,
            };
            s.log_score += l;
            s.contributions.push(Contribution {
                term: term.id.to_string(),
                label: term.label.clone(),
                answer,
                log_lr: l,
            });
        }
        self.asked.push(term.id);
        self.normalise();
    }

    /// Terms answered so far (any answer), in order.
    pub fn asked(&self) -> &[TermId] {
        &self.asked
    }

    /// Answers counted so far.
    pub fn answered(&self) -> usize {
        self.asked.len()
    }

    /// The candidates in face order with their current scores.
    pub fn candidates(&self) -> &[Scored] {
        &self.scored
    }

    /// The bank the differential was built with.
    pub fn bank(&self) -> &[QueryTerm] {
        self.bank
    }

    /// P(yes | candidate) for bank question `q`, per candidate in face order.
    pub fn p_yes_for(&self, q: usize) -> Vec<f32> {
        self.p_yes.iter().map(|p| p[q]).collect()
    }

    /// The model in use.
    pub fn model(&self) -> &LrModel {
        &self.model
    }

    /// Candidates by posterior, highest first (ties keep face order).
    pub fn ranked(&self) -> Vec<&Scored> {
        let mut r: Vec<&Scored> = self.scored.iter().collect();
        r.sort_by(|a, b| b.log_score.total_cmp(&a.log_score));
        r
    }

    /// The leader's posterior.
    pub fn leader_posterior(&self) -> f32 {
        self.scored.iter().map(|s| s.posterior).fold(0.0, f32::max)
    }
}
