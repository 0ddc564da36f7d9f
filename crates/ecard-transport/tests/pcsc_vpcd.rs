//! The whole PC/SC path against the REAL pcscd + vpcd: a small ISO 7816-4 test card is served with
//! `serve_card` on vpcd's port and driven through `PcscTransport`, as the station drives a reader.
//!
//! pcscd is one per machine and vpcd takes one card per port, so every test takes `PCSC_LOCK`; they
//! all live in this one test binary. Without pcscd (or with another card in the reader) they skip loudly, unless `ECARD_PCSC_TESTS=1`
//! demands them (then a missing pcscd fails). Start one with `tools/virtual-reader.sh start --no-card`:
//! the reader must be empty, since the tests insert their own card.
//! `ECARD_VPCD_PORT=35964` uses the second reader (`Virtual PCD 00 01`) instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ecard_chip::transport::{ApduLimits, Transport, TransportError};
use ecard_transport::pcsc::{
    ExtendedLength, PcscContext, PcscTransport, list_readers, wait_for_card, wait_for_removal,
};
use ecard_transport::vpcd::{ServeStats, StopHandle, VirtualCard, VpcdError, serve_card};

static PCSC_LOCK: Mutex<()> = Mutex::new(());

const ATR: [u8; 6] = [0x3B, 0x81, 0x80, 0x01, 0x80, 0x80];
const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// A tiny ISO 7816-4 responder:
/// - A4 SELECT: 9000 (6700 to an extended-length APDU when `refuse_extended`)
/// - EE: echoes the command data, then 9000 (short or extended)
/// - E1: 6110 (16 bytes waiting); C0 GET RESPONSE then returns 00 01 .. 0F and 9000
/// - B0: returns P1P2 bytes of pattern (i mod 251), then 9000 (an extended Le case)
/// - anything else: 6D00
#[derive(Default)]
struct IsoTestCard {
    refuse_extended: bool,
    log: Arc<Mutex<Vec<String>>>,
}

struct Apdu<'a> {
    ins: u8,
    p1p2: u16,
    data: &'a [u8],
    extended: bool,
}

fn parse(capdu: &[u8]) -> Option<Apdu<'_>> {
    let [_cla, ins, p1, p2, body @ ..] = capdu else {
        return None;
    };
    let p1p2 = u16::from_be_bytes([*p1, *p2]);
    let (data, extended) = match body {
        [] | [_] => (&body[..0], false),
        [0, hi, lo, rest @ ..] if !rest.is_empty() || body.len() == 3 => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            if body.len() == 3 {
                // Extended case 2: Le only.
                (&body[..0], true)
            } else {
                // Extended case 3 or 4 (2 trailing Le bytes).
                let data = rest.get(..lc)?;
                let tail = rest.len() - lc;
                if tail != 0 && tail != 2 {
                    return None;
                }
                (data, true)
            }
        }
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            let data = rest.get(..lc)?;
            if rest.len() - lc > 1 {
                return None;
            }
            (data, false)
        }
    };
    Some(Apdu {
        ins: *ins,
        p1p2,
        data,
        extended,
    })
}

impl VirtualCard for IsoTestCard {
    fn atr(&self) -> Vec<u8> {
        ATR.to_vec()
    }
    fn power_on(&mut self) {
        self.log.lock().unwrap().push("power on".into());
    }
    fn power_off(&mut self) {
        self.log.lock().unwrap().push("power off".into());
    }
    fn reset(&mut self) {
        self.log.lock().unwrap().push("reset".into());
    }
    fn process(&mut self, capdu: &[u8]) -> Vec<u8> {
        let Some(apdu) = parse(capdu) else {
            return vec![0x67, 0x00];
        };
        self.log.lock().unwrap().push(format!(
            "INS {:02X}{}",
            apdu.ins,
            if apdu.extended { " ext" } else { "" }
        ));
        match apdu.ins {
            0xA4 if apdu.extended && self.refuse_extended => vec![0x67, 0x00],
            0xA4 => vec![0x90, 0x00],
            0xEE => [apdu.data, &[0x90, 0x00]].concat(),
            0xE1 => vec![0x61, 0x10],
            0xC0 => (0u8..16).chain([0x90, 0x00]).collect(),
            0xB0 => (0..usize::from(apdu.p1p2))
                .map(|i| (i % 251) as u8)
                .chain([0x90, 0x00])
                .collect(),
            _ => vec![0x6D, 0x00],
        }
    }
}

struct Rig {
    _guard: MutexGuard<'static, ()>,
    ctx: PcscContext,
    reader: String,
    addr: SocketAddr,
}

/// Takes the lock and checks that pcscd with vpcd is there; `None` means skip.
fn rig() -> Option<Rig> {
    let guard = PCSC_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let required = std::env::var("ECARD_PCSC_TESTS").as_deref() == Ok("1");
    let port: u16 = std::env::var("ECARD_VPCD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(35963);
    let reader = format!("Virtual PCD 00 {:02X}", port.wrapping_sub(35963) & 0xFF);
    let found = PcscContext::establish()
        .map_err(|e| e.to_string())
        .and_then(|ctx| {
            let readers = list_readers(&ctx).map_err(|e| e.to_string())?;
            match readers.iter().find(|r| r.name == reader) {
                None => Err(format!(
                    "pcscd runs but has no reader {reader:?}: {readers:?}"
                )),
                // Another card (the simulator of `tools/virtual-reader.sh start`, a vicc) holds
                // the vpcd port: ours could not get in.
                Some(r) if r.card_present => Err(format!(
                    "reader {reader:?} already holds another card; use `tools/virtual-reader.sh \
                     start --no-card` or another port (ECARD_VPCD_PORT=35964)"
                )),
                Some(_) => Ok(ctx),
            }
        });
    match found {
        Ok(ctx) => Some(Rig {
            _guard: guard,
            ctx,
            reader,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }),
        Err(e) if required => panic!("ECARD_PCSC_TESTS=1 but pcscd with vpcd is not usable: {e}"),
        Err(e) => {
            println!(
                "skipped: set ECARD_PCSC_TESTS=1 with pcscd running (tools/virtual-reader.sh start --no-card): {e}"
            );
            None
        }
    }
}

struct Inserted {
    stop: StopHandle,
    thread: JoinHandle<Result<ServeStats, VpcdError>>,
}

impl Rig {
    /// Serves `card` on vpcd's port without waiting for pcscd to see it.
    fn insert_nowait(&self, card: IsoTestCard) -> Inserted {
        // The previous test's card must be gone, or vpcd would still be busy with it.
        wait_for_removal(&self.ctx, &self.reader, WAIT).unwrap();
        let stop = StopHandle::new();
        let stop2 = stop.clone();
        let addr = self.addr;
        let thread = std::thread::spawn(move || {
            let mut card = card;
            serve_card(addr, &mut card, &stop2)
        });
        Inserted { stop, thread }
    }

    fn insert(&self, card: IsoTestCard) -> Inserted {
        let inserted = self.insert_nowait(card);
        wait_for_card(&self.ctx, &self.reader, WAIT).unwrap();
        inserted
    }

    fn remove(&self, inserted: Inserted) -> ServeStats {
        inserted.stop.stop();
        let stats = inserted.thread.join().unwrap().unwrap();
        wait_for_removal(&self.ctx, &self.reader, WAIT).unwrap();
        stats
    }

    fn connect(&self, extended: ExtendedLength) -> PcscTransport {
        PcscTransport::connect(&self.ctx, &self.reader, extended).unwrap()
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 256) as u8).collect()
}

/// An extended-length case 4 APDU: 00 INS 00 00 | 00 Lc Lc | data | Le Le (Le 0000 = up to 65536).
fn extended_case4(ins: u8, data: &[u8]) -> Vec<u8> {
    let lc = u16::try_from(data.len()).unwrap().to_be_bytes();
    [
        &[0x00, ins, 0x00, 0x00, 0x00, lc[0], lc[1]],
        data,
        &[0x00, 0x00],
    ]
    .concat()
}

#[test]
fn list_readers_shows_the_card_and_its_atr_then_the_empty_reader() {
    let Some(rig) = rig() else { return };
    let card = rig.insert(IsoTestCard::default());
    let readers = list_readers(&rig.ctx).unwrap();
    let ours = readers.iter().find(|r| r.name == rig.reader).unwrap();
    assert!(ours.card_present, "{ours:?}");
    assert_eq!(ours.atr.as_deref(), Some(&ATR[..]));
    rig.remove(card);
    let readers = list_readers(&rig.ctx).unwrap();
    let ours = readers.iter().find(|r| r.name == rig.reader).unwrap();
    assert!(!ours.card_present, "{ours:?}");
    assert_eq!(ours.atr, None);
}

#[test]
fn transmits_short_and_extended_apdus_byte_for_byte() {
    let Some(rig) = rig() else { return };
    let card = rig.insert(IsoTestCard::default());
    let mut t = rig.connect(ExtendedLength::Probe);
    assert_eq!(t.reader_name(), rig.reader);
    assert_eq!(t.atr(), ATR);
    // vpcd carries at most 65535 bytes per message.
    assert_eq!(
        t.limits(),
        ApduLimits {
            extended: true,
            max_command_data: 65526,
            max_response_data: 65533
        }
    );

    // Short case 4 echo.
    let data = pattern(200);
    let capdu = [&[0x00, 0xEE, 0x00, 0x00, 200][..], &data, &[0x00]].concat();
    assert_eq!(
        t.transmit(&capdu).unwrap(),
        [&data[..], &[0x90, 0x00]].concat()
    );
    // 61xx passes through untouched; GET RESPONSE fetches the rest.
    assert_eq!(
        t.transmit(&[0x00, 0xE1, 0x00, 0x00, 0x00]).unwrap(),
        [0x61, 0x10]
    );
    assert_eq!(
        t.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x10]).unwrap(),
        (0u8..16).chain([0x90, 0x00]).collect::<Vec<_>>()
    );
    // Extended echo of 4 KB, and the largest command data vpcd can carry.
    for n in [4096, 65526] {
        let data = pattern(n);
        let rapdu = t.transmit(&extended_case4(0xEE, &data)).unwrap();
        assert_eq!(rapdu.len(), n + 2);
        assert_eq!(rapdu, [&data[..], &[0x90, 0x00]].concat(), "{n}-byte echo");
    }
    // Extended case 2: 20000 bytes of response to 5 bytes of command.
    let rapdu = t
        .transmit(&[0x00, 0xB0, 0x4E, 0x20, 0x00, 0x00, 0x00])
        .unwrap();
    assert_eq!(rapdu.len(), 20002);
    assert_eq!(&rapdu[..4], [0, 1, 2, 3]);
    assert_eq!(&rapdu[20000..], [0x90, 0x00]);
    // Unknown INS is the card's answer, not a transport error.
    assert_eq!(t.transmit(&[0x00, 0x42, 0x00, 0x00]).unwrap(), [0x6D, 0x00]);
    drop(t);
    let stats = rig.remove(card);
    // The probe and the 7 APDUs above.
    assert_eq!(stats.apdus, 8);
}

#[test]
fn extended_probe_falls_back_to_short_when_the_card_refuses_and_never_skips_it() {
    let Some(rig) = rig() else { return };
    let log = Arc::new(Mutex::new(Vec::new()));
    let card = rig.insert(IsoTestCard {
        refuse_extended: true,
        log: log.clone(),
    });
    let t = rig.connect(ExtendedLength::Probe);
    assert_eq!(t.limits(), ApduLimits::SHORT);
    assert!(
        log.lock().unwrap().iter().any(|l| l == "INS A4 ext"),
        "{log:?}"
    );
    drop(t);

    log.lock().unwrap().clear();
    let t = rig.connect(ExtendedLength::Never);
    assert_eq!(t.limits(), ApduLimits::SHORT);
    assert!(
        !log.lock().unwrap().iter().any(|l| l.starts_with("INS")),
        "{log:?}"
    );
    drop(t);
    rig.remove(card);
}

#[test]
fn card_removed_mid_session_is_card_removed_naming_the_reader() {
    let Some(rig) = rig() else { return };
    let card = rig.insert(IsoTestCard::default());
    let mut t = rig.connect(ExtendedLength::Never);
    assert_eq!(
        t.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00])
            .unwrap(),
        [0x90, 0x00]
    );
    card.stop.stop();
    card.thread.join().unwrap().unwrap();
    assert_eq!(
        t.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00]),
        Err(TransportError::CardRemoved {
            reader: rig.reader.clone()
        })
    );
    drop(t);
    wait_for_removal(&rig.ctx, &rig.reader, WAIT).unwrap();
    // Connecting to the now empty reader says so.
    match PcscTransport::connect(&rig.ctx, &rig.reader, ExtendedLength::Never) {
        Err(e) => assert_eq!(
            e,
            TransportError::NoCard {
                reader: rig.reader.clone()
            }
        ),
        Ok(t) => panic!("connected to an empty reader: {t:?}"),
    }
}

#[test]
fn wait_for_card_returns_when_the_card_connects() {
    let Some(rig) = rig() else { return };
    // Nothing there yet: a short wait times out, naming the reader.
    assert_eq!(
        wait_for_card(&rig.ctx, &rig.reader, Some(Duration::from_millis(300))),
        Err(TransportError::Timeout {
            reader: rig.reader.clone()
        })
    );
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    // Its own context: pcsclite serializes calls on one context, so a wait blocked on the rig's
    // context would hold up the insertion below.
    let ctx = PcscContext::establish().unwrap();
    let reader = rig.reader.clone();
    let waiter = std::thread::spawn(move || {
        tx.send(()).unwrap();
        wait_for_card(&ctx, &reader, WAIT)
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let card = rig.insert_nowait(IsoTestCard::default());
    let info = waiter.join().unwrap().unwrap();
    assert_eq!(info.name, rig.reader);
    assert!(info.card_present);
    assert_eq!(info.atr.as_deref(), Some(&ATR[..]));
    println!("wait_for_card returned after {:?}", started.elapsed());
    rig.remove(card);
}

#[test]
fn unknown_reader_and_exclusive_access_are_named_errors() {
    let Some(rig) = rig() else { return };
    assert_eq!(
        wait_for_card(
            &rig.ctx,
            "No Such Reader 00 00",
            Some(Duration::from_secs(1))
        ),
        Err(TransportError::UnknownReader {
            reader: "No Such Reader 00 00".into()
        })
    );
    match PcscTransport::connect(&rig.ctx, "No Such Reader 00 00", ExtendedLength::Never) {
        Err(e) => assert_eq!(
            e,
            TransportError::UnknownReader {
                reader: "No Such Reader 00 00".into()
            }
        ),
        Ok(t) => panic!("connected to a reader that does not exist: {t:?}"),
    }
    let card = rig.insert(IsoTestCard::default());
    let first = rig.connect(ExtendedLength::Never);
    // A second application (here a second context) is refused while we hold the card.
    let other = PcscContext::establish().unwrap();
    match PcscTransport::connect(&other, &rig.reader, ExtendedLength::Never) {
        Err(e) => assert_eq!(
            e,
            TransportError::SharingViolation {
                reader: rig.reader.clone()
            }
        ),
        Ok(t) => panic!("second exclusive connection succeeded: {t:?}"),
    }
    drop(first);
    rig.remove(card);
}

#[test]
fn reset_returns_the_atr_and_the_card_sees_it() {
    let Some(rig) = rig() else { return };
    let log = Arc::new(Mutex::new(Vec::new()));
    let card = rig.insert(IsoTestCard {
        refuse_extended: false,
        log: log.clone(),
    });
    let mut t = rig.connect(ExtendedLength::Never);
    log.lock().unwrap().clear();
    assert_eq!(t.reset().unwrap(), ATR);
    assert_eq!(t.atr(), ATR);
    let seen = log.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l == "reset" || l == "power on"),
        "card saw no reset: {seen:?}"
    );
    // The handle is usable after the reset.
    assert_eq!(
        t.transmit(&[0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00])
            .unwrap(),
        [0x90, 0x00]
    );
    drop(t);
    rig.remove(card);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Benchmark (issue 4 part 6): the cost of pcscd + vpcd over calling the card directly. Run with
/// `ECARD_PCSC_TESTS=1 cargo test -p ecard-transport --release --test pcsc_vpcd -- --ignored --nocapture`.
/// Prints numbers; asserts only the bytes.
#[test]
#[ignore = "benchmark: prints timings, run on demand"]
fn bench_roundtrip_through_pcscd_versus_direct() {
    let Some(rig) = rig() else { return };
    let short = [&[0x00, 0xEE, 0x00, 0x00, 0x08][..], &pattern(8), &[0x00]].concat();
    let ext = extended_case4(0xEE, &pattern(4096));
    let (n_short, n_ext) = (2000, 500);

    let mut direct_card = IsoTestCard::default();
    let direct = |capdu: &[u8], n: usize, card: &mut IsoTestCard| {
        median(
            (0..n)
                .map(|_| {
                    let t0 = Instant::now();
                    let r = std::hint::black_box(card.process(std::hint::black_box(capdu)));
                    let d = t0.elapsed();
                    assert_eq!(&r[r.len() - 2..], [0x90, 0x00]);
                    d
                })
                .collect(),
        )
    };
    let d_short = direct(&short, n_short, &mut direct_card);
    let d_ext = direct(&ext, n_ext, &mut direct_card);

    let card = rig.insert(IsoTestCard::default());
    let mut t = rig.connect(ExtendedLength::Probe);
    let via = |capdu: &[u8], n: usize, t: &mut PcscTransport| {
        median(
            (0..n)
                .map(|_| {
                    let t0 = Instant::now();
                    let r = t.transmit(capdu).unwrap();
                    let d = t0.elapsed();
                    assert_eq!(&r[r.len() - 2..], [0x90, 0x00]);
                    d
                })
                .collect(),
        )
    };
    let p_short = via(&short, n_short, &mut t);
    let p_ext = via(&ext, n_ext, &mut t);
    drop(t);
    rig.remove(card);

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!("APDU round trip, median            via pcscd+vpcd    direct process()    ratio");
    println!(
        "short (14-byte C, 10-byte R) x{n_short:<5} {:>14.1?} {:>18.2?} {:>10.0}x",
        p_short,
        d_short,
        ratio(p_short, d_short)
    );
    println!(
        "extended 4 KB echo          x{n_ext:<5} {:>14.1?} {:>18.2?} {:>10.0}x",
        p_ext,
        d_ext,
        ratio(p_ext, d_ext)
    );
}
