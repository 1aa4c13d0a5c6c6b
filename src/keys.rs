//! Shared secrets presented by clients: the REST API's keys and Firehose's access keys. Keys are kept
//! only as SHA-256 digests and a presented key's digest is compared with every configured digest in
//! constant time, so neither timing nor a memory dump reveals a key.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// A set of accepted keys, as digests.
#[derive(Clone)]
pub struct KeySet {
    /// Shared: the middleware's state is cloned for every request.
    digests: std::sync::Arc<[[u8; 32]]>,
    disabled: bool,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("count", &self.digests.len()).field("disabled", &self.disabled).finish()
    }
}

impl KeySet {
    /// `disabled`: every request is let through (the REST API's `auth.disabled`, loopback only).
    pub fn new(keys: &[Secret], disabled: bool) -> Self {
        Self { digests: keys.iter().map(|k| digest(k.expose())).collect(), disabled }
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Every digest is compared, match or not.
    pub fn accepts(&self, presented: &str) -> bool {
        let wanted = digest(presented);
        let mut found = subtle::Choice::from(0);
        for d in self.digests.iter() {
            found |= d.ct_eq(&wanted);
        }
        found.into()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let keys = KeySet::new(&[Secret::new("alpha"), Secret::new("beta")], false);
        assert!(keys.accepts("alpha"));
        assert!(keys.accepts("beta"));
        assert!(!keys.accepts("gamma"));
        assert!(!keys.accepts(""));
        assert!(!format!("{keys:?}").contains("alpha"));
    }
}
