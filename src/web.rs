//! The browser side, embedded in the binary: the agent console (`/console`), the visitor
//! widget (`/widget.js`, one script tag on any site; `/widget` is a demo page that embeds
//! it) and their static assets, including the vendored socket.io client
//! (`web/vendor/socket.io.min.js`, byte-identical to the pinned npm package, checked by
//! `web/check-vendor.sh`).
//!
//! The files live in `web/` and are compiled in with `include_bytes!`, so a deployment is
//! still one binary. Every answer carries a content type, `X-Content-Type-Options: nosniff`,
//! a `Cache-Control` and an `ETag` (a hash of the content: a new binary revalidates to new
//! files, an unchanged file costs a `304`). The HTML pages also carry a strict
//! `Content-Security-Policy`: scripts and styles from this origin only, no inline code, no
//! framing; the pages' JavaScript renders every message with `textContent`, never as HTML.

use std::hash::{DefaultHasher, Hasher};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The policy of the HTML pages: everything from this origin, nothing inline, no framing.
/// (`connect-src 'self'` covers the socket.io WebSocket of the same host and port.) Images
/// may also come from any `https:` host: an image message's `fileUrl` is an https: URL or a
/// path on this server, shown inline (with `referrerpolicy="no-referrer"`); and from `blob:`:
/// the console fetches attachments' thumbnails with its token and shows them as object URLs.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob: https:; font-src 'self'; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'; object-src 'none'";

/// HTML: always revalidated, so a page and the scripts it names never come from two releases.
const PAGE_CACHE: &str = "no-cache";
/// Scripts and styles: reused for five minutes, then revalidated by `ETag`.
const ASSET_CACHE: &str = "public, max-age=300";

/// One embedded file and how it is served.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    page: bool,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/console",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/console.html"),
        page: true,
    },
    Asset {
        path: "/console/kb",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/kb.html"),
        page: true,
    },
    Asset {
        path: "/static/kb.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/kb.js"),
        page: false,
    },
    Asset {
        path: "/static/kb.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/kb.css"),
        page: false,
    },
    Asset {
        path: "/console/reports",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/reports.html"),
        page: true,
    },
    Asset {
        path: "/static/reports.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/reports.js"),
        page: false,
    },
    Asset {
        path: "/static/reports.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/reports.css"),
        page: false,
    },
    Asset {
        path: "/console/webhooks",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/webhooks.html"),
        page: true,
    },
    Asset {
        path: "/static/webhooks.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/webhooks.js"),
        page: false,
    },
    Asset {
        path: "/widget",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/widget.html"),
        page: true,
    },
    Asset {
        path: "/widget.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/widget.js"),
        page: false,
    },
    Asset {
        path: "/static/console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/console.js"),
        page: false,
    },
    Asset {
        path: "/static/console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/console.css"),
        page: false,
    },
    Asset {
        path: "/static/widget.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/widget.css"),
        page: false,
    },
    Asset {
        path: "/static/demo.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/demo.css"),
        page: false,
    },
    Asset {
        path: "/static/icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../web/icon.svg"),
        page: false,
    },
    Asset {
        path: "/static/socket.io.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/vendor/socket.io.min.js"),
        page: false,
    },
];

/// The routes of the console, the widget and their assets.
pub fn router() -> Router<AppState> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let etag = etag(asset.body);
        router.route(
            asset.path,
            get(move |headers: HeaderMap| async move { serve(asset, &etag, &headers) }),
        )
    })
}

/// A strong validator for `body`: the same bytes always give the same tag.
fn etag(body: &[u8]) -> HeaderValue {
    let mut h = DefaultHasher::new();
    h.write(body);
    HeaderValue::from_str(&format!("\"{:016x}-{:x}\"", h.finish(), body.len()))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn serve(asset: &'static Asset, etag: &HeaderValue, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = response.headers_mut();
    if !fresh {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    h.insert(header::ETAG, etag.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.page {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    } else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_under_a_distinct_path() {
        let mut paths: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
    }

    #[test]
    fn pages_name_their_scripts_as_files_never_inline() {
        for page in ASSETS.iter().filter(|a| a.page) {
            let html = String::from_utf8_lossy(page.body);
            for tag in html.split("<script").skip(1) {
                let open = tag.split('>').next().unwrap_or("");
                assert!(open.contains("src="), "{}: inline <script>", page.path);
            }
            assert!(
                !has_event_handler_attribute(&html),
                "{}: inline event handler",
                page.path
            );
            assert!(!html.contains("style="), "{}: inline style", page.path);
        }
    }

    /// ` onclick=`, ` onload=`, ...: an attribute that would need `'unsafe-inline'`.
    fn has_event_handler_attribute(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.chars().take_while(|c| c.is_ascii_lowercase()).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        })
    }

    #[test]
    fn the_same_bytes_give_the_same_etag_and_others_differ() {
        assert_eq!(etag(b"abc"), etag(b"abc"));
        assert_ne!(etag(b"abc"), etag(b"abd"));
    }

    #[test]
    fn a_matching_if_none_match_answers_304_with_the_tag() {
        let asset = &ASSETS[0];
        let tag = etag(asset.body);
        let mut req = HeaderMap::new();
        req.insert(header::IF_NONE_MATCH, tag.clone());
        let res = serve(asset, &tag, &req);
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(res.headers().get(header::ETAG), Some(&tag));
    }
}
