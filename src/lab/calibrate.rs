//! Session-true calibration: the "no close match" threshold and the evidence bands, measured
//! for every session size the device runs.
//!
//! The device fuses the photos of one patient into one ranking, so a threshold measured on
//! single photos is wrong for a 3-photo session (fused distances are smaller). Calibration
//! therefore builds **sessions** of `n` photos (`n = 1 ..= max_photos`) from the calibration
//! subjects exactly as the device would take them, fuses them with the device's
//! [`FusionMode`], and measures each session size on its own:
//!
//! * **Sessions.** Photos are grouped by (subject, label). A subject with `m ≥ n` photos gives
//!   `⌊m / n⌋` sessions of `n` disjoint photos, drawn after a seeded shuffle (resampling where a
//!   subject has more photos than a session needs); a subject with fewer gives none.
//! * **Every patient counts once.** A subject's sessions are repeated looks at one patient, so
//!   each session weighs `1 / (sessions of its subject)`: rates are per patient, and a subject
//!   with twenty photos does not count twenty times.
//! * **Threshold.** A session is a close match when its best distance (over all syndromes) is
//!   `≤ t`. With [`CalibrationRule::TargetFalseMatchRate`]`(r)` (default `r = 0.05`), `t` lets a
//!   share `r` of the unknown subjects (syndrome not in the gallery) through. The lower tail of
//!   one session size alone rests on a handful of people (5% of 50 is 2.5), so the tail is
//!   estimated once from all sizes together: each size's unknown best distances are
//!   standardised by their own (patient-weighted) median `m_n` and median absolute deviation
//!   `s_n`, the `r`-quantile `z` of the pooled standardised values is taken (halfway to the next
//!   value), and `t_n = m_n + s_n · z`. Each size then takes the stricter of that and its own
//!   quantile, so a size whose tail differs from the others (or whose spread is zero) never
//!   lets more through than its own measurement allows: a false "close match" is the harmful
//!   error, so of two estimates the safer one is kept.
//!   [`CalibrationRule::EqualError`] takes, per size, the `t` where false-match and
//!   false-reject rates are closest.
//! * **Bands.** For every session the 30 nearest syndromes are candidate pairs: *same* when it is
//!   the session's true syndrome, *different* otherwise. Sorted by distance, the precision at `d`
//!   is the (patient-weighted) share of same pairs among all pairs at distance `≤ d`. Each
//!   [`Band::LEVELS`] level (strong 0.90, moderate 0.75, supporting 0.50) gets the largest
//!   distance whose precision still reaches it (with at least [`MIN_SAME_PAIRS`] same pairs);
//!   a candidate's band is the strongest level whose distance it is within, else
//!   [`Band::Weak`]. The same/different distance histograms are stored too (for likelihoods).
//!
//! Precision depends on how many calibration subjects are not in the gallery: it is measured on
//! the mixture given, which `gallery info` and the report state. Probes must not be gallery
//! cases (their distance to themselves is 0): use a held-out split.

use super::shared::{min_distance, percent, sessions, subjects, Probe, Subject};
use crate::gallery::calibration::{
    BandLevel, Calibration, CalibrationRule, DistanceHistogram, SessionCalibration,
};
use crate::gallery::candidate::Band;
use crate::gallery::fusion::FusionMode;
use crate::gallery::{Gallery, GalleryError, Result};
use std::fmt;

/// A labelled embedding used for calibration (the same as an evaluation probe).
pub type CalibrationProbe = Probe;

/// Candidates per session whose distances are measured for the bands.
pub const BAND_CANDIDATES: usize = 30;
/// A band level needs at least this many same-syndrome pairs behind it.
pub const MIN_SAME_PAIRS: usize = 5;
/// Bins of the stored distance histograms.
pub const HISTOGRAM_BINS: usize = 48;

/// How to calibrate.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrateOptions {
    pub rule: CalibrationRule,
    /// Session sizes 1 ..= this are measured (the device's `photos_per_patient`).
    pub max_photos: usize,
    /// How the device fuses a session's photos.
    pub fusion: FusionMode,
    /// Seed of the session draw.
    pub seed: u64,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        Self {
            rule: CalibrationRule::default(),
            max_photos: 3,
            fusion: FusionMode::default(),
            seed: 1,
        }
    }
}

/// What [`calibrate`] reports: what it stored.
pub type CalibrationReport = Calibration;

fn pct(r: Option<f64>) -> String {
    percent(r, 2)
}

/// The calibration as `gallery calibrate` and `gallery info` print it (rates per patient).
impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "calibration ({:?}, fusion {}, seed {}), rates per patient:",
            self.rule, self.fusion, self.seed
        )?;
        for s in &self.sessions {
            writeln!(
                f,
                "  {} photo(s): threshold {:.5}; {} unknown subjects ({} sessions), {} known ({} sessions); false match {}, false reject {}",
                s.photos,
                s.threshold,
                s.unknown_subjects,
                s.unknown_sessions,
                s.known_subjects,
                s.known_sessions,
                pct(s.false_match_rate),
                pct(s.false_reject_rate)
            )?;
            for b in &s.bands {
                match (b.max_distance, b.precision) {
                    (Some(d), Some(p)) => writeln!(
                        f,
                        "    {:<10} distance <= {d:.4}: precision {:.1}% (needs {:.0}%; {} of {} candidates)",
                        b.band.label(),
                        100.0 * p,
                        100.0 * b.min_precision,
                        b.same_pairs,
                        b.pairs
                    )?,
                    _ => writeln!(
                        f,
                        "    {:<10} never reached {:.0}% precision",
                        b.band.label(),
                        100.0 * b.min_precision
                    )?,
                }
            }
        }
        Ok(())
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

/// Largest threshold letting at most `allowed` weight of the ascending `(distance, weight)`
/// list through; equal distances go through together.
fn threshold_allowing(sorted: &[(f32, f64)], allowed: f64) -> f32 {
    let mut cum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let d = sorted[i].0;
        let mut j = i;
        let mut w = 0.0;
        while j < sorted.len() && sorted[j].0 == d {
            w += sorted[j].1;
            j += 1;
        }
        if cum + w > allowed + 1e-9 {
            break;
        }
        cum += w;
        i = j;
    }
    if i == 0 {
        return next_below(sorted[0].0);
    }
    if i == sorted.len() {
        return sorted[i - 1].0;
    }
    let (below, cut) = (sorted[i - 1].0, sorted[i].0);
    let mid = below + (cut - below) / 2.0;
    if mid < cut {
        mid
    } else {
        next_below(cut)
    }
}

/// Weighted share of the ascending list at or below `t`.
fn weighted_rate_le(sorted: &[(f32, f64)], t: f32) -> f64 {
    let total: f64 = sorted.iter().map(|x| x.1).sum();
    let below: f64 = sorted.iter().take_while(|x| x.0 <= t).map(|x| x.1).sum();
    // (+ 0.0: an empty f64 sum is -0.0.)
    below / total + 0.0
}

fn sorted_by_distance(mut v: Vec<(f32, f64)>) -> Vec<(f32, f64)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn choose_threshold(
    rule: CalibrationRule,
    known: &[(f32, f64)],
    unknown: &[(f32, f64)],
) -> Result<f32> {
    match rule {
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
            let total: f64 = unknown.iter().map(|x| x.1).sum();
            Ok(threshold_allowing(unknown, f64::from(r) * total))
        }
        CalibrationRule::EqualError => {
            if unknown.is_empty() || known.is_empty() {
                return Err(GalleryError::Input(
                    "the equal-error rule needs probes both in and not in the gallery".into(),
                ));
            }
            let mut all: Vec<f32> = known.iter().chain(unknown).map(|x| x.0).collect();
            all.sort_by(f32::total_cmp);
            all.dedup();
            let mut cands = vec![next_below(all[0])];
            for w in all.windows(2) {
                cands.push(w[0] + (w[1] - w[0]) / 2.0);
            }
            cands.push(all[all.len() - 1]);
            let mut best = (f64::INFINITY, f64::INFINITY, f32::INFINITY);
            for t in cands {
                let fmr = weighted_rate_le(unknown, t);
                let frr = 1.0 - weighted_rate_le(known, t);
                let key = ((fmr - frr).abs(), fmr.max(frr), t);
                if key.0 < best.0 - 1e-12 || ((key.0 - best.0).abs() <= 1e-12 && key.1 < best.1) {
                    best = key;
                }
            }
            Ok(best.2)
        }
    }
}

/// A candidate pair: distance, whether it is the true syndrome, the session's weight.
type Pair = (f32, bool, f64);

fn band_levels(pairs: &[Pair]) -> Vec<BandLevel> {
    let mut levels: Vec<BandLevel> = Band::LEVELS
        .iter()
        .map(|&(band, min_precision)| BandLevel {
            band,
            min_precision,
            max_distance: None,
            precision: None,
            pairs: 0,
            same_pairs: 0,
        })
        .collect();
    let (mut w_all, mut w_same, mut n_same) = (0.0f64, 0.0f64, 0usize);
    let mut i = 0;
    while i < pairs.len() {
        let d = pairs[i].0;
        while i < pairs.len() && pairs[i].0 == d {
            w_all += pairs[i].2;
            if pairs[i].1 {
                w_same += pairs[i].2;
                n_same += 1;
            }
            i += 1;
        }
        let precision = w_same / w_all;
        for l in levels.iter_mut() {
            if n_same >= MIN_SAME_PAIRS && precision >= l.min_precision {
                l.max_distance = Some(d);
                l.precision = Some(precision);
                l.pairs = i;
                l.same_pairs = n_same;
            }
        }
    }
    // A weaker level reaches at least as far as a stronger one.
    for k in 1..levels.len() {
        if let (Some(strong), weaker) = (levels[k - 1].max_distance, levels[k].max_distance) {
            if weaker.map_or(true, |w| w < strong) {
                levels[k] = BandLevel {
                    band: levels[k].band,
                    min_precision: levels[k].min_precision,
                    ..levels[k - 1].clone()
                };
            }
        }
    }
    levels
}

fn histogram(pairs: &[Pair]) -> DistanceHistogram {
    let hi = pairs
        .iter()
        .map(|p| p.0)
        .filter(|d| d.is_finite())
        .fold(0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    let step = hi / HISTOGRAM_BINS as f32;
    let edges = (0..=HISTOGRAM_BINS).map(|i| i as f32 * step).collect();
    let mut same = vec![0u64; HISTOGRAM_BINS];
    let mut different = vec![0u64; HISTOGRAM_BINS];
    for &(d, is_same, _) in pairs {
        let bin = ((d.max(0.0) / step) as usize).min(HISTOGRAM_BINS - 1);
        if is_same {
            same[bin] += 1;
        } else {
            different[bin] += 1;
        }
    }
    DistanceHistogram {
        edges,
        same,
        different,
    }
}

/// What one session size's sessions gave, before the threshold is chosen.
struct Measured {
    n: usize,
    known: Vec<(f32, f64)>,
    unknown: Vec<(f32, f64)>,
    pairs: Vec<Pair>,
    known_subjects: usize,
    unknown_subjects: usize,
}

/// The value at which the ascending weighted list reaches `share` of its weight.
fn weighted_quantile(sorted: &[(f32, f64)], share: f64) -> f32 {
    let total: f64 = sorted.iter().map(|x| x.1).sum();
    let mut cum = 0.0;
    for &(d, w) in sorted {
        cum += w;
        if cum >= share * total - 1e-12 {
            return d;
        }
    }
    sorted.last().map_or(f32::NAN, |x| x.0)
}

/// Median and median absolute deviation (patient-weighted) of an ascending list.
fn median_mad(sorted: &[(f32, f64)]) -> (f32, f32) {
    let m = weighted_quantile(sorted, 0.5);
    let dev = sorted_by_distance(sorted.iter().map(|&(d, w)| ((d - m).abs(), w)).collect());
    (m, weighted_quantile(&dev, 0.5))
}

/// Thresholds at the target false-match rate `r` for every measured size, with the tail
/// pooled over the sizes (see the module docs).
fn pooled_thresholds(measured: &[Measured], r: f64) -> Vec<f32> {
    let scales: Vec<(f32, f32)> = measured.iter().map(|m| median_mad(&m.unknown)).collect();
    let mut pooled = Vec::new();
    for (m, &(centre, spread)) in measured.iter().zip(&scales) {
        if spread > 0.0 && spread.is_finite() {
            pooled.extend(m.unknown.iter().map(|&(d, w)| ((d - centre) / spread, w)));
        }
    }
    let pooled = sorted_by_distance(pooled);
    let total: f64 = pooled.iter().map(|x| x.1).sum();
    let z = (!pooled.is_empty()).then(|| threshold_allowing(&pooled, r * total));
    measured
        .iter()
        .zip(&scales)
        .map(|(m, &(centre, spread))| {
            let own =
                threshold_allowing(&m.unknown, r * m.unknown.iter().map(|x| x.1).sum::<f64>());
            match z {
                // (r = 0 lets nobody through: each size's own smallest distance decides.)
                Some(z) if spread > 0.0 && spread.is_finite() && r > 0.0 => {
                    own.min(centre + spread * z)
                }
                _ => own,
            }
        })
        .collect()
}

fn measure_size(
    gallery: &Gallery,
    subjects: &[Subject<'_>],
    n: usize,
    opts: &CalibrateOptions,
) -> Result<Option<Measured>> {
    let results = sessions(gallery, subjects, n, opts.fusion, opts.seed)?;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut pairs: Vec<Pair> = Vec::new();
    let (mut known_subjects, mut unknown_subjects) = (Vec::new(), Vec::new());
    for r in &results {
        let d = min_distance(&r.best);
        match r.label {
            Some(_) => {
                known.push((d, r.weight));
                known_subjects.push(r.subject);
            }
            None => {
                unknown.push((d, r.weight));
                unknown_subjects.push(r.subject);
            }
        }
        let mut order: Vec<usize> = (0..r.best.len())
            .filter(|&l| r.best[l].1 != u32::MAX)
            .collect();
        order.sort_by(|&a, &b| r.best[a].0.total_cmp(&r.best[b].0));
        for &l in order.iter().take(BAND_CANDIDATES) {
            pairs.push((r.best[l].0, r.label == Some(l), r.weight));
        }
    }
    if unknown.is_empty() && known.is_empty() {
        return Ok(None);
    }
    if n > 1 && unknown.is_empty() && matches!(opts.rule, CalibrationRule::TargetFalseMatchRate(_))
    {
        // No unknown subject has this many photos: this size cannot be measured.
        return Ok(None);
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let count = |mut v: Vec<usize>| {
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    Ok(Some(Measured {
        n,
        known: sorted_by_distance(known),
        unknown: sorted_by_distance(unknown),
        pairs,
        known_subjects: count(known_subjects),
        unknown_subjects: count(unknown_subjects),
    }))
}

fn finish_size(m: Measured, t: f32) -> Result<SessionCalibration> {
    if !t.is_finite() {
        return Err(GalleryError::Input(
            "probe distances are not finite; cannot calibrate".into(),
        ));
    }
    Ok(SessionCalibration {
        photos: m.n,
        threshold: t,
        unknown_subjects: m.unknown_subjects,
        unknown_sessions: m.unknown.len(),
        known_subjects: m.known_subjects,
        known_sessions: m.known.len(),
        false_match_rate: (!m.unknown.is_empty()).then(|| weighted_rate_le(&m.unknown, t)),
        false_reject_rate: (!m.known.is_empty()).then(|| 1.0 - weighted_rate_le(&m.known, t)),
        bands: band_levels(&m.pairs),
        histogram: histogram(&m.pairs),
    })
}

/// Measures the threshold and bands for every session size (see the module docs), stores them
/// in the gallery (save and re-sign it to keep them) and returns what was stored.
pub fn calibrate(
    gallery: &mut Gallery,
    probes: &[CalibrationProbe],
    opts: &CalibrateOptions,
) -> Result<CalibrationReport> {
    if opts.max_photos == 0 {
        return Err(GalleryError::Input(
            "sessions need at least one photo".into(),
        ));
    }
    let subjects = subjects(probes);
    let mut measured = Vec::new();
    for n in 1..=opts.max_photos {
        match measure_size(gallery, &subjects, n, opts)? {
            Some(m) => measured.push(m),
            None if n == 1 => {
                return Err(GalleryError::Input("no probes to calibrate with".into()))
            }
            None => log::warn!(
                "calibration: no subject has {n} photos of the needed kind; sessions of {n} \
                 photos use the {}-photo measurement",
                n - 1
            ),
        }
    }
    let thresholds = match opts.rule {
        CalibrationRule::TargetFalseMatchRate(r) => {
            // Checks the rate and that there are unknown probes.
            choose_threshold(opts.rule, &measured[0].known, &measured[0].unknown)?;
            pooled_thresholds(&measured, f64::from(r))
        }
        CalibrationRule::EqualError => measured
            .iter()
            .map(|m| choose_threshold(opts.rule, &m.known, &m.unknown))
            .collect::<Result<Vec<_>>>()?,
    };
    let out = measured
        .into_iter()
        .zip(thresholds)
        .map(|(m, t)| finish_size(m, t))
        .collect::<Result<Vec<_>>>()?;
    let calibration = Calibration {
        rule: opts.rule,
        fusion: opts.fusion,
        seed: opts.seed,
        sessions: out,
    };
    gallery.set_calibration(Some(calibration.clone()))?;
    Ok(calibration)
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
        let u: Vec<(f32, f64)> = [1.0f32, 2.0, 2.0, 4.0].iter().map(|&d| (d, 1.0)).collect();
        for allowed in 0..=4 {
            let t = threshold_allowing(&u, allowed as f64);
            let through = u.iter().filter(|x| x.0 <= t).count();
            assert!(through <= allowed, "{allowed}: {t}");
        }
        assert!(threshold_allowing(&u, 0.0) < 1.0);
        assert_eq!(threshold_allowing(&u, 1.0), 1.5);
        assert_eq!(
            threshold_allowing(&u, 2.0),
            1.5,
            "ties at 2.0 cannot be split"
        );
        assert_eq!(threshold_allowing(&u, 3.0), 3.0);
        assert_eq!(threshold_allowing(&u, 9.0), 4.0);
    }

    #[test]
    fn weights_make_each_subject_count_once() {
        // One subject with four close sessions (weight 1/4 each), three far subjects.
        let u = sorted_by_distance(vec![
            (0.1, 0.25),
            (0.1, 0.25),
            (0.2, 0.25),
            (0.2, 0.25),
            (1.0, 1.0),
            (2.0, 1.0),
            (3.0, 1.0),
        ]);
        // A quarter of the subjects may pass: exactly the close one.
        let t = threshold_allowing(&u, 0.25 * 4.0);
        assert!((0.2..1.0).contains(&t), "{t}");
        assert_eq!(weighted_rate_le(&u, t), 0.25);
    }

    #[test]
    fn pooling_one_size_gives_its_own_quantile_and_shares_the_tail_across_sizes() {
        let size = |n: usize, shift: f32, spread: f32| Measured {
            n,
            known: Vec::new(),
            unknown: sorted_by_distance(
                (0..40).map(|i| (shift + spread * i as f32, 1.0)).collect(),
            ),
            pairs: Vec::new(),
            known_subjects: 0,
            unknown_subjects: 40,
        };
        let one = [size(1, 1.0, 0.1)];
        let t = pooled_thresholds(&one, 0.05);
        assert_eq!(t, vec![threshold_allowing(&one[0].unknown, 2.0)]);
        // Two sizes of the same shape, shifted and scaled: the same share passes each.
        // (A size whose own quantile is stricter keeps it: see the third case.)
        let two = [size(1, 1.0, 0.1), size(2, 0.5, 0.05)];
        let t = pooled_thresholds(&two, 0.05);
        for (m, t) in two.iter().zip(&t) {
            assert_eq!(weighted_rate_le(&m.unknown, *t), 0.05, "{t}");
        }
        // One size with a heavy lower tail (4 of 40 people at distance 0): the pooled tail
        // would let them all through; its own quantile is stricter and is kept.
        let mut heavy = size(2, 0.5, 0.05);
        heavy.unknown[..4].iter_mut().for_each(|x| x.0 = 0.0);
        let heavy = [size(1, 1.0, 0.1), heavy];
        let t = pooled_thresholds(&heavy, 0.05);
        assert!(weighted_rate_le(&heavy[1].unknown, t[1]) <= 0.05, "{t:?}");
    }

    #[test]
    fn band_levels_follow_measured_precision() {
        // 10 same pairs at 0.1..=1.0, different pairs from 0.55 on: precision is 1 up to 0.5.
        let mut pairs: Vec<Pair> = (1..=10).map(|i| (i as f32 / 10.0, true, 1.0)).collect();
        pairs.extend((0..20).map(|i| (0.55 + i as f32 * 0.05, false, 1.0)));
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let levels = band_levels(&pairs);
        assert_eq!(levels[0].band, Band::Strong);
        let strong = levels[0].max_distance.unwrap();
        let supporting = levels[2].max_distance.unwrap();
        assert!(strong >= 0.5 && strong < supporting, "{levels:?}");
        for l in &levels {
            assert!(l.precision.unwrap() >= l.min_precision);
            assert!(l.same_pairs >= MIN_SAME_PAIRS);
        }
        let s = SessionCalibration {
            photos: 1,
            threshold: 1.0,
            unknown_subjects: 0,
            unknown_sessions: 0,
            known_subjects: 0,
            known_sessions: 0,
            false_match_rate: None,
            false_reject_rate: None,
            bands: levels,
            histogram: histogram(&pairs),
        };
        assert_eq!(s.band(0.2), Band::Strong);
        assert_eq!(s.band(supporting + 0.01), Band::Weak);
        assert_eq!(s.histogram.same.iter().sum::<u64>(), 10);
        assert_eq!(s.histogram.different.iter().sum::<u64>(), 20);
    }

    #[test]
    fn too_few_same_pairs_earn_no_band() {
        let pairs: Vec<Pair> = (1..MIN_SAME_PAIRS).map(|i| (i as f32, true, 1.0)).collect();
        assert!(band_levels(&pairs).iter().all(|l| l.max_distance.is_none()));
    }
}
