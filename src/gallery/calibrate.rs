//! The "no close match" threshold (open-set calibration).
//!
//! Each probe embedding is ranked against the gallery and its **best** distance (over all
//! syndromes) is taken. A probe whose syndrome is in the gallery is *known*, otherwise
//! *unknown*. With threshold `t`, a ranking is a close match when its best distance is `≤ t`:
//! * false-match rate (FMR) = share of unknown probes with best distance `≤ t`;
//! * false-reject rate (FRR) = share of known probes with best distance `> t`.
//!
//! Rules:
//! * [`CalibrationRule::TargetFalseMatchRate`]`(r)` (default `r = 0.05`): the largest `t` with
//!   FMR ≤ r (placed halfway to the next unknown probe's distance). Needs unknown probes.
//! * [`CalibrationRule::EqualError`]: the `t` where FMR and FRR are closest (ties: the smaller
//!   of the two rates, then the lower `t`). Needs both kinds.
//!
//! Probes must not be gallery cases (their distance to themselves is 0): use a held-out split.

use super::{Gallery, GalleryError, Result};
use serde::Serialize;
use std::fmt;

/// A labelled embedding used for calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationProbe {
    /// Syndrome name; a name not in the gallery makes it an unknown probe.
    pub label: String,
    pub embedding: Vec<f32>,
}

impl From<super::Probe> for CalibrationProbe {
    fn from(p: super::Probe) -> Self {
        Self {
            label: p.label,
            embedding: p.embedding,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "rule", content = "value", rename_all = "kebab-case")]
pub enum CalibrationRule {
    TargetFalseMatchRate(f32),
    EqualError,
}

impl Default for CalibrationRule {
    fn default() -> Self {
        Self::TargetFalseMatchRate(0.05)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationReport {
    pub rule: CalibrationRule,
    pub threshold: f32,
    pub known_probes: usize,
    pub unknown_probes: usize,
    /// On the calibration probes, at the chosen threshold.
    pub false_match_rate: Option<f64>,
    pub false_reject_rate: Option<f64>,
}

impl fmt::Display for CalibrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{:.2}%", 100.0 * r));
        write!(
            f,
            "threshold {:.5} ({:?}); {} known / {} unknown probes; false match {}, false reject {}",
            self.threshold,
            self.rule,
            self.known_probes,
            self.unknown_probes,
            pct(self.false_match_rate),
            pct(self.false_reject_rate)
        )
    }
}

fn next_below(x: f32) -> f32 {
    if x.is_nan() || x == f32::NEG_INFINITY {
        return x;
    }
    if x == 0.0 {
        return -f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b - 1 } else { b + 1 })
}

/// Largest threshold letting at most `allowed` of the sorted `u` through.
fn threshold_allowing(u: &[f32], allowed: usize) -> f32 {
    if allowed >= u.len() {
        return u[u.len() - 1];
    }
    let cut = u[allowed];
    match u[..allowed].iter().rev().find(|&&x| x < cut) {
        Some(&below) => {
            let mid = below + (cut - below) / 2.0;
            if mid < cut {
                mid
            } else {
                next_below(cut)
            }
        }
        None => next_below(cut),
    }
}

fn rate_le(sorted: &[f32], t: f32) -> f64 {
    sorted.partition_point(|&x| x <= t) as f64 / sorted.len() as f64
}

/// Computes the best distances of the probes, chooses the threshold by `rule`, stores it in the
/// gallery (save and re-sign it to keep it) and reports the rates on the probes.
pub fn calibrate(
    gallery: &mut Gallery,
    probes: &[CalibrationProbe],
    rule: CalibrationRule,
) -> Result<CalibrationReport> {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for p in probes {
        let r = gallery.rank(&p.embedding, 1)?;
        let d = r.matches.first().map_or(f32::INFINITY, |m| m.distance);
        if gallery.labels.iter().any(|l| l.name == p.label) {
            known.push(d);
        } else {
            unknown.push(d);
        }
    }
    known.sort_by(f32::total_cmp);
    unknown.sort_by(f32::total_cmp);
    let t = match rule {
        CalibrationRule::TargetFalseMatchRate(r) => {
            if !(0.0..=1.0).contains(&r) {
                return Err(GalleryError::Input(format!(
                    "target false-match rate {r} is not in 0..=1"
                )));
            }
            if unknown.is_empty() {
                return Err(GalleryError::Input(
                    "calibrating to a false-match rate needs probes of syndromes not in the gallery".into(),
                ));
            }
            let allowed = (r as f64 * unknown.len() as f64 + 1e-9).floor() as usize;
            threshold_allowing(&unknown, allowed)
        }
        CalibrationRule::EqualError => {
            if unknown.is_empty() || known.is_empty() {
                return Err(GalleryError::Input(
                    "the equal-error rule needs probes both in and not in the gallery".into(),
                ));
            }
            let mut all: Vec<f32> = known.iter().chain(&unknown).copied().collect();
            all.sort_by(f32::total_cmp);
            all.dedup();
            let mut cands = vec![next_below(all[0])];
            for w in all.windows(2) {
                cands.push(w[0] + (w[1] - w[0]) / 2.0);
            }
            cands.push(all[all.len() - 1]);
            let mut best = (f64::INFINITY, f64::INFINITY, f32::INFINITY);
            for t in cands {
                let fmr = rate_le(&unknown, t);
                let frr = 1.0 - rate_le(&known, t);
                let key = ((fmr - frr).abs(), fmr.max(frr), t);
                if key.0 < best.0 - 1e-12 || ((key.0 - best.0).abs() <= 1e-12 && key.1 < best.1) {
                    best = key;
                }
            }
            best.2
        }
    };
    if !t.is_finite() {
        return Err(GalleryError::Input(
            "probe distances are not finite; cannot calibrate".into(),
        ));
    }
    gallery.set_threshold(Some(t))?;
    Ok(CalibrationReport {
        rule,
        threshold: t,
        known_probes: known.len(),
        unknown_probes: unknown.len(),
        false_match_rate: (!unknown.is_empty()).then(|| rate_le(&unknown, t)),
        false_reject_rate: (!known.is_empty()).then(|| 1.0 - rate_le(&known, t)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_below_is_the_previous_float() {
        for x in [1.0f32, 0.5, -2.0, 1e-30, 3.75] {
            let y = next_below(x);
            assert!(y < x);
            assert_eq!(y.to_bits().abs_diff(x.to_bits()), 1);
        }
        assert!(next_below(0.0) < 0.0);
    }

    #[test]
    fn threshold_lets_through_at_most_allowed() {
        let u = [1.0f32, 2.0, 2.0, 4.0];
        for allowed in 0..=4 {
            let t = threshold_allowing(&u, allowed);
            let through = u.iter().filter(|&&x| x <= t).count();
            assert!(
                through <= allowed.clamp(1, 4) || allowed == 0 && through == 0,
                "{allowed}: {t}"
            );
            assert!(through <= allowed || allowed >= u.len());
        }
        assert_eq!(threshold_allowing(&u, 1), 1.5);
        assert_eq!(
            threshold_allowing(&u, 2),
            1.5,
            "ties at 2.0 cannot be split"
        );
        assert_eq!(threshold_allowing(&u, 3), 3.0);
        assert_eq!(threshold_allowing(&u, 9), 4.0);
    }
}
