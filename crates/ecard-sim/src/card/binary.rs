//! READ BINARY and UPDATE BINARY: even INS with P1-P2 offsets or SFI, odd INS with DO 54/53;
//! page accounting and the tear fault for writes.

use super::*;

impl Card {
    /// The EF a READ/UPDATE BINARY addresses and the offset: even INS uses P1-P2 (SFI when bit 8
    /// of P1 is set); odd INS uses P1-P2 for the file and DO 54 for the offset.
    pub(super) fn binary_target(
        &mut self,
        cmd: &Command,
    ) -> Result<(usize, usize, Vec<u8>), StatusWord> {
        let odd = cmd.ins & 1 == 1;
        let (ef, offset, payload) = if !odd {
            if cmd.p1 & 0x80 != 0 {
                if cmd.p1 & 0x60 != 0 {
                    return Err(StatusWord::IncorrectP1P2);
                }
                let ef = self
                    .fs
                    .child_by_sfi(self.current_df, cmd.p1 & 0x1F)
                    .ok_or(StatusWord::FileNotFound)?;
                (ef, usize::from(cmd.p2), cmd.data.clone())
            } else {
                let ef = self.current_ef.ok_or(StatusWord::NoCurrentEf)?;
                (
                    ef,
                    usize::from(u16::from_be_bytes([cmd.p1, cmd.p2])),
                    cmd.data.clone(),
                )
            }
        } else {
            let ef = match (cmd.p1, cmd.p2) {
                (0, 0) => self.current_ef.ok_or(StatusWord::NoCurrentEf)?,
                (0, s) if s <= 0x1F => self
                    .fs
                    .child_by_sfi(self.current_df, s)
                    .ok_or(StatusWord::FileNotFound)?,
                (a, b) => self
                    .fs
                    .child_by_fid(self.current_df, u16::from_be_bytes([a, b]))
                    .filter(|f| !self.fs.is_df(*f))
                    .ok_or(StatusWord::FileNotFound)?,
            };
            let objs = tlv::parse_all_strict(&cmd.data).map_err(|_| StatusWord::IncorrectData)?;
            let mut offset = 0usize;
            let mut payload = Vec::new();
            for o in &objs {
                let v = tlv::primitive_value(o).ok_or(StatusWord::IncorrectData)?;
                match tlv::tag_number(o.tag()) {
                    0x54 if !v.is_empty() && v.len() <= 3 => {
                        offset = v.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
                    }
                    0x53 => payload = v.to_vec(),
                    _ => return Err(StatusWord::IncorrectData),
                }
            }
            (ef, offset, payload)
        };
        if self.fs.is_df(ef) {
            return Err(StatusWord::NoCurrentEf);
        }
        self.current_ef = Some(ef);
        Ok((ef, offset, payload))
    }

    pub(super) fn read_binary(
        &mut self,
        cmd: &Command,
        ne: usize,
    ) -> Result<(Vec<u8>, StatusWord), StatusWord> {
        let odd = cmd.ins & 1 == 1;
        let asked = cmd.le.ok_or(StatusWord::WrongLength)?;
        let (ef, offset, _) = self.binary_target(cmd)?;
        let Some(NodeKind::Ef { data, .. }) = self.fs.get(ef).map(|n| &n.kind) else {
            return Err(StatusWord::NoCurrentEf);
        };
        if offset > data.len() {
            return Err(StatusWord::WrongP1P2);
        }
        let avail = data.len() - offset;
        let room = if odd {
            // DO 53 header inside Ne: tag, and a length of 1 to 3 bytes.
            let hdr = |n: usize| {
                1 + if n < 0x80 {
                    1
                } else if n < 0x100 {
                    2
                } else {
                    3
                }
            };
            let mut n = ne.saturating_sub(2);
            while n > 0 && n + hdr(n) > ne {
                n -= 1;
            }
            n
        } else {
            ne
        };
        let n = room.min(avail);
        let chunk = data[offset..offset + n].to_vec();
        let sw = if n == avail && n < room.min(asked) {
            StatusWord::EndOfFile
        } else {
            StatusWord::Ok
        };
        let out = if odd {
            tlv::encode(&tlv::primitive(0x53, chunk))
        } else {
            chunk
        };
        Ok((out, sw))
    }

    pub(super) fn update_binary(&mut self, cmd: &Command) -> Answer {
        let (ef, offset, payload) = self.binary_target(cmd)?;
        if payload.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        if !self.fs.writable(ef) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let page = self.spec.page_size.max(1);
        let budget = self.write_budget;
        let Some(crate::fs::Node {
            kind: NodeKind::Ef { data, .. },
            ..
        }) = self.fs.nodes.get_mut(ef)
        else {
            return Err(StatusWord::NoCurrentEf);
        };
        let end = offset
            .checked_add(payload.len())
            .ok_or(StatusWord::WrongP1P2)?;
        if end > data.len() {
            return Err(StatusWord::NotEnoughMemory);
        }
        // A tear leaves the bytes before it written, as an EEPROM does when power goes mid-write.
        let n = budget.map_or(payload.len(), |b| b.min(payload.len()));
        data[offset..offset + n].copy_from_slice(&payload[..n]);
        if n > 0 {
            self.pages_last = (offset + n - 1) / page - offset / page + 1;
        }
        self.bytes_written += n;
        if let Some(b) = budget {
            self.write_budget = Some(b - n);
            if n < payload.len() {
                self.torn = true;
                self.powered = false;
                return Err(StatusWord::MemoryFailure);
            }
        }
        Ok(Vec::new())
    }
}
