//! The checkpoint screen's status list from `--status-url` (issue 13 items 1 and 2): each fetched
//! list is verified under the chip's Document Signer policy (with the `--ds` certificates and the
//! DS of the card read) and must not be older than the list held (no replay of an old list). The
//! screen line says which list is in use, when it was fetched, and why revocation is not checked
//! when none is.
//!
//! Must not: use a fetched list before it verifies, or log its entries.

use super::{App, EfId, TrustArgs, check_time, load_ds, lock, recompute};

/// A verified status list fetched from --status-url.
#[derive(Clone)]
pub(super) struct Fetched {
    pub(super) path: std::path::PathBuf,
    pub(super) list: ecard_seal::StatusList,
    pub(super) at: time::OffsetDateTime,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(super) fn fetch_status(app: &App, url: &str) {
    let now = time::OffsetDateTime::now_utc();
    let got = ureq::get(url).call().and_then(|mut r| {
        r.body_mut()
            .with_config()
            .limit(32 * 1024 * 1024)
            .read_to_vec()
    });
    let refused = |why: String| {
        tracing::warn!("status list not fetched: {why}");
        *lock(&app.fetch_problem) = Some(format!("{}: {why}", rfc3339(now)));
        recompute(app);
    };
    let bytes = match got {
        Ok(b) => b,
        Err(e) => return refused(format!("cannot fetch the status list from {url}: {e}")),
    };
    tracing::info!("status list fetched, {} bytes", bytes.len());
    *lock(&app.pending_status) = Some((bytes, now));
    recompute(app);
}

/// Takes a pending fetched list in when it verifies; leaves it pending while its signer is unknown
/// (no card read yet); drops it with the reason otherwise.
pub(super) fn settle_pending(app: &App) {
    let Some((bytes, at)) = lock(&app.pending_status).take() else {
        return;
    };
    match accept_fetched(app, &bytes, at) {
        Ok(fetched) => {
            *lock(&app.fetched_status) = Some(fetched);
            *lock(&app.fetch_problem) = None;
        }
        Err((why, true)) => {
            *lock(&app.pending_status) = Some((bytes, at));
            *lock(&app.fetch_problem) = Some(format!("{}: {why}", rfc3339(at)));
        }
        Err((why, false)) => {
            tracing::warn!("status list refused: {why}");
            *lock(&app.fetch_problem) = Some(format!("{}: {why}", rfc3339(at)));
        }
    }
}

/// Verifies a fetched list (the chip's Document Signer policy, with the --ds certificates and the
/// DS of the card read), refuses one older than the list held, and writes it where the checks read
/// it. The error says why, and whether only the signer is unknown yet.
fn accept_fetched(
    app: &App,
    bytes: &[u8],
    now: time::OffsetDateTime,
) -> Result<Fetched, (String, bool)> {
    let fatal = |e: anyhow::Error| (format!("{e:#}"), false);
    let trust = crate::cmd::pki::load_trust(&app.args.trust.trust).map_err(fatal)?;
    let mut ds = load_ds(&app.args.trust.ds).map_err(fatal)?;
    if let Some(card_ds) = lock(&app.card)
        .as_ref()
        .and_then(|(files, _, _)| files.get(&EfId::Sod))
        .and_then(|b| ecard_chip::lds::Sod::parse(b).ok())
        .and_then(|s| s.ds_certificate)
    {
        ds.push(card_ds);
    }
    let (at, _) = check_time(app.args.trust.at);
    let list = ecard_seal::StatusList::verify(bytes, &ds, &trust, at).map_err(|e| {
        let unknown = matches!(
            e,
            ecard_seal::StatusError::Cose(ecard_seal::CoseError::UnknownKid { .. })
        );
        (
            format!("the fetched status list does not verify: {e}"),
            unknown,
        )
    })?;
    // The list held: the last one fetched, else the --status file's when it verifies.
    let held = match lock(&app.fetched_status).clone() {
        Some(f) => Some(f.list),
        None => app.args.trust.status.as_ref().and_then(|p| {
            let bytes = std::fs::read(p).ok()?;
            ecard_seal::StatusList::verify(&bytes, &ds, &trust, at).ok()
        }),
    };
    list.check_not_older(held.as_ref())
        .map_err(|e| (format!("the fetched status list was refused: {e}"), false))?;
    let path = std::env::temp_dir().join(format!(
        "ecard-checkpoint-{}-status.cose",
        std::process::id()
    ));
    std::fs::write(&path, bytes).map_err(|e| {
        (
            format!("cannot keep the status list in {}: {e}", path.display()),
            false,
        )
    })?;
    Ok(Fetched {
        path,
        list,
        at: now,
    })
}

/// Where the status list stands, for the screen: which list, issued and due when, fetched when;
/// or why revocation is not checked.
pub(super) fn status_note(app: &App, trust: &TrustArgs) -> String {
    let fetched = lock(&app.fetched_status).clone();
    let problem = lock(&app.fetch_problem).clone();
    let mut note = match (&fetched, &trust.status) {
        (Some(f), _) => format!(
            "status list issued {}, next update due {}, last fetched {}",
            rfc3339(f.list.payload.iat),
            rfc3339(f.list.payload.nxt),
            rfc3339(f.at)
        ),
        (None, Some(p)) => {
            // What the file says it is (its signature is judged by the checks listed below).
            let dates = std::fs::read(p)
                .ok()
                .and_then(|b| ecard_seal::StatusList::decode(&b).ok())
                .map(|l| {
                    format!(
                        ", issued {}, next update due {}",
                        rfc3339(l.payload.iat),
                        rfc3339(l.payload.nxt)
                    )
                })
                .unwrap_or_default();
            format!("status list from file {}{dates}", p.display())
        }
        (None, None) => match &app.args.status_url {
            Some(_) => "revocation not checked: no status list fetched yet".to_string(),
            None => "revocation not checked: no status list configured (--status or --status-url)"
                .to_string(),
        },
    };
    if let Some(p) = problem {
        note.push_str(&format!("; last fetch failed at {p}"));
    }
    note
}
