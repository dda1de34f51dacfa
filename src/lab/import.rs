//! Importing GestaltMatcher-Arc's (GM-Arc's) gallery encodings into a gallery bound to a
//! declared embedder set (`gestaltcam gallery import`).
//!
//! GM-Arc stores, per image, one raw representation per (model, variant) pair (rows of
//! [`EncodingRow`], read by [`super::read_encodings`]). The gallery is bound to a manifest
//! `[[ensemble]]` ([`ImportTarget::from_manifest`]): GM-Arc's model keys (`m0`, `m1`, `m2`) are
//! mapped to the ensemble's members by a [`ModelMap`] (explicit `m0=ID,…`, or by order: the
//! ensemble's first member is `m0`, the second `m1`, …). Each image's stored vector is computed
//! by [`crate::embed::combine_per_pair`], the same function the device's embedder set uses, from
//! the image's rows in recipe order (members outer, variants inner), so a photo embedded on the
//! device and GM-Arc's stored encodings of it compare pair by pair.
//!
//! An image listed in the labels that lacks any pair of the recipe is skipped with the reason
//! [`SkipReason::MissingPair`] (counted and listed like `gallery build`'s skips); a zero
//! representation is skipped as a bad embedding; a representation whose length is not its
//! member's `embedding_size` is an error naming the image, the model key and the member.

use super::build::{assemble_gallery, BuildOptions, BuildSummary, Embedded, MadeBy, SkipReason};
use super::gmarc::EncodingRow;
use super::labels::{CaseEntry, LabelSet};
use crate::embed::{combine_per_pair, EmbeddingRecipe, Variant};
use crate::gallery::{Gallery, GalleryError, Result};
use crate::manifest::{Manifest, Metric};
use crate::pipeline::Members;
use std::collections::HashMap;

/// The gallery an import builds: the ensemble's recipe and each member's vector length.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportTarget {
    /// The ensemble's members (ids and hashes) and variants, recorded in the gallery.
    pub recipe: EmbeddingRecipe,
    /// Each member's `embedding_size`, in member order.
    pub member_sizes: Vec<usize>,
}

impl ImportTarget {
    /// The target the manifest's `[[ensemble]]` `id` declares (the model files are not read).
    /// Refused: an unknown id, a single model id (an import needs an ensemble's per-pair
    /// variants), a member without `embedding_size`.
    pub fn from_manifest(manifest: &Manifest, id: &str) -> Result<Self> {
        let input = |m: String| GalleryError::Input(m);
        let members = Members::named(manifest, id).map_err(|e| input(e.to_string()))?;
        if manifest.ensemble(id).is_none() {
            return Err(input(format!(
                "`{id}` is a model, not an [[ensemble]]: an import needs the ensemble's \
                 members and variants"
            )));
        }
        members.variants().map_err(|e| input(e.to_string()))?;
        let recipe = members
            .recipe()
            .ok_or_else(|| input(format!("ensemble `{id}` has no usable recipe")))?;
        let member_sizes = members
            .entries()
            .iter()
            .map(|e| {
                e.embedding_size
                    .ok_or_else(|| input(format!("embedder `{}` has no embedding_size", e.id)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            recipe,
            member_sizes,
        })
    }

    /// Length of the stored vector: every member's size once per variant.
    pub fn embedding_size(&self) -> usize {
        self.member_sizes.iter().sum::<usize>() * self.recipe.variants.list.len()
    }
}

/// GM-Arc's model key of each ensemble member, in member order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelMap {
    keys: Vec<String>,
}

impl ModelMap {
    /// By order: member 0 is `m0`, member 1 `m1`, ….
    pub fn by_order(target: &ImportTarget) -> Self {
        let keys = (0..target.recipe.embedders.len())
            .map(|i| format!("m{i}"))
            .collect();
        Self { keys }
    }

    /// From `m0=ID,m1=ID,…`: every member of the target named exactly once; a key may name
    /// only one member. Refused naming the unknown or missing id.
    pub fn parse(text: &str, target: &ImportTarget) -> Result<Self> {
        let ids: Vec<&str> = target
            .recipe
            .embedders
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        let mut keys: Vec<Option<String>> = vec![None; ids.len()];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, id) = part.split_once('=').ok_or_else(|| {
                GalleryError::Input(format!("--model-map: `{part}` is not KEY=ID"))
            })?;
            let (key, id) = (key.trim(), id.trim());
            let Some(member) = ids.iter().position(|m| *m == id) else {
                return Err(GalleryError::Input(format!(
                    "--model-map: `{id}` is not a member of the ensemble (members: {})",
                    ids.join(", ")
                )));
            };
            if keys[member].is_some() || keys.iter().flatten().any(|k| k == key) {
                return Err(GalleryError::Input(format!(
                    "--model-map: `{key}` or `{id}` is mapped twice"
                )));
            }
            keys[member] = Some(key.to_string());
        }
        let keys = keys
            .into_iter()
            .zip(&ids)
            .map(|(k, id)| {
                k.ok_or_else(|| GalleryError::Input(format!("--model-map does not map `{id}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { keys })
    }

    /// The GM-Arc key of member `i`.
    pub fn key(&self, member: usize) -> &str {
        &self.keys[member]
    }
}

/// Encodings rows by (image id, model key, flip, gray).
type RowIndex<'r> = HashMap<(&'r str, &'r str, bool, bool), &'r EncodingRow>;

/// Builds the gallery of the labelled images (`labels`, e.g. a GMDB split with metadata
/// attached) from their encodings. Images of `rows` that no label lists are ignored.
pub fn import_encodings(
    rows: &[EncodingRow],
    labels: &LabelSet,
    target: &ImportTarget,
    map: &ModelMap,
    opts: &BuildOptions,
) -> Result<(Gallery, BuildSummary)> {
    let start = std::time::Instant::now();
    let index: RowIndex<'_> = rows
        .iter()
        .map(|r| ((r.image_id.as_str(), r.model.as_str(), r.flip, r.gray), r))
        .collect();
    let mut summary = BuildSummary {
        listed: labels.cases.len(),
        ..Default::default()
    };
    let mut embedded: Vec<Embedded> = Vec::with_capacity(labels.cases.len());
    for case in &labels.cases {
        let e = stored_vector(&index, case, target, map)?;
        if let Err(reason) = &e {
            log::warn!("skipping {}: {reason}", case.case_id);
            summary.skip(case.case_id.clone(), case.image.clone(), reason.clone());
        }
        embedded.push(e);
    }
    summary.seconds = start.elapsed().as_secs_f64();
    let made = MadeBy {
        embedder_id: target.recipe.gallery_id(),
        metric: Metric::Cosine,
        dim: target.embedding_size(),
        recipe: Some(target.recipe.clone()),
    };
    assemble_gallery(labels, embedded, summary, &made, opts)
}

/// One image's stored vector from its rows, or why it is skipped. A representation of the
/// wrong length is an error (the file does not fit the ensemble), not a skip.
fn stored_vector(
    index: &RowIndex<'_>,
    case: &CaseEntry,
    target: &ImportTarget,
    map: &ModelMap,
) -> Result<Embedded> {
    let mut raw = Vec::new();
    for (m, member) in target.recipe.embedders.iter().enumerate() {
        let key = map.key(m);
        for &v in &target.recipe.variants.list {
            let Some(row) = index.get(&(case.case_id.as_str(), key, v.flip, v.grey)) else {
                return Ok(Err(missing(key, &member.id, v)));
            };
            if row.representation.len() != target.member_sizes[m] {
                return Err(GalleryError::Input(format!(
                    "encodings: image `{}` model `{key}` ({}) has {} values, embedder `{}` \
                     gives {}",
                    case.case_id,
                    v.name(),
                    row.representation.len(),
                    member.id,
                    target.member_sizes[m]
                )));
            }
            raw.push(row.representation.clone());
        }
    }
    Ok(combine_per_pair(raw).map_err(|pair| {
        SkipReason::BadEmbedding(format!("pass {} is zero or not finite", pair + 1))
    }))
}

/// The skip reason of an absent (model, variant) row.
fn missing(key: &str, member: &str, v: Variant) -> SkipReason {
    SkipReason::MissingPair(format!(
        "no `{key}` ({member}) row with flip {} gray {} ({})",
        v.flip as u8,
        v.grey as u8,
        v.name()
    ))
}
