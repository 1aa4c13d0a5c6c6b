//! The built-in dashboard: one page at `/` with its script modules, style sheet and icon, embedded in the
//! binary from `assets/dashboard/` (the world map's shapes too, so nothing is fetched elsewhere). The page is a client of the public `/v1` API like any other (it sends the
//! API key the user types in), so these routes need no key and stay out of the OpenAPI document.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::App;

/// Only this origin's own files: no inline script or style, no framing, no other hosts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// A file of `assets/dashboard/` served under `/dashboard/`.
macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        Asset {
            path: concat!("/dashboard/", $file),
            content_type: $content_type,
            body: include_str!(concat!("../../assets/dashboard/", $file)),
        }
    };
}

/// The page, its script (`app.js`, an ES module importing the other `.js` files), style sheet and icon.
const ASSETS: [Asset; 10] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../assets/dashboard/index.html"),
    },
    asset!("app.js", JS),
    asset!("format.js", JS),
    asset!("core.js", JS),
    asset!("logs.js", JS),
    asset!("map.js", JS),
    asset!("worldmap.js", JS),
    asset!("perf.js", JS),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// Each asset's ETag: a digest of its content, so a new build invalidates exactly what changed.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body.as_bytes());
            HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12]))).expect("hex is a valid header")
        })
        .collect()
});

/// The dashboard's routes, mounted beside the API.
pub fn routes() -> Router<App> {
    ASSETS.iter().enumerate().fold(Router::new(), |router, (i, asset)| {
        router.route(asset.path, get(move |headers: HeaderMap| async move { serve(i, &headers) }))
    })
}

fn serve(i: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[i];
    let etag = &ETAGS[i];
    let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|v| v == etag);
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::ETAG, etag.clone());
    // Revalidate on every load: an upgraded binary's page is never mixed with a cached script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name, not a link: SVG elements are created in it.
    const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

    #[test]
    fn the_page_loads_only_its_own_files() {
        let page = ASSETS[0].body;
        for asset in &ASSETS[1..] {
            // Each module is preloaded by the page as well as imported, so none waits for another.
            assert!(page.contains(&format!("\"{}\"", asset.path)), "index.html links {}", asset.path);
        }
        // CSP forbids inline code: every script and style comes from a file.
        assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style="));
        assert!(!page.contains("onclick=") && !page.contains("javascript:"));
        for asset in &ASSETS {
            let body = asset.body.replace(SVG_NAMESPACE, "");
            assert!(!body.contains("http://") && !body.contains("https://"), "{} links elsewhere", asset.path);
        }
    }

    #[test]
    fn every_module_import_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let from =
                    line.rsplit_once("from '").map(|(_, f)| f.trim_end_matches("';")).expect("import ... from '...'");
                let path = format!("/dashboard/{}", from.trim_start_matches("./"));
                assert!(served.contains(&path.as_str()), "{} imports {from}, which is not served", asset.path);
            }
        }
    }

    #[test]
    fn an_unchanged_asset_is_not_sent_again() {
        let first = serve(1, &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        let second = serve(1, &again);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(second.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
    }
}
