//! Which embedders a pipeline runs: one manifest entry (dlib's default variants from the
//! options) or a declared `[[ensemble]]` (its members in order, its variants combined per
//! pair; `flip_tta` does not apply to it).

use super::PipelineLoadError;
use crate::embed::{
    EmbedOptions, Embedder, EmbedderSet, EmbeddingRecipe, MemberId, Variant, Variants,
};
use crate::manifest::{EnsembleEntry, Manifest, ModelEntry, Template};

/// The manifest entries a pipeline's embedders come from.
#[derive(Debug, Clone)]
pub struct Members<'m> {
    entries: Vec<&'m ModelEntry>,
    ensemble: Option<&'m EnsembleEntry>,
}

impl<'m> Members<'m> {
    /// One embedder entry.
    pub fn single(entry: &'m ModelEntry) -> Self {
        Self {
            entries: vec![entry],
            ensemble: None,
        }
    }

    /// The ensemble `id` names, else the model entry it names.
    pub fn named(manifest: &'m Manifest, id: &str) -> Result<Self, PipelineLoadError> {
        let Some(ensemble) = manifest.ensemble(id) else {
            return Ok(Self::single(manifest.model(id)?));
        };
        let entries = ensemble
            .embedders
            .iter()
            .map(|m| manifest.model(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            entries,
            ensemble: Some(ensemble),
        })
    }

    /// Each member's alignment template, in order.
    pub fn templates(&self) -> Result<Vec<Template>, PipelineLoadError> {
        self.entries
            .iter()
            .map(|e| {
                e.template
                    .clone()
                    .ok_or_else(|| PipelineLoadError::NoTemplate(e.id.clone()))
            })
            .collect()
    }

    /// Each member's alignment mode, in order.
    pub fn alignments(&self) -> Vec<crate::manifest::AlignmentMode> {
        self.entries.iter().map(|e| e.alignment).collect()
    }

    /// The ensemble's variants combined per pair; `None` for a single entry.
    pub fn variants(&self) -> Result<Option<Variants>, PipelineLoadError> {
        let Some(e) = self.ensemble else {
            return Ok(None);
        };
        let bad = |message: String| PipelineLoadError::Ensemble {
            id: e.id.clone(),
            message,
        };
        let list = e
            .variants
            .iter()
            .map(|name| {
                Variant::parse(name).ok_or_else(|| {
                    bad(format!(
                        "unknown variant `{name}` (known: plain, flip, grey, flip-grey)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Variants::per_pair(list)
            .map(Some)
            .ok_or_else(|| bad("a variant appears twice".into()))
    }

    /// Loads every member (checking each file's hash) into an [`EmbedderSet`].
    pub fn load(
        &self,
        manifest: &Manifest,
        opts: EmbedOptions,
    ) -> Result<EmbedderSet, PipelineLoadError> {
        self.load_counted(manifest, opts, &|| {})
    }

    /// [`Self::load`], calling `loaded` as each member is ready (the start-up screen's
    /// "Loading model 2 of 3").
    pub fn load_counted(
        &self,
        manifest: &Manifest,
        opts: EmbedOptions,
        loaded: &(dyn Fn() + Sync),
    ) -> Result<EmbedderSet, PipelineLoadError> {
        let variants = self.variants()?;
        let loaded = self
            .entries
            .iter()
            .map(|e| {
                let member = Embedder::load(manifest, e, opts);
                loaded();
                member
            })
            .collect::<Result<Vec<_>, _>>()?;
        match variants {
            None => Ok(EmbedderSet::single(loaded.into_iter().next().ok_or_else(
                || PipelineLoadError::Ensemble {
                    id: String::new(),
                    message: "no embedder".into(),
                },
            )?)),
            Some(v) => Ok(EmbedderSet::new(loaded, v)?),
        }
    }

    /// The manifest entries, in member order.
    pub fn entries(&self) -> &[&'m ModelEntry] {
        &self.entries
    }

    /// The recipe the ensemble's galleries record, computed from the manifest alone; `None`
    /// for a single entry or an ensemble whose variants are refused.
    pub fn recipe(&self) -> Option<EmbeddingRecipe> {
        let variants = self.variants().ok()??;
        let embedders = self
            .entries
            .iter()
            .map(|e| MemberId {
                id: e.id.clone(),
                sha256: e.sha256.clone(),
                embedder_id: e.embedder_id(),
            })
            .collect();
        Some(EmbeddingRecipe {
            embedders,
            variants,
        })
    }
}

/// The id of the manifest's ensemble whose galleries record `gallery_id`, if any.
pub(super) fn ensemble_for(manifest: &Manifest, gallery_id: &str) -> Option<String> {
    manifest.ensembles.iter().find_map(|e| {
        let members = Members::named(manifest, &e.id).ok()?;
        let id = members.recipe()?.gallery_id();
        (id == gallery_id).then(|| e.id.clone())
    })
}
