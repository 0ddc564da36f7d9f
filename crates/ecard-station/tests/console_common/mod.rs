//! A station on 127.0.0.1:0 in process (embedded defaults: SQLite, two simulated lanes) with
//! one token per role, and a raw HTTP/1.1 client, for the console tests.
#![allow(dead_code)]

use std::net::SocketAddr;

use ecard_station::auth::{Role, TokenEntry, hash_token};
use ecard_station::cli::{Assembled, assemble};
use ecard_station::config::StationConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "../../../../tests/support/station.rs"]
mod station;

pub struct Running {
    pub addr: SocketAddr,
    pub admin: String,
    pub intake: String,
    pub operator: String,
    pub qa: String,
    pub dir: tempfile::TempDir,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap();
    }
}

pub async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StationConfig::defaults(dir.path());
    config.settings.station_id = "console-test".into();
    let token = |name: &str, role: Role| {
        let t = format!("{name}-secret-token");
        let sha = hex::decode(hash_token(&t)).unwrap();
        (
            t,
            TokenEntry {
                name: name.into(),
                role,
                sha256: sha.try_into().unwrap(),
            },
        )
    };
    let (intake, e1) = token("intake-1", Role::Intake);
    let (operator, e2) = token("operator-1", Role::Operator);
    let (qa, e3) = token("qa-1", Role::Qa);
    config.tokens = vec![e1, e2, e3];
    let Assembled {
        station,
        lanes,
        admin_token_file,
        ..
    } = tokio::task::spawn_blocking(move || assemble(&config))
        .await
        .unwrap()
        .unwrap();
    let admin = std::fs::read_to_string(admin_token_file.unwrap())
        .unwrap()
        .trim()
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        ecard_station::server::run(station, lanes, listener, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        addr,
        admin,
        intake,
        operator,
        qa,
        dir,
        stop,
        done,
    }
}

/// One request with `Connection: close`: status, lowercased head, body (chunked bodies are
/// returned as sent; the routes tested here answer with a length).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, String, Vec<u8>) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("Content-Type: application/json\r\n\r\n");
    c.write_all(req.as_bytes()).await.unwrap();
    c.write_all(&body).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), c.read_to_end(&mut all))
        .await
        .expect("answer within 30 s")
        .unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, all[split + 4..].to_vec())
}

/// The sample enrollment (KARIMOV, first issue, photo and signature from `samples/karimov`) as a
/// request body.
pub fn record(app: &str) -> Vec<u8> {
    station::sample_enrollment(app).to_string().into_bytes()
}
