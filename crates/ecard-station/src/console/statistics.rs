//! The analysts' statistics page at `/statistics`: HTML, CSS and JS embedded in the binary, the
//! same content security policy as the console, charts drawn as SVG by the page itself (no chart
//! library). It reads only `GET /api/v1/statistics`, with the analyst's token; it has no route
//! of its own that returns data.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::server::Station;

const HTML: &str = include_str!("statistics.html");
const CSS: &str = include_str!("statistics.css");
const JS: &str = include_str!("statistics.js");

/// `/statistics` and its assets.
pub(super) fn routes() -> Router<Station> {
    Router::new()
        .route("/statistics", get(page))
        .route("/statistics.css", get(css))
        .route("/statistics.js", get(js))
}

async fn page() -> impl IntoResponse {
    super::asset("text/html; charset=utf-8", HTML)
}

async fn css() -> impl IntoResponse {
    super::asset("text/css; charset=utf-8", CSS)
}

async fn js() -> impl IntoResponse {
    super::asset("text/javascript; charset=utf-8", JS)
}
