//! The offline phone checkpoint (issue 18): a progressive web app, served under `/checkpoint/` by
//! `ecard checkpoint serve` and by the station, that reads the card's QR seal with the phone's
//! camera and answers green, amber or red in the browser, with no network once it has loaded.
//!
//! Layout:
//! - [`router`]: the axum routes: the app shell (HTML, CSS, scripts, manifest, icon, service
//!   worker, the vendored QR decoder), all embedded in the binary (no CDN), the trust bundle
//!   (`trust-bundle.json`) and the signed status list (`status-list`).
//! - [`bundle`]: the trust bundle: each Document Signer certificate checked by the server against
//!   the trusted CSCAs (chain, key usage, document type), with its kid, key (JWK) and dates. The
//!   phone checks the date-dependent rest and every signature itself. See the module for why the
//!   bundle is pre-verified rather than parsed as X.509 on the phone, and why it is not signed.
//! - `assets/verify.js`: base45, zlib (`DecompressionStream`), a strict CBOR decoder, COSE_Sign1
//!   ES256 with WebCrypto, the seal payload and status list rules of ECARD.md section 8, and the
//!   verdict rules of `ecard_seal::check` (never green without a fresh verified status list).
//!   Bytes after the end of the zlib stream make both refuse the seal (the browser's
//!   "junk found after end of compressed data", `ecard_seal::Seal::decode`'s "byte(s) after the
//!   end of the compressed seal").
//! - `assets/app.js`: camera (back camera), continuous QR decoding with jsQR, the verdict screen,
//!   the gallery fallback, the status list refresh and its age.
//! - `assets/sw.js`: the service worker: the shell cached on install, the bundle and the list
//!   network-first with the cached copy offline.
//!
//! Must not: put personal data in logs or URLs (the seal is decoded only in the browser, and
//! nothing here sees it), or serve anything from another origin.

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bundle;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use x509_cert::Certificate;

pub use bundle::{TrustBundle, make_bundle};

/// Where the app lives on the server.
pub const PREFIX: &str = "/checkpoint";

/// Why the trust bundle or the status list cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PwaError {
    /// A certificate file could not be read or holds no certificate.
    #[error("cannot read certificate file {path}: {reason}")]
    Certificates {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The status list file could not be read.
    #[error("cannot read status list {path}: {source}")]
    StatusFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The station's status list could not be fetched.
    #[error("cannot fetch the status list from {url}: {reason}")]
    StatusFetch {
        /// Where from.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server has no trust material to give (the station has no PKI loaded yet).
    #[error("no trust material: {0}")]
    NoTrust(String),
}

/// The CSCA and Document Signer certificates, read when the phone asks.
pub type TrustFn =
    dyn Fn() -> Result<(Vec<Certificate>, Vec<Certificate>), PwaError> + Send + Sync + 'static;

/// Where the signed status list comes from.
#[derive(Debug, Clone)]
pub enum StatusFrom {
    /// None: the phone says revocation is not checked (amber at best).
    None,
    /// A file, read on every request (the station's `status.cose`).
    File(PathBuf),
    /// The station's URL, fetched when the phone asks.
    Url(String),
    /// A path on the same origin that serves the list itself (the station's
    /// `/api/v1/status-list`); the phone fetches it there.
    SameOrigin(String),
}

/// What the app is served with.
#[derive(Clone)]
pub struct Source {
    trust: Arc<TrustFn>,
    status: StatusFrom,
}

fn read_certs(paths: &[PathBuf]) -> Result<Vec<Certificate>, PwaError> {
    let mut out = Vec::new();
    for path in paths {
        let bad = |reason: String| PwaError::Certificates {
            path: path.clone(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        out.extend(ecard_chip::pki::read_certificates(&bytes).map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}

impl Source {
    /// Trust from a closure (the station's current PKI), the list from `status`.
    pub fn new(
        trust: impl Fn() -> Result<(Vec<Certificate>, Vec<Certificate>), PwaError>
        + Send
        + Sync
        + 'static,
        status: StatusFrom,
    ) -> Source {
        Source {
            trust: Arc::new(trust),
            status,
        }
    }

    /// `ecard checkpoint serve`'s files: CSCA and DS certificate files (read on each request, so
    /// a replaced file is served at once), and the status list file or URL.
    pub fn files(
        csca: &[PathBuf],
        ds: &[PathBuf],
        status_file: Option<&Path>,
        status_url: Option<&str>,
    ) -> Source {
        let (csca, ds) = (csca.to_vec(), ds.to_vec());
        let status = match (status_file, status_url) {
            (Some(f), _) => StatusFrom::File(f.to_path_buf()),
            (None, Some(u)) => StatusFrom::Url(u.to_string()),
            (None, None) => StatusFrom::None,
        };
        Source::new(move || Ok((read_certs(&csca)?, read_certs(&ds)?)), status)
    }
}

/// An embedded file.
struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        Asset {
            path: $path,
            mime: $mime,
            body: include_bytes!(concat!("../assets/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("verify.js", "text/javascript; charset=utf-8"),
    asset!("sw.js", "text/javascript; charset=utf-8"),
    asset!("manifest.webmanifest", "application/manifest+json"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("vendor/jsqr/jsQR.js", "text/javascript; charset=utf-8"),
    asset!("vendor/jsqr/LICENSE", "text/plain; charset=utf-8"),
];

/// The placeholder in `sw.js` replaced by [`version`].
const VERSION_MARK: &str = "__ECARD_PWA_VERSION__";

/// A hash of every asset: a new build with changed assets gets a new service worker and cache.
pub fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for a in ASSETS {
            h.update(a.path.as_bytes());
            h.update(a.body);
        }
        hex::encode(&h.finalize()[..8])
    })
}

fn with_headers(mut r: Response, mime: &str) -> Response {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // The service worker keeps the offline copy; the network copy is always revalidated.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    r
}

fn serve_asset(a: &'static Asset) -> Response {
    let body = if a.path == "sw.js" {
        String::from_utf8_lossy(a.body)
            .replace(VERSION_MARK, version())
            .into_bytes()
    } else {
        a.body.to_vec()
    };
    with_headers(body.into_response(), a.mime)
}

fn problem(code: StatusCode, e: &PwaError) -> Response {
    tracing::warn!("phone checkpoint: {e}");
    with_headers(
        (code, format!("{e}\n")).into_response(),
        "text/plain; charset=utf-8",
    )
}

async fn trust_bundle(src: Source) -> Response {
    let status_url = match &src.status {
        StatusFrom::SameOrigin(p) => p.clone(),
        _ => "status-list".to_string(),
    };
    let trust = src.trust.clone();
    let made = tokio::task::spawn_blocking(move || trust()).await;
    match made {
        Ok(Ok((csca, ds))) => {
            let b = make_bundle(&csca, &ds, time::OffsetDateTime::now_utc(), &status_url);
            match serde_json::to_vec(&b) {
                Ok(body) => with_headers(body.into_response(), "application/json"),
                Err(e) => problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &PwaError::NoTrust(e.to_string()),
                ),
            }
        }
        Ok(Err(e)) => problem(StatusCode::SERVICE_UNAVAILABLE, &e),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            &PwaError::NoTrust(format!("task failed: {e}")),
        ),
    }
}

fn fetch_url(url: &str) -> Result<Vec<u8>, PwaError> {
    let bad = |reason: String| PwaError::StatusFetch {
        url: url.to_string(),
        reason,
    };
    ureq::get(url)
        .call()
        .map_err(|e| bad(e.to_string()))?
        .body_mut()
        .with_config()
        .limit(32 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| bad(e.to_string()))
}

async fn status_list(src: Source) -> Response {
    let status = src.status.clone();
    let got = tokio::task::spawn_blocking(move || match status {
        StatusFrom::None | StatusFrom::SameOrigin(_) => Ok(None),
        StatusFrom::File(path) => std::fs::read(&path)
            .map(Some)
            .map_err(|source| PwaError::StatusFile { path, source }),
        StatusFrom::Url(url) => fetch_url(&url).map(Some),
    })
    .await;
    match got {
        Ok(Ok(Some(bytes))) => with_headers(
            bytes.into_response(),
            "application/cose; cose-type=\"cose-sign1\"",
        ),
        Ok(Ok(None)) => with_headers(
            (
                StatusCode::NOT_FOUND,
                "this checkpoint has no status list: start it with --status or --status-url\n",
            )
                .into_response(),
            "text/plain; charset=utf-8",
        ),
        Ok(Err(e)) => problem(StatusCode::BAD_GATEWAY, &e),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            &PwaError::NoTrust(format!("task failed: {e}")),
        ),
    }
}

/// The app's routes under [`PREFIX`], for any router state (merge it into the server's router).
pub fn router<S: Clone + Send + Sync + 'static>(src: Source) -> Router<S> {
    let mut r = Router::new()
        .route(
            PREFIX,
            get(|| async { Redirect::permanent("/checkpoint/") }),
        )
        .route("/checkpoint/", get(|| async { serve_asset(&ASSETS[0]) }));
    for a in ASSETS {
        r = r.route(
            &format!("{PREFIX}/{}", a.path),
            get(move || async move { serve_asset(a) }),
        );
    }
    let (b, s) = (src.clone(), src);
    r.route(
        "/checkpoint/trust-bundle.json",
        get(move || trust_bundle(b.clone())),
    )
    .route(
        "/checkpoint/status-list",
        get(move || status_list(s.clone())),
    )
}
