//! Detached ed25519 signatures for gallery files.
//!
//! A gallery `G` is signed by the file `G.sig` next to it (e.g. `gmdb.gallery.sig`), a two-line
//! text file:
//!
//! ```text
//! gestaltcam-gallery-signature v1
//! <128 hex digits: the ed25519 signature>
//! ```
//!
//! The signed message is `b"gestaltcam-gallery-signature-v1\0"` followed by the sha256 of the
//! whole gallery file, so any change to the gallery (including recalibrating its threshold)
//! needs a new signature. A loader given a public key ([`super::LoadOptions::public_key`])
//! refuses a gallery without `G.sig` or whose signature does not verify.
//!
//! Keys: secret keys are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), public keys SPKI PEM
//! (`-----BEGIN PUBLIC KEY-----`); both readers also accept the raw 32 bytes or 64 hex digits.

use super::{write_atomic, GalleryError, Result};
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const SIG_HEADER: &str = "gestaltcam-gallery-signature v1";
const DOMAIN: &[u8] = b"gestaltcam-gallery-signature-v1\0";

/// `G` → `G.sig`.
pub fn sig_path(gallery: &Path) -> PathBuf {
    let mut s = gallery.as_os_str().to_os_string();
    s.push(".sig");
    PathBuf::from(s)
}

fn message(gallery_bytes: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(gallery_bytes));
    m
}

/// A new random signing key (from the OS's random source).
pub fn generate_keypair() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}

/// Generates a key pair and writes the secret key (PKCS#8 PEM) and the public key (SPKI PEM).
///
/// The secret key file is created with `O_CREAT | O_EXCL` and, on unix, mode 0600 in the same
/// `open` call, so it is never readable by others, not even for a moment, and an existing file
/// (or a link planted at the path) is never overwritten or followed: that is a [`GalleryError::Key`]
/// saying so. If writing it fails part-way the partial file is removed. The public key is
/// written atomically (it is not secret).
pub fn write_keypair(secret_path: &Path, public_path: &Path) -> Result<VerifyingKey> {
    let key_err = |path: &Path, message: String| GalleryError::Key {
        path: path.to_path_buf(),
        message,
    };
    let sk = generate_keypair();
    let pem = sk
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| key_err(secret_path, e.to_string()))?;
    write_secret_new(secret_path, pem.as_bytes())?;
    let vk = sk.verifying_key();
    let pub_pem = vk
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| key_err(public_path, e.to_string()))?;
    write_atomic(public_path, pub_pem.as_bytes())?;
    Ok(vk)
}

/// Creates `path` exclusively (mode 0600 on unix), writes `bytes` and syncs it; refuses an
/// existing path. On a failed write the new file is removed.
fn write_secret_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            GalleryError::Key {
                path: path.to_path_buf(),
                message: "already exists; not overwriting a secret key (remove it first or \
                          choose another path)"
                    .into(),
            }
        } else {
            GalleryError::Write {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(source) = written {
        let _ = std::fs::remove_file(path);
        return Err(GalleryError::Write {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

fn key_bytes(path: &Path, data: &[u8]) -> Option<[u8; 32]> {
    if data.len() == 32 {
        let mut a = [0u8; 32];
        a.copy_from_slice(data);
        return Some(a);
    }
    let text = std::str::from_utf8(data).ok()?.trim();
    let raw = hex::decode(text).ok()?;
    let _ = path;
    raw.try_into().ok()
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| GalleryError::Key {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Parses a secret key: PKCS#8 PEM, 32 raw bytes or 64 hex digits. `path` names it in errors.
pub fn parse_signing_key(path: &Path, data: &[u8]) -> Result<SigningKey> {
    if let Ok(text) = std::str::from_utf8(data) {
        if text.contains("-----BEGIN") {
            return SigningKey::from_pkcs8_pem(text).map_err(|e| GalleryError::Key {
                path: path.to_path_buf(),
                message: format!("not an ed25519 PKCS#8 private key: {e}"),
            });
        }
    }
    key_bytes(path, data)
        .map(|b| SigningKey::from_bytes(&b))
        .ok_or_else(|| GalleryError::Key {
            path: path.to_path_buf(),
            message: "expected a PKCS#8 PEM private key, 32 raw bytes or 64 hex digits".into(),
        })
}

/// Parses a public key: SPKI PEM, 32 raw bytes or 64 hex digits.
pub fn parse_verifying_key(path: &Path, data: &[u8]) -> Result<VerifyingKey> {
    let bad = |message: String| GalleryError::Key {
        path: path.to_path_buf(),
        message,
    };
    if let Ok(text) = std::str::from_utf8(data) {
        if text.contains("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text)
                .map_err(|e| bad(format!("not an ed25519 public key: {e}")));
        }
    }
    let b = key_bytes(path, data)
        .ok_or_else(|| bad("expected a PEM public key, 32 raw bytes or 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&b).map_err(|e| bad(e.to_string()))
}

/// Reads a secret key file (see [`parse_signing_key`]).
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    parse_signing_key(path, &read_key_file(path)?)
}

/// Reads a public key file (see [`parse_verifying_key`]).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey> {
    parse_verifying_key(path, &read_key_file(path)?)
}

/// Signs the gallery file at `gallery` (it is checked to be a valid gallery first) and writes
/// `G.sig` atomically; returns the signature's path.
pub fn sign(gallery: &Path, key: &SigningKey) -> Result<PathBuf> {
    let bytes = std::fs::read(gallery).map_err(|source| GalleryError::Read {
        path: gallery.to_path_buf(),
        source,
    })?;
    super::Gallery::from_bytes(&bytes)?;
    let sig = key.sign(&message(&bytes));
    let text = format!("{SIG_HEADER}\n{}\n", hex::encode(sig.to_bytes()));
    let path = sig_path(gallery);
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Checks `G.sig` against the gallery file at `gallery`.
pub fn verify(gallery: &Path, key: &VerifyingKey) -> Result<()> {
    let bytes = std::fs::read(gallery).map_err(|source| GalleryError::Read {
        path: gallery.to_path_buf(),
        source,
    })?;
    verify_bytes(gallery, &bytes, key)
}

pub(crate) fn verify_bytes(gallery: &Path, bytes: &[u8], key: &VerifyingKey) -> Result<()> {
    let sp = sig_path(gallery);
    let text = match std::fs::read(&sp) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(GalleryError::Unsigned {
                path: gallery.to_path_buf(),
                sig: sp,
            })
        }
        Err(e) => {
            return Err(GalleryError::SigFormat {
                path: sp,
                message: e.to_string(),
            })
        }
    };
    let bad = |message: &str| GalleryError::SigFormat {
        path: sp.clone(),
        message: message.into(),
    };
    if text.len() > 1024 {
        return Err(bad("too long"));
    }
    let text = std::str::from_utf8(&text).map_err(|_| bad("not text"))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(SIG_HEADER) {
        return Err(bad("missing the `gestaltcam-gallery-signature v1` line"));
    }
    let raw = lines
        .next()
        .and_then(|l| hex::decode(l.trim()).ok())
        .ok_or_else(|| bad("second line is not hex"))?;
    let raw: [u8; 64] = raw
        .try_into()
        .map_err(|_| bad("signature is not 64 bytes"))?;
    let sig = Signature::from_bytes(&raw);
    key.verify(&message(bytes), &sig)
        .map_err(|_| GalleryError::BadSignature { sig: sp.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_creates_the_secret_key_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (sk, pk) = (dir.path().join("k.pem"), dir.path().join("k.pub.pem"));
        let vk = write_keypair(&sk, &pk).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&sk).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "secret key mode {mode:o}");
        }
        let key = read_signing_key(&sk).unwrap();
        assert_eq!(key.verifying_key(), vk);
        assert_eq!(read_verifying_key(&pk).unwrap(), vk);

        // A second keygen to the same path fails, naming the path, and leaves both keys as they were.
        let before = (std::fs::read(&sk).unwrap(), std::fs::read(&pk).unwrap());
        let err = write_keypair(&sk, &pk).unwrap_err();
        assert!(
            matches!(&err, GalleryError::Key { path, .. } if path == &sk),
            "{err:?}"
        );
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(
            (std::fs::read(&sk).unwrap(), std::fs::read(&pk).unwrap()),
            before
        );
    }

    #[cfg(unix)]
    #[test]
    fn keygen_does_not_follow_a_link_at_the_secret_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        let sk = dir.path().join("k.pem");
        std::os::unix::fs::symlink(&target, &sk).unwrap();
        assert!(write_keypair(&sk, &dir.path().join("k.pub.pem")).is_err());
        assert!(!target.exists(), "the key was written through the link");
    }
}
