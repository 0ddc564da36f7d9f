#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The signer self-test a station runs at start (ECARD.md section 12): each way it must fail,
//! and the days left of the DS signing period it reports.

use ecard_chip::pki::{self, PkiConfig, SelfTestError, SoftwareSigner, self_test};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-01 09:30:00 UTC)
}

#[test]
fn a_sound_signer_passes_and_reports_days_left() {
    let p = pki::init(
        &PkiConfig::default(),
        now(),
        &mut ChaCha20Rng::seed_from_u64(1),
    )
    .unwrap();
    let t = self_test(std::slice::from_ref(&p.csca), &p.ds, &p.ds_key, now()).unwrap();
    // Three months of signing from 2026-11-01: to 2027-02-01, 92 days.
    assert_eq!(t.ds_days_left, Some(92));
    assert!(!t.ds_ends_soon());
    let late = now() + time::Duration::days(80);
    let t = self_test(std::slice::from_ref(&p.csca), &p.ds, &p.ds_key, late).unwrap();
    assert_eq!(t.ds_days_left, Some(12));
    assert!(t.ds_ends_soon());
}

#[test]
fn each_fault_is_named() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let p = pki::init(&PkiConfig::default(), now(), &mut rng).unwrap();
    let other = pki::init(&PkiConfig::default(), now(), &mut rng).unwrap();
    let trust = std::slice::from_ref(&p.csca);

    let e = self_test(std::slice::from_ref(&other.csca), &p.ds, &p.ds_key, now()).unwrap_err();
    assert_eq!(e, SelfTestError::Chain { trusted: 1 });

    let wrong = SoftwareSigner::generate(&mut rng);
    let e = self_test(trust, &p.ds, &wrong, now()).unwrap_err();
    assert!(matches!(e, SelfTestError::Signature { .. }), "{e}");
    assert!(e.to_string().contains("INSECURE"), "{e}");

    let after = now() + time::Duration::days(93);
    let e = self_test(trust, &p.ds, &p.ds_key, after).unwrap_err();
    assert!(matches!(e, SelfTestError::Period { .. }), "{e}");
    let before = now() - time::Duration::days(1);
    assert!(matches!(
        self_test(trust, &p.ds, &p.ds_key, before),
        Err(SelfTestError::Period { .. })
    ));
}
