//! An ordered set of embedders run with test-time variants: one stored vector per face.
//!
//! [`EmbedderSet`] holds one or more loaded [`Embedder`]s and the [`Variants`] each runs.
//! Every (model, variant) pair is one pass of that model's plan on its aligned chip transformed
//! by the variant; the passes are independent and run side by side on tract's pool
//! ([`crate::threads::map`]). How the outputs become one vector is the variants' [`Combine`]
//! (see [`super::variant`]): dlib's default {plain, flip} sums and normalises (bit for bit what
//! [`Embedder::embed_chip`] does); a GestaltMatcher-Arc ensemble stores the per-pair
//! L2-normalised outputs, each scaled by 1/√k, concatenated, so that the cosine distance of two
//! stored vectors is the mean over the pairs of the per-pair cosine distances.

use super::variant::{Combine, EmbeddingRecipe, MemberId, Variant, Variants};
use super::{l2_normalise, EmbedError, Embedder};
use crate::manifest::Metric;
use image::RgbImage;
use serde::Serialize;

/// The length of one (model, variant) pass's output before normalisation: what a clinic
/// compares with GestaltMatcher-Arc's stored (unnormalised) representation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairNorm {
    /// The model's manifest id.
    pub model: String,
    pub variant: Variant,
    /// L2 norm of the raw output.
    pub norm: f32,
}

/// A face's stored vector and the norms of the passes it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SetEmbedding {
    /// Unit length (see the module doc for its layout).
    pub vector: Vec<f32>,
    /// One per (model, variant) pair, models outer, variants inner.
    pub norms: Vec<PairNorm>,
}

/// The stored vector of [`Combine::PerPair`]: each (model, variant) pass's raw output, in
/// recipe order (models outer, variants inner), L2-normalised and scaled by 1/√k (k = number
/// of passes), concatenated. The one implementation: the device's [`EmbedderSet`] and the
/// import of GestaltMatcher-Arc's encodings (`lab::import`) both call it. A zero or non-finite
/// output is refused with its pass's index.
pub fn combine_per_pair(raw: Vec<Vec<f32>>) -> Result<Vec<f32>, usize> {
    let scale = 1.0 / (raw.len() as f32).sqrt();
    let mut out = Vec::with_capacity(raw.iter().map(Vec::len).sum());
    for (pair, mut v) in raw.into_iter().enumerate() {
        l2_normalise(&mut v).ok_or(pair)?;
        out.extend(v.iter().map(|x| x * scale));
    }
    Ok(out)
}

/// Loaded embedders and the variants they run.
#[derive(Debug)]
pub struct EmbedderSet {
    members: Vec<Embedder>,
    variants: Variants,
}

impl EmbedderSet {
    /// One embedder with dlib's variants from its options ({plain, flip} with `flip_tta`,
    /// {plain} without; mean-then-normalise).
    pub fn single(embedder: Embedder) -> Self {
        let variants = Variants::dlib(embedder.options().flip_tta);
        Self {
            members: vec![embedder],
            variants,
        }
    }

    /// An ordered set run with `variants`. Refused: no member; a mean combination of several
    /// members (it would add different models' outputs); a per-pair set whose members' metric
    /// is not cosine (the mean of cosine distances needs it).
    pub fn new(members: Vec<Embedder>, variants: Variants) -> Result<Self, EmbedError> {
        let refuse = |id: &str, message: &str| EmbedError::Entry {
            id: id.to_string(),
            message: message.to_string(),
        };
        let first = members.first().ok_or_else(|| refuse("", "an empty set"))?;
        if variants.combine == Combine::Mean && members.len() > 1 {
            return Err(refuse(
                &first.entry().id,
                "several embedders need per-pair variants",
            ));
        }
        if variants.combine == Combine::PerPair {
            if let Some(m) = members.iter().find(|m| m.metric() != Metric::Cosine) {
                return Err(refuse(&m.entry().id, "an embedder set needs metric cosine"));
            }
        }
        Ok(Self { members, variants })
    }

    /// The members, in order.
    pub fn members(&self) -> &[Embedder] {
        &self.members
    }

    /// The variants each member runs.
    pub fn variants(&self) -> &Variants {
        &self.variants
    }

    /// What a gallery built by this set records.
    pub fn recipe(&self) -> EmbeddingRecipe {
        let embedders = self
            .members
            .iter()
            .map(|m| MemberId {
                id: m.entry().id.clone(),
                sha256: m.entry().sha256.clone(),
                embedder_id: m.embedder_id(),
            })
            .collect();
        EmbeddingRecipe {
            embedders,
            variants: self.variants.clone(),
        }
    }

    /// Length of the stored vector.
    pub fn embedding_size(&self) -> usize {
        match self.variants.combine {
            Combine::Mean => self.members[0].embedding_size(),
            Combine::PerPair => {
                let per_model: usize = self.members.iter().map(|m| m.embedding_size()).sum();
                per_model * self.variants.list.len()
            }
        }
    }

    /// The metric galleries of this set rank by (the first member's; cosine for a set).
    pub fn metric(&self) -> Metric {
        self.members[0].metric()
    }

    /// Embeds one aligned chip with every member (they share a template).
    pub fn embed_chip(&self, chip: &RgbImage) -> Result<SetEmbedding, EmbedError> {
        let chips: Vec<&RgbImage> = self.members.iter().map(|_| chip).collect();
        self.embed_chips(&chips)
    }

    /// Embeds the face given one aligned chip per member (each on its member's template).
    pub fn embed_chips(&self, chips: &[&RgbImage]) -> Result<SetEmbedding, EmbedError> {
        self.embed_chips_counted(chips, &|| {})
    }

    /// Model passes per face: each member on each variant.
    pub fn passes(&self) -> usize {
        self.members.len() * self.variants.list.len()
    }

    /// [`Self::embed_chips`], calling `pass_done` as each (model, variant) pass ends (from the
    /// thread that ran it): how a slow analysis shows its progress.
    pub fn embed_chips_counted(
        &self,
        chips: &[&RgbImage],
        pass_done: &(dyn Fn() + Sync),
    ) -> Result<SetEmbedding, EmbedError> {
        let pairs: Vec<(usize, Variant)> = (0..self.members.len())
            .flat_map(|m| self.variants.list.iter().map(move |&v| (m, v)))
            .collect();
        let raw = crate::threads::map(&pairs, |&(m, v)| {
            let chip = chips.get(m).copied().unwrap_or(chips[0]);
            let out = self.members[m].run_variant(chip, v);
            pass_done();
            out
        });
        let raw = raw.into_iter().collect::<Result<Vec<_>, _>>()?;
        let norms = pairs
            .iter()
            .zip(&raw)
            .map(|(&(m, variant), v)| PairNorm {
                model: self.members[m].entry().id.clone(),
                variant,
                norm: v.iter().map(|x| x * x).sum::<f32>().sqrt(),
            })
            .collect();
        let vector = match self.variants.combine {
            Combine::Mean => self.mean(raw)?,
            Combine::PerPair => self.per_pair(raw, &pairs)?,
        };
        Ok(SetEmbedding { vector, norms })
    }

    /// The outputs summed in order, then normalised (dlib's flip TTA).
    fn mean(&self, raw: Vec<Vec<f32>>) -> Result<Vec<f32>, EmbedError> {
        let mut outputs = raw.into_iter();
        let mut v = outputs.next().unwrap_or_default();
        for other in outputs {
            v.iter_mut().zip(&other).for_each(|(a, b)| *a += *b);
        }
        l2_normalise(&mut v).ok_or_else(|| self.degenerate(0))?;
        Ok(v)
    }

    /// Each output normalised and scaled by 1/√k, concatenated ([`combine_per_pair`]).
    fn per_pair(
        &self,
        raw: Vec<Vec<f32>>,
        pairs: &[(usize, Variant)],
    ) -> Result<Vec<f32>, EmbedError> {
        combine_per_pair(raw).map_err(|pair| self.degenerate(pairs[pair].0))
    }

    fn degenerate(&self, member: usize) -> EmbedError {
        EmbedError::Degenerate {
            id: self.members[member].entry().id.clone(),
        }
    }
}
