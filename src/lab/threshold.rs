//! The "no close match" threshold of one session size: which estimate sets it, and the
//! trade-off it buys at a few targets. Used by [`super::calibrate`]; what it chooses is stored in
//! the gallery as [`crate::gallery::calibration`]'s data types.
//!
//! Inputs are, per session size, the ascending patient-weighted best distances of the unknown
//! calibration subjects (syndrome not in the gallery; each subject's sessions weigh 1 in all)
//! and how many people they are. For a target false-match rate `r` each size gets one of two
//! estimates ([`ThresholdSource`]):
//!
//! * **Its own quantile** when the size has enough unknown people `n_u`: the largest threshold
//!   that lets at most a share `r` of them through (halfway to the next distance). "Enough"
//!   means the upper end of the 95% Wilson interval of a share `r` measured on `n_u` people is
//!   at most `(1 + OWN_QUANTILE_MARGIN) · r` = `1.5 · r` ([`own_quantile_suffices`]). The share
//!   of *new* unknown people an empirical `r`-quantile lets through scatters like a share `r`
//!   measured on `n_u` people (it is Beta-distributed with that mean and spread), so this keeps
//!   the rate the clinic gets, with 95% confidence, within half the target of the target: about
//!   `n_u · r ≥ 20` people let through (`n_u ≥` 2,271 at 1%, 1,118 at 2%, 427 at 5%, 196 at
//!   10%). An own quantile needs no assumption about the distribution, so where the data pins it
//!   down it is used as it is, not capped by another estimate (taking the stricter of two noisy
//!   estimates of the same rate lands below the target on average and sends known patients
//!   away for nothing).
//! * **The pooled tail** otherwise: each size's unknown distances are standardised by their own
//!   patient-weighted median `m_n` and median absolute deviation `s_n`, the `r`-quantile `z` of
//!   all sizes' standardised values together is taken (halfway to the next value), and
//!   `t_n = m_n + s_n · z`. Its tail rests on the unknown people of every size (counted once per
//!   size), at the price of assuming the sizes' distributions share one shape.
//!
//! A size whose spread is zero cannot be standardised, and a size alone in the pool would get
//! the same value back: both use their own quantile. So does `r = 0` (nobody through: the
//! smallest distance decides) and `r = 1`.

pub use crate::gallery::calibration::{OperatingPoint, ThresholdSource};

/// How far (as a share of the target) the 95% upper bound of an own quantile's rate may lie
/// above the target for the own quantile to be used (see the module docs).
pub const OWN_QUANTILE_MARGIN: f64 = 0.5;

/// Targets at which the trade-off is measured and stored for every session size.
pub const TRADEOFF_TARGETS: [f64; 4] = [0.01, 0.02, 0.05, 0.10];

/// A threshold, the estimate behind it and the unknown people that estimate rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    pub threshold: f32,
    pub source: ThresholdSource,
    /// This size's unknown people (own quantile, equal error) or all pooled sizes' together.
    pub unknown_subjects: usize,
}

/// One session size's unknown people, as the threshold rule sees them.
pub struct UnknownTail<'a> {
    /// Ascending `(best distance, patient weight)`.
    pub distances: &'a [(f32, f64)],
    /// Distinct unknown people behind `distances`.
    pub people: usize,
}

/// Wilson score interval (95%) of a share `p` measured on `n` units.
pub fn wilson95(p: f64, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_964f64;
    let n = n as f64;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// Whether `people` unknown people are enough for a size's own `r`-quantile (module docs).
pub fn own_quantile_suffices(people: usize, r: f64) -> bool {
    r <= 0.0 || r >= 1.0 || wilson95(r, people)[1] <= r * (1.0 + OWN_QUANTILE_MARGIN)
}

/// The largest float below `x`.
pub(crate) fn next_below(x: f32) -> f32 {
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
pub(crate) fn threshold_allowing(sorted: &[(f32, f64)], allowed: f64) -> f32 {
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
pub(crate) fn weighted_rate_le(sorted: &[(f32, f64)], t: f32) -> f64 {
    let total: f64 = sorted.iter().map(|x| x.1).sum();
    let below: f64 = sorted.iter().take_while(|x| x.0 <= t).map(|x| x.1).sum();
    // (+ 0.0: an empty f64 sum is -0.0.)
    below / total + 0.0
}

/// The list sorted by distance.
pub(crate) fn sorted_by_distance(mut v: Vec<(f32, f64)>) -> Vec<(f32, f64)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
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

/// The threshold letting a share `r` of one list's weight through.
pub(crate) fn own_quantile(sorted: &[(f32, f64)], r: f64) -> f32 {
    threshold_allowing(sorted, r * sorted.iter().map(|x| x.1).sum::<f64>())
}

/// The standardised tail of all sizes together.
struct Pool {
    /// Per size: `(median, MAD)` when the size is in the pool (positive, finite spread).
    scales: Vec<Option<(f32, f32)>>,
    /// Ascending standardised distances of every pooled size.
    values: Vec<(f32, f64)>,
    /// Unknown people behind `values`, summed over the pooled sizes.
    people: usize,
    sizes: usize,
}

impl Pool {
    fn new(tails: &[UnknownTail<'_>]) -> Self {
        let scales: Vec<Option<(f32, f32)>> = tails
            .iter()
            .map(|t| {
                let (centre, spread) = median_mad(t.distances);
                (spread > 0.0 && spread.is_finite()).then_some((centre, spread))
            })
            .collect();
        let mut values = Vec::new();
        let (mut people, mut sizes) = (0, 0);
        for (t, scale) in tails.iter().zip(&scales) {
            if let Some((centre, spread)) = *scale {
                values.extend(t.distances.iter().map(|&(d, w)| ((d - centre) / spread, w)));
                people += t.people;
                sizes += 1;
            }
        }
        Self {
            scales,
            values: sorted_by_distance(values),
            people,
            sizes,
        }
    }

    /// The pooled threshold of size `i` at rate `r`, when the size is pooled with others.
    fn threshold(&self, i: usize, r: f64) -> Option<f32> {
        let (centre, spread) = self.scales[i]?;
        if self.sizes < 2 {
            return None;
        }
        let total: f64 = self.values.iter().map(|x| x.1).sum();
        let z = threshold_allowing(&self.values, r * total);
        Some(centre + spread * z)
    }
}

/// Thresholds at the target false-match rate `r` for every size, each from its own quantile
/// or the pooled tail (see the module docs). Every tail must hold at least one distance.
pub fn target_thresholds(tails: &[UnknownTail<'_>], r: f64) -> Vec<Chosen> {
    let pool = Pool::new(tails);
    tails
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let pooled = (!own_quantile_suffices(t.people, r))
                .then(|| pool.threshold(i, r))
                .flatten();
            match pooled {
                Some(threshold) => Chosen {
                    threshold,
                    source: ThresholdSource::PooledTail,
                    unknown_subjects: pool.people,
                },
                None => Chosen {
                    threshold: own_quantile(t.distances, r),
                    source: ThresholdSource::OwnQuantile,
                    unknown_subjects: t.people,
                },
            }
        })
        .collect()
}

/// The `t` where the patient-weighted false-match and false-reject rates are closest (ties:
/// the smaller larger rate). Both lists must be non-empty.
pub(crate) fn equal_error_threshold(known: &[(f32, f64)], unknown: &[(f32, f64)]) -> f32 {
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
    best.2
}

/// Per session size, the [`OperatingPoint`]s at every [`TRADEOFF_TARGETS`] target, measured on
/// the calibration people (`known[i]` are size `i`'s known people, ascending, weighted).
pub fn tradeoff(tails: &[UnknownTail<'_>], known: &[&[(f32, f64)]]) -> Vec<Vec<OperatingPoint>> {
    let mut out: Vec<Vec<OperatingPoint>> = vec![Vec::new(); tails.len()];
    for target in TRADEOFF_TARGETS {
        let chosen = target_thresholds(tails, target);
        for (i, c) in chosen.into_iter().enumerate() {
            out[i].push(OperatingPoint {
                target,
                threshold: c.threshold,
                source: c.source,
                false_match_rate: (!tails[i].distances.is_empty())
                    .then(|| weighted_rate_le(tails[i].distances, c.threshold)),
                false_reject_rate: (!known[i].is_empty())
                    .then(|| 1.0 - weighted_rate_le(known[i], c.threshold)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded uniform draw in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f32 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// `people` unknown people, one session each, uniform on `[shift, shift + width)`.
    fn uniform_people(rng: &mut Rng, people: usize, shift: f32, width: f32) -> Vec<(f32, f64)> {
        sorted_by_distance(
            (0..people)
                .map(|_| (shift + width * rng.uniform(), 1.0))
                .collect(),
        )
    }

    fn tail(distances: &[(f32, f64)]) -> UnknownTail<'_> {
        UnknownTail {
            distances,
            people: distances.len(),
        }
    }

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
    fn enough_people_for_an_own_quantile_follows_the_wilson_bound() {
        // At 5% the bound needs 427 people (about 21 let through); 10% needs 196.
        assert!(!own_quantile_suffices(426, 0.05));
        assert!(own_quantile_suffices(427, 0.05));
        assert!(!own_quantile_suffices(195, 0.10));
        assert!(own_quantile_suffices(196, 0.10));
        assert!(
            own_quantile_suffices(1, 0.0),
            "nobody through needs no tail estimate"
        );
        assert!(!own_quantile_suffices(5_000, 0.001));
    }

    #[test]
    fn pooling_one_size_gives_its_own_quantile_and_shares_the_tail_across_sizes() {
        let size = |shift: f32, spread: f32| -> Vec<(f32, f64)> {
            sorted_by_distance((0..40).map(|i| (shift + spread * i as f32, 1.0)).collect())
        };
        let one = size(1.0, 0.1);
        let t = target_thresholds(&[tail(&one)], 0.05);
        assert_eq!(t[0].threshold, threshold_allowing(&one, 2.0));
        assert_eq!(t[0].source, ThresholdSource::OwnQuantile);
        // Two sizes of the same shape, shifted and scaled: the same share passes each.
        let (a, b) = (size(1.0, 0.1), size(0.5, 0.05));
        let t = target_thresholds(&[tail(&a), tail(&b)], 0.05);
        for (u, c) in [&a, &b].iter().zip(&t) {
            assert_eq!(weighted_rate_le(u, c.threshold), 0.05, "{c:?}");
            assert_eq!(
                (c.source, c.unknown_subjects),
                (ThresholdSource::PooledTail, 80)
            );
        }
        // A size with a heavy lower tail (10% of its people at distance 0) and enough people
        // for its own quantile keeps it: the pooled tail would let them all through.
        let mut heavy: Vec<(f32, f64)> = (0..500).map(|i| (0.5 + 0.004 * i as f32, 1.0)).collect();
        heavy[..50].iter_mut().for_each(|x| x.0 = 0.0);
        let heavy = sorted_by_distance(heavy);
        let t = target_thresholds(&[tail(&a), tail(&heavy)], 0.05);
        assert_eq!(t[1].source, ThresholdSource::OwnQuantile);
        assert!(weighted_rate_le(&heavy, t[1].threshold) <= 0.05, "{t:?}");
    }

    #[test]
    fn many_unknown_people_hit_the_target_within_the_bound() {
        // 3,000 people uniform on [0, 1): the rate a threshold lets through new people is the
        // threshold itself, so it is known exactly.
        let mut rng = Rng(11);
        let many = uniform_people(&mut rng, 3_000, 0.0, 1.0);
        let few = uniform_people(&mut rng, 60, 0.0, 1.0);
        let r = 0.05;
        let t = target_thresholds(&[tail(&many), tail(&few)], r);
        assert_eq!(t[0].source, ThresholdSource::OwnQuantile);
        assert_eq!(t[0].unknown_subjects, 3_000);
        let [lo, hi] = wilson95(r, 3_000);
        let achieved = f64::from(t[0].threshold);
        assert!(
            lo <= achieved && achieved <= hi,
            "{achieved} not in {lo}..{hi}"
        );
        assert!(achieved <= r * (1.0 + OWN_QUANTILE_MARGIN));
    }

    #[test]
    fn few_unknown_people_use_the_pooled_tail() {
        // 60 people at 2 photos spread evenly over a shifted, narrower uniform, beside 3,000
        // drawn at 1 photo: the pooled tail serves the small size and lands, on its true
        // distribution, within what an own quantile of 60 people could promise.
        let mut rng = Rng(5);
        let many = uniform_people(&mut rng, 3_000, 0.0, 1.0);
        let (shift, width) = (0.2f32, 0.5f32);
        let few: Vec<(f32, f64)> = (0..60)
            .map(|i| (shift + width * (i as f32 + 0.5) / 60.0, 1.0))
            .collect();
        let r = 0.05;
        let t = target_thresholds(&[tail(&many), tail(&few)], r);
        assert_eq!(t[0].source, ThresholdSource::OwnQuantile);
        assert_eq!(t[1].source, ThresholdSource::PooledTail);
        assert_eq!(t[1].unknown_subjects, 3_060);
        let achieved = f64::from((t[1].threshold - shift) / width);
        let [lo, hi] = wilson95(r, 60);
        assert!(
            lo <= achieved && achieved <= hi,
            "{achieved} not in {lo}..{hi}"
        );
    }

    #[test]
    fn tradeoff_measures_every_target_and_says_when_nobody_is_known() {
        let mut rng = Rng(3);
        let unknown = uniform_people(&mut rng, 200, 0.5, 1.0);
        let known = uniform_people(&mut rng, 50, 0.0, 1.0);
        let points = tradeoff(&[tail(&unknown), tail(&unknown)], &[&known, &[]]);
        assert_eq!(points[0].len(), TRADEOFF_TARGETS.len());
        let frr: Vec<f64> = points[0]
            .iter()
            .map(|p| p.false_reject_rate.unwrap())
            .collect();
        assert!(frr.windows(2).all(|w| w[1] <= w[0]), "{frr:?}");
        assert!(points[1].iter().all(|p| p.false_reject_rate.is_none()));
        for p in &points[0] {
            assert!(p.false_match_rate.unwrap() <= p.target + 1e-12, "{p:?}");
        }
    }
}
