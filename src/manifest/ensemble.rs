//! `[[ensemble]]` tables: an ordered set of embedders run with test-time variants, chosen by
//! its id in place of a model id (`--embedder`; the device's configuration takes model ids).
//!
//! ```toml
//! [[ensemble]]
//! id = "gm-arc"
//! embedders = ["gm-arc-r50", "gm-arc-r100", "glint360k-r100"]
//! variants = ["plain", "flip", "grey", "flip-grey"]
//! ```
//!
//! The members must be `[[model]]` entries with role `embedder`; the variant names are checked
//! when the set is loaded ([`crate::embed::Variant::parse`]). See `models/README.md`.

use super::{Manifest, ManifestError, Role};
use serde::{Deserialize, Serialize};

/// One declared embedder set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsembleEntry {
    /// Its id; must differ from every model id.
    pub id: String,
    /// Member model ids, in order (the order of the stored vector's pieces).
    pub embedders: Vec<String>,
    /// Variant names (`plain`, `flip`, `grey`, `flip-grey`), in order; default `["plain"]`.
    #[serde(default = "plain_only")]
    pub variants: Vec<String>,
}

fn plain_only() -> Vec<String> {
    vec!["plain".into()]
}

impl Manifest {
    /// The ensemble with this id, if declared.
    pub fn ensemble(&self, id: &str) -> Option<&EnsembleEntry> {
        self.ensembles.iter().find(|e| e.id == id)
    }

    /// Each ensemble has a fresh id, at least one member, members that are embedder entries,
    /// no member twice; the error names the ensemble.
    pub(super) fn check_ensembles(&self) -> Result<(), ManifestError> {
        let mut ids: std::collections::HashSet<&str> =
            self.models.iter().map(|m| m.id.as_str()).collect();
        for e in &self.ensembles {
            let bad = |message: String| ManifestError::Parse {
                path: self.path.clone(),
                message: format!("ensemble `{}`: {message}", e.id),
            };
            if !ids.insert(&e.id) {
                return Err(bad(
                    "its id is already a model's or another ensemble's".into()
                ));
            }
            if e.embedders.is_empty() {
                return Err(bad("no embedders".into()));
            }
            let mut seen = std::collections::HashSet::new();
            for m in &e.embedders {
                if !seen.insert(m) {
                    return Err(bad(format!("embedder `{m}` appears twice")));
                }
                match self.models.iter().find(|x| &x.id == m) {
                    Some(x) if x.role == Role::Embedder => {}
                    Some(_) => return Err(bad(format!("`{m}` is not an embedder"))),
                    None => return Err(bad(format!("no model `{m}` in the manifest"))),
                }
            }
        }
        Ok(())
    }
}
