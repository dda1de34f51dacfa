//! The embedding recipe a gallery records: the ordered embedder set (ids + sha256) and the
//! test-time variants it was built with ([`EmbeddingRecipe`]), and the check that a pipeline
//! querying the gallery matches it.
//!
//! Stored as an optional trailing block (header flag bit 2, [`FLAG_RECIPE`]): u32 byte length +
//! UTF-8 JSON of the recipe, after the calibration block. The header's embedder id is the
//! recipe's [`EmbeddingRecipe::gallery_id`] (for dlib's default, the one model's id, as before).
//! A gallery without the block (written before recipes) reads as "one embedder (its header id),
//! dlib's variants", and any single-embedder, mean-combined pipeline of that embedder may query
//! it, as before.

use super::{Gallery, GalleryError, LoadOptions, Result};
use crate::embed::{Combine, EmbeddingRecipe, MemberId, Variants};
use std::path::Path;

/// Header flag: a recipe block follows the calibration block.
pub(super) const FLAG_RECIPE: u32 = 4;
/// Largest recipe block (JSON bytes).
pub(super) const MAX_RECIPE: usize = 1 << 20;

impl Gallery {
    /// The recipe the gallery was built with; for a gallery written before recipes, one
    /// embedder (its header id; file hash not recorded) with dlib's variants {plain, flip}.
    pub fn recipe(&self) -> EmbeddingRecipe {
        self.recipe.clone().unwrap_or_else(|| EmbeddingRecipe {
            embedders: vec![MemberId {
                id: format!("embedder {}", short(&self.meta.embedder_id)),
                sha256: "not recorded".into(),
                embedder_id: self.meta.embedder_id.clone(),
            }],
            variants: Variants::dlib(true),
        })
    }

    /// Whether the file records its recipe (false: written before recipes were recorded).
    pub fn records_recipe(&self) -> bool {
        self.recipe.is_some()
    }

    /// Records the recipe the gallery was built with. Its [`EmbeddingRecipe::gallery_id`] must
    /// be the gallery's embedder id. Save to keep it (and re-sign).
    pub fn set_recipe(&mut self, recipe: EmbeddingRecipe) -> Result<()> {
        if recipe.gallery_id() != self.meta.embedder_id {
            return Err(GalleryError::Invalid(format!(
                "the recipe ({}) is not the gallery's embedder `{}`",
                recipe.describe(),
                self.meta.embedder_id
            )));
        }
        self.recipe = Some(recipe);
        self.refresh_content_hash();
        Ok(())
    }

    /// Refuses a pipeline whose embedder set or variants differ from the gallery's; the
    /// message names both recipes.
    /// Another single model of dlib's kind (one embedder, mean-combined, on both sides) is
    /// refused as before, naming both embedder ids ([`Gallery::check_embedder`]).
    pub fn check_recipe(&self, pipeline: &EmbeddingRecipe) -> Result<()> {
        let ours = self.recipe();
        if ours.accepts(pipeline, !self.records_recipe()) {
            return Ok(());
        }
        let single =
            |r: &EmbeddingRecipe| r.embedders.len() == 1 && r.variants.combine == Combine::Mean;
        if single(&ours) && single(pipeline) && ours.gallery_id() != pipeline.gallery_id() {
            return self.check_embedder(&pipeline.gallery_id());
        }
        Err(GalleryError::RecipeMismatch {
            gallery: self.recipe().describe(),
            pipeline: pipeline.describe(),
        })
    }

    /// Loads the gallery for a pipeline's recipe, the check the command line and `doctor` make
    /// before they rank: given a public key file (PEM), an unsigned or wrongly signed gallery is
    /// refused; then any other embedder set or variants, naming both.
    pub fn load_for_recipe(
        path: &Path,
        recipe: &EmbeddingRecipe,
        public_key_file: Option<&Path>,
    ) -> Result<Self> {
        let public_key = public_key_file
            .map(super::sign::read_verifying_key)
            .transpose()?;
        let opts = LoadOptions {
            public_key,
            embedder_id: None,
        };
        let g = Self::load_with(path, &opts)?;
        g.check_recipe(recipe)?;
        Ok(g)
    }
}

/// Appends the recipe block (when there is one) to an encoded gallery.
pub(super) fn put_recipe(b: &mut Vec<u8>, recipe: Option<&EmbeddingRecipe>) {
    if let Some(r) = recipe {
        // Serialising plain data cannot fail.
        let json = serde_json::to_vec(r).unwrap_or_default();
        b.extend_from_slice(&(json.len() as u32).to_le_bytes());
        b.extend_from_slice(&json);
    }
}

/// The recipe block's JSON, read back; it must name the header's embedder id.
pub(super) fn parse_recipe(json: &[u8], embedder_id: &str) -> Result<EmbeddingRecipe> {
    let recipe: EmbeddingRecipe = serde_json::from_slice(json)
        .map_err(|e| GalleryError::Malformed(format!("recipe block: {e}")))?;
    if recipe.embedders.is_empty() || recipe.variants.list.is_empty() {
        return Err(GalleryError::Malformed("recipe block: an empty set".into()));
    }
    if recipe.gallery_id() != embedder_id {
        return Err(GalleryError::Malformed(
            "recipe block does not match the header's embedder id".into(),
        ));
    }
    Ok(recipe)
}

/// The first 12 characters of an id.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
