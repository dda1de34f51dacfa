//! `<state_dir>/content/`: the content bundles brought to the device.
//!
//! ```text
//! content/
//!   current -> gmdb-2026.6.1-1a2b3c4d     the content in use (a relative symlink)
//!   previous -> gmdb-2026.5.0-9f8e7d6c    the last good one before it
//!   gmdb-2026.6.1-1a2b3c4d/               one folder per imported bundle:
//!     bundle-head.bin                       its header and manifest, as signed
//!     bundle-signature.bin                  its signer's key and signature
//!     galleries/ models/ hpo/ config.toml   its entries
//!   notice.json                           what the last import did (for the panel)
//! ```
//!
//! A folder is filled under a `.staging-*` name, checked, renamed, and only then do the links
//! change, each by writing a new link and renaming it over the old one (atomic on a POSIX file
//! system): a power cut or a pulled stick at any moment leaves `current` on complete content.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::format::{self, BundleManifest, EntryKind, Trailer, TrustedKeys, TRAILER_LEN};
use super::{fragment, BundleError, Result};
use crate::config::Config;

pub const CURRENT: &str = "current";
pub const PREVIOUS: &str = "previous";
pub const HEAD_FILE: &str = "bundle-head.bin";
pub const SIGNATURE_FILE: &str = "bundle-signature.bin";
const STAGING_PREFIX: &str = ".staging-";

/// The content folder of one device.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// The store below `state_dir` (`<state_dir>/content`).
    pub fn new(state_dir: &Path) -> Self {
        ContentStore {
            root: state_dir.join("content"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder `link` (`current` or `previous`) points to, if the link exists and names a
    /// folder directly inside the store.
    pub fn target(&self, link: &str) -> Option<PathBuf> {
        let t = std::fs::read_link(self.root.join(link)).ok()?;
        let name = t.file_name()?;
        (t.components().count() == 1 && !name.to_string_lossy().starts_with('.'))
            .then(|| self.root.join(name))
            .filter(|p| p.is_dir())
    }

    /// `current`'s folder.
    pub fn current(&self) -> Option<PathBuf> {
        self.target(CURRENT)
    }

    /// `previous`'s folder.
    pub fn previous(&self) -> Option<PathBuf> {
        self.target(PREVIOUS)
    }

    /// A new, empty staging folder (leftovers of an interrupted import are removed first).
    pub fn stage(&self) -> Result<PathBuf> {
        self.remove_staging();
        create_dir_0700(&self.root)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = self
            .root
            .join(format!("{STAGING_PREFIX}{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|source| BundleError::Write {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// Removes every `.staging-*` folder (best effort).
    pub fn remove_staging(&self) {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Renames a checked staging folder to its final name `NAME-VERSION-HASH` and makes it
    /// `current`, the old `current` becoming `previous`; other folders are removed.
    pub fn switch_to(&self, staged: &Path, verified: &format::Verified) -> Result<PathBuf> {
        let digest = hex::encode(&Sha256::digest(verified.trailer.signature)[..4]);
        let slug: String = verified
            .manifest
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        let name = format!("{slug}-{}-{digest}", verified.manifest.version);
        let fin = self.root.join(&name);
        if fin.exists() {
            // The same bundle again (--allow-downgrade back to it): replace the old copy
            // unless it is what `current` or `previous` names.
            if self.current().as_deref() == Some(&fin) || self.previous().as_deref() == Some(&fin) {
                std::fs::remove_dir_all(staged).ok();
                self.relink(&name)?;
                return Ok(fin);
            }
            std::fs::remove_dir_all(&fin).map_err(|source| BundleError::Write {
                path: fin.clone(),
                source,
            })?;
        }
        rename(staged, &fin)?;
        sync_dir(&self.root);
        self.relink(&name)?;
        self.remove_unlinked();
        Ok(fin)
    }

    /// `previous` := `current`'s target, then `current` := `name`.
    fn relink(&self, name: &str) -> Result<()> {
        if let Some(old) = self.current() {
            let old = old.file_name().expect("a folder name").to_owned();
            if old != name {
                self.set_link(PREVIOUS, Path::new(&old))?;
            }
        }
        self.set_link(CURRENT, Path::new(name))
    }

    /// Puts `previous` back as `current` (content that failed at start-up); `false` when there
    /// is no previous content, in which case `current` is removed and the configured files
    /// are used.
    pub fn roll_back(&self) -> Result<bool> {
        match self.previous() {
            Some(prev) => {
                rename(&self.root.join(PREVIOUS), &self.root.join(CURRENT))?;
                sync_dir(&self.root);
                log::warn!("content: rolled back to {}", prev.display());
                Ok(true)
            }
            None => {
                let cur = self.root.join(CURRENT);
                match std::fs::remove_file(&cur) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(BundleError::Write { path: cur, source }),
                }
                sync_dir(&self.root);
                Ok(false)
            }
        }
    }

    fn set_link(&self, link: &str, to: &Path) -> Result<()> {
        let tmp = self.root.join(format!(".{link}.new"));
        let _ = std::fs::remove_file(&tmp);
        #[cfg(unix)]
        std::os::unix::fs::symlink(to, &tmp).map_err(|source| BundleError::Write {
            path: tmp.clone(),
            source,
        })?;
        #[cfg(not(unix))]
        return Err(BundleError::Write {
            path: tmp,
            source: std::io::Error::other("content links need a unix file system"),
        });
        rename(&tmp, &self.root.join(link))?;
        sync_dir(&self.root);
        Ok(())
    }

    /// Removes content folders that neither link names (best effort).
    fn remove_unlinked(&self) {
        let keep: Vec<PathBuf> = [self.current(), self.previous()]
            .into_iter()
            .flatten()
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            let staging = e.file_name().to_string_lossy().starts_with(STAGING_PREFIX);
            if is_dir && !staging && !keep.contains(&p) {
                if let Err(err) = std::fs::remove_dir_all(&p) {
                    log::warn!("content: cannot remove old {}: {err}", p.display());
                }
            }
        }
    }
}

/// Writes the signed head and signature beside staged entries, so the folder can be verified
/// again at every start.
pub fn keep_signature(dir: &Path, verified: &format::Verified) -> Result<()> {
    let mut sig = b"GCBSIG01".to_vec();
    sig.extend_from_slice(&verified.trailer.public_key);
    sig.extend_from_slice(&verified.trailer.signature);
    for (name, bytes) in [(HEAD_FILE, &verified.head), (SIGNATURE_FILE, &sig)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| BundleError::Write { path, source })?;
    }
    Ok(())
}

/// The manifest of a content folder, parsed but not verified (for version comparisons).
pub fn read_manifest(dir: &Path) -> Result<BundleManifest> {
    let path = dir.join(HEAD_FILE);
    let f = std::fs::File::open(&path).map_err(|source| BundleError::Read {
        path: path.clone(),
        source,
    })?;
    format::read_head(&mut std::io::BufReader::new(f), &path).map(|(m, _)| m)
}

/// Verifies a content folder as its bundle was verified: the head, then every entry (a regular
/// file, never a link, of the listed size and sha256) streamed in manifest order into the
/// signed hash, then the signature against `trusted`.
pub fn verify_dir(dir: &Path, trusted: &TrustedKeys) -> Result<BundleManifest> {
    let head_path = dir.join(HEAD_FILE);
    let head = std::fs::read(&head_path).map_err(|source| BundleError::Read {
        path: head_path.clone(),
        source,
    })?;
    let (manifest, raw) = format::read_head(&mut head.as_slice(), &head_path)?;
    if raw.len() != head.len() {
        return Err(BundleError::Manifest(format!("{HEAD_FILE}: extra bytes")));
    }
    let sig_path = dir.join(SIGNATURE_FILE);
    let sig = std::fs::read(&sig_path).map_err(|source| BundleError::Read {
        path: sig_path.clone(),
        source,
    })?;
    let sig: [u8; TRAILER_LEN as usize] = sig
        .try_into()
        .map_err(|_| BundleError::Manifest(format!("{SIGNATURE_FILE}: wrong length")))?;
    let mut whole = Sha256::new();
    whole.update(&head);
    for e in &manifest.entries {
        let path = dir.join(&e.path);
        let (size, sha256) = format::hash_file(&path)?;
        let mut f = std::fs::File::open(&path).map_err(|source| BundleError::Read {
            path: path.clone(),
            source,
        })?;
        std::io::copy(&mut f, &mut whole).map_err(|source| BundleError::Read {
            path: path.clone(),
            source,
        })?;
        if size != e.size || sha256 != e.sha256 {
            return Err(BundleError::HashMismatch {
                path: e.path.clone(),
            });
        }
    }
    let trailer = trailer_from(&sig)?;
    format::check_signature(&whole.finalize(), &trailer, trusted)?;
    Ok(manifest)
}

fn trailer_from(b: &[u8; TRAILER_LEN as usize]) -> Result<Trailer> {
    if &b[..8] != b"GCBSIG01" {
        return Err(BundleError::Manifest(format!(
            "{SIGNATURE_FILE}: bad magic"
        )));
    }
    Ok(Trailer {
        public_key: b[8..40].try_into().expect("32 bytes"),
        signature: b[40..].try_into().expect("64 bytes"),
    })
}

/// The configuration with a content folder's files in place of the configured ones: its
/// models folder (when it has models), its gallery and variants, its HPO folder, and its
/// configuration fragment. The gallery public key no longer applies: the bundle's signature
/// by a trusted key covers its galleries ([`verify_dir`]).
pub fn content_config(cfg: &Config, dir: &Path, manifest: &BundleManifest) -> Result<Config> {
    let mut out = cfg.clone();
    if manifest.entry(EntryKind::ModelManifest).is_some() {
        out.models_dir = dir.join("models");
    }
    if let Some(g) = manifest.entry(EntryKind::Gallery) {
        out.gallery = dir.join(&g.path);
        out.gallery_variants = manifest
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::GalleryVariant)
            .map(|e| dir.join(&e.path))
            .collect();
        out.gallery_public_key = None;
    }
    if manifest.entry(EntryKind::Hpo).is_some() {
        out.hpo_data = Some(dir.join("hpo"));
    }
    if let Some(c) = manifest.entry(EntryKind::Config) {
        let path = dir.join(&c.path);
        let text =
            std::fs::read_to_string(&path).map_err(|source| BundleError::Read { path, source })?;
        out = fragment::apply(&out, &fragment::parse(&text)?)?;
    }
    Ok(out)
}

/// Every `*.pub` key in `dir` (sorted by name); none (or no folder) is an error.
pub fn trusted_keys(dir: &Path) -> Result<Vec<ed25519_dalek::VerifyingKey>> {
    // A missing or unreadable folder trusts nobody (the log has the reason).
    let none = |e: std::io::Error| {
        log::error!("trusted keys {}: {e}", dir.display());
        BundleError::NoTrustedKeys {
            dir: dir.to_path_buf(),
        }
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(none)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    let keys = paths
        .iter()
        .map(|p| {
            crate::gallery::read_verifying_key(p).map_err(|e| BundleError::Key {
                path: p.clone(),
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(BundleError::NoTrustedKeys {
            dir: dir.to_path_buf(),
        });
    }
    Ok(keys)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|source| BundleError::Write {
        path: to.to_path_buf(),
        source,
    })
}

fn create_dir_0700(dir: &Path) -> Result<()> {
    crate::app::save::create_dir_0700(dir).map_err(|source| BundleError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// fsync of a folder, so a rename in it survives a power cut (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
