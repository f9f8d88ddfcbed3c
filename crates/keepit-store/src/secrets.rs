//! Credentials at rest: AES-256-GCM with a master key from the environment or a key file.
//!
//! An encrypted value is the text `kw1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`:
//! a format version, a short fingerprint of the key that sealed it (so a wrong key is
//! reported as such rather than as tampering), and a fresh random 96-bit nonce per
//! value. The caller's associated data (for credentials: the integration id) is
//! authenticated too, so a value copied onto another row does not decrypt.
//!
//! This module never reads environment variables: the binary reads `KEEPIT_MASTER_KEY`
//! and passes the text to [`MasterKey::from_encoded`], or calls [`MasterKey::load_or_create`].

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

const VERSION: &str = "kw1";
const NONCE_LEN: usize = 12;

/// Why a key could not be loaded or a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The key text is not 32 bytes in base64 or hex.
    #[error("master key must be 32 bytes written as base64 or 64 hex digits")]
    InvalidKey,
    /// The key file could not be read or created.
    #[error("cannot use master key file {path}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The value was sealed with another master key.
    #[error(
        "credentials were encrypted with master key {sealed_with}, not with the configured key {configured}"
    )]
    WrongKey {
        /// Fingerprint of the key that sealed the value.
        sealed_with: String,
        /// Fingerprint of the key given to decrypt it.
        configured: String,
    },
    /// The key matches but the value does not authenticate: it was altered or moved.
    #[error("encrypted credentials failed authentication: the stored value was altered")]
    Tampered,
    /// The value is not in the `kw1:` format at all.
    #[error("encrypted credentials are malformed: {0}")]
    Malformed(&'static str),
    /// Encryption itself failed (does not happen with valid keys).
    #[error("encryption failed")]
    Encrypt,
    /// The decrypted credentials are not the JSON document the store writes.
    #[error("decrypted credentials are not valid: {0}")]
    Payload(String),
}

/// The 256-bit key that protects credentials at rest.
///
/// `Debug` shows only the key's fingerprint.
#[derive(Clone)]
pub struct MasterKey {
    key: Key<Aes256Gcm>,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

impl MasterKey {
    /// Builds a key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let key = Key::<Aes256Gcm>::from(bytes);
        let mut hasher = Sha256::new();
        hasher.update(b"keepit-watch master key id\0");
        hasher.update(bytes);
        let id = hex::encode(&hasher.finalize()[..8]);
        MasterKey { key, id }
    }

    /// Parses a key written as base64 (standard or URL-safe, padded or not) or as 64 hex digits.
    pub fn from_encoded(text: &str) -> Result<MasterKey, SecretError> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let bytes: [u8; 32] = decoded
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(SecretError::InvalidKey)?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// A new random key.
    pub fn generate() -> MasterKey {
        let key = Aes256Gcm::generate_key(OsRng);
        MasterKey::from_bytes(key.into())
    }

    /// The key both binaries use, so that the server opens what the sync sealed:
    /// `KEEPIT_MASTER_KEY` when it is set, else the key file named by
    /// `KEEPIT_MASTER_KEY_FILE` (default [`MasterKey::DEFAULT_FILE`]), created on first
    /// use. `lookup` reads a variable: libraries do not read the environment
    /// themselves. A key that is set but unreadable is [`SecretError::InvalidKey`]; it
    /// is never silently replaced by the file.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<MasterKey, SecretError> {
        match lookup("KEEPIT_MASTER_KEY") {
            Some(encoded) => MasterKey::from_encoded(&encoded),
            None => {
                let file = lookup("KEEPIT_MASTER_KEY_FILE")
                    .unwrap_or_else(|| MasterKey::DEFAULT_FILE.to_owned());
                MasterKey::load_or_create(Path::new(&file))
            }
        }
    }

    /// The key file used when none is configured, in the working directory.
    pub const DEFAULT_FILE: &'static str = "keepit-master.key";

    /// Reads the key file at `path`, or creates it with a new random key, readable and
    /// writable by its owner only (mode 0600), when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, SecretError> {
        let key_file_error = |source| SecretError::KeyFile {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return MasterKey::from_encoded(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(key_file_error(error)),
        }
        let key = MasterKey::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(format!("{}\n", key.encoded()).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(key_file_error)?;
                tracing::info!(path = %path.display(), key_id = %key.id, "created a new master key file");
                Ok(key)
            }
            // Another process created it between our read and our create: use theirs.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(key_file_error)?;
                MasterKey::from_encoded(&text)
            }
            Err(error) => Err(key_file_error(error)),
        }
    }

    /// A short fingerprint of the key (not secret), stored with every value it seals.
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// The key as standard base64, the form [`MasterKey::from_encoded`] reads.
    pub fn encoded(&self) -> String {
        STANDARD.encode(self.key.as_slice())
    }

    /// Seals `plaintext`, binding it to `associated_data`.
    pub fn encrypt(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<String, SecretError> {
        let cipher = Aes256Gcm::new(&self.key);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| SecretError::Encrypt)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(nonce.as_slice());
        blob.extend_from_slice(&sealed);
        Ok(format!(
            "{VERSION}:{}:{}",
            self.id,
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens a value sealed by [`MasterKey::encrypt`] with the same associated data.
    pub fn decrypt(&self, envelope: &str, associated_data: &[u8]) -> Result<Vec<u8>, SecretError> {
        let mut parts = envelope.trim().splitn(3, ':');
        let (Some(version), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Malformed("expected version:key:data"));
        };
        if version != VERSION {
            return Err(SecretError::Malformed("unknown format version"));
        }
        if key_id != self.id {
            return Err(SecretError::WrongKey {
                sealed_with: key_id.to_owned(),
                configured: self.id.clone(),
            });
        }
        let blob = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Malformed("data is not base64"))?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(SecretError::Malformed("data is too short"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        Aes256Gcm::new(&self.key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: associated_data,
                },
            )
            .map_err(|_| SecretError::Tampered)
    }
}

#[cfg(test)]
mod tests;
