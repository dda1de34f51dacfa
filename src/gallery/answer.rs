//! GestaltMatcher-Arc's service answer shape, for `analyze --json --format gestaltmatcher`: a
//! clinic's tools that read GM-Arc's answers read the device's unchanged.
//!
//! ```json
//! {"model_version": "…", "gallery_version": "…",
//!  "suggested_syndromes_list": [{"syndrome_name", "omim_id", "distance", "gestalt_score",
//!                                "image_id", "subject_id"}, …],
//!  "suggested_genes_list": [{"gene_name", "gene_entrez_id", "distance", "gestalt_score",
//!                            "image_id", "subject_id"}, …]}
//! ```
//!
//! `gestalt_score` is the distance (as GM-Arc's service gives it: smaller is closer);
//! `omim_id` and `gene_entrez_id` are integers or null; `image_id` and `subject_id` are the
//! nearest gallery case's id and subject (for a GMDB gallery, the GMDB image id and patient).
//! `model_version` names the embedding model(s) the query ran with, by manifest id (the caller
//! gives it: `analyze` passes the manifest entry's id, e.g. `dlib-resnet-v1-int8`; the
//! gallery, which was built with the same model or is refused, records only its hash-like
//! embedder id); `gallery_version` is the gallery's name/version.

use super::genes::GeneMatch;
use super::rank::Ranking;
use super::Gallery;
use serde::Serialize;

/// GM-Arc's answer to one query (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GestaltMatcherAnswer {
    pub model_version: String,
    pub gallery_version: String,
    pub suggested_syndromes_list: Vec<SuggestedSyndrome>,
    pub suggested_genes_list: Vec<SuggestedGene>,
}

/// One syndrome of the answer, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestedSyndrome {
    pub syndrome_name: String,
    pub omim_id: Option<u64>,
    pub distance: f32,
    pub gestalt_score: f32,
    pub image_id: String,
    pub subject_id: String,
}

/// One gene of the answer, nearest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuggestedGene {
    pub gene_name: String,
    pub gene_entrez_id: Option<u64>,
    pub distance: f32,
    pub gestalt_score: f32,
    pub image_id: String,
    pub subject_id: String,
}

impl GestaltMatcherAnswer {
    /// The answer for a syndrome ranking and a gene ranking of the same query on `gallery`,
    /// made with the model(s) `model_version` names.
    pub fn new(
        model_version: impl Into<String>,
        gallery: &Gallery,
        ranking: &Ranking,
        genes: &[GeneMatch],
    ) -> Self {
        let syndromes = ranking
            .matches
            .iter()
            .map(|m| SuggestedSyndrome {
                syndrome_name: m.name.clone(),
                omim_id: m.omim.as_deref().and_then(omim_number),
                distance: m.distance,
                gestalt_score: m.distance,
                image_id: m.nearest_case.clone(),
                subject_id: gallery.subject_of(&m.nearest_case).unwrap_or_default(),
            })
            .collect();
        let genes = genes
            .iter()
            .map(|g| SuggestedGene {
                gene_name: g.name.clone(),
                gene_entrez_id: g.entrez_id,
                distance: g.distance,
                gestalt_score: g.distance,
                image_id: g.nearest_case.clone(),
                subject_id: g.nearest_subject.clone(),
            })
            .collect();
        GestaltMatcherAnswer {
            model_version: model_version.into(),
            gallery_version: gallery.name().to_string(),
            suggested_syndromes_list: syndromes,
            suggested_genes_list: genes,
        }
    }
}

impl Gallery {
    /// The subject (patient) of the case with this id, if the gallery has it.
    pub fn subject_of(&self, case_id: &str) -> Option<String> {
        self.cases
            .iter()
            .find(|c| c.case_id == case_id)
            .map(|c| c.subject.clone())
    }
}

/// A stored OMIM text as a number: `122470`, or GMDB's float form `122470.0`; anything else
/// (e.g. `PS122470`) has no number.
pub fn omim_number(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit());
    if !digits || !fraction.bytes().all(|b| b == b'0') {
        return None;
    }
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::omim_number;

    #[test]
    fn omim_numbers_from_stored_text() {
        assert_eq!(omim_number("122470"), Some(122470));
        assert_eq!(omim_number(" 122470.0 "), Some(122470));
        assert_eq!(omim_number("122470.5"), None);
        assert_eq!(omim_number("PS122470"), None);
        assert_eq!(omim_number(""), None);
    }
}
