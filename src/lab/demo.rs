//! The bundled DEMO gallery: built in memory from the licence-clean demo photos
//! (`demo/gallery.csv`) for the laptop demo and the soak runs. Nothing clinical, nothing
//! written.

use super::build::{build_gallery, BuildOptions};
use super::labels::{read_label_csv, LabelSet};
use crate::gallery::{Gallery, GalleryError, Storage};
use crate::pipeline::PhotoEmbedder;
use std::path::Path;

/// Why the DEMO gallery could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DemoGalleryError {
    /// Reading the demo labels or building from them failed. (The message includes the
    /// gallery error's; it is not its `source`, so a report of the chain says it once.)
    #[error("demo gallery: {0}")]
    Gallery(GalleryError),
    /// Some demo photos gave no case (the demo set must be complete).
    #[error("demo gallery: {count} photo(s) unusable: {reasons}")]
    Unusable {
        count: usize,
        /// Skip reasons and how many photos each, as listed.
        reasons: String,
    },
}

/// The bundled DEMO gallery, built in memory from `demo_dir/gallery.csv` with `embedder` (no
/// threshold: every match is ranked).
pub fn demo_gallery<E: PhotoEmbedder + Sync + ?Sized>(
    embedder: &E,
    demo_dir: &Path,
) -> Result<Gallery, DemoGalleryError> {
    let csv = demo_dir.join("gallery.csv");
    let labels = read_label_csv(&csv).map_err(DemoGalleryError::Gallery)?;
    let opts = BuildOptions {
        name: "DEMO gallery".into(),
        storage: Storage::F32,
        created_unix: None,
        threads: 1,
    };
    let (mut gallery, summary) =
        build_gallery(embedder, &labels, &LabelSet::root_of(&csv), &opts, None)
            .map_err(DemoGalleryError::Gallery)?;
    if !summary.skipped.is_empty() {
        return Err(DemoGalleryError::Unusable {
            count: summary.skipped.len(),
            reasons: format!("{:?}", summary.skipped_by_reason),
        });
    }
    gallery
        .set_threshold(None)
        .map_err(DemoGalleryError::Gallery)?;
    Ok(gallery)
}
