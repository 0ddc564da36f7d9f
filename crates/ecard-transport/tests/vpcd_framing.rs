//! The vpcd wire format without pcscd: property tests of the framing and a fake vpcd (a local TCP
//! listener speaking the protocol) driving `serve_card`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use ecard_transport::vpcd::{
    FrameDecoder, FrameTooLong, MAX_FRAME_PAYLOAD, ServeStats, StopHandle, VirtualCard, VpcdError,
    VpcdRequest, connect_with_retry, encode_frame, encoded_len, serve_card,
};
use proptest::prelude::*;

fn encode_all(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        encode_frame(m, &mut out).unwrap();
    }
    out
}

/// Cuts `stream` at the given points (taken modulo its length, sorted).
fn split_at_points<'a>(stream: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points
        .iter()
        .map(|p| {
            if stream.is_empty() {
                0
            } else {
                p % (stream.len() + 1)
            }
        })
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for c in cuts {
        pieces.push(&stream[start..c]);
        start = c;
    }
    pieces.push(&stream[start..]);
    pieces
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..300),
        1 => proptest::collection::vec(any::<u8>(), 60_000..=MAX_FRAME_PAYLOAD),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_split_of_a_stream_decodes_to_the_same_messages(
        messages in proptest::collection::vec(message(), 0..6),
        points in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let stream = encode_all(&messages);
        prop_assert_eq!(
            stream.len(),
            messages.iter().map(|m| encoded_len(m.len())).sum::<usize>()
        );
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        for piece in split_at_points(&stream, &points) {
            decoder.push(piece);
            while let Some(m) = decoder.next_frame() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, messages);
        prop_assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn encoded_length_is_predicted_and_prefix_is_big_endian(payload in message()) {
        let mut out = vec![0xAA];
        encode_frame(&payload, &mut out).unwrap();
        prop_assert_eq!(out.len(), 1 + encoded_len(payload.len()));
        prop_assert_eq!(usize::from(u16::from_be_bytes([out[1], out[2]])), payload.len());
        prop_assert_eq!(&out[3..], &payload[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_account_for_every_byte(
        bytes in proptest::collection::vec(any::<u8>(), 0..2000),
        points in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut decoder = FrameDecoder::new();
        let mut consumed = 0;
        for piece in split_at_points(&bytes, &points) {
            decoder.push(piece);
            while let Some(m) = decoder.next_frame() {
                consumed += encoded_len(m.len());
            }
        }
        prop_assert_eq!(consumed + decoder.pending(), bytes.len());
        // Whatever was left is a true prefix of one message: fewer bytes than it announces.
        let rest = &bytes[consumed..];
        if rest.len() >= 2 {
            prop_assert!(rest.len() - 2 < usize::from(u16::from_be_bytes([rest[0], rest[1]])));
        }
    }

    #[test]
    fn one_byte_messages_are_controls_and_longer_ones_apdus(payload in proptest::collection::vec(any::<u8>(), 0..12)) {
        let req = VpcdRequest::from_payload(payload.clone());
        match payload.as_slice() {
            [0x00] => prop_assert_eq!(req, VpcdRequest::PowerOff),
            [0x01] => prop_assert_eq!(req, VpcdRequest::PowerOn),
            [0x02] => prop_assert_eq!(req, VpcdRequest::Reset),
            [0x04] => prop_assert_eq!(req, VpcdRequest::GetAtr),
            [c] => prop_assert_eq!(req, VpcdRequest::UnknownControl(*c)),
            _ => prop_assert_eq!(req, VpcdRequest::Apdu(payload)),
        }
    }
}

#[test]
fn payloads_over_65535_bytes_are_refused_and_nothing_is_written() {
    let mut out = vec![1, 2, 3];
    assert_eq!(
        encode_frame(&vec![0; MAX_FRAME_PAYLOAD + 1], &mut out),
        Err(FrameTooLong { len: 65536 })
    );
    assert_eq!(out, [1, 2, 3]);
    encode_frame(&vec![0; MAX_FRAME_PAYLOAD], &mut out).unwrap();
    assert_eq!(&out[3..5], [0xFF, 0xFF]);
}

/// Answers every C-APDU with its INS followed by 9000; records what the reader did.
#[derive(Default)]
struct RecordingCard {
    events: Vec<&'static str>,
    big_answer: bool,
}

impl VirtualCard for RecordingCard {
    fn atr(&self) -> Vec<u8> {
        vec![0x3B, 0x81, 0x80, 0x01, 0x80, 0x80]
    }
    fn power_on(&mut self) {
        self.events.push("on");
    }
    fn power_off(&mut self) {
        self.events.push("off");
    }
    fn reset(&mut self) {
        self.events.push("reset");
    }
    fn process(&mut self, capdu: &[u8]) -> Vec<u8> {
        self.events.push("apdu");
        if self.big_answer {
            return vec![0; MAX_FRAME_PAYLOAD + 1];
        }
        vec![capdu.get(1).copied().unwrap_or(0xFF), 0x90, 0x00]
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(payload, &mut out).unwrap();
    out
}

fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut body).unwrap();
    body
}

/// The serving thread, giving back the card and how serving ended.
type Server = std::thread::JoinHandle<(RecordingCard, Result<ServeStats, VpcdError>)>;

/// A fake vpcd on an ephemeral port, and the card served from a thread.
fn fake_vpcd(card: RecordingCard) -> (TcpStream, StopHandle, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = StopHandle::new();
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut card = card;
        let r = serve_card(addr, &mut card, &stop2);
        (card, r)
    });
    let (vpcd, _) = listener.accept().unwrap();
    vpcd.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (vpcd, stop, thread)
}

#[test]
fn serves_controls_and_apdus_split_across_writes_then_stops_on_request() {
    let (mut vpcd, stop, thread) = fake_vpcd(RecordingCard::default());
    // Power on, ATR request and an APDU whose length and body arrive in separate writes, as
    // Debian's vpcd sends them.
    vpcd.write_all(&frame(&[0x01])).unwrap();
    vpcd.write_all(&frame(&[0x04])).unwrap();
    assert_eq!(read_frame(&mut vpcd), [0x3B, 0x81, 0x80, 0x01, 0x80, 0x80]);
    let apdu = frame(&[0x00, 0xA4, 0x00, 0x0C]);
    vpcd.write_all(&apdu[..1]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    vpcd.write_all(&apdu[1..]).unwrap();
    assert_eq!(read_frame(&mut vpcd), [0xA4, 0x90, 0x00]);
    // Two messages in one write.
    let mut two = frame(&[0x02]);
    two.extend(frame(&[0x80, 0xCA, 0x00, 0x00, 0x00]));
    vpcd.write_all(&two).unwrap();
    assert_eq!(read_frame(&mut vpcd), [0xCA, 0x90, 0x00]);
    vpcd.write_all(&frame(&[0x00])).unwrap();
    // An answered APDU proves the power-off before it was handled too.
    vpcd.write_all(&frame(&[0x00, 0x84, 0x00, 0x00, 0x08]))
        .unwrap();
    assert_eq!(read_frame(&mut vpcd), [0x84, 0x90, 0x00]);

    stop.stop();
    let (card, result) = thread.join().unwrap();
    assert_eq!(
        result.unwrap(),
        ServeStats {
            apdus: 3,
            power_ons: 1,
            power_offs: 1,
            resets: 1,
            atr_requests: 1
        }
    );
    assert_eq!(card.events, ["on", "apdu", "reset", "apdu", "off", "apdu"]);
    // The card's removal is the socket closing: vpcd reads end-of-file.
    let mut rest = Vec::new();
    assert_eq!(vpcd.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn vpcd_closing_the_connection_is_an_error_naming_it() {
    let (mut vpcd, _stop, thread) = fake_vpcd(RecordingCard::default());
    vpcd.write_all(&frame(&[0x00, 0xB0, 0x00, 0x00, 0x00]))
        .unwrap();
    assert_eq!(read_frame(&mut vpcd), [0xB0, 0x90, 0x00]);
    let addr = vpcd.local_addr().unwrap();
    drop(vpcd);
    let (_, result) = thread.join().unwrap();
    match result {
        Err(VpcdError::ConnectionClosed { addr: a, apdus: 1 }) => assert_eq!(a, addr),
        other => panic!("expected ConnectionClosed after 1 APDU, got {other:?}"),
    }
}

#[test]
fn unknown_control_codes_end_serving() {
    let (mut vpcd, _stop, thread) = fake_vpcd(RecordingCard::default());
    vpcd.write_all(&frame(&[0x07])).unwrap();
    let (_, result) = thread.join().unwrap();
    assert!(
        matches!(result, Err(VpcdError::UnknownControl { code: 0x07, .. })),
        "{result:?}"
    );
}

#[test]
fn an_answer_too_long_for_vpcd_is_refused() {
    let card = RecordingCard {
        big_answer: true,
        ..Default::default()
    };
    let (mut vpcd, _stop, thread) = fake_vpcd(card);
    vpcd.write_all(&frame(&[0x00, 0xB0, 0x00, 0x00, 0x00]))
        .unwrap();
    let (_, result) = thread.join().unwrap();
    assert!(
        matches!(
            result,
            Err(VpcdError::FrameTooLong(FrameTooLong { len: 65536 }))
        ),
        "{result:?}"
    );
}

#[test]
fn connect_gives_up_when_nothing_listens_and_stops_on_request() {
    // A port that was just free: bind, read the number, close.
    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let stop = StopHandle::new();
    match connect_with_retry(addr, Duration::from_millis(300), &stop) {
        Err(VpcdError::NotListening {
            addr: a, waited, ..
        }) => {
            assert_eq!(a, addr);
            assert!(waited >= Duration::from_millis(300));
        }
        other => panic!("expected NotListening, got {other:?}"),
    }
    stop.stop();
    assert!(matches!(
        connect_with_retry(addr, Duration::from_secs(5), &stop),
        Ok(None)
    ));
    let mut card = RecordingCard::default();
    assert_eq!(
        serve_card(addr, &mut card, &stop).unwrap(),
        ServeStats::default()
    );
}
