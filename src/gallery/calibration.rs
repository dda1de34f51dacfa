//! The calibration a gallery file stores and ranking reads: the "no close match" threshold and
//! the evidence bands per session size, with the distance histograms behind them.
//!
//! Data only: the types, how a ranking looks up its session size and band, and the checks a
//! loaded file must pass. How these numbers are measured is the offline lab's job
//! ([`crate::lab::calibrate`](mod@crate::lab::calibrate)). The gallery file holds them as JSON
//! (see [`super::format`](mod@super::format)), so the serde names are part of the file format.

use super::candidate::Band;
use super::fusion::FusionMode;
use super::{GalleryError, Result};
use serde::{Deserialize, Serialize};

/// The rule that chose the thresholds: a target false-match rate, or equal error rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// One calibrated band level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandLevel {
    pub band: Band,
    /// Precision this level requires.
    pub min_precision: f64,
    /// Largest distance still in this level; `None` when no distance reached the precision.
    pub max_distance: Option<f32>,
    /// Precision measured at `max_distance`.
    pub precision: Option<f64>,
    /// Candidate pairs at or below `max_distance`, and how many of them were the true syndrome.
    pub pairs: usize,
    pub same_pairs: usize,
}

/// Distances of same-syndrome and different-syndrome candidate pairs (counts per bin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistanceHistogram {
    /// `bins + 1` increasing edges; the last bin also holds everything above the last edge.
    pub edges: Vec<f32>,
    pub same: Vec<u64>,
    pub different: Vec<u64>,
}

/// Which estimate set a session size's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdSource {
    /// The size's own patient-weighted quantile of its unknown people.
    OwnQuantile,
    /// The standardised tail pooled over all session sizes.
    PooledTail,
    /// The equal-error rule (false match and false reject closest), on the size's own people.
    EqualError,
}

impl ThresholdSource {
    /// Short words for reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::OwnQuantile => "own quantile",
            Self::PooledTail => "pooled tail",
            Self::EqualError => "equal error",
        }
    }
}

/// One point of the measured trade-off: at a target false-match rate, the threshold the rule
/// gives and what it does on the calibration people (per patient).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub target: f64,
    pub threshold: f32,
    pub source: ThresholdSource,
    /// Unknown people called a close match; `None` without unknown people.
    pub false_match_rate: Option<f64>,
    /// Known people (syndrome in the gallery) called "no close match"; `None` without any.
    pub false_reject_rate: Option<f64>,
}

/// What was measured for one session size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCalibration {
    /// Photos fused per session.
    pub photos: usize,
    pub threshold: f32,
    pub unknown_subjects: usize,
    pub unknown_sessions: usize,
    pub known_subjects: usize,
    pub known_sessions: usize,
    /// On the calibration sessions at `threshold`, per patient.
    pub false_match_rate: Option<f64>,
    pub false_reject_rate: Option<f64>,
    pub bands: Vec<BandLevel>,
    pub histogram: DistanceHistogram,
    /// The estimate that set `threshold`; `None` in galleries calibrated before it was stored.
    #[serde(default)]
    pub threshold_source: Option<ThresholdSource>,
    /// Unknown people that estimate rests on: this size's for its own quantile, every pooled
    /// size's together for the pooled tail; `None` in galleries calibrated before.
    #[serde(default)]
    pub threshold_unknown_subjects: Option<usize>,
    /// The trade-off measured at a few targets (the lab's `TRADEOFF_TARGETS`); empty in
    /// galleries calibrated before.
    #[serde(default)]
    pub tradeoff: Vec<OperatingPoint>,
}

impl SessionCalibration {
    /// The band of a candidate at `distance`; [`Band::Uncalibrated`] when calibration saw no
    /// candidate of a known syndrome (nothing to measure precision on).
    pub fn band(&self, distance: f32) -> Band {
        if self.histogram.same.iter().all(|&n| n == 0) {
            return Band::Uncalibrated;
        }
        self.bands
            .iter()
            .find(|l| l.max_distance.is_some_and(|m| distance <= m))
            .map_or(Band::Weak, |l| l.band)
    }
}

/// Everything calibration stores in the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub rule: CalibrationRule,
    pub fusion: FusionMode,
    pub seed: u64,
    /// One entry per calibrated session size, ascending.
    pub sessions: Vec<SessionCalibration>,
}

impl Calibration {
    /// The operating point in one line, for `doctor` and `gallery info`: the target false close
    /// match rate (or the equal-error rule) and the session sizes calibrated.
    pub fn operating_point(&self) -> String {
        let rule = match self.rule {
            CalibrationRule::TargetFalseMatchRate(r) => format!(
                "calibrated for {:.2}% false close match",
                100.0 * f64::from(r)
            ),
            CalibrationRule::EqualError => "calibrated at equal error".to_string(),
        };
        let sizes = match (self.sessions.first(), self.sessions.last()) {
            (Some(a), Some(b)) if a.photos != b.photos => format!("{}-{}", a.photos, b.photos),
            (Some(a), _) => a.photos.to_string(),
            _ => "no".to_string(),
        };
        format!("{rule} ({sizes} photo(s), fusion {})", self.fusion)
    }

    /// The measurement for a session of `photos` photos fused with `fusion`: the largest
    /// calibrated size not above `photos`. `None` when the fusion differs (for more than one
    /// photo) or nothing fits.
    pub fn for_photos(&self, photos: usize, fusion: FusionMode) -> Option<&SessionCalibration> {
        if photos > 1 && fusion != self.fusion {
            return None;
        }
        self.sessions
            .iter()
            .filter(|s| s.photos <= photos.max(1))
            .max_by_key(|s| s.photos)
    }

    /// Checks what a gallery file holds before it is used.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(GalleryError::Malformed(format!("calibration: {m}")));
        if self.sessions.is_empty() {
            return bad("no session sizes");
        }
        let mut last = 0;
        for s in &self.sessions {
            if s.photos <= last {
                return bad("session sizes are not increasing");
            }
            last = s.photos;
            if !s.threshold.is_finite() {
                return bad("threshold is not finite");
            }
            if s.bands
                .iter()
                .any(|b| b.max_distance.is_some_and(|d| !d.is_finite()))
            {
                return bad("band distance is not finite");
            }
            let h = &s.histogram;
            if h.edges.len() != h.same.len() + 1 || h.same.len() != h.different.len() {
                return bad("histogram sizes disagree");
            }
        }
        Ok(())
    }
}
