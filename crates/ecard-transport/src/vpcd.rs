//! A virtual card behind a real pcscd: the client side of the vsmartcard `vpcd` reader driver.
//!
//! vpcd is a reader driver loaded by pcscd. It listens on TCP (35963 for reader
//! `Virtual PCD 00 00`, 35964 for `Virtual PCD 00 01`) and a virtual card connects to it as a TCP
//! client: the connect is the card insertion, the close is the removal. Every message in both
//! directions is a 2-byte big-endian length followed by that many bytes. A 1-byte message from vpcd
//! is a control code (power off, power on, reset, "send the ATR"); a longer one is a C-APDU. The card
//! answers the ATR request and every C-APDU with one length-prefixed message; power and reset get
//! no answer.
//!
//! The framing ([`encode_frame`], [`FrameDecoder`], [`VpcdRequest`]) is sans-I/O so that it can be
//! property-tested on arbitrary splits of a byte stream. [`serve_card`] is the only code here that
//! touches a socket. This module must not interpret APDUs: a [`VirtualCard`] does that.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The largest payload of one vpcd message: its length travels in two bytes.
pub const MAX_FRAME_PAYLOAD: usize = 0xFFFF;

/// vpcd's port for the first virtual reader, `Virtual PCD 00 00`.
pub const DEFAULT_VPCD_PORT: u16 = 35963;

/// How long [`serve_card`] waits for vpcd to listen (pcscd may just be starting).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A card that vpcd can put into a reader. The coordinator implements it for the simulator; tests
/// implement small ones. All methods are called from the serving thread, one at a time.
pub trait VirtualCard {
    /// The answer-to-reset, sent when vpcd asks for it (after power on or reset).
    fn atr(&self) -> Vec<u8>;
    /// The reader powered the card up (a cold reset follows in card terms).
    fn power_on(&mut self);
    /// The reader powered the card down; volatile state (selected files, security status) is lost.
    fn power_off(&mut self);
    /// The reader reset the card (warm reset).
    fn reset(&mut self);
    /// Executes one C-APDU and returns the R-APDU (response data followed by SW1 SW2). The bytes come
    /// from whatever application talks to pcscd: they may be malformed, even empty, and the card must
    /// answer them with a status word rather than panic. The answer must fit one vpcd message
    /// ([`MAX_FRAME_PAYLOAD`] bytes).
    fn process(&mut self, capdu: &[u8]) -> Vec<u8>;
}

/// Why serving a virtual card stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VpcdError {
    /// Nothing listened on the vpcd port within the wait: pcscd is not running or has no vpcd.
    #[error("vpcd is not listening on {addr} after {waited:?}: {source}")]
    NotListening {
        /// The address tried.
        addr: SocketAddr,
        /// How long we retried.
        waited: Duration,
        /// The last connect error.
        source: io::Error,
    },
    /// vpcd closed the connection while we did not ask for it (pcscd stopped or restarted).
    #[error(
        "vpcd at {addr} closed the connection after {apdus} APDUs (pcscd stopped or restarted)"
    )]
    ConnectionClosed {
        /// The vpcd address.
        addr: SocketAddr,
        /// APDUs answered before the close.
        apdus: u64,
    },
    /// Reading from or writing to the vpcd socket failed.
    #[error("i/o error on the vpcd connection to {addr}: {source}")]
    Io {
        /// The vpcd address.
        addr: SocketAddr,
        /// The socket error.
        source: io::Error,
    },
    /// vpcd sent a 1-byte control message we do not know.
    #[error("vpcd at {addr} sent unknown control code {code:#04x} (expected 00, 01, 02 or 04)")]
    UnknownControl {
        /// The vpcd address.
        addr: SocketAddr,
        /// The code received.
        code: u8,
    },
    /// A message to send does not fit the 2-byte length prefix (a bug in the virtual card).
    #[error(transparent)]
    FrameTooLong(#[from] FrameTooLong),
}

/// A payload longer than one vpcd message can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a vpcd message carries at most {MAX_FRAME_PAYLOAD} bytes, got {len}")]
pub struct FrameTooLong {
    /// The payload length asked for.
    pub len: usize,
}

/// Appends one vpcd message (2-byte big-endian length, then `payload`) to `out`. Refuses payloads
/// over [`MAX_FRAME_PAYLOAD`] bytes and leaves `out` unchanged then.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameTooLong> {
    let len = u16::try_from(payload.len()).map_err(|_| FrameTooLong { len: payload.len() })?;
    out.reserve(2 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// The number of bytes [`encode_frame`] writes for a payload of `payload_len` bytes.
pub fn encoded_len(payload_len: usize) -> usize {
    2 + payload_len
}

/// Splits a byte stream into vpcd messages, whatever the read boundaries were. Feed it with
/// [`FrameDecoder::push`], drain it with [`FrameDecoder::next_frame`]. A 2-byte length cannot exceed
/// [`MAX_FRAME_PAYLOAD`], so the buffer never holds more than one message plus one read.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already returned as frames (compacted lazily to avoid quadratic copying).
    consumed: usize,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes as read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.consumed > 0 && self.consumed == self.buf.len() {
            self.buf.clear();
            self.consumed = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message payload, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let rest = &self.buf[self.consumed..];
        let [hi, lo, body @ ..] = rest else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let payload = body.get(..len)?.to_vec();
        self.consumed += 2 + len;
        if self.consumed == self.buf.len() {
            self.buf.clear();
            self.consumed = 0;
        } else if self.consumed > MAX_FRAME_PAYLOAD {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        Some(payload)
    }

    /// Bytes received but not yet returned as a whole message (a partial message at a close means
    /// vpcd went away mid-message).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.consumed
    }
}

/// What one message from vpcd asks of the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VpcdRequest {
    /// Control code 00: power the card off. No answer.
    PowerOff,
    /// Control code 01: power the card on. No answer.
    PowerOn,
    /// Control code 02: warm reset. No answer.
    Reset,
    /// Control code 04: send the ATR.
    GetAtr,
    /// A 1-byte message with a code vpcd does not define.
    UnknownControl(u8),
    /// Anything else: a C-APDU to execute (may be malformed; the card answers it).
    Apdu(Vec<u8>),
}

impl VpcdRequest {
    /// Classifies one message payload from vpcd.
    pub fn from_payload(payload: Vec<u8>) -> VpcdRequest {
        match payload.as_slice() {
            [0x00] => VpcdRequest::PowerOff,
            [0x01] => VpcdRequest::PowerOn,
            [0x02] => VpcdRequest::Reset,
            [0x04] => VpcdRequest::GetAtr,
            [code] => VpcdRequest::UnknownControl(*code),
            _ => VpcdRequest::Apdu(payload),
        }
    }
}

/// Counts of what a serving run did, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// C-APDUs answered.
    pub apdus: u64,
    /// Power-on requests.
    pub power_ons: u64,
    /// Power-off requests.
    pub power_offs: u64,
    /// Reset requests.
    pub resets: u64,
    /// ATR requests answered.
    pub atr_requests: u64,
}

/// Asks a running [`serve_card`] to stop, which "removes" the card: the socket is shut down, vpcd
/// sees the connection close and pcscd reports the card as removed (SCARD_W_REMOVED_CARD to a
/// connected application). Cheap to clone; `stop` works from any thread, before or during serving.
/// A stopped handle stays stopped: to insert the card again, serve it with a new handle.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    inner: Arc<Mutex<StopState>>,
}

#[derive(Debug, Default)]
struct StopState {
    stopped: bool,
    stream: Option<TcpStream>,
}

impl StopHandle {
    /// A handle that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes the card: wakes the serving thread and closes its connection to vpcd.
    pub fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        if let Some(stream) = state.stream.take() {
            // The serving thread is blocked in read(); shutdown wakes it with end-of-file. An error
            // here means the socket is already closed, which is what we want.
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StopState> {
        // The state is a flag and an fd clone; a panic while holding the lock cannot leave it torn.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the serving socket; false if the handle was already stopped.
    fn register(&self, stream: &TcpStream) -> io::Result<bool> {
        let mut state = self.lock();
        if state.stopped {
            return Ok(false);
        }
        state.stream = Some(stream.try_clone()?);
        Ok(true)
    }

    fn unregister(&self) {
        self.lock().stream = None;
    }
}

/// Connects to vpcd, retrying every 100 ms while nothing listens (pcscd just started), up to
/// `timeout`. Returns `Ok(None)` if `stop` was called meanwhile. Sets TCP_NODELAY.
pub fn connect_with_retry(
    addr: SocketAddr,
    timeout: Duration,
    stop: &StopHandle,
) -> Result<Option<TcpStream>, VpcdError> {
    let start = Instant::now();
    loop {
        if stop.is_stopped() {
            return Ok(None);
        }
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => {
                stream
                    .set_nodelay(true)
                    .map_err(|source| VpcdError::Io { addr, source })?;
                return Ok(Some(stream));
            }
            Err(source) if start.elapsed() >= timeout => {
                return Err(VpcdError::NotListening {
                    addr,
                    waited: start.elapsed(),
                    source,
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Puts `card` into the vpcd reader at `addr` and answers vpcd until `stop` is called (returns the
/// counts) or vpcd goes away (returns [`VpcdError::ConnectionClosed`]). Waits up to
/// [`DEFAULT_CONNECT_TIMEOUT`] for vpcd to listen. Blocking: run it in its own thread.
pub fn serve_card(
    addr: SocketAddr,
    card: &mut dyn VirtualCard,
    stop: &StopHandle,
) -> Result<ServeStats, VpcdError> {
    match connect_with_retry(addr, DEFAULT_CONNECT_TIMEOUT, stop)? {
        Some(stream) => serve_stream(stream, card, stop),
        None => Ok(ServeStats::default()),
    }
}

/// Serves `card` on an already connected vpcd socket (see [`serve_card`]).
pub fn serve_stream(
    mut stream: TcpStream,
    card: &mut dyn VirtualCard,
    stop: &StopHandle,
) -> Result<ServeStats, VpcdError> {
    let addr = stream.peer_addr().map_err(|source| VpcdError::Io {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    let io_err = |source| VpcdError::Io { addr, source };
    stream.set_nodelay(true).map_err(io_err)?;
    if !stop.register(&stream).map_err(io_err)? {
        return Ok(ServeStats::default());
    }
    tracing::debug!(%addr, "virtual card inserted into vpcd");
    let result = serve_loop(&mut stream, addr, card, stop);
    stop.unregister();
    // Closing the socket is the card removal; ignore errors from an already closed socket.
    let _ = stream.shutdown(Shutdown::Both);
    tracing::debug!(%addr, "virtual card removed from vpcd");
    result
}

fn serve_loop(
    stream: &mut TcpStream,
    addr: SocketAddr,
    card: &mut dyn VirtualCard,
    stop: &StopHandle,
) -> Result<ServeStats, VpcdError> {
    let mut stats = ServeStats::default();
    let mut decoder = FrameDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        set_quickack(stream);
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) if stop.is_stopped() => return Ok(stats),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
            Err(source) => return Err(VpcdError::Io { addr, source }),
        };
        if n == 0 {
            if stop.is_stopped() {
                return Ok(stats);
            }
            return Err(VpcdError::ConnectionClosed {
                addr,
                apdus: stats.apdus,
            });
        }
        decoder.push(&buf[..n]);
        while let Some(payload) = decoder.next_frame() {
            out.clear();
            match VpcdRequest::from_payload(payload) {
                VpcdRequest::PowerOff => {
                    stats.power_offs += 1;
                    card.power_off();
                }
                VpcdRequest::PowerOn => {
                    stats.power_ons += 1;
                    card.power_on();
                }
                VpcdRequest::Reset => {
                    stats.resets += 1;
                    card.reset();
                }
                VpcdRequest::GetAtr => {
                    stats.atr_requests += 1;
                    encode_frame(&card.atr(), &mut out)?;
                }
                VpcdRequest::UnknownControl(code) => {
                    return Err(VpcdError::UnknownControl { addr, code });
                }
                VpcdRequest::Apdu(capdu) => {
                    stats.apdus += 1;
                    let rapdu = card.process(&capdu);
                    tracing::debug!(
                        ins = capdu.get(1).copied().unwrap_or(0),
                        lc_len = capdu.len(),
                        r_len = rapdu.len(),
                        "virtual card answered"
                    );
                    encode_frame(&rapdu, &mut out)?;
                }
            }
            if !out.is_empty() {
                // One write per answer: length and body in the same segment, so Nagle on either
                // side never holds half a message back.
                match stream.write_all(&out) {
                    Ok(()) => {}
                    Err(_) if stop.is_stopped() => return Ok(stats),
                    Err(source) => return Err(VpcdError::Io { addr, source }),
                }
            }
        }
    }
}

/// Re-arms TCP_QUICKACK. Debian's vpcd (vsmartcard 3.3) sends the length and the APDU in two
/// writes; with Nagle on its side and delayed ACKs on ours every APDU stalls ~40 ms. Linux clears
/// the flag after it has sent the quick ACKs, so it must be set again before every read.
fn set_quickack(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_quickack(true) {
        tracing::debug!(error = %e, "TCP_QUICKACK not set; APDUs may be ~40 ms slower");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}
