//! The phone checkpoint (issue 18) on the station: the `ecard-pwa` app under `/checkpoint/`, public
//! like `/api/v1/status-list` (the app shell and the trust bundle carry no personal data, only
//! public certificates), with the station's trusted CSCAs and every Document Signer it has signed
//! with (the current one and those a rotation kept), and the
//! station's own signed status list at `/api/v1/status-list`.
//!
//! Must not: give the phone a Document Signer the station's PKI does not hold.

use crate::server::Station;

/// The app's source: the PKI as loaded now (a rotated DS shows on the next fetch).
pub(super) fn source(station: Station) -> ecard_pwa::Source {
    ecard_pwa::Source::new(
        move || match station.status_signer() {
            Some(pki) => Ok((pki.trust.clone(), pki.document_signers())),
            None => Err(ecard_pwa::PwaError::NoTrust(
                "this station has no PKI loaded; configure [pki] in station.toml and restart it"
                    .into(),
            )),
        },
        ecard_pwa::StatusFrom::SameOrigin("/api/v1/status-list".into()),
    )
}
