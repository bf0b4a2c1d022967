//! The embedded web console: the files of `ui/dist` (built by `cd ui && npm ci && npm run
//! build`, embedded at compile time by `build.rs`) served at `/`.
//!
//! The console is a single-page app: a path that names a file is that file; any other path
//! outside the API (`/events`, `/alerts/01J…`) is a client route and gets `index.html`, so a
//! link or a reload lands on the right page. The API is never shadowed: this handler is the
//! router's fallback, so it sees only paths no API route matched, and under `/api/`, `/health`
//! and `/metrics` it answers the API's JSON 404. Hashed assets (`/assets/*`) are cached for a
//! year (their name changes with their content); `index.html` is revalidated on every load so
//! a new build is picked up at once. Files carry their content type, `nosniff`, and the HTML a
//! Content-Security-Policy that allows only this origin's scripts and connections.
//!
//! Built without `ui/dist`, the binary still works: `/` answers a page saying how to build the
//! console, and every API route is unchanged.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file of `ui/dist`.
pub(crate) struct Asset {
    /// Path under `ui/dist`, `/`-separated.
    pub(crate) path: &'static str,
    /// The file.
    pub(crate) body: &'static [u8],
    /// Its gzip twin, when the UI build wrote one.
    pub(crate) gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// The console's Content-Security-Policy: scripts, styles, images and connections from this
/// origin only (inline styles are allowed: the editor and charts set element styles).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page served when the binary was built without the console.
const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Vigil: console not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem;color:#1d2433}
code,pre{background:#eef1f5;padding:.15rem .35rem;border-radius:4px}pre{padding:.75rem}</style></head>
<body><h1>Vigil is running; its web console was not built</h1>
<p>This binary was compiled before the console existed in <code>ui/dist</code>. Build the console,
then the binary (it embeds the console at compile time):</p>
<pre>cd ui &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ..
cargo build --release -p vigil</pre>
<p><code>./vigil up --demo</code> does both when the console is missing or older than its sources.
The API works without the console: see <code>docs/api.md</code>.</p></body></html>
";

/// Whether the console was embedded.
pub(crate) fn built() -> bool {
    ASSETS.iter().any(|a| a.path == "index.html")
}

/// Paths that belong to the API: never answered with the console.
fn is_api_path(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || path == "/health"
        || path.starts_with("/health/")
        || path == "/metrics"
        || path.starts_with("/metrics/")
}

/// The content type of a file, by its extension.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn find(rel: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == rel)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn file_response(asset: &'static Asset, req_headers: &HeaderMap, head: bool) -> Response {
    let (rel, body, gz) = (asset.path, asset.body, asset.gzip);
    let immutable = rel.starts_with("assets/");
    let (bytes, gzipped) = match gz {
        Some(g) if accepts_gzip(req_headers) => (g, true),
        _ => (body, false),
    };
    let mut resp = if head {
        axum::body::Body::empty().into_response()
    } else {
        axum::body::Body::from(bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(rel)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if gz.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if rel.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    resp
}

/// Whether the last segment of a path names a file (`app.js`), not a client route.
fn names_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

/// The router's fallback: the console for every path no API route matched (see the module
/// doc); `api_not_found` answers API paths and files that do not exist.
pub(crate) async fn serve(req: Request, api_not_found: Response) -> Response {
    let path = req.uri().path();
    if is_api_path(path) {
        return api_not_found;
    }
    let head = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head {
        return api_not_found;
    }
    if !built() {
        let mut resp = (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            NOT_BUILT,
        )
            .into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return resp;
    }
    let rel = path.trim_start_matches('/');
    if !rel.is_empty()
        && !rel.split('/').any(|s| s == ".." || s.is_empty())
        && let Some(asset) = find(rel)
    {
        return file_response(asset, req.headers(), head);
    }
    if rel.starts_with("assets/") || names_file(path) {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file",
        )
            .into_response();
    }
    match find("index.html") {
        Some(index) => file_response(index, req.headers(), head),
        None => api_not_found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_stay_api() {
        for p in [
            "/api",
            "/api/v1/search",
            "/api/v1/nope",
            "/health",
            "/metrics",
        ] {
            assert!(is_api_path(p), "{p}");
        }
        for p in [
            "/",
            "/events",
            "/apis",
            "/alerts/01J",
            "/healthy",
            "/assets/x.js",
        ] {
            assert!(!is_api_path(p), "{p}");
        }
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/a-1B2c.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(!accepts_gzip(&h));
    }

    #[test]
    fn file_names_versus_client_routes() {
        assert!(names_file("/favicon.svg"));
        assert!(names_file("/assets/index-abc.js"));
        assert!(!names_file("/events"));
        assert!(!names_file("/alerts/01JABC"));
    }
}

/// The console next to the API through the real router: API paths keep their JSON answers,
/// client routes get the console (or the page saying how to build it), files their type.
#[cfg(test)]
mod router_tests {
    use axum::http::{StatusCode, header};
    use tower::ServiceExt as _;

    use crate::gate_tests::{TOKEN, body_text, plain, req, state};
    use crate::{ApiLimits, router};

    #[tokio::test]
    async fn api_paths_are_never_the_console() {
        let (st, _t) = state(ApiLimits::default(), plain());
        let app = router(st);
        for path in ["/api/v1/nope", "/api", "/api/", "/metrics/x", "/health/x"] {
            let r = app
                .clone()
                .oneshot(req(path, "127.0.0.1", Some(TOKEN)))
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            let ct = r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(ct.starts_with("application/json"), "{path}: {ct}");
            assert!(body_text(r).await.contains("\"not_found\""), "{path}");
        }
        // the API's own routes still answer
        let r = app
            .clone()
            .oneshot(req("/health", "127.0.0.1", None))
            .await
            .unwrap();
        assert!(body_text(r).await.contains("\"ok\""));
        let r = app
            .clone()
            .oneshot(req("/api/v1/status", "127.0.0.1", None))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn client_routes_get_the_console() {
        let (st, _t) = state(ApiLimits::default(), plain());
        let app = router(st);
        for path in ["/", "/events", "/alerts/01JABCDEF"] {
            let r = app
                .clone()
                .oneshot(req(path, "127.0.0.1", None))
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/html; charset=utf-8"
            );
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
            let body = body_text(r).await;
            if super::built() {
                assert!(body.contains("<div id=\"root\">"), "{path}");
            } else {
                assert!(
                    body.contains("npm ci && npm run build")
                        || body.contains("npm ci &amp;&amp; npm run build"),
                    "{path}"
                );
            }
        }
        if super::built() {
            let r = app
                .clone()
                .oneshot(req("/assets/missing-0000.js", "127.0.0.1", None))
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
            let js = super::ASSETS
                .iter()
                .find(|a| a.path.starts_with("assets/") && a.path.ends_with(".js"))
                .map(|a| a.path)
                .unwrap();
            let mut rq = req(&format!("/{js}"), "127.0.0.1", None);
            rq.headers_mut()
                .insert(header::ACCEPT_ENCODING, "gzip".parse().unwrap());
            let r = app.clone().oneshot(rq).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/javascript; charset=utf-8"
            );
            assert_eq!(
                r.headers()[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        }
    }

    #[tokio::test]
    async fn writes_to_client_routes_are_not_the_console() {
        let (st, _t) = state(ApiLimits::default(), plain());
        let app = router(st);
        let mut r = req("/events", "127.0.0.1", None);
        *r.method_mut() = axum::http::Method::POST;
        let resp = app.oneshot(r).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
