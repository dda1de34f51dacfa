//! How several photos of one patient combine into one ranking: the [`FusionMode`] the device,
//! calibration and evaluation name. The fusing itself is ranking's ([`super::rank`]).

use super::{GalleryError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How several photos of one patient become one ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FusionMode {
    /// Average the (normalised) embeddings, then rank once.
    #[default]
    MeanEmbedding,
    /// Rank each photo; a syndrome's distance is its smallest over the photos.
    MinDistance,
    /// Rank each photo; a syndrome's distance is its mean over the photos.
    MeanDistance,
}

impl std::str::FromStr for FusionMode {
    type Err = GalleryError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean-embedding" | "mean" => Ok(Self::MeanEmbedding),
            "min-distance" | "min" => Ok(Self::MinDistance),
            "mean-distance" => Ok(Self::MeanDistance),
            _ => Err(GalleryError::Input(format!(
                "unknown fusion `{s}` (mean-embedding, min-distance, mean-distance)"
            ))),
        }
    }
}

impl fmt::Display for FusionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MeanEmbedding => "mean-embedding",
            Self::MinDistance => "min-distance",
            Self::MeanDistance => "mean-distance",
        })
    }
}
