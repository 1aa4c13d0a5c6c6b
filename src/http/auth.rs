//! API keys on `/v1`: `Authorization: Bearer <key>`. Keys are kept only as SHA-256 digests and the
//! presented key's digest is compared with every configured digest in constant time, so neither timing
//! nor a memory dump reveals a key.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::ApiError;
use crate::config::Secret;

/// The accepted API keys, as digests.
#[derive(Clone)]
pub struct ApiKeys {
    /// Shared: the middleware's state is cloned for every request.
    digests: std::sync::Arc<[[u8; 32]]>,
    disabled: bool,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys").field("count", &self.digests.len()).field("disabled", &self.disabled).finish()
    }
}

impl ApiKeys {
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

/// Paths that authenticate themselves in another way and answer in another format.
fn exempt(path: &str) -> bool {
    path == "/v1/firehose"
}

/// Middleware: every request under `/v1` needs a valid key unless authentication is disabled.
pub async fn require_api_key(State(keys): State<ApiKeys>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let protected = (path == "/v1" || path.starts_with("/v1/")) && !exempt(path);
    if !protected || keys.is_disabled() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        Some(key) if !key.is_empty() && keys.accepts(key) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_keys() {
        let keys = ApiKeys::new(&[Secret::new("alpha"), Secret::new("beta")], false);
        assert!(keys.accepts("alpha"));
        assert!(keys.accepts("beta"));
        assert!(!keys.accepts("gamma"));
        assert!(!keys.accepts(""));
        assert!(!format!("{keys:?}").contains("alpha"));
    }

    #[test]
    fn firehose_endpoint_has_its_own_auth() {
        assert!(exempt("/v1/firehose"));
        assert!(!exempt("/v1/logs"));
    }
}
