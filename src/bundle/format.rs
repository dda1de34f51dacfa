//! The bundle file (`*.gcb`), format version 1 (docs/bundles.md has the full description):
//!
//! ```text
//! "GCBUNDLE"            8 bytes, magic
//! format version        u32 little-endian, 1
//! manifest length       u32 little-endian, at most 1 MiB
//! manifest              JSON (BundleManifest): name, version, created, min_device_version,
//!                       entries [{kind, path, size, sha256}]
//! payload               every entry's bytes, in manifest order, nothing between them
//! "GCBSIG01"            8 bytes
//! public key            32 bytes: the signer's ed25519 key
//! signature             64 bytes: ed25519 over "gestaltcam-bundle-signature-v1\0" followed by
//!                       the sha256 of every byte before "GCBSIG01"
//! ```
//!
//! [`read_bundle`] checks it in one pass: header, manifest (paths, sizes, kinds), each entry's
//! sha256 as it streams by (64 KiB at a time, written to a folder when asked), then the
//! signature against the trusted keys. The file's length is checked against the manifest
//! first, so a truncated copy is refused before anything is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::version::Version;
use super::{BundleError, Result};

pub const MAGIC: &[u8; 8] = b"GCBUNDLE";
pub const FORMAT_VERSION: u32 = 1;
const SIG_MAGIC: &[u8; 8] = b"GCBSIG01";
const DOMAIN: &[u8] = b"gestaltcam-bundle-signature-v1\0";
/// Magic, format version, manifest length.
pub const HEADER_LEN: u64 = 16;
/// Signature magic, public key, signature.
pub const TRAILER_LEN: u64 = 8 + 32 + 64;
pub const MAX_MANIFEST: u32 = 1 << 20;
/// Largest single entry: 8 GiB.
pub const MAX_ENTRY: u64 = 8 << 30;
const MAX_ENTRIES: usize = 4096;
const CHUNK: usize = 64 * 1024;

/// What an entry is; decides where it goes (`galleries/`, `models/`, `hpo/`, `config.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// The gallery the device uses (`galleries/NAME`).
    Gallery,
    /// The same cases built by another model (`galleries/NAME`).
    GalleryVariant,
    /// A model file named by the bundle's `models/MANIFEST.toml`.
    Model,
    /// `models/MANIFEST.toml`: the models' hashes, shapes and ids.
    ModelManifest,
    /// An HPO release file (`hpo/hp.obo`, `hpo/phenotype.hpoa`).
    Hpo,
    /// `config.toml`: the configuration keys a programme may change ([`super::fragment`]).
    Config,
}

impl EntryKind {
    /// The folder an entry of this kind lives in (`""`: the top).
    fn folder(self) -> &'static str {
        match self {
            EntryKind::Gallery | EntryKind::GalleryVariant => "galleries",
            EntryKind::Model | EntryKind::ModelManifest => "models",
            EntryKind::Hpo => "hpo",
            EntryKind::Config => "",
        }
    }
}

/// One file in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub kind: EntryKind,
    /// Relative path with `/` separators, e.g. `galleries/gmdb-2026-06.gmg`.
    pub path: String,
    pub size: u64,
    /// 64 lowercase hex digits.
    pub sha256: String,
}

/// The bundle's manifest (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Shown to the clinician, e.g. `GMDB 2026-06`.
    pub name: String,
    /// Dotted numbers ([`Version`]); a device only takes a newer one.
    pub version: String,
    /// RFC 3339 time the bundle was made, e.g. `2026-06-01T09:00:00Z`.
    pub created: String,
    /// The oldest device version that can use it.
    pub min_device_version: String,
    pub entries: Vec<Entry>,
}

impl BundleManifest {
    /// Checks every field: versions parse, `created` is RFC 3339, each path is safe and in its
    /// kind's folder, no path twice, at most one gallery, model manifest and config fragment,
    /// models only with their manifest, variants only with a gallery.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(BundleError::Manifest(m.into()));
        if self.name.trim().is_empty() || self.name.len() > 80 {
            return bad("`name` must be 1 to 80 characters");
        }
        if self.name.chars().any(char::is_control) {
            return bad("`name` has control characters");
        }
        Version::parse(&self.version)?;
        Version::parse(&self.min_device_version)?;
        check_rfc3339(&self.created)?;
        if self.entries.len() > MAX_ENTRIES {
            return bad("too many entries");
        }
        let mut seen = std::collections::HashSet::new();
        for e in &self.entries {
            check_entry(e)?;
            if !seen.insert(e.path.as_str()) {
                return Err(BundleError::UnsafePath {
                    path: e.path.clone(),
                    reason: "listed twice".into(),
                });
            }
        }
        let count = |k: EntryKind| self.entries.iter().filter(|e| e.kind == k).count();
        for k in [
            EntryKind::Gallery,
            EntryKind::ModelManifest,
            EntryKind::Config,
        ] {
            if count(k) > 1 {
                return Err(BundleError::Manifest(format!("more than one {k:?} entry")));
            }
        }
        if count(EntryKind::Model) > 0 && count(EntryKind::ModelManifest) == 0 {
            return bad("model files without models/MANIFEST.toml");
        }
        if count(EntryKind::GalleryVariant) > 0 && count(EntryKind::Gallery) == 0 {
            return bad("gallery variants without a gallery");
        }
        if self.entries.is_empty() {
            return bad("no entries");
        }
        Ok(())
    }

    /// The first entry of `kind`.
    pub fn entry(&self, kind: EntryKind) -> Option<&Entry> {
        self.entries.iter().find(|e| e.kind == kind)
    }

    /// Payload bytes: the sum of the entries' sizes.
    pub fn payload_len(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// `YYYY-MM-DDTHH:MM:SS` with optional fraction, then `Z` or `±HH:MM`.
fn check_rfc3339(s: &str) -> Result<()> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let mut rest = s.get(19..).unwrap_or("");
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let zone = matches!(rest, "Z" | "z")
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && rest[1..3]
                .bytes()
                .chain(rest[4..].bytes())
                .all(|d| d.is_ascii_digit()));
    let month: u32 = s.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0);
    let day: u32 = s.get(8..10).and_then(|m| m.parse().ok()).unwrap_or(0);
    if shape && zone && (1..=12).contains(&month) && (1..=31).contains(&day) {
        Ok(())
    } else {
        Err(BundleError::Manifest(format!(
            "`created` = {s:?} is not an RFC 3339 time such as 2026-06-01T09:00:00Z"
        )))
    }
}

/// A path that stays inside the content folder: relative, `/`-separated, no `.`/`..`/empty
/// parts, plain characters, in its kind's folder, one level deep.
fn check_entry(e: &Entry) -> Result<()> {
    let bad = |reason: &str| {
        Err(BundleError::UnsafePath {
            path: e.path.clone(),
            reason: reason.into(),
        })
    };
    let p = e.path.as_str();
    if p.is_empty() || p.len() > 200 {
        return bad("empty or longer than 200 characters");
    }
    if p.starts_with('/') || p.contains('\\') || p.contains(':') {
        return bad("absolute paths and drive or backslash separators are not allowed");
    }
    let parts: Vec<&str> = p.split('/').collect();
    for part in &parts {
        if part.is_empty() || *part == "." || *part == ".." {
            return bad("empty, `.` or `..` parts are not allowed");
        }
        if part.starts_with('.')
            || !part
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-+".contains(&c))
        {
            return bad("only letters, digits and . _ - + (not leading .) in names");
        }
    }
    let folder = e.kind.folder();
    let placed = match (folder, parts.as_slice()) {
        ("", [name]) => *name == "config.toml",
        (f, [dir, name]) if *dir == f => {
            e.kind != EntryKind::ModelManifest || *name == "MANIFEST.toml"
        }
        _ => false,
    };
    if !placed {
        return bad(&format!(
            "a {:?} entry belongs in {}",
            e.kind,
            kind_place(e.kind)
        ));
    }
    if e.kind == EntryKind::Model && p == "models/MANIFEST.toml" {
        return bad("models/MANIFEST.toml is the model-manifest entry");
    }
    if e.size > MAX_ENTRY {
        return bad("larger than 8 GiB");
    }
    if e.sha256.len() != 64
        || !e
            .sha256
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return bad("sha256 must be 64 lowercase hex digits");
    }
    Ok(())
}

fn kind_place(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::ModelManifest => "models/MANIFEST.toml",
        EntryKind::Config => "config.toml",
        k => match k.folder() {
            "galleries" => "galleries/NAME",
            "models" => "models/NAME",
            _ => "hpo/NAME",
        },
    }
}

/// The signer's key and signature, from the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub public_key: [u8; 32],
    pub signature: [u8; 64],
}

impl Trailer {
    fn parse(b: &[u8; TRAILER_LEN as usize]) -> Result<Trailer> {
        if &b[..8] != SIG_MAGIC {
            return Err(BundleError::Manifest(
                "no signature block where the manifest says the payload ends".into(),
            ));
        }
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(&b[8..40]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[40..]);
        Ok(Trailer {
            public_key,
            signature,
        })
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut b = SIG_MAGIC.to_vec();
        b.extend_from_slice(&self.public_key);
        b.extend_from_slice(&self.signature);
        b
    }

    /// The signer's key as 16 hex digits (the start of its sha256), as `bundle info` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key)
    }
}

/// A public key's short name: the first 8 bytes of its sha256, in hex.
pub fn fingerprint(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

/// The header and manifest as they stand at the start of a bundle (the signed prefix).
pub fn encode_head(manifest: &BundleManifest) -> Vec<u8> {
    let json = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&(json.len() as u32).to_le_bytes());
    b.extend_from_slice(&json);
    b
}

/// Reads the header and manifest from `r`; returns the manifest and the raw head bytes.
pub fn read_head(r: &mut impl Read, path: &Path) -> Result<(BundleManifest, Vec<u8>)> {
    let mut head = [0u8; HEADER_LEN as usize];
    read_exact(r, &mut head, path, 0, HEADER_LEN)?;
    if &head[..8] != MAGIC {
        return Err(BundleError::NotABundle {
            path: path.to_path_buf(),
        });
    }
    let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(BundleError::UnsupportedFormat {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_MANIFEST {
        return Err(BundleError::Manifest(format!(
            "manifest length {len} is out of range (1 byte to 1 MiB)"
        )));
    }
    let mut json = vec![0u8; len as usize];
    read_exact(r, &mut json, path, HEADER_LEN, HEADER_LEN + u64::from(len))?;
    let manifest: BundleManifest =
        serde_json::from_slice(&json).map_err(|e| BundleError::Manifest(e.to_string()))?;
    manifest.validate()?;
    let mut raw = head.to_vec();
    raw.extend_from_slice(&json);
    Ok((manifest, raw))
}

/// `read_exact` whose end of file is [`BundleError::Truncated`] (`at`: the offset of `buf`,
/// `needed`: the length the file should have at least).
fn read_exact(r: &mut impl Read, buf: &mut [u8], path: &Path, at: u64, needed: u64) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(BundleError::Truncated {
                    got: at + got as u64,
                    expected: needed,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(BundleError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// A bundle that was read to its end and whose signature verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: BundleManifest,
    pub trailer: Trailer,
    /// The header and manifest bytes (kept beside staged content to verify it again).
    pub head: Vec<u8>,
}

/// The keys a bundle may be signed with.
pub type TrustedKeys = [VerifyingKey];

/// Reads a whole bundle from `r` (`len`: the file's length when known, to refuse a truncated
/// copy before anything is written), checking every entry's sha256 and the signature against
/// `trusted`. With `extract_to`, each entry is written below that folder as it streams by
/// (files created new: never through an existing file or link).
pub fn read_bundle(
    r: &mut impl Read,
    path: &Path,
    len: Option<u64>,
    trusted: &TrustedKeys,
    extract_to: Option<&Path>,
) -> Result<Verified> {
    let (manifest, head) = read_head(r, path)?;
    let expected = head.len() as u64 + manifest.payload_len() + TRAILER_LEN;
    match len {
        Some(l) if l < expected => return Err(BundleError::Truncated { got: l, expected }),
        Some(l) if l > expected => {
            return Err(BundleError::TrailingData {
                extra: l - expected,
            })
        }
        _ => {}
    }
    let mut whole = Sha256::new();
    whole.update(&head);
    let mut at = head.len() as u64;
    let mut buf = vec![0u8; CHUNK];
    for e in &manifest.entries {
        let mut out = match extract_to {
            Some(dir) => Some(create_entry_file(dir, &e.path)?),
            None => None,
        };
        let mut h = Sha256::new();
        let mut left = e.size;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            read_exact(r, &mut buf[..n], path, at, expected)?;
            h.update(&buf[..n]);
            whole.update(&buf[..n]);
            if let Some((f, p)) = out.as_mut() {
                f.write_all(&buf[..n])
                    .map_err(|source| BundleError::Write {
                        path: p.clone(),
                        source,
                    })?;
            }
            left -= n as u64;
            at += n as u64;
        }
        if hex::encode(h.finalize()) != e.sha256 {
            return Err(BundleError::HashMismatch {
                path: e.path.clone(),
            });
        }
        if let Some((f, p)) = out {
            f.sync_all()
                .map_err(|source| BundleError::Write { path: p, source })?;
        }
    }
    let mut tb = [0u8; TRAILER_LEN as usize];
    read_exact(r, &mut tb, path, at, expected)?;
    let trailer = Trailer::parse(&tb)?;
    let mut extra = [0u8; 1];
    if r.read(&mut extra).map_err(|source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    })? != 0
    {
        return Err(BundleError::TrailingData { extra: 1 });
    }
    check_signature(&whole.finalize(), &trailer, trusted)?;
    Ok(Verified {
        manifest,
        trailer,
        head,
    })
}

/// The signature over the prefix's sha256, by a key among `trusted`.
pub fn check_signature(digest: &[u8], trailer: &Trailer, trusted: &TrustedKeys) -> Result<()> {
    let key = trusted
        .iter()
        .find(|k| k.as_bytes() == &trailer.public_key)
        .ok_or_else(|| BundleError::UntrustedKey {
            fingerprint: trailer.fingerprint(),
        })?;
    let sig = Signature::from_bytes(&trailer.signature);
    key.verify(&message(digest), &sig)
        .map_err(|_| BundleError::BadSignature)
}

fn message(digest: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(digest);
    m
}

/// Creates `dir/rel` (and its one parent folder) as a new file: never an existing file, never
/// through a link.
fn create_entry_file(dir: &Path, rel: &str) -> Result<(std::fs::File, PathBuf)> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BundleError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|source| BundleError::Write {
            path: path.clone(),
            source,
        })?;
    Ok((f, path))
}

/// What goes into a new bundle: its manifest fields and, per entry, the file it is read from.
#[derive(Debug, Clone)]
pub struct MakeInput {
    pub name: String,
    pub version: String,
    pub created: String,
    pub min_device_version: String,
    /// (kind, path in the bundle, source file).
    pub files: Vec<(EntryKind, String, PathBuf)>,
}

/// The size and sha256 of a regular file (refused: links, folders, devices).
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(BundleError::Input {
            path: path.to_path_buf(),
            reason: "not a regular file (links and folders are not bundled)".into(),
        });
    }
    let mut f = open(path)?;
    let mut h = Sha256::new();
    let size = std::io::copy(&mut f, &mut h).map_err(|source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((size, hex::encode(h.finalize())))
}

fn open(path: &Path) -> Result<std::fs::File> {
    std::fs::File::open(path).map_err(|source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a signed bundle to `out` (a temp file beside it, renamed when complete); returns its
/// manifest. A source file that changes while it is copied is an error.
pub fn make(input: &MakeInput, key: &SigningKey, out: &Path) -> Result<BundleManifest> {
    let mut entries = Vec::new();
    for (kind, rel, src) in &input.files {
        let (size, sha256) = hash_file(src)?;
        entries.push(Entry {
            kind: *kind,
            path: rel.clone(),
            size,
            sha256,
        });
    }
    let manifest = BundleManifest {
        name: input.name.clone(),
        version: input.version.clone(),
        created: input.created.clone(),
        min_device_version: input.min_device_version.clone(),
        entries,
    };
    manifest.validate()?;
    let tmp = out.with_extension("gcb.part");
    let wr = |source| BundleError::Write {
        path: tmp.clone(),
        source,
    };
    let result = (|| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(wr)?);
        let head = encode_head(&manifest);
        let mut whole = Sha256::new();
        whole.update(&head);
        f.write_all(&head).map_err(wr)?;
        for ((_, _, src), e) in input.files.iter().zip(&manifest.entries) {
            let mut tee = Tee {
                out: &mut f,
                whole: &mut whole,
                own: Sha256::new(),
            };
            let n =
                std::io::copy(&mut open(src)?, &mut tee).map_err(|source| BundleError::Read {
                    path: src.clone(),
                    source,
                })?;
            if n != e.size || hex::encode(tee.own.finalize()) != e.sha256 {
                return Err(BundleError::Input {
                    path: src.clone(),
                    reason: "changed while the bundle was being written".into(),
                });
            }
        }
        let signature = key.sign(&message(&whole.finalize())).to_bytes();
        let trailer = Trailer {
            public_key: key.verifying_key().to_bytes(),
            signature,
        };
        f.write_all(&trailer.to_bytes()).map_err(wr)?;
        let f = f.into_inner().map_err(|e| wr(e.into_error()))?;
        f.sync_all().map_err(wr)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(|source| BundleError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(manifest)
}

/// Writes to `out` while hashing into the bundle's hash and the entry's own.
struct Tee<'a, W: Write> {
    out: &'a mut W,
    whole: &'a mut Sha256,
    own: Sha256,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.whole.update(&buf[..n]);
        self.own.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The header, manifest and signer of a bundle file, without reading its payload (`bundle
/// info`): nothing is verified but the manifest's shape and the file's length.
pub fn peek(path: &Path) -> Result<(BundleManifest, Trailer)> {
    use std::io::{Seek, SeekFrom};
    let mut f = open(path)?;
    let len = f
        .metadata()
        .map_err(|source| BundleError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let (manifest, head) = read_head(&mut std::io::BufReader::new(&mut f), path)?;
    let expected = head.len() as u64 + manifest.payload_len() + TRAILER_LEN;
    if len < expected {
        return Err(BundleError::Truncated { got: len, expected });
    }
    let mut tb = [0u8; TRAILER_LEN as usize];
    let rd = |source| BundleError::Read {
        path: path.to_path_buf(),
        source,
    };
    f.seek(SeekFrom::Start(expected - TRAILER_LEN))
        .map_err(rd)?;
    f.read_exact(&mut tb).map_err(rd)?;
    Ok((manifest, Trailer::parse(&tb)?))
}

/// Reads and checks the bundle file at `path` (see [`read_bundle`]).
pub fn verify_file(
    path: &Path,
    trusted: &TrustedKeys,
    extract_to: Option<&Path>,
) -> Result<Verified> {
    let f = open(path)?;
    let len = f.metadata().ok().map(|m| m.len());
    let mut r = std::io::BufReader::with_capacity(CHUNK, f);
    read_bundle(&mut r, path, len, trusted, extract_to)
}

#[cfg(test)]
mod tests;
