//! Who may use the checkpoint screen (issue 13 item 11): a checkpoint token, read from a file
//! (`--token-file`, mode 0600) or the `ECARD_CHECKPOINT_TOKEN` environment variable, never from
//! the command line (it would show in `ps` and shell history). Without either, a new token is
//! written to a 0600 file and its path printed. Only the token's SHA-256 is kept in memory.
//!
//! A browser signs in once at `/login` (the token in a form body, never in a URL) and gets a
//! session cookie (HttpOnly, SameSite=Strict); scripts send `Authorization: Bearer <token>`.
//! State-changing requests (POST) must carry an `Origin` naming this screen's own address; a
//! cookie-authenticated POST without one is refused, so another web page cannot drive the screen.
//!
//! Must not: log a token or a session value, or accept either in a query string.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::output::WithHelp;

/// The environment variable that may hold the checkpoint token.
pub const TOKEN_ENV: &str = "ECARD_CHECKPOINT_TOKEN";
/// The session cookie's name.
const COOKIE: &str = "ecard_checkpoint_session";

/// The token's hash and the signed-in browser sessions' hashes.
pub struct Gate {
    token_sha256: String,
    sessions: Mutex<Vec<String>>,
}

/// Where the token came from, for the line printed at start.
pub enum TokenSource {
    /// `--token-file`.
    File(PathBuf),
    /// The environment variable.
    Env,
    /// Generated into this 0600 file.
    Generated(PathBuf),
}

fn same(a: &str, b: &str) -> bool {
    // Both are hex SHA-256 digests of equal length; compare without an early exit.
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

impl Gate {
    /// Reads the token from `file`, else from [`TOKEN_ENV`], else writes a new one to a 0600 file
    /// in the temporary directory.
    pub fn load(file: Option<&Path>) -> anyhow::Result<(Gate, TokenSource)> {
        let (token, source) = match file {
            Some(path) => (
                read_token_file(path)?,
                TokenSource::File(path.to_path_buf()),
            ),
            None => match std::env::var(TOKEN_ENV) {
                Ok(t) if !t.trim().is_empty() => (t.trim().to_string(), TokenSource::Env),
                _ => {
                    let path = std::env::temp_dir()
                        .join(format!("ecard-checkpoint-{}.token", std::process::id()));
                    let token = ecard_station::auth::new_token();
                    write_private(&path, &token)?;
                    (token, TokenSource::Generated(path))
                }
            },
        };
        let gate = Gate {
            token_sha256: ecard_station::auth::hash_token(&token),
            sessions: Mutex::new(Vec::new()),
        };
        Ok((gate, source))
    }

    fn token_ok(&self, token: &str) -> bool {
        same(
            &ecard_station::auth::hash_token(token.trim()),
            &self.token_sha256,
        )
    }

    fn session_ok(&self, session: &str) -> bool {
        let h = ecard_station::auth::hash_token(session);
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|s| same(s, &h))
    }

    fn new_session(&self) -> String {
        let session = ecard_station::auth::new_token();
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        // A checkpoint has one or two screens; keep the last few sign-ins only.
        if s.len() >= 16 {
            s.remove(0);
        }
        s.push(ecard_station::auth::hash_token(&session));
        session
    }
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read checkpoint token file {}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(anyhow::anyhow!(
                "checkpoint token file {} is readable by others (mode {mode:03o})",
                path.display()
            ))
            .help(format!("chmod 600 {}", path.display()));
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read checkpoint token file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(anyhow::anyhow!(
            "checkpoint token file {} is empty",
            path.display()
        ))
        .help("write a long random token into it, e.g. `openssl rand -hex 32 > FILE`");
    }
    Ok(token.to_string())
}

fn write_private(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create checkpoint token file {}", path.display()))?;
    writeln!(f, "{token}")
        .with_context(|| format!("cannot write checkpoint token file {}", path.display()))
}

fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether `Origin` names this screen: the same host and port as the request's `Host`.
fn origin_ok(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    Some(match (origin, host) {
        (Some(o), Some(h)) => {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                == Some(h)
        }
        _ => false,
    })
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], why).into_response()
}

/// The guard in front of every route but `/login`: a valid bearer token or session cookie, and
/// for POST an `Origin` of this screen (a bearer client may send none).
pub async fn guard(State(gate): State<std::sync::Arc<Gate>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/login" {
        return next.run(req).await;
    }
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let by_bearer = bearer.is_some_and(|t| gate.token_ok(t));
    let by_cookie = !by_bearer && cookie_value(headers, COOKIE).is_some_and(|s| gate.session_ok(s));
    if !by_bearer && !by_cookie {
        if req.method() == Method::GET && req.uri().path() == "/" {
            return (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/login"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
            )
                .into_response();
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "checkpoint token required: sign in at /login, or send \"Authorization: Bearer <token>\"",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        match origin_ok(headers) {
            Some(true) => {}
            Some(false) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "request from another origin refused: the checkpoint screen takes changes only from its own page",
                );
            }
            None if by_cookie => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "request without an Origin header refused: the checkpoint screen takes changes only from its own page",
                );
            }
            None => {}
        }
    }
    next.run(req).await
}

const LOGIN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>e-card checkpoint: sign in</title></head><body>\
<form method=\"post\" action=\"/login\"><label>Checkpoint token \
<input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus></label> \
<button type=\"submit\">Sign in</button></form>{MSG}</body></html>";

/// `GET /login`: the sign-in form.
pub async fn login_page() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(LOGIN_PAGE.replace("{MSG}", "")),
    )
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)?
        .1;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `POST /login` (form field `token`): a session cookie when the token is right.
pub async fn login(
    State(gate): State<std::sync::Arc<Gate>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if origin_ok(&headers) == Some(false) {
        return refuse(StatusCode::FORBIDDEN, "sign-in from another origin refused");
    }
    match form_field(&body, "token") {
        Some(t) if gate.token_ok(&t) => {
            tracing::info!("checkpoint screen signed in");
            let session = gate.new_session();
            (
                StatusCode::SEE_OTHER,
                [
                    (header::LOCATION, "/".to_string()),
                    (
                        header::SET_COOKIE,
                        format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict"),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
            )
                .into_response()
        }
        _ => {
            tracing::warn!("checkpoint sign-in with a wrong token");
            (
                StatusCode::UNAUTHORIZED,
                [(header::CACHE_CONTROL, "no-store")],
                Html(LOGIN_PAGE.replace(
                    "{MSG}",
                    "<p>Wrong token. It is in the file or environment variable the screen was started with.</p>",
                )),
            )
                .into_response()
        }
    }
}
