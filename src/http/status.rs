//! The status page at `/` and its two assets, compiled into the binary so the
//! page works on a plant network without internet.
//!
//! The page is read-only: it only reads the JSON API from the browser. Its
//! headers keep it that way: a Content-Security-Policy that allows nothing
//! but this origin's own script, style and API (no inline script, no framing,
//! no form posts), and `nosniff`.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

const PAGE: &str = include_str!("status/index.html");
const SCRIPT: &str = include_str!("status/status.js");
const STYLE: &str = include_str!("status/status.css");

/// The policy every status response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `/`, `/status.js` and `/status.css`; the page names the gateway.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(gateway: &str) -> Router<S> {
    let page = PAGE.replace("{{gateway}}", &escape_html(gateway));
    Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                async move { asset("text/html; charset=utf-8", page) }
            }),
        )
        .route(
            "/status.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT.to_owned()) }),
        )
        .route(
            "/status.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE.to_owned()) }),
        )
}

fn asset(content_type: &'static str, body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            // An upgraded gateway serves new assets: the browser must ask.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}

/// Text safe inside HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_name_cannot_inject_markup() {
        assert_eq!(
            escape_html(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(PAGE.contains(r#"src="/status.js""#));
        assert!(PAGE.contains(r#"href="/status.css""#));
        // Nothing fetched from elsewhere, and no inline script the policy would block.
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
        assert!(!PAGE.contains("<script>"));
        assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("console."));
    }
}
