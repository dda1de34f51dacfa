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
//!   share `r` of the unknown subjects (syndrome not in the gallery) through. A size with
//!   enough unknown people for its own quantile uses it: enough means the 95% Wilson upper
//!   bound of a share `r` measured on its `n_u` unknown people is at most `1.5 · r` (about
//!   `n_u · r ≥ 20`: 427 people at 5%, 196 at 10%), so the rate new patients meet stays within
//!   half the target of the target. A size with fewer takes the tail pooled over all sizes
//!   (each size standardised by its own patient-weighted median and MAD). The rule, and why,
//!   are in [`super::threshold`]; which estimate each size took and how many unknown people it
//!   rests on are stored ([`SessionCalibration::threshold_source`],
//!   [`SessionCalibration::threshold_unknown_subjects`]).
//!   [`CalibrationRule::EqualError`] takes, per size, the `t` where false-match and
//!   false-reject rates are closest.
//! * **Trade-off.** Whatever the rule, each size also stores the thresholds the target rule
//!   gives at [`TRADEOFF_TARGETS`](super::threshold::TRADEOFF_TARGETS) (1%, 2%, 5%, 10%) with the false-match and false-reject
//!   rates they give on the calibration people ([`OperatingPoint`]): the price of a stricter
//!   target in known patients sent away. Without known people (no calibration subject's
//!   syndrome in the gallery) the false-reject side is `None` and reported as not measured.
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
use super::threshold::{
    equal_error_threshold, sorted_by_distance, target_thresholds, tradeoff, weighted_rate_le,
    Chosen, UnknownTail,
};
use crate::gallery::calibration::{
    BandLevel, Calibration, CalibrationRule, DistanceHistogram, OperatingPoint, SessionCalibration,
    ThresholdSource,
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

/// The line saying which estimate set a size's threshold and on how many people.
fn fmt_basis(
    f: &mut fmt::Formatter<'_>,
    s: &SessionCalibration,
    rule: CalibrationRule,
) -> fmt::Result {
    let people = s.threshold_unknown_subjects.unwrap_or(0);
    match s.threshold_source {
        None => writeln!(f, "    threshold from: not recorded (calibrated by an earlier version)"),
        Some(ThresholdSource::OwnQuantile) => writeln!(
            f,
            "    threshold from: own quantile of {people} unknown people"
        ),
        Some(ThresholdSource::PooledTail) => writeln!(
            f,
            "    threshold from: tail pooled over the session sizes ({people} unknown people; this size's {} are too few for its own{} quantile)",
            s.unknown_subjects,
            match rule {
                CalibrationRule::TargetFalseMatchRate(r) => format!(" {}", pct(Some(f64::from(r)))),
                CalibrationRule::EqualError => String::new(),
            }
        ),
        Some(ThresholdSource::EqualError) => writeln!(
            f,
            "    threshold from: equal error on {people} unknown and {} known people",
            s.known_subjects
        ),
    }
}

/// The measured trade-off of one size at [`TRADEOFF_TARGETS`](super::threshold::TRADEOFF_TARGETS).
fn fmt_tradeoff(f: &mut fmt::Formatter<'_>, s: &SessionCalibration) -> fmt::Result {
    if s.tradeoff.is_empty() {
        return writeln!(
            f,
            "    trade-off: not measured (calibrated by an earlier version)"
        );
    }
    let known = if s.known_subjects == 0 {
        "0 known: known rejected not measured, no calibration person's syndrome is in the gallery"
            .to_string()
    } else {
        format!("{} known", s.known_subjects)
    };
    writeln!(
        f,
        "    trade-off on the calibration people ({} unknown, {known}):",
        s.unknown_subjects
    )?;
    for p in &s.tradeoff {
        writeln!(
            f,
            "      target {:>6}: threshold {:.5} ({}), false close match {}, known rejected {}",
            pct(Some(p.target)),
            p.threshold,
            p.source.label(),
            pct(p.false_match_rate),
            pct(p.false_reject_rate)
        )?;
    }
    Ok(())
}

/// The evidence band lines of one size.
fn fmt_bands(f: &mut fmt::Formatter<'_>, s: &SessionCalibration) -> fmt::Result {
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
    Ok(())
}

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
            fmt_basis(f, s, self.rule)?;
            fmt_tradeoff(f, s)?;
            fmt_bands(f, s)?;
        }
        Ok(())
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

/// Checks the rule against what was measured: a rate in `0..=1` with unknown people; equal
/// error with known and unknown people at every size.
fn check_rule(rule: CalibrationRule, measured: &[Measured]) -> Result<()> {
    match rule {
        CalibrationRule::TargetFalseMatchRate(r) if !(0.0..=1.0).contains(&r) => Err(
            GalleryError::Input(format!("target false-match rate {r} is not in 0..=1")),
        ),
        CalibrationRule::TargetFalseMatchRate(_) if measured[0].unknown.is_empty() => {
            Err(GalleryError::Input(
                "calibrating to a false-match rate needs probes of syndromes not in the gallery"
                    .into(),
            ))
        }
        CalibrationRule::EqualError
            if measured
                .iter()
                .any(|m| m.unknown.is_empty() || m.known.is_empty()) =>
        {
            Err(GalleryError::Input(
                "the equal-error rule needs probes both in and not in the gallery".into(),
            ))
        }
        _ => Ok(()),
    }
}

/// Each size's unknown people, as the threshold rule takes them.
fn tails(measured: &[Measured]) -> Vec<UnknownTail<'_>> {
    measured
        .iter()
        .map(|m| UnknownTail {
            distances: &m.unknown,
            people: m.unknown_subjects,
        })
        .collect()
}

/// The threshold of every measured size under `rule` (checked by [`check_rule`]).
fn thresholds(rule: CalibrationRule, measured: &[Measured]) -> Vec<Chosen> {
    match rule {
        CalibrationRule::TargetFalseMatchRate(r) => {
            target_thresholds(&tails(measured), f64::from(r))
        }
        CalibrationRule::EqualError => measured
            .iter()
            .map(|m| Chosen {
                threshold: equal_error_threshold(&m.known, &m.unknown),
                source: ThresholdSource::EqualError,
                unknown_subjects: m.unknown_subjects,
            })
            .collect(),
    }
}

/// The trade-off at [`TRADEOFF_TARGETS`](super::threshold::TRADEOFF_TARGETS) per size; none when a size has no unknown people.
fn tradeoffs(measured: &[Measured]) -> Vec<Vec<OperatingPoint>> {
    if measured.iter().any(|m| m.unknown.is_empty()) {
        return vec![Vec::new(); measured.len()];
    }
    let known: Vec<&[(f32, f64)]> = measured.iter().map(|m| m.known.as_slice()).collect();
    tradeoff(&tails(measured), &known)
}

fn finish_size(
    m: Measured,
    chosen: Chosen,
    tradeoff: Vec<OperatingPoint>,
) -> Result<SessionCalibration> {
    let t = chosen.threshold;
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
        threshold_source: Some(chosen.source),
        threshold_unknown_subjects: Some(chosen.unknown_subjects),
        tradeoff,
    })
}

/// Measures every session size `1 ..= opts.max_photos` that has people to measure.
fn measure_all(
    gallery: &Gallery,
    probes: &[CalibrationProbe],
    opts: &CalibrateOptions,
) -> Result<Vec<Measured>> {
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
    Ok(measured)
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
    let measured = measure_all(gallery, probes, opts)?;
    check_rule(opts.rule, &measured)?;
    let chosen = thresholds(opts.rule, &measured);
    let points = tradeoffs(&measured);
    let out = measured
        .into_iter()
        .zip(chosen)
        .zip(points)
        .map(|((m, c), p)| finish_size(m, c, p))
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
            threshold_source: None,
            threshold_unknown_subjects: None,
            tradeoff: Vec::new(),
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
