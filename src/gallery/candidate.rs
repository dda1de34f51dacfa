//! What a ranking gives the rest of the device: candidate syndromes with their evidence band.
//! These types belong to the gallery (it computes them); `ui` only renders them.

use serde::{Deserialize, Serialize};

/// How much a candidate's face distance supports it, named after the ACMG/AMP PP4 evidence
/// levels. Each level is tied to a precision measured at calibration (see
/// [`crate::lab::calibrate`](mod@crate::lab::calibrate)): a candidate gets the highest level
/// whose measured precision its distance reaches. A gallery without that measurement gives
/// [`Band::Uncalibrated`], never a level it has not earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Strong,
    Moderate,
    Supporting,
    /// Listed for completeness: below the supporting level.
    Weak,
    /// The gallery carries no measured band levels.
    Uncalibrated,
}

impl Band {
    /// The calibrated levels, strongest first, with the precision each one requires.
    pub const LEVELS: [(Band, f64); 3] = [
        (Band::Strong, 0.90),
        (Band::Moderate, 0.75),
        (Band::Supporting, 0.50),
    ];

    pub fn label(self) -> &'static str {
        match self {
            Band::Strong => "strong",
            Band::Moderate => "moderate",
            Band::Supporting => "supporting",
            Band::Weak => "weak",
            Band::Uncalibrated => "uncalibrated",
        }
    }

    /// Filled cells of the three-cell indicator.
    pub fn level(self) -> usize {
        match self {
            Band::Strong => 3,
            Band::Moderate => 2,
            Band::Supporting => 1,
            Band::Weak | Band::Uncalibrated => 0,
        }
    }
}

/// One candidate syndrome of a ranking, as the results screen shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// 1-based rank.
    pub rank: usize,
    /// Syndrome name, e.g. "Cornelia de Lange syndrome".
    pub name: String,
    /// OMIM id, e.g. "122470", if known.
    pub omim: Option<String>,
    /// Genes known for the syndrome (from the gallery's label file), may be empty.
    pub genes: Vec<String>,
    pub band: Band,
    /// Similarity to the nearest reference case (higher is closer); for logs and JSON, the
    /// screen shows the band.
    pub similarity: f32,
    /// Id of the nearest reference case in the gallery.
    pub nearest_case: String,
    /// After phenotype questions: what the answers did to this candidate, e.g.
    /// `+Heart defect -Seizures`, or `face only (no HPO annotations)`. `None` before any.
    pub evidence: Option<String>,
}
