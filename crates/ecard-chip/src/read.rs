//! Reading a card back: the application is selected, EF.COM is read (its TLV header first, to
//! learn the size, then the rest), then every data group EF.COM lists and EF.SOD, into
//! [`LdsFiles`]. Also Active Authentication (INTERNAL AUTHENTICATE) and a write probe that shows
//! a locked card refuses writes.
//!
//! [`CardReader`] is sans-I/O like [`crate::perso::Personalizer`]; [`read_card`],
//! [`active_authentication`] and [`try_write_same_byte`] are the drivers that touch a transport.
//! Nothing here judges the files: that is `verify`'s job.

use std::collections::VecDeque;

use crate::apdu::{Command, Exchange, MAX_EVEN_INS_OFFSET, Response, StatusWord};
use crate::lds::{AID, EfId, LdsFiles};
use crate::profile::LargeOffsets;
use crate::tlv;
use crate::transport::{ApduLimits, TransportError};

mod drive;

pub use drive::{
    WriteProbe, active_authentication, active_authentication_command,
    parse_active_authentication_response, read_card, read_card_with, try_write_same_byte,
};

/// Bytes read first to learn a file's size: tag (1 byte here) and a length of up to 4 bytes,
/// with room to spare.
const HEADER_READ: usize = 8;

/// The largest file a reader accepts (a guard against a card that claims gigabytes).
pub const MAX_FILE: usize = 0x20000;

/// What the reader is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStep {
    /// SELECT of the application by AID.
    SelectApplication,
    /// SELECT of an EF.
    SelectFile,
    /// READ BINARY of a file's header.
    ReadHeader,
    /// READ BINARY of the rest of a file.
    ReadBody,
    /// INTERNAL AUTHENTICATE.
    InternalAuthenticate,
    /// The write probe.
    WriteProbe,
}

impl std::fmt::Display for ReadStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReadStep::SelectApplication => "selecting the e-card application",
            ReadStep::SelectFile => "selecting",
            ReadStep::ReadHeader => "reading the header of",
            ReadStep::ReadBody => "reading",
            ReadStep::InternalAuthenticate => "running Active Authentication",
            ReadStep::WriteProbe => "probing a write to",
        })
    }
}

fn on_file(file: &Option<EfId>) -> String {
    file.map(|f| format!(" {f}")).unwrap_or_default()
}

/// Why a card could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The card refused a command.
    #[error("card answered {sw} while {step}{}", on_file(.file))]
    Status {
        /// The step.
        step: ReadStep,
        /// The file, if any.
        file: Option<EfId>,
        /// The status word.
        sw: StatusWord,
    },
    /// The reader or link failed.
    #[error("{source} while {step}{}", on_file(.file))]
    Transport {
        /// The step.
        step: ReadStep,
        /// The file, if any.
        file: Option<EfId>,
        /// The transport's error.
        source: TransportError,
    },
    /// An answer that does not parse.
    #[error("malformed answer while {step}{}: {detail}", on_file(.file))]
    Malformed {
        /// The step.
        step: ReadStep,
        /// The file, if any.
        file: Option<EfId>,
        /// What is wrong, with the numbers.
        detail: String,
    },
    /// EF.COM lists a tag that is no e-card data group.
    #[error("EF.COM lists tag {tag:02X}, which is not a data group of the e-card")]
    UnknownDataGroup {
        /// The tag.
        tag: u8,
    },
    /// A file header claims more than [`MAX_FILE`] bytes.
    #[error("{file} claims {size} bytes, over the {MAX_FILE}-byte limit")]
    TooLarge {
        /// The file.
        file: EfId,
        /// The size claimed.
        size: usize,
    },
    /// The reader was driven out of order (caller bug).
    #[error("card reader driven out of order: {0}")]
    ApiMisuse(&'static str),
}

/// How to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// APDU limits of the link.
    pub limits: ApduLimits,
    /// How to reach offsets over 32767.
    pub large_offsets: LargeOffsets,
}

impl ReadOptions {
    /// Odd-INS large offsets with the given link limits.
    pub fn new(limits: ApduLimits) -> ReadOptions {
        ReadOptions {
            limits,
            large_offsets: LargeOffsets::OddIns,
        }
    }
}

/// Counters of a read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// C-APDUs sent.
    pub apdus: u64,
    /// C-APDU bytes sent.
    pub bytes_sent: u64,
    /// R-APDU bytes received.
    pub bytes_received: u64,
}

/// What the caller must do next.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadAction {
    /// Send this C-APDU and pass the answer to [`CardReader::handle_response`].
    Transmit(Vec<u8>),
    /// Done: [`CardReader::files`] holds the files.
    Finished,
    /// Stopped: [`CardReader::error`] says why.
    Failed,
}

impl std::fmt::Debug for ReadAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadAction::Transmit(apdu) => write!(f, "Transmit({})", crate::apdu::describe(apdu)),
            ReadAction::Finished => f.write_str("Finished"),
            ReadAction::Failed => f.write_str("Failed"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum OpKind {
    SelectApp,
    SelectEf,
    Header,
    Body { len: usize },
}

#[derive(Debug)]
struct Op {
    kind: OpKind,
    file: Option<EfId>,
    cmd: Command,
}

/// Reads an e-card's LDS files without doing I/O. Call [`CardReader::poll`], transmit, feed
/// [`CardReader::handle_response`], until `Finished` or `Failed`.
pub struct CardReader {
    opts: ReadOptions,
    ops: VecDeque<Op>,
    current: Option<(Op, Exchange)>,
    in_flight: bool,
    buf: Vec<u8>,
    total: usize,
    files: LdsFiles,
    stats: ReadStats,
    error: Option<ReadError>,
}

impl std::fmt::Debug for CardReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardReader")
            .field("files_read", &self.files.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl CardReader {
    /// A reader that starts by selecting the application.
    pub fn new(opts: ReadOptions) -> CardReader {
        let mut r = CardReader {
            opts,
            ops: VecDeque::new(),
            current: None,
            in_flight: false,
            buf: Vec::new(),
            total: 0,
            files: LdsFiles::new(),
            stats: ReadStats::default(),
            error: None,
        };
        r.ops.push_back(Op {
            kind: OpKind::SelectApp,
            file: None,
            cmd: Command::select_aid(&AID, false),
        });
        r.queue_file(EfId::Com);
        r
    }

    fn queue_file(&mut self, ef: EfId) {
        self.ops.push_back(Op {
            kind: OpKind::SelectEf,
            file: Some(ef),
            cmd: Command::select_ef(ef.fid()),
        });
        self.ops.push_back(Op {
            kind: OpKind::Header,
            file: Some(ef),
            cmd: Command::read_binary(0, HEADER_READ),
        });
    }

    /// Counters so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The files read so far.
    pub fn files(&self) -> &LdsFiles {
        &self.files
    }

    /// Takes the files read.
    pub fn into_files(self) -> LdsFiles {
        self.files
    }

    /// The error that stopped the read, if any.
    pub fn error(&self) -> Option<&ReadError> {
        self.error.as_ref()
    }

    /// What to do next.
    pub fn poll(&mut self) -> ReadAction {
        if self.error.is_some() {
            return ReadAction::Failed;
        }
        if self.in_flight {
            self.error = Some(ReadError::ApiMisuse("poll() while a response is awaited"));
            return ReadAction::Failed;
        }
        loop {
            if let Some((_, ex)) = &mut self.current {
                if let Some(apdu) = ex.poll_transmit() {
                    self.in_flight = true;
                    self.stats.apdus += 1;
                    self.stats.bytes_sent += apdu.len() as u64;
                    return ReadAction::Transmit(apdu);
                }
                self.error = Some(ReadError::ApiMisuse("exchange has nothing to send"));
                return ReadAction::Failed;
            }
            let Some(op) = self.ops.pop_front() else {
                return ReadAction::Finished;
            };
            match Exchange::new(op.cmd.clone(), self.opts.limits) {
                Ok(ex) => self.current = Some((op, ex)),
                Err(e) => {
                    self.error = Some(ReadError::Malformed {
                        step: step_of(op.kind),
                        file: op.file,
                        detail: e.to_string(),
                    });
                    return ReadAction::Failed;
                }
            }
        }
    }

    /// Records a link failure of the last transmission and returns the error.
    pub fn handle_transport_error(&mut self, source: TransportError) -> ReadError {
        if let Some(e) = &self.error {
            return e.clone();
        }
        self.in_flight = false;
        let (step, file) = self
            .current
            .take()
            .map_or((ReadStep::SelectApplication, None), |(op, _)| {
                (step_of(op.kind), op.file)
            });
        let e = ReadError::Transport { step, file, source };
        self.error = Some(e.clone());
        e
    }

    /// Takes the R-APDU of the last [`ReadAction::Transmit`].
    pub fn handle_response(&mut self, rapdu: &[u8]) -> Result<(), ReadError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let Some((op, mut ex)) = self.current.take().filter(|_| self.in_flight) else {
            let e = ReadError::ApiMisuse("handle_response() without a transmitted command");
            self.error = Some(e.clone());
            return Err(e);
        };
        self.in_flight = false;
        self.stats.bytes_received += rapdu.len() as u64;
        let result = match ex.handle_response(rapdu) {
            Ok(None) => {
                self.current = Some((op, ex));
                return Ok(());
            }
            Ok(Some(rsp)) => self.on_response(&op, rsp),
            Err(e) => Err(ReadError::Malformed {
                step: step_of(op.kind),
                file: op.file,
                detail: e.to_string(),
            }),
        };
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.ops.clear();
        }
        result
    }

    fn on_response(&mut self, op: &Op, rsp: Response) -> Result<(), ReadError> {
        let step = step_of(op.kind);
        let status = || ReadError::Status {
            step,
            file: op.file,
            sw: rsp.sw,
        };
        let malformed = |detail: String| ReadError::Malformed {
            step,
            file: op.file,
            detail,
        };
        match op.kind {
            OpKind::SelectApp | OpKind::SelectEf => {
                if rsp.sw.is_ok() {
                    Ok(())
                } else {
                    Err(status())
                }
            }
            OpKind::Header => {
                // A file shorter than the header read ends early with 6282; that is fine.
                if !rsp.sw.is_ok() && rsp.sw != StatusWord::EndOfFile {
                    return Err(status());
                }
                let Some(ef) = op.file else {
                    return Err(ReadError::ApiMisuse("header read without a file"));
                };
                let h = tlv::parse_header(&rsp.data)
                    .map_err(|e| malformed(format!("file header does not parse: {e}")))?;
                let total = h.total_len();
                if total > MAX_FILE {
                    return Err(ReadError::TooLarge {
                        file: ef,
                        size: total,
                    });
                }
                self.buf = rsp.data;
                self.total = total;
                if self.buf.len() >= total {
                    self.buf.truncate(total);
                    return self.file_done(ef);
                }
                self.queue_body(ef)
            }
            OpKind::Body { len } => {
                if !rsp.sw.is_ok() && rsp.sw != StatusWord::EndOfFile {
                    return Err(status());
                }
                let data = if op.cmd.ins & 1 == 1 {
                    let t = tlv::parse_strict(&rsp.data)
                        .map_err(|e| malformed(format!("answer is not one DO 53: {e}")))?;
                    tlv::primitive_value(&t)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default()
                } else {
                    rsp.data
                };
                if data.is_empty() || data.len() > len {
                    return Err(malformed(format!(
                        "READ BINARY returned {} bytes, asked for {len}",
                        data.len()
                    )));
                }
                self.buf.extend_from_slice(&data);
                if data.len() < len
                    && let Some(ef) = op.file
                {
                    // Quirk: a card whose I/O buffer is smaller than what the reader passes answers
                    // fewer bytes than asked, with 9000 (the ecard-sim card OS's 4096-byte buffer
                    // behind vpcd, which passes 65533). Learn the card's size and re-plan the rest
                    // of this file; every answer moves the offset, so this ends.
                    self.opts.limits.max_response_data = data.len();
                    self.ops
                        .retain(|o| !(o.file == Some(ef) && matches!(o.kind, OpKind::Body { .. })));
                    if self.buf.len() < self.total {
                        return self.queue_body(ef);
                    }
                }
                match op.file {
                    Some(ef) if self.buf.len() >= self.total => self.file_done(ef),
                    _ => Ok(()),
                }
            }
        }
    }

    fn queue_body(&mut self, ef: EfId) -> Result<(), ReadError> {
        let max_r = self.opts.limits.max_response_data.max(4);
        let mut offset = self.buf.len();
        let mut body = Vec::new();
        while offset < self.total {
            let remaining = self.total - offset;
            let (cmd, n) = if offset <= MAX_EVEN_INS_OFFSET {
                let n = remaining.min(max_r);
                (Command::read_binary(offset as u16, n), n)
            } else if self.opts.large_offsets == LargeOffsets::OddIns {
                let mut n = remaining.min(max_r);
                while n > 1 && n + do53_header(n) > max_r {
                    n -= 1;
                }
                (Command::read_binary_odd(offset, n + do53_header(n)), n)
            } else {
                return Err(ReadError::TooLarge {
                    file: ef,
                    size: self.total,
                });
            };
            body.push(Op {
                kind: OpKind::Body { len: n },
                file: Some(ef),
                cmd,
            });
            offset += n;
        }
        // The body reads go before anything already queued (the next files).
        for op in body.into_iter().rev() {
            self.ops.push_front(op);
        }
        Ok(())
    }

    fn file_done(&mut self, ef: EfId) -> Result<(), ReadError> {
        let bytes = std::mem::take(&mut self.buf);
        if ef == EfId::Com {
            let dgs = com_data_groups(&bytes)?;
            for dg in dgs {
                self.queue_file(dg);
            }
            self.queue_file(EfId::Sod);
        }
        self.files.insert(ef, bytes);
        Ok(())
    }
}

fn step_of(kind: OpKind) -> ReadStep {
    match kind {
        OpKind::SelectApp => ReadStep::SelectApplication,
        OpKind::SelectEf => ReadStep::SelectFile,
        OpKind::Header => ReadStep::ReadHeader,
        OpKind::Body { .. } => ReadStep::ReadBody,
    }
}

fn do53_header(n: usize) -> usize {
    1 + if n < 0x80 {
        1
    } else if n < 0x100 {
        2
    } else {
        3
    }
}

/// The data groups EF.COM lists in its tag list `5C`, in file order, without duplicates.
fn com_data_groups(com: &[u8]) -> Result<Vec<EfId>, ReadError> {
    let malformed = |detail: String| ReadError::Malformed {
        step: ReadStep::ReadBody,
        file: Some(EfId::Com),
        detail,
    };
    let h = tlv::parse_header(com).map_err(|e| malformed(format!("no TLV header: {e}")))?;
    if h.tag != EfId::Com.tag() || h.total_len() != com.len() {
        return Err(malformed(format!(
            "outer tag {:02X} of {} bytes, expected tag 60 filling all {} bytes",
            h.tag,
            h.total_len(),
            com.len()
        )));
    }
    let list = find_primitive(&com[h.header_len..], 0x5C)
        .ok_or_else(|| malformed("no tag list 5C".into()))?;
    let mut out = Vec::new();
    for tag in list {
        let ef = EfId::from_tag(u32::from(*tag))
            .filter(|ef| ef.dg_number().is_some())
            .ok_or(ReadError::UnknownDataGroup { tag: *tag })?;
        if !out.contains(&ef) {
            out.push(ef);
        }
    }
    out.sort();
    Ok(out)
}

/// The value of the first primitive object with `tag` among the objects filling `bytes`.
///
/// A small walk of its own because EF.COM carries ICAO tag 5F01 (LDS version), which the strict
/// parser in [`crate::tlv`] refuses (ISO/IEC 7816-4 calls a second tag byte under 1F invalid, and
/// `iso7816-tlv` agrees); only tag bytes and definite lengths are read here, bounds-checked.
fn find_primitive(bytes: &[u8], tag: u32) -> Option<&[u8]> {
    let mut pos = 0;
    while pos < bytes.len() {
        let first = *bytes.get(pos)?;
        let mut t = u32::from(first);
        let mut i = pos + 1;
        if first & 0x1F == 0x1F {
            loop {
                let b = *bytes.get(i)?;
                t = (t << 8) | u32::from(b);
                i += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if i - pos > 3 {
                    return None;
                }
            }
        }
        let l0 = *bytes.get(i)?;
        i += 1;
        let len = if l0 < 0x80 {
            usize::from(l0)
        } else {
            let n = usize::from(l0 & 0x7F);
            if n == 0 || n > 3 {
                return None;
            }
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(*bytes.get(i)?);
                i += 1;
            }
            len
        };
        let value = bytes.get(i..i.checked_add(len)?)?;
        if t == tag && first & 0x20 == 0 {
            return Some(value);
        }
        pos = i + len;
    }
    None
}
