//! `gallery import`: GestaltMatcher-Arc's gallery encodings and GMDB labels → a gallery bound
//! to a manifest ensemble (the building is `lab::import`); calibrate and sign it afterwards
//! with the usual commands.

use super::ImportArgs;
use anyhow::{Context, Result};
use gestaltcam::gallery::Storage;
use gestaltcam::lab::{self, ImportTarget, ModelMap};
use gestaltcam::manifest::Manifest;

/// Reads the files, builds the gallery, saves it and prints what was skipped.
pub fn import(a: ImportArgs) -> Result<()> {
    let id =
        a.models.embedder.as_deref().context(
            "gallery import needs --embedder ENSEMBLE_ID (an [[ensemble]] of the manifest)",
        )?;
    let manifest = Manifest::load_dir(&a.models.models)
        .with_context(|| format!("models folder {}", a.models.models.display()))?;
    let target = ImportTarget::from_manifest(&manifest, id)?;
    let map = match &a.model_map {
        Some(text) => ModelMap::parse(text, &target)?,
        None => ModelMap::by_order(&target),
    };
    let labels = read_labels(&a)?;
    let rows = lab::read_encodings(&a.encodings)?;
    let opts = lab::BuildOptions {
        name: a.name.clone(),
        storage: if a.int8 { Storage::Int8 } else { Storage::F32 },
        created_unix: None,
        threads: 1,
    };
    let (g, summary) = lab::import_encodings(&rows, &labels, &target, &map, &opts)?;
    g.save(&a.out)?;
    print!("{summary}");
    println!(
        "wrote {} ({} cases, {} syndromes; {})",
        a.out.display(),
        g.len(),
        g.labels().len(),
        target.recipe.describe()
    );
    Ok(())
}

/// The GMDB split (optionally one rare-set split) with the metadata's genes attached.
fn read_labels(a: &ImportArgs) -> Result<lab::LabelSet> {
    let mut set = lab::read_gmdb(&a.labels, &a.syndromes, "{image_id}.jpg")?;
    if let Some(split) = &a.split {
        set = set.in_split(split, &a.labels)?;
    }
    if let Some(path) = &a.metadata {
        lab::attach_metadata(&mut set, &lab::read_metadata(path)?);
    }
    Ok(set)
}
