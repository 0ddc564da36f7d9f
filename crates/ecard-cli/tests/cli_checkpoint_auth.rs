//! `ecard checkpoint serve` behind its token (issue 13 item 11): no token, a wrong one or one in
//! the URL is refused; a browser signs in at /login for a session cookie; state changes need the
//! screen's own Origin; an oversized card photo is refused before decoding; without a token given
//! the screen makes one in a 0600 file; a token file others may read is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

mod checkpoint_common;
mod demo_common;

use checkpoint_common::{TOKEN, request, serve_with, verdict};
use demo_common::Demo;

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    let mut crc = 0xFFFF_FFFFu32;
    for &b in &body {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(&(!crc).to_be_bytes());
}

/// A PNG that declares `w`x`h` RGB pixels and carries none (IHDR, an empty IDAT): a few dozen
/// bytes that would need w*h*3 bytes to decode.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &[]);
    png
}

/// Issue 13 item 11: the screen needs the checkpoint token, takes changes only from its own
/// origin, and refuses an oversized card photo before decoding it.
#[test]
fn checkpoint_screen_needs_its_token_and_its_own_origin() {
    let demo = Demo::new();
    let p = |rel: &str| demo.p(rel);
    let args = [
        "--sim",
        &p("cards/771000001/card.img"),
        "--can",
        &demo.can(1),
        "--trust",
        &p("pki/csca.pem"),
    ];
    let (srv, token_line) = serve_with(&args, Some(TOKEN));
    assert_eq!(token_line, "checkpoint token: from $ECARD_CHECKPOINT_TOKEN");
    let a = srv.addr.as_str();
    verdict(a);
    let bearer = format!("Bearer {TOKEN}");
    let own = format!("http://{a}");

    // No token, a wrong one, or the token in the URL: refused.
    assert_eq!(request(a, "GET", "/api/screen", &[], b"").0, 401);
    let (code, head, _) = request(a, "GET", "/", &[], b"");
    assert_eq!(code, 303);
    assert!(
        head.to_ascii_lowercase().contains("location: /login"),
        "{head}"
    );
    assert_eq!(
        request(
            a,
            "GET",
            "/api/screen",
            &[("Authorization", "Bearer nope")],
            b""
        )
        .0,
        401
    );
    assert_eq!(
        request(a, "GET", &format!("/api/screen?token={TOKEN}"), &[], b"").0,
        401
    );
    assert_eq!(
        request(a, "GET", "/api/screen", &[("Authorization", &bearer)], b"").0,
        200
    );

    // State changes: another origin is refused even with the token; our own is taken.
    let evil = [
        ("Authorization", bearer.as_str()),
        ("Origin", "http://evil.example"),
    ];
    assert_eq!(request(a, "POST", "/api/rescan", &evil, b"").0, 403);
    let ours = [("Authorization", bearer.as_str()), ("Origin", own.as_str())];
    assert_eq!(request(a, "POST", "/api/rescan", &ours, b"").0, 200);

    // A browser signs in with the token in a form body and gets a session cookie.
    let form = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", own.as_str()),
    ];
    assert_eq!(request(a, "POST", "/login", &form, b"token=wrong").0, 401);
    let (code, head, _) = request(
        a,
        "POST",
        "/login",
        &form,
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(code, 303, "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {head}"));
    assert!(cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"));
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let (code, _, html) = request(a, "GET", "/", &[("Cookie", &cookie)], b"");
    assert_eq!(code, 200);
    assert!(html.contains("class=\"verdict "), "{html}");
    // A cookie POST must say where it comes from.
    assert_eq!(
        request(a, "POST", "/api/rescan", &[("Cookie", &cookie)], b"").0,
        403
    );
    assert_eq!(
        request(
            a,
            "POST",
            "/api/rescan",
            &[("Cookie", &cookie), ("Origin", &own)],
            b""
        )
        .0,
        200
    );

    // Uploads: over 20 megapixels by the header alone (a few dozen bytes), and over 10 MB.
    let (code, _, body) = request(a, "POST", "/api/seal", &ours, &png_header(6000, 4000));
    assert_eq!(code, 413, "{body}");
    assert_eq!(
        body,
        "the card photo is 6000x4000 px, over the 20-megapixel limit; take it at a lower resolution"
    );
    let big = vec![0u8; 10 * 1024 * 1024 + 1];
    assert_eq!(request(a, "POST", "/api/seal", &ours, &big).0, 413);
    let (code, _, body) = request(a, "POST", "/api/seal", &ours, b"not an image");
    assert_eq!(code, 422, "{body}");
    // A real card photo (the seal) is still taken.
    let seal = std::fs::read(demo.card(1, "seal.png")).unwrap();
    assert_eq!(request(a, "POST", "/api/seal", &ours, &seal).0, 200);
    drop(srv);

    // Without a token given, the screen makes one in a 0600 file and says where.
    let (srv, token_line) = serve_with(&args, None);
    let path = token_line
        .strip_prefix("checkpoint token: new, in ")
        .and_then(|l| l.split_once(" (mode 0600)"))
        .unwrap_or_else(|| panic!("unexpected token line {token_line:?}"))
        .0
        .to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let made = std::fs::read_to_string(&path).unwrap();
    let bearer = format!("Bearer {}", made.trim());
    assert_eq!(
        request(
            &srv.addr,
            "GET",
            "/api/screen",
            &[("Authorization", &bearer)],
            b""
        )
        .0,
        200
    );
    drop(srv);
    let _ = std::fs::remove_file(&path);

    // A token file others may read is refused.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, TOKEN).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_ecard"))
            .args([
                "checkpoint",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token-file",
            ])
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("is readable by others (mode 644)"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
