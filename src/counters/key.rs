//! The device's own ed25519 key, which signs its usage reports, and the short `device_id`
//! derived from it.
//!
//! Files in `state_dir`: `device-key.pem` (the secret key, PKCS#8 PEM, created 0600 and never
//! overwritten) and `device-key.pub.pem` (the public key, SPKI PEM: what a programme
//! registers). The same formats as the gallery signing keys ([`crate::gallery::sign`]), so
//! `--key` of `gestaltcam report --verify` takes the public file as it is.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::CountersError;
use crate::gallery::sign;

/// The secret key file in `state_dir`.
pub const SECRET_FILE: &str = "device-key.pem";
/// The public key file in `state_dir`.
pub const PUBLIC_FILE: &str = "device-key.pub.pem";
/// Hex digits of the device id.
pub const DEVICE_ID_DIGITS: usize = 12;

/// The device's key pair.
pub struct DeviceKey {
    key: SigningKey,
}

/// The device id of a public key: the first [`DEVICE_ID_DIGITS`] hex digits of the sha256 of
/// its 32 bytes (e.g. `3f9a1c07b2e4`): short enough to read out, stable for the key's life.
pub fn device_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    hex::encode(digest)[..DEVICE_ID_DIGITS].to_string()
}

impl DeviceKey {
    /// The key in `state_dir`, made there if there is none yet (the first start).
    pub fn load_or_create(state_dir: &Path) -> Result<DeviceKey, CountersError> {
        match Self::load(state_dir) {
            Err(CountersError::NoKey { .. }) => {}
            other => return other,
        }
        crate::app::save::create_dir_0700(state_dir).map_err(|source| CountersError::Write {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let secret = state_dir.join(SECRET_FILE);
        let public = state_dir.join(PUBLIC_FILE);
        match sign::write_keypair(&secret, &public) {
            Ok(vk) => log::info!("device key made: device id {}", device_id(&vk)),
            // Made meanwhile by another process (e.g. the report command): take that one.
            Err(e) if secret.exists() => log::debug!("device key: {e}"),
            Err(e) => {
                return Err(CountersError::Key {
                    path: secret,
                    message: e.to_string(),
                })
            }
        }
        Self::load(state_dir)
    }

    /// The key in `state_dir`; [`CountersError::NoKey`] when there is none yet. Never makes
    /// one: a command run as another user (root) would leave a key the device cannot read.
    pub fn load(state_dir: &Path) -> Result<DeviceKey, CountersError> {
        let secret = state_dir.join(SECRET_FILE);
        if !secret.exists() {
            return Err(CountersError::NoKey {
                dir: state_dir.to_path_buf(),
            });
        }
        let key = sign::read_signing_key(&secret).map_err(|e| CountersError::Key {
            path: secret.clone(),
            message: e.to_string(),
        })?;
        Ok(DeviceKey { key })
    }

    /// The public key a programme registers.
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as SPKI PEM (the `device-key.pub.pem` file's text).
    pub fn public_pem(&self) -> String {
        self.public()
            .to_public_key_pem(LineEnding::LF)
            .expect("an ed25519 public key encodes")
    }

    pub fn device_id(&self) -> String {
        device_id(&self.public())
    }

    pub(super) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The secret key file of `state_dir`.
    pub fn secret_path(state_dir: &Path) -> PathBuf {
        state_dir.join(SECRET_FILE)
    }
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", self.device_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_its_id_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert!(matches!(
            DeviceKey::load(&state),
            Err(CountersError::NoKey { .. })
        ));
        let made = DeviceKey::load_or_create(&state).unwrap();
        let again = DeviceKey::load_or_create(&state).unwrap();
        assert_eq!(made.public(), again.public(), "made once, then read");
        let id = made.device_id();
        assert_eq!(id.len(), DEVICE_ID_DIGITS);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_eq!(id, device_id(&again.public()));
        let public = sign::read_verifying_key(&state.join(PUBLIC_FILE)).unwrap();
        assert_eq!(public, made.public());
        assert_eq!(
            made.public_pem(),
            std::fs::read_to_string(state.join(PUBLIC_FILE)).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&state.join(SECRET_FILE)), 0o600);
            assert_eq!(mode(&state), 0o700);
        }
    }

    #[test]
    fn a_damaged_key_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_FILE), b"not a key").unwrap();
        let err = DeviceKey::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, CountersError::Key { .. }), "{err:?}");
        assert_eq!(
            std::fs::read(dir.path().join(SECRET_FILE)).unwrap(),
            b"not a key",
            "left for a technician"
        );
    }
}
