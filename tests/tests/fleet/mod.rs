//! What the fleet tests share: a PostgreSQL server of the test's own (initdb + pg_ctl on a free
//! port, as the `postgres` user; the machine's server is left alone), station daemons on it, raw
//! HTTP to them, and the invariants every run must keep (all jobs issued, numbers unique, no job
//! issued twice, the audit chain intact).
//!
//! Each test file that needs it says `mod fleet;`; not every file uses every helper.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use ecard_station::store::Store;

#[path = "../../support/station.rs"]
pub mod station;

/// The newest PostgreSQL server binaries of the machine, if any.
fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// A PostgreSQL server of the test's own, stopped and removed on drop.
pub struct Server {
    bin: PathBuf,
    dir: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Extra `-c name=value` settings for every start (TLS tests turn `ssl` on).
    pub settings: Vec<String>,
}

impl Server {
    fn ctl(&self, args: &[&str]) -> bool {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D"])
            .arg(self.data())
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// The data directory (owned by `postgres`).
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts it and waits until it accepts connections.
    pub fn start(&self) {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        for s in &self.settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let log = self.dir.join("server.log");
        assert!(
            self.ctl(&["-o", &opts, "-l", log.to_str().unwrap(), "-w", "start"]),
            "the test's PostgreSQL did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops it (fast shutdown: sessions are ended, as a restart by an operator does).
    pub fn stop(&self) {
        self.ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// A keyword URL for user `postgres`, database `postgres`, on 127.0.0.1.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new server, initialized but not started, or why this machine cannot run one.
pub fn init_server() -> Result<Server, String> {
    let bin = pg_bin().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
    if Command::new("id")
        .arg("postgres")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return Err("no postgres user".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let dir = std::env::temp_dir().join(format!("ecard-pg-{port}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let chown = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    if !chown.success() {
        return Err("cannot give the folder to the postgres user (not root?)".into());
    }
    let init = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .args(["-A", "trust", "-U", "postgres", "-D"])
        .arg(dir.join("data"))
        .output()
        .map_err(|e| e.to_string())?;
    if !init.status.success() {
        return Err(format!("initdb: {}", String::from_utf8_lossy(&init.stderr)));
    }
    Ok(Server {
        bin,
        dir,
        port,
        settings: Vec::new(),
    })
}

/// A started server of the test's own; `None` (after printing "skipped: …") when the machine
/// cannot run one, unless ECARD_PG_TESTS=1 demands it.
pub fn own_server() -> Option<Server> {
    match init_server() {
        Ok(s) => {
            s.start();
            Some(s)
        }
        Err(why) => {
            if std::env::var("ECARD_PG_TESTS").as_deref() == Ok("1") {
                panic!("this test runs its own PostgreSQL (ECARD_PG_TESTS=1): {why}");
            }
            println!("skipped: {why}");
            None
        }
    }
}

/// One running `ecard station serve`, killed on drop.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub token: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The data key the stations of one test share (stations on one database open each other's
/// records), made in `dir`.
pub fn shared_key(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("data.key");
    ecard_station::vault::FileKek::create(&key).unwrap();
    key
}

/// The configuration of station `id` with two simulated lanes on `url`/`schema`, sealing
/// personal data with the shared `key`.
pub fn config(id: &str, url: &str, schema: &str, lease_seconds: u64, key: &Path) -> String {
    let lane = |n: u32| {
        format!(
            "[[lanes]]\nname = \"lane-{n}\"\nencoder = \"sim:blanks/lane-{n}\"\nmake_blanks = true\nreal_time = true\nprint_ms = 300\n"
        )
    };
    format!(
        "station_id = \"{id}\"\nlease_seconds = {lease_seconds}\ntest_transport_key = true\ndata_key_file = \"{}\"\n[store]\npostgres = \"{url}\"\npostgres_schema = \"{schema}\"\n{}{}",
        key.display(),
        lane(1),
        lane(2)
    )
}

/// Three stations `<tag>-1` to `<tag>-3` on `url`/`schema`, each in `dir/station-<n>`, sharing
/// one data key; `env(n)` is added to station `n`'s environment.
pub fn three_stations(
    dir: &Path,
    tag: &str,
    url: &str,
    schema: &str,
    lease_seconds: u64,
    env: impl Fn(u32) -> Vec<(&'static str, String)>,
) -> Vec<Daemon> {
    let key = shared_key(dir);
    (1..=3)
        .map(|n| {
            let d = dir.join(format!("station-{n}"));
            std::fs::create_dir_all(&d).unwrap();
            let text = config(&format!("{tag}-{n}"), url, schema, lease_seconds, &key);
            std::fs::write(d.join("station.toml"), text).unwrap();
            let env = env(n);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            start(&d, &env)
        })
        .collect()
}

/// `total` enrollments of test `tag`, sent to the daemons in turn; returns their job ids.
pub fn submit_batch(daemons: &[Daemon], tag: &str, total: u32) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    for n in 0..total {
        let d = &daemons[n as usize % daemons.len()];
        let (status, job) = http(d, "POST", "/api/v1/enrollments", &record(tag, n));
        assert_eq!(status, 202, "enrollment {n}: {job}");
        ids.insert(job["id"].as_i64().unwrap());
    }
    ids
}

/// Starts the daemon of `dir` (its `station.toml`) with `env` added.
pub fn start(dir: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut ecard = Command::new(ecard_system_tests::ecard_bin());
    ecard.env("ECARD_LOG", "warn");
    ecard.envs(env.iter().copied());
    let (child, base) = station::serve_station(ecard, dir, Some(&dir.join("station.toml")));
    Daemon {
        child,
        addr: base.trim_start_matches("http://").parse().unwrap(),
        token: station::admin_token(dir),
    }
}

/// One request: (status, JSON body or null); status 0 when the daemon cannot be reached.
pub fn http(d: &Daemon, method: &str, path: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let Ok(mut s) = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5)) else {
        return (0, serde_json::Value::Null);
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        d.token,
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    if s.read_to_end(&mut out).is_err() || out.len() < 12 {
        return (0, serde_json::Value::Null);
    }
    let text = String::from_utf8_lossy(&out);
    let status = text[9..12].parse().unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// The `n`-th enrollment of test `tag`: its own application and holder.
pub fn record(tag: &str, n: u32) -> Vec<u8> {
    let mut r = station::sample_enrollment(&format!("MMC-{tag}-{n:04}"));
    r["identity_document"]["number"] = format!("{tag}{n:07}").into();
    r["date_of_birth"] = format!("{}-{:02}-{:02}", 1960 + n % 40, 1 + n % 12, 1 + n % 28).into();
    r.to_string().into_bytes()
}

/// Every job a daemon lists, or `None` while it cannot answer (its store is down).
pub fn jobs(d: &Daemon) -> Option<Vec<serde_json::Value>> {
    let (status, list) = http(d, "GET", "/api/v1/jobs?limit=1000", b"");
    (status == 200).then(|| list["jobs"].as_array().cloned().unwrap_or_default())
}

/// What the store holds once a batch of `ids` is done: every job issued, one issued number per
/// job and each number once, none left assigned, the audit chain and the jobs' histories intact,
/// no job issued twice. Returns (number, status) of every number, to compare later.
pub fn check_batch(store: &Store, ids: &BTreeSet<i64>) -> Vec<(String, String)> {
    let all = store.list(None, 10_000).unwrap();
    assert_eq!(all.len(), ids.len());
    let not_issued: Vec<_> = all
        .iter()
        .filter(|j| j.state.as_str() != "issued")
        .collect();
    assert!(not_issued.is_empty(), "not issued: {not_issued:?}");
    let numbers = store.numbers().unwrap();
    let issued: Vec<_> = numbers.iter().filter(|n| n.status == "issued").collect();
    assert_eq!(issued.len(), ids.len(), "one issued number per job");
    let jobs_with_number: BTreeSet<i64> = issued.iter().map(|n| n.job_id).collect();
    assert_eq!(&jobs_with_number, ids, "each job has its own issued number");
    let distinct: BTreeSet<&str> = numbers.iter().map(|n| n.document_number.as_str()).collect();
    assert_eq!(
        distinct.len(),
        numbers.len(),
        "a number was given out twice"
    );
    assert!(
        numbers
            .iter()
            .all(|n| n.status == "issued" || n.status == "voided"),
        "a number was left assigned"
    );
    let (entries, head, states) = store.audit_snapshot().unwrap();
    ecard_station::audit::verify_chain(&entries, &head).unwrap();
    ecard_station::audit::verify_jobs(&entries, &states).unwrap();
    // Each station appended to its own chain: the lanes' entries are all in their station's.
    for e in &entries {
        let Some(station) = e.actor.strip_prefix("lane:").map(|l| l.split('/').next()) else {
            continue;
        };
        assert_eq!(
            Some(e.chain.as_str()),
            station,
            "entry {} of a lane in another station's chain",
            e.seq
        );
    }
    let mut issued_entries: BTreeMap<i64, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.to_state == "issued") {
        *issued_entries.entry(e.job_id).or_default() += 1;
    }
    assert_eq!(issued_entries.len(), ids.len());
    assert!(
        issued_entries.values().all(|n| *n == 1),
        "a job was issued twice: {issued_entries:?}"
    );
    numbers
        .iter()
        .map(|n| (n.document_number.clone(), n.status.clone()))
        .collect()
}

/// Stops daemons cleanly (SIGTERM, as systemd does) and waits for each to exit 0.
pub fn stop_cleanly(daemons: Vec<Daemon>) {
    for d in &daemons {
        let status = Command::new("kill")
            .args(["-TERM", &d.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    for mut d in daemons {
        assert!(d.child.wait().unwrap().success(), "a graceful stop exits 0");
    }
}

/// Once every station has stopped cleanly, the numbers given out so far have no gap: each from
/// the first to the highest is issued or voided (the stations' number blocks included).
/// Returns (issued, voided).
pub fn check_no_gap(store: &Store) -> (usize, usize) {
    let mut numbers: Vec<(String, String)> = store
        .numbers()
        .unwrap()
        .into_iter()
        .map(|n| (n.document_number, n.status))
        .collect();
    numbers.sort();
    let values: Vec<u64> = numbers.iter().map(|(n, _)| n.parse().unwrap()).collect();
    for (i, w) in values.windows(2).enumerate() {
        assert_eq!(
            w[1],
            w[0] + 1,
            "no record of the numbers between {} and {}",
            numbers[i].0,
            numbers[i + 1].0
        );
    }
    assert!(
        numbers.iter().all(|(_, s)| s == "issued" || s == "voided"),
        "a number was left assigned: {numbers:?}"
    );
    let issued = numbers.iter().filter(|(_, s)| s == "issued").count();
    (issued, numbers.len() - issued)
}

/// How many of the jobs `all` (a `jobs()` answer) are issued; none may have gone to review.
pub fn issued_none_in_review(all: &[serde_json::Value]) -> usize {
    let review: Vec<_> = all
        .iter()
        .filter(|j| j["state"] == "needs_review")
        .collect();
    assert!(review.is_empty(), "a card went to review: {review:?}");
    all.iter().filter(|j| j["state"] == "issued").count()
}
