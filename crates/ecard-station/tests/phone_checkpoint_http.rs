//! The phone checkpoint (issue 18) on the station, over real HTTP in process: the app under
//! `/checkpoint/` without a token, and a trust bundle whose trusted Document Signer is the one
//! that signs the station's own status list, which the app is pointed at.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_common;

use console_common::{request, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_station_serves_the_phone_app_with_a_bundle_that_verifies_its_status_list() {
    let s = start().await;
    let (code, head, body) = request(s.addr, "GET", "/checkpoint/", None, None).await;
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: text/html; charset=utf-8"));
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("id=\"verdict\""), "{html}");
    let (code, head, _) = request(s.addr, "GET", "/checkpoint", None, None).await;
    assert_eq!(code, 308, "{head}");
    assert!(head.contains("location: /checkpoint/"));

    let (code, _, list) = request(s.addr, "GET", "/api/v1/status-list", None, None).await;
    assert_eq!(code, 200, "the embedded station publishes a status list");
    let list = ecard_seal::StatusList::decode(&list).unwrap();

    let (code, head, body) =
        request(s.addr, "GET", "/checkpoint/trust-bundle.json", None, None).await;
    assert_eq!(code, 200, "{head}");
    let bundle: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(bundle["status_url"], "/api/v1/status-list");
    let ds = bundle["ds"].as_array().unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0]["trusted"], true, "{}", ds[0]);
    assert_eq!(ds[0]["kid"], hex::encode(list.cose.kid));
    // This station's own status list is not served twice: the phone fetches the API's.
    let (code, _, _) = request(s.addr, "GET", "/checkpoint/status-list", None, None).await;
    assert_eq!(code, 404);
    s.stop().await;
}
