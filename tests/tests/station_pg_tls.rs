//! Issue 16: the store speaks TLS to PostgreSQL. The test runs its own server with `ssl = on`, a
//! certificate for `localhost` issued by a CA the test makes (openssl CLI), and a pg_hba that
//! accepts TLS connections only (`hostssl`). verify-full with that CA connects; with another CA,
//! or to a name the certificate does not carry, it is refused naming the server and the CA file;
//! `require` connects without checking; `disable` is refused by the server, and the error says
//! which key to set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use ecard_station::store::{PgOptions, PgSslMode, Store, StoreError};

mod fleet;

use ecard_system_tests::{test_ca, test_server_cert};

fn options(mode: PgSslMode, ca: Option<&Path>) -> PgOptions {
    let mut o = PgOptions::for_lanes(0);
    o.pool = 2;
    o.ssl_mode = mode;
    o.ca_file = ca.map(Path::to_path_buf);
    o
}

fn reason(r: Result<Store, StoreError>) -> String {
    match r {
        Ok(_) => panic!("the connection was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn postgres_over_tls_is_verified() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("ECARD_PG_TESTS").as_deref() != Ok("1"),
            "this test needs the openssl command (ECARD_PG_TESTS=1)"
        );
        println!("skipped: no openssl command");
        return;
    }
    let mut server = match fleet::init_server() {
        Ok(s) => s,
        Err(why) => {
            assert!(
                std::env::var("ECARD_PG_TESTS").as_deref() != Ok("1"),
                "this test runs its own PostgreSQL (ECARD_PG_TESTS=1): {why}"
            );
            println!("skipped: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path();
    test_ca(pki, "ca");
    test_ca(pki, "other-ca");
    // The server's certificate: for the name localhost only, signed by `ca`.
    test_server_cert(pki, "ca", "DNS:localhost");
    let data = server.data();
    for f in ["server.pem", "server.key"] {
        std::fs::copy(pki.join(f), data.join(f)).unwrap();
    }
    let own = Command::new("chown")
        .arg("postgres:postgres")
        .arg(data.join("server.pem"))
        .arg(data.join("server.key"))
        .status()
        .unwrap();
    assert!(own.success());
    let chmod = Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status()
        .unwrap();
    assert!(chmod.success());
    // TLS connections only, over TCP; the local socket (pg_ctl's) stays open.
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
    )
    .unwrap();
    server.settings = vec![
        "ssl=on".into(),
        "ssl_cert_file=server.pem".into(),
        "ssl_key_file=server.key".into(),
    ];
    server.start();
    let port = server.port;
    let by_name = format!("host=localhost port={port} user=postgres dbname=postgres");
    let by_address = server.url(); // host=127.0.0.1: not a name the certificate carries
    let ca = pki.join("ca.pem");
    let other_ca = pki.join("other-ca.pem");

    // verify-full with the CA that issued the certificate: connected, and the store works.
    let store =
        Store::open_postgres_with(&by_name, "tls", &options(PgSslMode::VerifyFull, Some(&ca)))
            .unwrap();
    store.ensure_series(77).unwrap();
    assert_eq!(store.list(None, 10).unwrap(), vec![]);
    drop(store);

    // Another CA: refused, naming the server and the CA file.
    let refused = reason(Store::open_postgres_with(
        &by_name,
        "tls",
        &options(PgSslMode::VerifyFull, Some(&other_ca)),
    ));
    println!("wrong CA: {refused}");
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    assert!(refused.contains(&format!("localhost:{port}")), "{refused}");
    assert!(
        refused.contains(&other_ca.display().to_string()),
        "{refused}"
    );

    // The right CA, but the server reached under a name its certificate does not carry.
    let refused = reason(Store::open_postgres_with(
        &by_address,
        "tls",
        &options(PgSslMode::VerifyFull, Some(&ca)),
    ));
    println!("wrong name: {refused}");
    assert!(
        refused.contains("certificate not valid for name \"127.0.0.1\""),
        "{refused}"
    );
    assert!(refused.contains(&format!("127.0.0.1:{port}")), "{refused}");

    // require: encrypted, the certificate not checked.
    let store =
        Store::open_postgres_with(&by_address, "tls", &options(PgSslMode::Require, None)).unwrap();
    assert_eq!(store.list(None, 10).unwrap(), vec![]);
    drop(store);

    // disable against a server that takes TLS only: refused by the server, with the key to set.
    let refused = reason(Store::open_postgres_with(
        &by_address,
        "tls",
        &options(PgSslMode::Disable, None),
    ));
    println!("plain: {refused}");
    assert!(refused.contains("no encryption"), "{refused}");
    assert!(
        refused.contains("postgres_sslmode = \"verify-full\""),
        "{refused}"
    );
}
