//! `ecard checkpoint serve (--reader NAME | --sim CARD.img) --trust CSCA.pem [--ds DS.pem]
//! [--status FILE] [--status-url URL] [--listen ADDR]`: the checkpoint device's screen. It waits for
//! a card in the reader, reads and checks it (Active Authentication included), takes a photo of the
//! card's front for the QR seal, and shows one full-width verdict: green, amber or red, with the
//! chip photo, the holder and the failing check. With `--status-url` it fetches the station's
//! status list on an interval; a fetched list must verify (the chip's Document Signer policy) and
//! must not be older than the one held (no replay). Without a fresh verified list the verdict is
//! amber at best ("revocation not checked"), and the screen says when the list was last fetched.
//!
//! Access needs the checkpoint token (`--token-file` or `ECARD_CHECKPOINT_TOKEN`, else one is
//! generated into a 0600 file whose path is printed); see [`auth`]. An uploaded card photo over
//! 10 MB or 20 megapixels is refused before it is decoded.
//!
//! Plain HTML and CSS embedded in the binary (no CDN); the first paint is rendered on the server so
//! the verdict shows without script, and a few lines of script reload the page when the verdict
//! changes. PC/SC and file work runs in `spawn_blocking`. Personal data is never logged: log lines
//! carry states and counts only.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use base64::Engine;
use ecard_chip::lds::{Dg2, EfId, LdsFiles};
use ecard_chip::verify::{AaEvidence, Outcome};
use ecard_seal::Verdict;

#[path = "checkpoint_auth.rs"]
mod auth;
#[path = "checkpoint_status.rs"]
mod status_feed;

use status_feed::{Fetched, fetch_status, settle_pending, status_note};

use super::card::{AccessArgs, CardArgs, CardSession, WaitArgs};
use super::verify::{TrustArgs, check_card, check_time, load_ds, load_status};
use crate::output::WithHelp;
use ecard_chip::access::{Access, AccessError};
use ecard_chip::pace::Password;

/// `ecard checkpoint` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the checkpoint screen on a local web port.
    Serve(ServeArgs),
}

/// Arguments of `ecard checkpoint serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    card: CardArgs,
    /// A CAN or MRZ key to open every card with (a desk that checks one known card); without
    /// it the screen asks for the CAN of each card, or takes the MRZ key from its QR seal.
    #[command(flatten)]
    access: AccessArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// Fetch the signed status list from this URL (the station's `/api/v1/status-list`).
    #[arg(long, value_name = "URL")]
    status_url: Option<String>,
    /// With --status-url: seconds between fetches.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    status_every: u64,
    /// Address to serve the screen on (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8088")]
    listen: String,
    /// File holding the checkpoint token (mode 0600). Without it the token is taken from
    /// ECARD_CHECKPOINT_TOKEN; without either, a new one is written to a 0600 file whose path is
    /// printed. Never given on the command line.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// The largest card photo upload, in bytes.
const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// The largest card photo upload, in pixels (checked from the header, before decoding).
const MAX_UPLOAD_PIXELS: u64 = 20_000_000;

/// What the screen shows. Holder values live only here and in the page, never in logs.
#[derive(Clone, Default, serde::Serialize)]
struct Screen {
    /// Bumped on every change; the page reloads when it sees a new one.
    version: u64,
    /// "waiting", "verdict" or "error".
    state: &'static str,
    verdict: Option<Verdict>,
    /// The first failing check, "name: reason".
    problem: Option<String>,
    /// A one-line note (what is being waited for, an error).
    note: String,
    /// Holder rows (label, value).
    holder: Vec<(&'static str, String)>,
    /// The chip photo as a data URL.
    #[serde(skip)]
    photo: Option<String>,
    /// Every check: (PASS/WARN/FAIL/SKIP, name, reason).
    checks: Vec<(&'static str, String, String)>,
    /// Where the seal stands.
    seal: String,
    /// Where the status list stands.
    status: String,
}

struct App {
    args: ServeArgs,
    screen: Mutex<Screen>,
    card: Mutex<Option<(LdsFiles, AaEvidence, Access)>>,
    /// The CAN the officer typed for the card in the reader (a secret: never logged, dropped
    /// when the card leaves).
    password: Mutex<Option<Password>>,
    seal: Mutex<Option<Result<String, String>>>,
    /// The status list fetched from --status-url: verified, written to a file, and when.
    fetched_status: Mutex<Option<Fetched>>,
    /// The last fetch attempt that failed or was refused, and why.
    fetch_problem: Mutex<Option<String>>,
    /// A fetched list signed by a Document Signer not known yet (no --ds, no card read): verified
    /// once a card brings its DS certificate. Never used unverified.
    pending_status: Mutex<Option<(Vec<u8>, time::OffsetDateTime)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind, still fit to show.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `ecard checkpoint`.
pub fn run(cmd: &Command) -> anyhow::Result<std::process::ExitCode> {
    let Command::Serve(args) = cmd;
    // Fail early on bad trust files rather than on the first card.
    super::pki::load_trust(&args.trust.trust)?;
    load_ds(&args.trust.ds)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args.clone()))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))
        .help("choose another --listen address, e.g. 127.0.0.1:8089")?;
    let addr = listener.local_addr()?;
    let (gate, token_source) = auth::Gate::load(args.token_file.as_deref())?;
    let gate = Arc::new(gate);
    let password = args.access.password()?;
    let app = Arc::new(App {
        args,
        password: Mutex::new(password),
        screen: Mutex::new(Screen {
            version: 1,
            state: "waiting",
            note: "insert a card".into(),
            seal: "no card photo yet".into(),
            ..Screen::default()
        }),
        card: Mutex::new(None),
        seal: Mutex::new(None),
        fetched_status: Mutex::new(None),
        fetch_problem: Mutex::new(None),
        pending_status: Mutex::new(None),
    });
    {
        let app = app.clone();
        tokio::task::spawn_blocking(move || card_loop(&app));
    }
    if let Some(url) = app.args.status_url.clone() {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(app.args.status_every.max(1)));
            loop {
                tick.tick().await;
                let (a, u) = (app.clone(), url.clone());
                let _ = tokio::task::spawn_blocking(move || fetch_status(&a, &u)).await;
            }
        });
    }
    let login = Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .with_state(gate.clone());
    let router = Router::new()
        .route("/", get(page))
        .route("/api/screen", get(screen_json))
        .route("/api/seal", post(upload_seal))
        .route("/api/rescan", post(rescan))
        .route("/api/can", post(enter_can))
        .merge(ecard_pwa::router(ecard_pwa::Source::files(
            &app.args.trust.trust,
            &app.args.trust.ds,
            app.args.trust.status.as_deref(),
            app.args.status_url.as_deref(),
        )))
        .with_state(app)
        .merge(login)
        .layer(axum::middleware::from_fn_with_state(gate, auth::guard))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    crate::out!("checkpoint screen on http://{addr}/");
    match token_source {
        auth::TokenSource::File(p) => {
            crate::out!("checkpoint token: from {}", p.display())
        }
        auth::TokenSource::Env => crate::out!("checkpoint token: from ${}", auth::TOKEN_ENV),
        auth::TokenSource::Generated(p) => crate::out!(
            "checkpoint token: new, in {} (mode 0600); sign in at http://{addr}/login",
            p.display()
        ),
    }
    tracing::info!("checkpoint screen listening on {addr}");
    axum::serve(listener, router)
        .await
        .context("the checkpoint screen stopped")
}

/// Reads the card: once for a simulated card, on every insertion for a reader.
fn card_loop(app: &App) {
    if app.args.card.sim.is_some() {
        read_card(app);
        return;
    }
    let Some(reader) = app.args.card.reader.clone() else {
        return;
    };
    loop {
        let ctx = match ecard_transport::PcscContext::establish() {
            Ok(c) => c,
            Err(e) => {
                set_error(app, format!("PC/SC is not available: {e}; start pcscd"));
                std::thread::sleep(Duration::from_secs(3));
                continue;
            }
        };
        match ecard_transport::wait_for_card(&ctx, &reader, Some(Duration::from_secs(2))) {
            Ok(_) => {
                read_card(app);
                let _ = ecard_transport::wait_for_removal(&ctx, &reader, None);
                tracing::info!("card removed");
                *lock(&app.card) = None;
                *lock(&app.seal) = None;
                *lock(&app.password) = app.args.access.password().ok().flatten();
                update(app, |s| {
                    *s = Screen {
                        version: s.version,
                        state: "waiting",
                        note: "insert a card".into(),
                        seal: "no card photo yet".into(),
                        ..Screen::default()
                    }
                });
            }
            Err(ecard_chip::transport::TransportError::Timeout { .. }) => {}
            Err(e) => {
                set_error(app, format!("reader {reader:?}: {e}"));
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// The password to open the chip with: the one typed (or given at start), else the MRZ key from
/// the card's QR seal when a photo of it was taken.
fn chip_password(app: &App) -> Option<Password> {
    if let Some(p) = lock(&app.password).clone() {
        return Some(p);
    }
    let seal = lock(&app.seal).clone()?.ok()?;
    let p = ecard_seal::Seal::decode(&seal).ok()?.payload;
    let yymmdd = |d: time::Date| {
        format!(
            "{:02}{:02}{:02}",
            d.year().rem_euclid(100),
            u8::from(d.month()),
            d.day()
        )
    };
    Password::mrz_key(&format!("{},{},{}", p.dn, yymmdd(p.dob), yymmdd(p.doe))).ok()
}

fn read_card(app: &App) {
    update(app, |s| {
        s.note = "reading the card, keep it in the reader".into()
    });
    let no_wait = WaitArgs {
        wait: false,
        wait_timeout: None,
    };
    let password = chip_password(app);
    let result = CardSession::open(&app.args.card, &no_wait).and_then(|mut session| {
        let read = super::check::read_and_authenticate(&mut session, password.as_ref());
        session.close()?;
        read
    });
    match result {
        Ok(read) => {
            tracing::info!("card read");
            *lock(&app.card) = Some(read);
            recompute(app);
        }
        Err(e) => match e.downcast_ref::<AccessError>() {
            Some(AccessError::PasswordNeeded { .. }) => update(app, |s| {
                s.state = "need_can";
                s.note = "the chip is protected: type the 6-digit CAN printed on the card's front, or add a photo of the card for its QR seal".into();
            }),
            Some(a) if a.is_access_denied() => {
                *lock(&app.password) = None;
                update(app, |s| {
                    s.state = "need_can";
                    s.note = format!("{a}: check the CAN on the card's front and type it again");
                });
            }
            _ => set_error(
                app,
                format!("cannot read the card: {e:#}; put it back and try again"),
            ),
        },
    }
}

fn set_error(app: &App, note: String) {
    update(app, |s| {
        s.state = "error";
        s.note = note;
    });
}

fn update(app: &App, f: impl FnOnce(&mut Screen)) {
    let mut s = lock(&app.screen);
    f(&mut s);
    s.version += 1;
}

fn trust_args(app: &App) -> TrustArgs {
    let mut t = app.args.trust.clone();
    if let Some(f) = lock(&app.fetched_status).as_ref() {
        t.status = Some(f.path.clone());
    }
    t
}

/// Recomputes the verdict from the card read and the seal photo, whichever are there.
fn recompute(app: &App) {
    settle_pending(app);
    let trust = trust_args(app);
    let card = lock(&app.card).clone();
    let seal = lock(&app.seal).clone();
    let seal_note = match &seal {
        None => "no card photo yet: add one to check the QR seal".to_string(),
        Some(Ok(_)) => "QR seal read from the card photo".to_string(),
        Some(Err(e)) => format!("card photo: {e}"),
    };
    let status_note = status_note(app, &trust);
    let mut screen = Screen {
        state: "verdict",
        seal: seal_note,
        status: status_note,
        ..Screen::default()
    };
    let result = match card {
        Some((files, aa, access)) => {
            card_screen(&files, aa, access, &trust, seal.as_ref(), &mut screen)
        }
        None => match &seal {
            Some(s) => seal_screen(s, &trust, &mut screen),
            None => return,
        },
    };
    if let Err(e) = result {
        screen.state = "error";
        screen.note = format!("{e:#}");
    }
    let mut s = lock(&app.screen);
    screen.version = s.version + 1;
    *s = screen;
}

fn line(o: &Outcome) -> (&'static str, String) {
    match o {
        Outcome::Pass => ("PASS", String::new()),
        Outcome::Warn(w) => ("WARN", w.clone()),
        Outcome::Fail(w) => ("FAIL", w.clone()),
        Outcome::Skipped(w) => ("SKIP", w.clone()),
    }
}

fn card_screen(
    files: &LdsFiles,
    aa: AaEvidence,
    access: Access,
    trust: &TrustArgs,
    seal: Option<&Result<String, String>>,
    screen: &mut Screen,
) -> anyhow::Result<()> {
    let o = check_card(
        files,
        trust,
        aa,
        seal.map(|r| r.as_deref().map_err(Clone::clone)),
        Some(access),
    )?;
    screen.verdict = Some(o.verdict);
    for c in &o.report.checks {
        let (tag, why) = line(&c.outcome);
        screen.checks.push((tag, c.name.to_string(), why));
    }
    for c in &o.checkpoint {
        let (tag, why) = line(&c.outcome);
        screen.checks.push((tag, c.name.to_string(), why));
    }
    screen.problem = screen
        .checks
        .iter()
        .find(|c| c.0 == "FAIL")
        .or_else(|| {
            (o.verdict == Verdict::Amber)
                .then(|| screen.checks.iter().find(|c| c.0 == "WARN"))
                .flatten()
        })
        .map(|c| format!("{}: {}", c.1, c.2));
    if let Some(h) = &o.report.holder {
        let mut rows = vec![
            ("Card No.", h.document_number.clone()),
            ("Surname", h.surname.clone()),
            ("Given names", h.given_names.clone()),
        ];
        if let Some(n) = &h.full_name_national {
            rows.push(("Name (national)", n.clone()));
        }
        rows.extend([
            ("Date of birth", h.date_of_birth.clone().unwrap_or_default()),
            ("Sex", h.sex.clone()),
            ("Nationality", h.nationality.clone()),
            (
                "Date of expiry",
                h.date_of_expiry.clone().unwrap_or_default(),
            ),
        ]);
        screen.holder = rows;
    }
    screen.photo = files
        .get(&EfId::Dg2)
        .and_then(|b| Dg2::parse(b).ok())
        .map(|d| {
            format!(
                "data:image/jpeg;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&d.face.image)
            )
        });
    Ok(())
}

fn seal_screen(
    seal: &Result<String, String>,
    trust: &TrustArgs,
    screen: &mut Screen,
) -> anyhow::Result<()> {
    let csca = super::pki::load_trust(&trust.trust)?;
    let ds = load_ds(&trust.ds)?;
    let (at, now) = check_time(trust.at);
    let status = match &trust.status {
        Some(p) => Some(load_status(p, &ds, &csca, at)?),
        None => None,
    };
    let r = ecard_seal::check_seal(
        seal.as_deref().map_err(Clone::clone),
        ecard_seal::Trust {
            csca: &csca,
            ds: &ds,
        },
        at,
        now,
        status.as_ref(),
    );
    screen.verdict = Some(r.verdict);
    screen.note = "seal only: insert the card to check its chip".into();
    for c in &r.checks {
        let (tag, why) = line(&c.outcome);
        screen.checks.push((tag, c.name.to_string(), why));
    }
    screen.problem = r
        .first_problem()
        .map(|c| format!("{}: {}", c.name, line(&c.outcome).1));
    if let Some(p) = &r.holder {
        screen.holder = vec![
            ("Card No.", p.dn.clone()),
            ("Surname", p.sn.clone()),
            ("Given names", p.gn.clone()),
            ("Patronymic", p.pn.clone().unwrap_or_default()),
            ("Date of birth", p.dob.to_string()),
            ("Sex", p.sex.clone()),
            ("Nationality", p.nat.clone()),
            ("Date of expiry", p.doe.to_string()),
        ];
    }
    Ok(())
}

async fn screen_json(State(app): State<Arc<App>>) -> impl IntoResponse {
    let s = lock(&app.screen).clone();
    axum::Json(s)
}

async fn upload_seal(State(app): State<Arc<App>>, body: axum::body::Bytes) -> impl IntoResponse {
    // The body limit (10 MB) was enforced while reading it; the pixel count comes from the header
    // before anything is decoded.
    match ecard_imaging::decode::probe(&body) {
        Ok((_, w, h)) if u64::from(w) * u64::from(h) > MAX_UPLOAD_PIXELS => {
            tracing::info!("card photo refused: {w}x{h} px");
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the card photo is {w}x{h} px, over the 20-megapixel limit; take it at a lower resolution"
                ),
            );
        }
        Ok(_) => {}
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the card photo {e}"),
            );
        }
    }
    let a = app.clone();
    let done = tokio::task::spawn_blocking(move || {
        let text = super::scan::seal_text_from_bytes(&body);
        tracing::info!(
            "card photo received, {} bytes, QR {}",
            body.len(),
            if text.is_ok() { "found" } else { "not found" }
        );
        *lock(&a.seal) = Some(text);
        if lock(&a.screen).state == "need_can" {
            // The seal carries the MRZ key: open the waiting card with it.
            read_card(&a);
        } else {
            recompute(&a);
        }
    })
    .await;
    match done {
        Ok(()) => (StatusCode::OK, "ok".to_string()),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the check failed".to_string(),
        ),
    }
}

/// The CAN typed on the screen for the card in the reader: 6 digits in the body (never logged,
/// never in a URL).
async fn enter_can(State(app): State<Arc<App>>, body: axum::body::Bytes) -> impl IntoResponse {
    let text = String::from_utf8_lossy(&body);
    let can = text.trim().trim_start_matches("can=");
    let password = match Password::can(can) {
        Ok(p) => p,
        Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    *lock(&app.password) = Some(password);
    let a = app.clone();
    let _ = tokio::task::spawn_blocking(move || read_card(&a)).await;
    (StatusCode::OK, "ok".to_string())
}

async fn rescan(State(app): State<Arc<App>>) -> impl IntoResponse {
    let a = app.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if a.args.card.sim.is_some() {
            read_card(&a);
        } else {
            recompute(&a);
        }
    })
    .await;
    (StatusCode::OK, "ok")
}

async fn page(State(app): State<Arc<App>>) -> impl IntoResponse {
    let s = lock(&app.screen).clone();
    ([(header::CACHE_CONTROL, "no-store")], Html(render_page(&s)))
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = include_str!("checkpoint.css");
const SCRIPT: &str = include_str!("checkpoint.js");

fn render_page(s: &Screen) -> String {
    let (class, word, sub) = match (s.state, s.verdict) {
        ("verdict", Some(Verdict::Green)) => ("green", "VALID", "ДЕЙСТВИТЕЛЬНА"),
        ("verdict", Some(Verdict::Amber)) => ("amber", "CHECK", "ПРОВЕРЬТЕ"),
        ("verdict", Some(Verdict::Red)) => ("red", "NOT VALID", "НЕДЕЙСТВИТЕЛЬНА"),
        ("error", _) => ("error", "ERROR", "ОШИБКА"),
        ("need_can", _) => ("waiting", "ENTER CAN", "ВВЕДИТЕ CAN"),
        _ => ("waiting", "INSERT CARD", "ВСТАВЬТЕ КАРТУ"),
    };
    let problem = s
        .problem
        .as_deref()
        .map(|p| format!("<div class=\"problem\">{}</div>", esc(p)))
        .unwrap_or_default();
    let note = if s.note.is_empty() {
        String::new()
    } else {
        format!("<div class=\"note\">{}</div>", esc(&s.note))
    };
    let photo = s
        .photo
        .as_deref()
        .map(|p| {
            format!(
                "<img class=\"photo\" alt=\"chip photo\" src=\"{}\">",
                esc(p)
            )
        })
        .unwrap_or_else(|| "<div class=\"photo none\">no chip photo</div>".into());
    let rows: String = s
        .holder
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)))
        .collect();
    let checks: String = s
        .checks
        .iter()
        .map(|(tag, name, why)| {
            format!(
                "<li class=\"{}\"><b>{}</b> {}{}</li>",
                tag.to_ascii_lowercase(),
                tag,
                esc(name),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {}", esc(why))
                }
            )
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>e-card checkpoint: {word}</title><style>{STYLE}</style></head>\
<body data-version=\"{version}\">\
<header class=\"verdict {class}\" id=\"verdict\"><div class=\"word\">{word}</div><div class=\"sub\">{sub}</div>{problem}{note}</header>\
<main><section class=\"who\">{photo}<table class=\"holder\">{rows}</table></section>\
<section class=\"side\">{can_form}<form id=\"seal\"><label>Card photo for the QR seal <input type=\"file\" accept=\"image/png,image/jpeg\" id=\"sealfile\"></label></form>\
<p class=\"meta\">{seal}</p><p class=\"meta\">{status}</p><ul class=\"checks\">{checks}</ul></section></main>\
<script>{SCRIPT}</script></body></html>",
        version = s.version,
        can_form = if s.state == "need_can" {
            "<form id=\"canform\"><label>CAN (6 digits on the card's front) <input id=\"can\" name=\"can\" inputmode=\"numeric\" autocomplete=\"off\" pattern=\"[0-9]{6}\" maxlength=\"6\" required></label> <button type=\"submit\">Open chip</button></form>"
        } else {
            ""
        },
        seal = esc(&s.seal),
        status = esc(&s.status),
    )
}
