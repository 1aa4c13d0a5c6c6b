//! Webhook signing secrets at rest: sealed with AES-256-GCM under `FIRESIGHT_SECRETS_KEY` (32 random
//! bytes, base64) before they reach the state database, opened when a webhook is read. A sealed value is
//! `enc:v1:<key id>:<base64 of nonce and ciphertext>`, the key id being the first 8 hex digits of the
//! key's SHA-256, so a rotation keeps the old key in `FIRESIGHT_SECRETS_OLD_KEYS` for opening until
//! [`SecretBox::needs_rewrap`] values are sealed again under the new one (done at start). Without a key,
//! secrets are stored as they are (and webhooks are refused on a listener other than loopback).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:v1:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    #[error(
        "a webhook secret is sealed with key {0}, which is neither FIRESIGHT_SECRETS_KEY nor in FIRESIGHT_SECRETS_OLD_KEYS"
    )]
    UnknownKey(String),
    #[error("a sealed webhook secret does not open (altered, or sealed with another key of the same id)")]
    Corrupt,
}

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn from_base64(text: &str) -> Result<Key, SecretError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        let id = hex::encode(&Sha256::digest(&bytes)[..4]);
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?;
        Ok(Key { id, cipher })
    }
}

/// The keys secrets are sealed and opened with.
#[derive(Default)]
pub struct SecretBox {
    current: Option<Key>,
    old: Vec<Key>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox").field("current", &self.current.as_ref().map(|k| &k.id)).finish_non_exhaustive()
    }
}

impl SecretBox {
    /// From the configured keys (base64); `current` absent means secrets stay as they are.
    pub fn new(current: Option<&str>, old: &[&str]) -> Result<SecretBox, SecretError> {
        Ok(SecretBox {
            current: current.map(Key::from_base64).transpose()?,
            old: old.iter().map(|k| Key::from_base64(k)).collect::<Result<_, _>>()?,
        })
    }

    /// Whether secrets are sealed before they are stored.
    pub fn seals(&self) -> bool {
        self.current.is_some()
    }

    /// The value to store for `secret`.
    pub fn seal(&self, secret: &str) -> String {
        let Some(key) = &self.current else { return secret.to_owned() };
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the OS random source");
        let sealed = key.cipher.encrypt(&Nonce::from(nonce), secret.as_bytes()).expect("AES-GCM seals");
        let mut blob = nonce.to_vec();
        blob.extend(sealed);
        format!("{PREFIX}{}:{}", key.id, STANDARD.encode(blob))
    }

    /// The secret a stored value holds.
    pub fn open(&self, stored: &str) -> Result<String, SecretError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_owned()) };
        let (id, blob) = rest.split_once(':').ok_or(SecretError::Corrupt)?;
        let key = self.current.iter().chain(&self.old).find(|k| k.id == id);
        let key = key.ok_or_else(|| SecretError::UnknownKey(id.to_owned()))?;
        let blob = STANDARD.decode(blob).map_err(|_| SecretError::Corrupt)?;
        if blob.len() < 12 {
            return Err(SecretError::Corrupt);
        }
        let (nonce, sealed) = blob.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Corrupt)?;
        let plain = key.cipher.decrypt(&Nonce::from(nonce), sealed).map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Corrupt)
    }

    /// Whether a stored value should be sealed again: stored plain while a key is configured, or sealed
    /// with a key other than the current one.
    pub fn needs_rewrap(&self, stored: &str) -> bool {
        let Some(key) = &self.current else { return false };
        match stored.strip_prefix(PREFIX).and_then(|rest| rest.split_once(':')) {
            Some((id, _)) => id != key.id,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HxwdHhscGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";

    #[test]
    fn sealed_secrets_open_and_do_not_show() {
        let b = SecretBox::new(Some(K1), &[]).unwrap();
        let sealed = b.seal("whsec_abc");
        assert!(sealed.starts_with("enc:v1:") && !sealed.contains("abc"), "{sealed}");
        assert_ne!(b.seal("whsec_abc"), sealed, "a fresh nonce each time");
        assert_eq!(b.open(&sealed).unwrap(), "whsec_abc");
        assert!(!b.needs_rewrap(&sealed));
        assert!(b.needs_rewrap("whsec_plain"));
        assert_eq!(b.open("whsec_plain").unwrap(), "whsec_plain");
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(b.open(&altered), Err(SecretError::Corrupt));
    }

    #[test]
    fn a_rotated_key_opens_until_rewrapped() {
        let old = SecretBox::new(Some(K1), &[]).unwrap().seal("whsec_abc");
        let rotated = SecretBox::new(Some(K2), &[K1]).unwrap();
        assert_eq!(rotated.open(&old).unwrap(), "whsec_abc");
        assert!(rotated.needs_rewrap(&old));
        let new = rotated.seal(&rotated.open(&old).unwrap());
        assert!(!rotated.needs_rewrap(&new));
        let without_old = SecretBox::new(Some(K2), &[]).unwrap();
        assert!(matches!(without_old.open(&old), Err(SecretError::UnknownKey(_))));
        assert_eq!(SecretBox::new(Some("c2hvcnQ="), &[]).unwrap_err(), SecretError::BadKey);
    }
}
