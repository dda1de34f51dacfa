//! What calibration and evaluation share: the labelled probes, their grouping into subjects,
//! the seeded draw of fused sessions, a session's best distance, and rates as percentages.
//!
//! Both measure sessions the same way, so an evaluation's per-session open-set numbers are
//! measured on sessions drawn exactly as calibration draws them (the draw's rules are in
//! [`super::calibrate`](mod@super::calibrate)'s module docs).

use crate::gallery::fusion::FusionMode;
use crate::gallery::rank::LabelBest;
use crate::gallery::{Gallery, Result};
use std::collections::HashMap;

/// A labelled test embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Syndrome name (matched against the gallery's label names).
    pub label: String,
    /// Patient id: probes of one subject are fused in the per-subject results.
    pub subject: String,
    pub embedding: Vec<f32>,
}

/// The next number of the seeded SplitMix64 sequence that shuffles a subject's photos.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Photos of one (subject, label), in input order.
pub(crate) struct Subject<'a> {
    pub label: &'a str,
    pub photos: Vec<&'a [f32]>,
}

/// Groups probes by (subject, label), in first-seen order.
pub(crate) fn subjects(probes: &[Probe]) -> Vec<Subject<'_>> {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut out: Vec<Subject<'_>> = Vec::new();
    for p in probes {
        let i = *index
            .entry((p.subject.as_str(), p.label.as_str()))
            .or_insert_with(|| {
                out.push(Subject {
                    label: &p.label,
                    photos: Vec::new(),
                });
                out.len() - 1
            });
        out[i].photos.push(&p.embedding);
    }
    out
}

/// One fused session of `n` photos.
pub(crate) struct SessionResult {
    /// Index into the subjects.
    pub subject: usize,
    /// The true label's index in the gallery, `None` for an unknown subject.
    pub label: Option<usize>,
    /// Per-label nearest distance after fusion.
    pub best: LabelBest,
    /// `1 / sessions of this subject`.
    pub weight: f64,
}

/// Draws the sessions of `n` photos (see the [`super::calibrate`](mod@super::calibrate) module
/// docs) and ranks each against `gallery`.
pub(crate) fn sessions(
    gallery: &Gallery,
    subjects: &[Subject<'_>],
    n: usize,
    fusion: FusionMode,
    seed: u64,
) -> Result<Vec<SessionResult>> {
    let index = gallery.label_indices();
    let mut out = Vec::new();
    for (s, subject) in subjects.iter().enumerate() {
        let m = subject.photos.len();
        if n == 0 || m < n {
            continue;
        }
        let mut order: Vec<usize> = (0..m).collect();
        let mut state = seed ^ (n as u64).wrapping_mul(0xA24B_AED4_963E_E407) ^ s as u64;
        for i in (1..m).rev() {
            let j = (splitmix(&mut state) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let count = m / n;
        let label = index.get(subject.label).copied();
        for chunk in order.chunks_exact(n).take(count) {
            let photos: Vec<Vec<f32>> = chunk.iter().map(|&i| subject.photos[i].to_vec()).collect();
            out.push(SessionResult {
                subject: s,
                label,
                best: gallery.fused_label_best(&photos, fusion)?,
                weight: 1.0 / count as f64,
            });
        }
    }
    Ok(out)
}

/// A session's best distance over all syndromes (those with a case).
pub(crate) fn min_distance(best: &LabelBest) -> f32 {
    best.iter()
        .filter(|b| b.1 != u32::MAX)
        .map(|b| b.0)
        .fold(f32::INFINITY, f32::min)
}
/// A rate as a percentage with `decimals` decimals, or `n/a`.
pub(crate) fn percent(r: Option<f64>, decimals: usize) -> String {
    r.map_or("n/a".to_string(), |r| {
        format!("{:.*}%", decimals, 100.0 * r)
    })
}
