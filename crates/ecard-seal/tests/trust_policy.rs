//! Issue 13 items 1 and 2: the seal and the status list are held to the chip's Document Signer
//! policy (chain, validity and private key usage period at signing time, key usage, document
//! type list), an older status list than the one held is refused, and no status list means amber
//! ("revocation not checked"), never green.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecard_chip::pki::{self, GeneratedPki, PkiConfig};
use ecard_chip::verify::Outcome;
use ecard_model::holder::HolderFields;
use ecard_model::{DocumentNumber, Holder, Sex};
use ecard_seal::cose::CoseError;
use ecard_seal::status::StatusListPayload;
use ecard_seal::{
    SealCheckId, SealError, SealPayload, StatusError, StatusList, Trust, Verdict, check_seal,
};
use rand_core::SeedableRng;
use time::macros::{date, datetime};

/// DS made 2026-11-01 09:00 UTC; signing period (privateKeyUsagePeriod) 3 months.
fn make_pki(seed: u64, config: &PkiConfig) -> GeneratedPki {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    pki::init(config, datetime!(2026-11-01 09:00 UTC), &mut rng).unwrap()
}

fn seal_issued_on(pki: &GeneratedPki, doi: time::Date) -> String {
    let holder = Holder::new(HolderFields {
        surname: "KARIMOV".into(),
        given_names: "ALISHER".into(),
        patronymic: None,
        name_cyrillic: None,
        date_of_birth: date!(1990 - 05 - 17),
        sex: Sex::M,
        nationality: "UZB".into(),
    })
    .unwrap();
    let p = SealPayload::for_card(
        &holder,
        &DocumentNumber::new(77, 1_234_567).unwrap(),
        doi,
        doi.replace_year(doi.year() + 5).unwrap(),
        b"\x75\x03DG2",
    );
    ecard_seal::Seal::sign(&p, &pki.ds_key, &pki.ds).unwrap()
}

fn verify_seal(pki: &GeneratedPki, text: &str, at: time::Date) -> Result<(), SealError> {
    ecard_seal::Seal::decode(text)
        .unwrap()
        .verify(
            std::slice::from_ref(&pki.ds),
            std::slice::from_ref(&pki.csca),
            at,
        )
        .map(|_| ())
}

fn signed_list(
    key: &dyn pki::Signer,
    cert: &x509_cert::Certificate,
    iat: time::OffsetDateTime,
) -> Vec<u8> {
    StatusList::sign(&StatusListPayload::new(iat, vec![]), key, cert).unwrap()
}

fn policy_reason(e: StatusError) -> String {
    match e {
        StatusError::Cose(CoseError::DsPolicy { reason, .. }) => reason,
        other => panic!("expected DsPolicy, got {other:?}"),
    }
}

#[test]
fn seal_signed_after_the_signing_period_is_refused() {
    let pki = make_pki(1, &PkiConfig::default());
    // Issued inside the signing period: accepted.
    let ok = seal_issued_on(&pki, date!(2026 - 11 - 24));
    verify_seal(&pki, &ok, date!(2027 - 03 - 02)).unwrap();
    // Issued on 2027-03-01, a month after the DS key's usage period ended: the DS certificate is
    // still valid on the check date, but it may no longer sign.
    let late = seal_issued_on(&pki, date!(2027 - 03 - 01));
    match verify_seal(&pki, &late, date!(2027 - 03 - 02)).unwrap_err() {
        SealError::Cose(CoseError::DsPolicy { what, reason, .. }) => {
            assert_eq!(what, "seal");
            assert_eq!(
                reason,
                "seal signed at 2027-03-01 outside the DS private key usage period"
            );
        }
        other => panic!("expected DsPolicy, got {other:?}"),
    }
    // Before the DS existed.
    let early = seal_issued_on(&pki, date!(2026 - 10 - 01));
    assert!(matches!(
        verify_seal(&pki, &early, date!(2026 - 11 - 25)),
        Err(SealError::Cose(CoseError::DsPolicy { .. }))
    ));
}

#[test]
fn status_list_signed_before_the_ds_existed_is_refused() {
    let pki = make_pki(2, &PkiConfig::default());
    let (ds, csca) = (
        std::slice::from_ref(&pki.ds),
        std::slice::from_ref(&pki.csca),
    );
    let bytes = signed_list(&pki.ds_key, &pki.ds, datetime!(2026-11-01 08:00 UTC));
    let e = StatusList::verify(&bytes, ds, csca, date!(2026 - 11 - 25)).unwrap_err();
    assert_eq!(
        policy_reason(e),
        "status list signed at 2026-11-01 outside the DS certificate validity 2026-11-01 .. 2032-03-03"
    );
    let bytes = signed_list(&pki.ds_key, &pki.ds, datetime!(2026-11-01 10:00 UTC));
    StatusList::verify(&bytes, ds, csca, date!(2026 - 11 - 25)).unwrap();
}

#[test]
fn a_csca_cannot_sign_a_status_list_or_seal() {
    // The CSCA's own key and certificate: it chains (to itself) and is valid, but its keyUsage is
    // keyCertSign + cRLSign, not digitalSignature.
    let pki = make_pki(3, &PkiConfig::default());
    let bytes = signed_list(&pki.csca_key, &pki.csca, datetime!(2026-11-25 06:00 UTC));
    let e = StatusList::verify(
        &bytes,
        std::slice::from_ref(&pki.csca),
        std::slice::from_ref(&pki.csca),
        date!(2026 - 11 - 25),
    )
    .unwrap_err();
    assert_eq!(
        policy_reason(e),
        "DS certificate keyUsage lacks digitalSignature"
    );
}

#[test]
fn a_ds_for_other_documents_cannot_sign_for_the_e_card() {
    let config = PkiConfig {
        document_types: vec!["P".into()],
        ..PkiConfig::default()
    };
    let pki = make_pki(4, &config);
    let bytes = signed_list(&pki.ds_key, &pki.ds, datetime!(2026-11-25 06:00 UTC));
    let e = StatusList::verify(
        &bytes,
        std::slice::from_ref(&pki.ds),
        std::slice::from_ref(&pki.csca),
        date!(2026 - 11 - 25),
    )
    .unwrap_err();
    assert_eq!(
        policy_reason(e),
        "DS certificate documentTypeList [\"P\"] does not cover document code \"IR\""
    );
    let seal = seal_issued_on(&pki, date!(2026 - 11 - 24));
    assert!(matches!(
        verify_seal(&pki, &seal, date!(2026 - 11 - 25)),
        Err(SealError::Cose(CoseError::DsPolicy { .. }))
    ));
}

#[test]
fn an_older_list_than_the_one_held_is_refused() {
    let pki = make_pki(5, &PkiConfig::default());
    let (ds, csca) = (
        std::slice::from_ref(&pki.ds),
        std::slice::from_ref(&pki.csca),
    );
    let at = date!(2026 - 11 - 25);
    let verify =
        |iat| StatusList::verify(&signed_list(&pki.ds_key, &pki.ds, iat), ds, csca, at).unwrap();
    let old = verify(datetime!(2026-11-24 06:00 UTC));
    let new = verify(datetime!(2026-11-25 06:00 UTC));
    new.check_not_older(None).unwrap();
    new.check_not_older(Some(&old)).unwrap();
    new.check_not_older(Some(&new)).unwrap();
    assert_eq!(
        old.check_not_older(Some(&new)).unwrap_err(),
        StatusError::Older {
            got: "2026-11-24T06:00:00Z".into(),
            held: "2026-11-25T06:00:00Z".into(),
        }
    );
}

#[test]
fn no_status_list_is_amber_revocation_not_checked() {
    let pki = make_pki(6, &PkiConfig::default());
    let text = seal_issued_on(&pki, date!(2026 - 11 - 24));
    let trust = Trust {
        csca: std::slice::from_ref(&pki.csca),
        ds: std::slice::from_ref(&pki.ds),
    };
    let now = datetime!(2026-11-25 10:00 UTC);
    let r = check_seal(Ok(&text), trust, date!(2026 - 11 - 25), now, None);
    assert_eq!(r.verdict, Verdict::Amber);
    assert_eq!(r.verdict.exit_code(), 2);
    let p = r.first_problem().unwrap();
    assert_eq!(p.id, SealCheckId::StatusList);
    assert_eq!(
        p.outcome,
        Outcome::Warn("revocation not checked: no status list was given or fetched".into())
    );
    // With a fresh verified list: green.
    let list = StatusList::verify(
        &signed_list(&pki.ds_key, &pki.ds, datetime!(2026-11-25 06:00 UTC)),
        trust.ds,
        trust.csca,
        date!(2026 - 11 - 25),
    );
    let r = check_seal(Ok(&text), trust, date!(2026 - 11 - 25), now, Some(&list));
    assert_eq!(r.verdict, Verdict::Green);
    // A verdict over checks without any status check is amber too, never green.
    let only_seal: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.id != SealCheckId::StatusList && c.id != SealCheckId::StatusFresh)
        .cloned()
        .collect();
    assert_eq!(Verdict::of(&only_seal), Verdict::Amber);
}
