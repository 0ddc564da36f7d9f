#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The PKCS#11 signer on a real SoftHSM2 token (Debian's `softhsm2`): keys made in the token
//! are sensitive and not extractable, signatures verify, and every fault names module, token
//! and label. SoftHSM2 reads `SOFTHSM2_CONF` when it loads, so each test re-runs itself in a
//! child process with that variable pointing at a fresh token in a temporary folder.

use std::path::Path;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use ecard_chip::pki::Signer;
use ecard_pkcs11::softhsm::{SOFTHSM2_MODULE, init_token};
use ecard_pkcs11::{Pkcs11Error, Token};
use p256::ecdsa::{VerifyingKey, signature::hazmat::PrehashVerifier};
use sha2::{Digest, Sha256};

const CHILD: &str = "ECARD_TEST_SOFTHSM_PIN";

/// In the parent: makes a token, re-runs `name` with it and asserts the child passed; returns
/// None. In the child: returns the PIN.
fn child(name: &str) -> Option<String> {
    if let Ok(pin) = std::env::var(CHILD) {
        return Some(pin);
    }
    let dir = tempfile::tempdir().unwrap();
    let token = init_token(dir.path(), "ecard-test").unwrap();
    let pin = std::fs::read_to_string(&token.pin_file).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &token.conf)
        .env(CHILD, pin)
        .status()
        .unwrap();
    assert!(status.success(), "child test {name} failed");
    None
}

fn module() -> &'static Path {
    Path::new(SOFTHSM2_MODULE)
}

/// A second, logged-in session on the test token, beside the one `Token` holds.
fn token_session(pin: &str) -> cryptoki::session::Session {
    let ctx = cryptoki::context::Pkcs11::new(module()).unwrap();
    let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ));
    let slot = ctx.get_slots_with_token().unwrap()[0];
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(
            cryptoki::session::UserType::User,
            Some(&pin.to_string().into()),
        )
        .ok();
    session
}

#[test]
fn generated_key_signs_and_stays_inside() {
    let Some(pin) = child("generated_key_signs_and_stays_inside") else {
        return;
    };
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let signer = token.generate("ecard-ds-1").unwrap();
    let digest: [u8; 32] = Sha256::digest(b"EF.SOD content").into();
    let sig = signer.sign_sha256_digest(&digest).unwrap();
    VerifyingKey::from(&signer.public_key())
        .verify_prehash(&digest, &sig)
        .unwrap();
    // Found again by label, with the same public key.
    let again = token.signer("ecard-ds-1").unwrap();
    assert_eq!(again.public_key(), signer.public_key());
    // A second key under the same label is refused.
    assert!(matches!(
        token.generate("ecard-ds-1"),
        Err(Pkcs11Error::KeyExists { .. })
    ));
    // The private key's attributes, read through a separate session of the same module.
    let session = token_session(&pin);
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"ecard-ds-1".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let attrs = session
        .get_attributes(
            keys[0],
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Token,
            ],
        )
        .unwrap();
    assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
    assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
    assert!(attrs.contains(&Attribute::Token(true)), "{attrs:?}");
}

#[test]
fn faults_name_module_token_and_label() {
    let Some(pin) = child("faults_name_module_token_and_label") else {
        return;
    };
    let wrong = Token::open(module(), "ecard-test", "not-the-pin").unwrap_err();
    assert!(matches!(wrong, Pkcs11Error::Login { .. }), "{wrong}");
    assert!(wrong.to_string().contains("ecard-test"), "{wrong}");
    let absent = Token::open(module(), "no-such-token", &pin).unwrap_err();
    assert!(matches!(absent, Pkcs11Error::NoToken { .. }), "{absent}");
    assert!(absent.to_string().contains("no-such-token"), "{absent}");
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let nokey = token.signer("ecard-ds-9").unwrap_err();
    assert!(matches!(nokey, Pkcs11Error::NoKey { .. }), "{nokey}");
    let text = nokey.to_string();
    assert!(
        text.contains("ecard-ds-9") && text.contains("libsofthsm2.so"),
        "{text}"
    );
    let nomodule = Token::open(Path::new("/nonexistent/libpkcs11.so"), "x", "y").unwrap_err();
    assert!(matches!(nomodule, Pkcs11Error::Module { .. }), "{nomodule}");
}

/// Benchmark, printed (no timed assertion): ECDSA P-256 signatures per second through SoftHSM2
/// (each also checked against the public key on the host), beside the in-memory software key.
/// `cargo test -p ecard-pkcs11 --release --test softhsm signing_rate -- --nocapture`
#[test]
fn signing_rate_through_softhsm2() {
    let Some(pin) = child("signing_rate_through_softhsm2") else {
        return;
    };
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let signer = token.generate("bench").unwrap();
    let software = ecard_chip::pki::SoftwareSigner::generate(&mut rand_core::OsRng);
    let n = 300u32;
    let rate = |s: &dyn Signer| {
        let start = std::time::Instant::now();
        for i in 0..n {
            let digest: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            s.sign_sha256_digest(&digest).unwrap();
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    };
    let hsm = rate(&signer);
    let soft = rate(&software);
    println!(
        "signatures per second: SoftHSM2 {hsm:.0}/s, software key {soft:.0}/s (ratio {:.2}); a 4-lane station signs ~4 EF.SOD + 4 seals per card cycle",
        hsm / soft
    );
}

#[test]
fn a_folder_token_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = init_token(&dir.path().join("token"), "modes").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("token")), 0o700);
    assert_eq!(mode(&dir.path().join("token/tokens")), 0o700);
    assert_eq!(mode(&token.pin_file), 0o600);
    assert_eq!(mode(&token.conf), 0o600);
    // Made once: a second token in the same folder is refused, the PIN is not overwritten.
    let pin = std::fs::read(&token.pin_file).unwrap();
    assert!(init_token(&dir.path().join("token"), "modes").is_err());
    assert_eq!(std::fs::read(&token.pin_file).unwrap(), pin);
}

/// Issue 16 with issue 15: the KMC in the token derives each blank's SCP03 keys by AES-CMAC
/// inside it, the same keys the file KMC gives, and never comes out.
#[test]
fn the_kmc_in_the_token_derives_the_card_keys_and_stays_inside() {
    let Some(pin) = child("the_kmc_in_the_token_derives_the_card_keys_and_stays_inside") else {
        return;
    };
    use ecard_chip::scp03::TransportKeys;
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let kmc = hex_kmc();
    let in_token = token.import_kmc("ecard-kmc", &kmc).unwrap();
    let kdd = [0x45, 0x43, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    let from_token = in_token.card_keys(&kdd, 0x30).unwrap();
    let from_file = ecard_chip::scp03::diversify(&kmc, &kdd).unwrap();
    assert_eq!(from_token, from_file);
    assert!(!in_token.is_test_key());
    // Found again by label; a second import under the label is refused.
    assert_eq!(
        token
            .kmc("ecard-kmc")
            .unwrap()
            .card_keys(&kdd, 0x30)
            .unwrap(),
        from_file
    );
    assert!(matches!(
        token.import_kmc("ecard-kmc", &kmc),
        Err(Pkcs11Error::KeyExists { .. })
    ));
    // Sensitive and not extractable: the token does not give its value.
    let ctx = cryptoki::context::Pkcs11::new(module()).unwrap();
    let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ));
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == "ecard-test")
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(
            cryptoki::session::UserType::User,
            Some(&cryptoki::types::AuthPin::from(pin.clone())),
        )
        .ok();
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(b"ecard-kmc".to_vec()),
        ])
        .unwrap()[0];
    let attrs = session
        .get_attributes(key, &[AttributeType::Sensitive, AttributeType::Extractable])
        .unwrap();
    assert!(attrs.contains(&Attribute::Sensitive(true)), "{attrs:?}");
    assert!(attrs.contains(&Attribute::Extractable(false)), "{attrs:?}");
    assert!(
        session
            .get_attributes(key, &[AttributeType::Value])
            .map(|a| a.is_empty())
            .unwrap_or(true)
    );
}

fn hex_kmc() -> Vec<u8> {
    vec![
        0x2B, 0x7E, 0x15, 0x16, 0x28, 0xAE, 0xD2, 0xA6, 0xAB, 0xF7, 0x15, 0x88, 0x09, 0xCF, 0x4F,
        0x3C,
    ]
}

#[test]
fn the_data_key_encrypts_inside_the_token_and_refuses_tampering() {
    let Some(pin) = child("the_data_key_encrypts_inside_the_token_and_refuses_tampering") else {
        return;
    };
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let key = token.generate_data_key("ecard-data-kek").unwrap();
    assert!(matches!(
        token.generate_data_key("ecard-data-kek"),
        Err(Pkcs11Error::KeyExists { .. })
    ));
    let dek = [7u8; 32];
    let sealed = key.encrypt(b"job 1", &dek).unwrap();
    assert_eq!(sealed.len(), 12 + 32 + 16, "nonce, the key, the tag");
    assert!(!sealed.windows(32).any(|w| w == dek));
    assert_eq!(key.decrypt(b"job 1", &sealed).unwrap(), dek);
    // Found again by label (as after a restart): the same key.
    let again = token.data_key("ecard-data-kek").unwrap();
    assert_eq!(again.decrypt(b"job 1", &sealed).unwrap(), dek);
    // Another context, a flipped bit, a cut input: refused, never decoded into garbage.
    assert!(key.decrypt(b"job 2", &sealed).is_err());
    let mut bad = sealed.clone();
    bad[20] ^= 1;
    assert!(key.decrypt(b"job 1", &bad).is_err());
    assert!(key.decrypt(b"job 1", &sealed[..20]).is_err());
    // A fresh nonce every time.
    assert_ne!(key.encrypt(b"job 1", &dek).unwrap(), sealed);
    // The pseudonym key beside it: made on first use, found again, deterministic, 16 bytes.
    let mac = token.mac_key("ecard-data-kek-pseudonym").unwrap();
    let p = mac.cmac(b"holder digest").unwrap();
    assert_eq!(p.len(), 16);
    let again_mac = token.mac_key("ecard-data-kek-pseudonym").unwrap();
    assert_eq!(again_mac.cmac(b"holder digest").unwrap(), p);
    assert_ne!(mac.cmac(b"another digest").unwrap(), p);
    let missing = token.data_key("other").unwrap_err().to_string();
    assert!(missing.contains("\"other\""), "{missing}");
    // The key stays inside: sensitive, not extractable, its value unreadable.
    let session = token_session(&pin);
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(b"ecard-data-kek".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let attrs = session
        .get_attributes(
            keys[0],
            &[AttributeType::Sensitive, AttributeType::Extractable],
        )
        .unwrap();
    assert!(attrs.contains(&Attribute::Sensitive(true)));
    assert!(attrs.contains(&Attribute::Extractable(false)));
    assert!(
        session
            .get_attributes(keys[0], &[AttributeType::Value])
            .map(|a| a.is_empty())
            .unwrap_or(true)
    );
}

#[test]
fn a_token_that_goes_away_is_unavailable_and_serves_again_once_back() {
    let Some(pin) = child("a_token_that_goes_away_is_unavailable_and_serves_again_once_back")
    else {
        return;
    };
    // SoftHSM2 keeps a token as a folder: moving it away is pulling the token out.
    let conf = std::env::var("SOFTHSM2_CONF").unwrap();
    let tokens = Path::new(&conf).parent().unwrap().join("tokens");
    let away = tokens.with_extension("away");
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let signer = token.generate("ecard-ds-1").unwrap();
    let data_key = token.generate_data_key("ecard-data-kek").unwrap();
    let digest: [u8; 32] = Sha256::digest(b"EF.SOD content").into();
    signer.sign_sha256_digest(&digest).unwrap();
    let sealed = data_key.encrypt(b"c", &[1; 32]).unwrap();

    std::fs::rename(&tokens, &away).unwrap();
    let e = signer.sign_sha256_digest(&digest).unwrap_err().to_string();
    assert!(e.contains("signer unavailable"), "{e}");
    assert!(e.contains("ecard-test") && e.contains("ecard-ds-1"), "{e}");
    let e = data_key.decrypt(b"c", &sealed).unwrap_err().to_string();
    assert!(e.contains("signer unavailable"), "{e}");

    // Back in: the next operation connects again and succeeds, with the same keys.
    std::fs::rename(&away, &tokens).unwrap();
    let sig = signer.sign_sha256_digest(&digest).unwrap();
    VerifyingKey::from(&signer.public_key())
        .verify_prehash(&digest, &sig)
        .unwrap();
    assert_eq!(data_key.decrypt(b"c", &sealed).unwrap(), [1; 32]);
}

/// Puts an AES key of known `value` in the test token under `label` (a test vector's key; the
/// station's own keys are generated inside the token and never known).
fn known_aes_key(pin: &str, label: &str, value: &[u8]) {
    let ctx = cryptoki::context::Pkcs11::new(module()).unwrap();
    let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ));
    let slot = ctx.get_slots_with_token().unwrap()[0];
    let session = ctx.open_rw_session(slot).unwrap();
    session
        .login(
            cryptoki::session::UserType::User,
            Some(&pin.to_string().into()),
        )
        .unwrap();
    session
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::AES),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Value(value.to_vec()),
            Attribute::Sign(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ])
        .unwrap();
}

/// The token's AES-CMAC through `TokenMacKey` against RFC 4493 section 4, examples 2 and 4
/// (AES-128, the key of FIPS 197 / SP 800-38B: 2b7e1516...).
#[test]
fn the_pseudonym_key_computes_rfc_4493_cmac() {
    let Some(pin) = child("the_pseudonym_key_computes_rfc_4493_cmac") else {
        return;
    };
    known_aes_key(&pin, "rfc4493", &hex_kmc());
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let mac = token.mac_key("rfc4493").unwrap();
    let m16 = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
    assert_eq!(
        hex::encode(mac.cmac(&m16).unwrap()),
        "070a16b46b4d4144f79bdd9dd04a287c"
    );
    let m40 = hex::decode(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411",
    )
    .unwrap();
    assert_eq!(
        hex::encode(mac.cmac(&m40).unwrap()),
        "dfa66747de9ae63030ca32611497c827"
    );
}

/// The token's AES-256-GCM through `TokenDataKey::decrypt` (nonce || ciphertext || tag, with
/// additional data) against Test Case 16 of McGrew and Viega, "The Galois/Counter Mode of
/// Operation (GCM)", appendix B; one changed tag byte is refused.
#[test]
fn the_data_key_opens_the_gcm_spec_test_case_16() {
    let Some(pin) = child("the_data_key_opens_the_gcm_spec_test_case_16") else {
        return;
    };
    let key =
        hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").unwrap();
    known_aes_key(&pin, "gcm-tc16", &key);
    let token = Token::open(module(), "ecard-test", &pin).unwrap();
    let kek = token.data_key("gcm-tc16").unwrap();
    let sealed = hex::decode(concat!(
        "cafebabefacedbaddecaf888",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa",
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    ))
    .unwrap();
    let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
    assert_eq!(
        hex::encode(kek.decrypt(&aad, &sealed).unwrap()),
        concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
        )
    );
    let mut bad = sealed.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(kek.decrypt(&aad, &bad).is_err());
}
