//! Command APDUs (ISO/IEC 7816-4 section 5.1): the four cases in short and extended length.
//!
//! [`Command::encode`] picks the short form whenever it fits and the extended form otherwise;
//! [`Command::parse`] reads either (the simulator uses it). Command chaining is not done here but in
//! [`super::Exchange`], which knows the link's limits.

use super::ApduError;

/// Instruction bytes used by this project.
pub mod ins {
    /// ACTIVATE FILE (ISO/IEC 7816-9).
    pub const ACTIVATE_FILE: u8 = 0x44;
    /// GENERATE ASYMMETRIC KEY PAIR (ISO/IEC 7816-8).
    pub const GENERATE_ASYMMETRIC_KEY_PAIR: u8 = 0x46;
    /// GET CHALLENGE.
    pub const GET_CHALLENGE: u8 = 0x84;
    /// MANAGE SECURITY ENVIRONMENT (PACE: MSE:Set AT).
    pub const MANAGE_SECURITY_ENVIRONMENT: u8 = 0x22;
    /// CHANGE REFERENCE DATA (the CAN, written during personalization).
    pub const CHANGE_REFERENCE_DATA: u8 = 0x24;
    /// GENERAL AUTHENTICATE (the PACE steps).
    pub const GENERAL_AUTHENTICATE: u8 = 0x86;
    /// INTERNAL AUTHENTICATE.
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// READ BINARY, offset in P1-P2.
    pub const READ_BINARY: u8 = 0xB0;
    /// READ BINARY, odd INS: offset in data object 54.
    pub const READ_BINARY_ODD: u8 = 0xB1;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
    /// UPDATE BINARY, offset in P1-P2.
    pub const UPDATE_BINARY: u8 = 0xD6;
    /// UPDATE BINARY, odd INS: offset in data object 54, data in 53.
    pub const UPDATE_BINARY_ODD: u8 = 0xD7;
    /// CREATE FILE (ISO/IEC 7816-9).
    pub const CREATE_FILE: u8 = 0xE0;
}

/// The largest offset P1-P2 can carry in READ/UPDATE BINARY with an even INS (bit 8 of P1 clear).
pub const MAX_EVEN_INS_OFFSET: usize = 0x7FFF;

/// One command APDU.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty for cases 1 and 2).
    pub data: Vec<u8>,
    /// Ne, the most response bytes expected (1..=65536), or `None` for cases 1 and 3.
    pub le: Option<usize>,
}

impl std::fmt::Debug for Command {
    // The data may be holder data being written: show the header and sizes only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Command {{ {:02X} {:02X} {:02X} {:02X}, data_len: {}, le: {:?} }}",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Command {
    /// A case 1 command (no data, no response data).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Command {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Sets the command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Command {
        self.data = data.into();
        self
    }

    /// Sets Ne, the number of response bytes expected (256 is short `00`, 65536 extended `0000`).
    pub fn with_le(mut self, ne: usize) -> Command {
        self.le = Some(ne);
        self
    }

    /// Whether [`Command::encode`] needs the extended form.
    pub fn needs_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|n| n > 256)
    }

    /// Encodes in the short form when it fits, otherwise in the extended form.
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        self.encode_form(self.needs_extended())
    }

    /// Encodes in the extended form even where the short form would fit.
    pub fn encode_extended(&self) -> Result<Vec<u8>, ApduError> {
        self.encode_form(true)
    }

    /// Size of [`Command::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let ext = self.needs_extended();
        let lc = match (self.data.is_empty(), ext) {
            (true, _) => 0,
            (false, false) => 1,
            (false, true) => 3,
        };
        let le = match (self.le, ext, self.data.is_empty()) {
            (None, _, _) => 0,
            (Some(_), false, _) => 1,
            (Some(_), true, true) => 3,
            (Some(_), true, false) => 2,
        };
        4 + lc + self.data.len() + le
    }

    fn encode_form(&self, extended: bool) -> Result<Vec<u8>, ApduError> {
        if self.data.len() > 65535 {
            return Err(ApduError::DataTooLong {
                len: self.data.len(),
            });
        }
        if let Some(ne) = self.le
            && !(1..=65536).contains(&ne)
        {
            return Err(ApduError::BadLe { ne });
        }
        let mut out = Vec::with_capacity(self.data.len() + 9);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if extended {
            if !self.data.is_empty() {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                if self.data.is_empty() {
                    out.push(0);
                }
                // Ne = 65536 is written 0000 (ISO/IEC 7816-4 5.1).
                out.extend_from_slice(&((ne % 65536) as u16).to_be_bytes());
            }
        } else {
            if !self.data.is_empty() {
                out.push(self.data.len() as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                // Ne = 256 is written 00.
                out.push((ne % 256) as u8);
            }
        }
        Ok(out)
    }

    /// Parses a C-APDU of any case, short or extended.
    pub fn parse(bytes: &[u8]) -> Result<Command, ApduError> {
        let len = bytes.len();
        if len < 4 {
            return Err(ApduError::CommandTooShort { len });
        }
        let mut cmd = Command::new(bytes[0], bytes[1], bytes[2], bytes[3]);
        let body = &bytes[4..];
        match body.len() {
            0 => {}
            1 => {
                cmd.le = Some(if body[0] == 0 {
                    256
                } else {
                    usize::from(body[0])
                })
            }
            _ if body[0] != 0 => {
                let lc = usize::from(body[0]);
                if body.len() == 1 + lc {
                    cmd.data = body[1..].to_vec();
                } else if body.len() == 2 + lc {
                    cmd.data = body[1..1 + lc].to_vec();
                    let le = body[1 + lc];
                    cmd.le = Some(if le == 0 { 256 } else { usize::from(le) });
                } else {
                    return Err(ApduError::BadLength {
                        len,
                        detail: "short Lc does not match the data",
                    });
                }
            }
            2 => {
                return Err(ApduError::BadLength {
                    len,
                    detail: "extended length needs at least 3 bytes after the header",
                });
            }
            3 => {
                let ne = usize::from(u16::from_be_bytes([body[1], body[2]]));
                cmd.le = Some(if ne == 0 { 65536 } else { ne });
            }
            _ => {
                let lc = usize::from(u16::from_be_bytes([body[1], body[2]]));
                if lc == 0 {
                    return Err(ApduError::BadLength {
                        len,
                        detail: "extended Lc of 0000",
                    });
                }
                if body.len() == 3 + lc {
                    cmd.data = body[3..].to_vec();
                } else if body.len() == 5 + lc {
                    cmd.data = body[3..3 + lc].to_vec();
                    let ne = usize::from(u16::from_be_bytes([body[3 + lc], body[4 + lc]]));
                    cmd.le = Some(if ne == 0 { 65536 } else { ne });
                } else {
                    return Err(ApduError::BadLength {
                        len,
                        detail: "extended Lc does not match the data",
                    });
                }
            }
        }
        Ok(cmd)
    }

    /// SELECT the MF by its file id 3F00, no response data.
    pub fn select_mf() -> Command {
        Command::new(0x00, ins::SELECT, 0x00, 0x0C).with_data([0x3F, 0x00])
    }

    /// SELECT a file by FID under the current DF (P1 00), no response data.
    pub fn select_fid(fid: u16) -> Command {
        Command::new(0x00, ins::SELECT, 0x00, 0x0C).with_data(fid.to_be_bytes())
    }

    /// SELECT an EF by FID under the current DF (P1 02), no response data.
    pub fn select_ef(fid: u16) -> Command {
        Command::new(0x00, ins::SELECT, 0x02, 0x0C).with_data(fid.to_be_bytes())
    }

    /// SELECT a DF by name (AID, P1 04); with `fcp` the card returns the FCP template.
    pub fn select_aid(aid: &[u8], fcp: bool) -> Command {
        let cmd =
            Command::new(0x00, ins::SELECT, 0x04, if fcp { 0x04 } else { 0x0C }).with_data(aid);
        if fcp { cmd.with_le(256) } else { cmd }
    }

    /// READ BINARY of the current EF at `offset` (at most 32767), `ne` bytes.
    pub fn read_binary(offset: u16, ne: usize) -> Command {
        let [p1, p2] = (offset & 0x7FFF).to_be_bytes();
        Command::new(0x00, ins::READ_BINARY, p1, p2).with_le(ne)
    }

    /// READ BINARY with odd INS B1 of the current EF: offset in DO 54, answer in DO 53.
    pub fn read_binary_odd(offset: usize, ne: usize) -> Command {
        Command::new(0x00, ins::READ_BINARY_ODD, 0x00, 0x00)
            .with_data(offset_do(offset))
            .with_le(ne)
    }

    /// UPDATE BINARY of the current EF at `offset` (at most 32767).
    pub fn update_binary(offset: u16, data: impl Into<Vec<u8>>) -> Command {
        let [p1, p2] = (offset & 0x7FFF).to_be_bytes();
        Command::new(0x00, ins::UPDATE_BINARY, p1, p2).with_data(data)
    }

    /// UPDATE BINARY with odd INS D7 of the current EF: DO 54 offset, DO 53 data.
    pub fn update_binary_odd(offset: usize, data: &[u8]) -> Command {
        let mut body = offset_do(offset);
        body.extend(crate::tlv::encode(&crate::tlv::primitive(0x53, data)));
        Command::new(0x00, ins::UPDATE_BINARY_ODD, 0x00, 0x00).with_data(body)
    }

    /// Bytes that DO 54 (offset) and the header of DO 53 add to `len` bytes of odd-INS data.
    pub fn odd_ins_overhead(offset: usize, len: usize) -> usize {
        let mut l = Vec::new();
        crate::tlv::encode_length(len, &mut l);
        offset_do(offset).len() + 1 + l.len()
    }

    /// CREATE FILE with an FCP template (tag 62).
    pub fn create_file(fcp: Vec<u8>) -> Command {
        Command::new(0x00, ins::CREATE_FILE, 0x00, 0x00).with_data(fcp)
    }

    /// ACTIVATE FILE on the current file.
    pub fn activate_current() -> Command {
        Command::new(0x00, ins::ACTIVATE_FILE, 0x00, 0x00)
    }

    /// GENERATE ASYMMETRIC KEY PAIR for key reference `key_ref` (answer: 7F49 public key).
    pub fn generate_key_pair(key_ref: u8) -> Command {
        Command::new(0x00, ins::GENERATE_ASYMMETRIC_KEY_PAIR, 0x00, key_ref).with_le(256)
    }

    /// INTERNAL AUTHENTICATE with `challenge`, default key (P2 00).
    pub fn internal_authenticate(challenge: &[u8]) -> Command {
        Command::new(0x00, ins::INTERNAL_AUTHENTICATE, 0x00, 0x00)
            .with_data(challenge)
            .with_le(256)
    }

    /// GET CHALLENGE of `ne` bytes.
    pub fn get_challenge(ne: usize) -> Command {
        Command::new(0x00, ins::GET_CHALLENGE, 0x00, 0x00).with_le(ne)
    }

    /// GET RESPONSE of `ne` bytes (after SW 61xx).
    pub fn get_response(ne: usize) -> Command {
        Command::new(0x00, ins::GET_RESPONSE, 0x00, 0x00).with_le(ne)
    }
}

/// DO 54 with the offset in the fewest bytes (at least one).
fn offset_do(offset: usize) -> Vec<u8> {
    let bytes = offset.to_be_bytes();
    let skip = bytes
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(bytes.len() - 1);
    crate::tlv::encode(&crate::tlv::primitive(0x54, &bytes[skip..]))
}
