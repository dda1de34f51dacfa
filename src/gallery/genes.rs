//! Gene-level ranking beside the syndrome ranking (GestaltMatcher-Arc's "suggested genes").
//!
//! A gene's distance is the distance to its **nearest case** among the gallery cases that carry
//! that gene, exactly as a syndrome's is among its own cases; genes are ranked by it,
//! ascending. A gene shared by two syndromes therefore takes the nearer of their cases.
//!
//! Which cases carry which gene:
//! * a gallery built with GM-Arc's metadata stores **genes per case** (name and Entrez id; the
//!   file's case-genes block, see [`super::format`]): a case carries exactly its own genes, and a
//!   case the metadata did not list carries none (as in GM-Arc);
//! * a gallery without that block (every gallery written before it existed, and galleries
//!   built from a plain label CSV) falls back to the **label table**: every case carries its
//!   syndrome's gene list, with no Entrez id. That keeps the gene list meaningful for the
//!   galleries already on devices (a gene's nearest case among the syndromes that list it)
//!   instead of empty; it is coarser than per-case genes when a syndrome lists several genes.
//!
//! Ties: between cases of one gene the first case in gallery order is the nearest; between
//! genes at equal distance the smaller gene (by name, then Entrez id) ranks first.

use super::format::Gene;
use super::fusion::FusionMode;
use super::rank::LabelBest;
use super::{Gallery, GalleryError, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// One ranked gene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneMatch {
    /// 1-based.
    pub rank: usize,
    /// Gene symbol.
    pub name: String,
    /// NCBI Entrez gene id, when the gallery knows it.
    pub entrez_id: Option<u64>,
    /// Distance to the nearest case carrying the gene (after fusion).
    pub distance: f32,
    /// Id of that case (for GMDB galleries, the GMDB image id).
    pub nearest_case: String,
    /// That case's subject (patient).
    pub nearest_subject: String,
}

/// The genes of a gallery and, per gene, the indices of the cases carrying it.
struct GeneIndex {
    genes: Vec<Gene>,
    cases_of: Vec<Vec<u32>>,
}

impl Gallery {
    /// Stores the genes of each case (one list per case, in case order). Lists that are all
    /// empty store nothing (the file is then exactly as without genes). Save to keep them (and
    /// re-sign).
    pub fn set_case_genes(&mut self, genes: Vec<Vec<Gene>>) -> Result<()> {
        if genes.len() != self.cases.len() {
            return Err(GalleryError::Invalid(format!(
                "{} case gene lists for {} cases",
                genes.len(),
                self.cases.len()
            )));
        }
        self.case_genes = if genes.iter().all(Vec::is_empty) {
            Vec::new()
        } else {
            genes
        };
        self.refresh_content_hash();
        Ok(())
    }

    /// Case `i`'s own genes (empty when the gallery stores no genes per case). Panics if
    /// `i >= len()`.
    pub fn case_genes(&self, i: usize) -> &[Gene] {
        assert!(i < self.cases.len(), "case index {i} out of range");
        self.case_genes.get(i).map_or(&[], Vec::as_slice)
    }

    /// True when the gallery stores genes per case (else gene ranking uses the label table).
    pub fn has_case_genes(&self) -> bool {
        !self.case_genes.is_empty()
    }

    /// The genes case `i` counts for in gene ranking (see the module docs).
    fn genes_for_ranking(&self, i: usize) -> Vec<Gene> {
        if self.has_case_genes() {
            return self.case_genes[i].clone();
        }
        let label = &self.labels[self.cases[i].label as usize];
        label
            .genes
            .iter()
            .map(|name| Gene {
                name: name.clone(),
                entrez_id: None,
            })
            .collect()
    }

    /// Every gene in the gallery (sorted) with the cases carrying it (gallery order).
    fn gene_index(&self) -> GeneIndex {
        let mut by_gene: BTreeMap<Gene, Vec<u32>> = BTreeMap::new();
        for i in 0..self.cases.len() {
            for gene in self.genes_for_ranking(i) {
                let cases = by_gene.entry(gene).or_default();
                if cases.last() != Some(&(i as u32)) {
                    cases.push(i as u32);
                }
            }
        }
        let (genes, cases_of) = by_gene.into_iter().unzip();
        GeneIndex { genes, cases_of }
    }

    /// Per-gene nearest `(distance, case)` for one prepared query.
    fn gene_best(&self, index: &GeneIndex, q: &[f32]) -> LabelBest {
        let d = self.case_distances(q);
        index
            .cases_of
            .iter()
            .map(|cases| {
                cases.iter().fold((f32::INFINITY, u32::MAX), |best, &c| {
                    let dc = d[c as usize];
                    if dc < best.0 || best.1 == u32::MAX {
                        (dc, c)
                    } else {
                        best
                    }
                })
            })
            .collect()
    }

    /// Top `k` genes for one embedding.
    pub fn rank_genes(&self, query: &[f32], k: usize) -> Result<Vec<GeneMatch>> {
        let index = self.gene_index();
        let q = self.prepare_query(query)?;
        let best = self.gene_best(&index, &q);
        Ok(self.finish_genes(&index, &best, k))
    }

    /// Top `k` genes for several photos of one patient, fused by `mode` exactly as
    /// [`Gallery::rank_photos`] fuses syndromes.
    pub fn rank_genes_photos(
        &self,
        queries: &[Vec<f32>],
        k: usize,
        mode: FusionMode,
    ) -> Result<Vec<GeneMatch>> {
        let index = self.gene_index();
        let best = self.fused_best(queries, mode, |q| self.gene_best(&index, q))?;
        Ok(self.finish_genes(&index, &best, k))
    }

    /// The `k` nearest genes, ranked (ties: the smaller gene first).
    fn finish_genes(&self, index: &GeneIndex, best: &LabelBest, k: usize) -> Vec<GeneMatch> {
        let mut order: Vec<usize> = (0..best.len()).filter(|&g| best[g].1 != u32::MAX).collect();
        order.sort_by(|&a, &b| best[a].0.total_cmp(&best[b].0).then(a.cmp(&b)));
        order.truncate(k);
        order
            .iter()
            .enumerate()
            .map(|(r, &g)| {
                let case = &self.cases[best[g].1 as usize];
                GeneMatch {
                    rank: r + 1,
                    name: index.genes[g].name.clone(),
                    entrez_id: index.genes[g].entrez_id,
                    distance: best[g].0,
                    nearest_case: case.case_id.clone(),
                    nearest_subject: case.subject.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
