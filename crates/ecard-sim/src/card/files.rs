//! SELECT (by FID, child, parent, AID, path) with FCP answers, and CREATE FILE from an FCP
//! template, with the memory and duplicate checks.

use super::*;

impl Card {
    pub(super) fn select(&mut self, cmd: &Command) -> Answer {
        if !matches!(cmd.p2, 0x00 | 0x04 | 0x0C) {
            return Err(StatusWord::IncorrectP1P2);
        }
        let d = &cmd.data;
        let fid_at =
            |i: usize| -> Option<u16> { Some(u16::from_be_bytes([*d.get(i)?, *d.get(i + 1)?])) };
        let target = match cmd.p1 {
            0x00 if d.is_empty() => Some(0),
            0x00..=0x02 => {
                if d.len() != 2 {
                    return Err(StatusWord::WrongLength);
                }
                let fid = fid_at(0).ok_or(StatusWord::WrongLength)?;
                let found = if fid == 0x3F00 && cmd.p1 == 0x00 {
                    Some(0)
                } else {
                    self.fs.child_by_fid(self.current_df, fid)
                };
                found.filter(|f| match cmd.p1 {
                    0x01 => self.fs.is_df(*f),
                    0x02 => !self.fs.is_df(*f),
                    _ => true,
                })
            }
            0x03 => {
                if !d.is_empty() {
                    return Err(StatusWord::WrongLength);
                }
                self.fs.get(self.current_df).and_then(|n| n.parent)
            }
            0x04 => self.fs.df_by_name(d),
            0x08 | 0x09 => {
                if d.is_empty() || !d.len().is_multiple_of(2) {
                    return Err(StatusWord::WrongLength);
                }
                let mut cur = Some(if cmd.p1 == 0x08 { 0 } else { self.current_df });
                for i in (0..d.len()).step_by(2) {
                    cur = match (cur, fid_at(i)) {
                        (Some(c), Some(fid)) if self.fs.is_df(c) => self.fs.child_by_fid(c, fid),
                        _ => None,
                    };
                }
                cur
            }
            _ => return Err(StatusWord::IncorrectP1P2),
        };
        let target = target.ok_or(StatusWord::FileNotFound)?;
        if self.fs.is_df(target) {
            self.current_df = target;
            self.current_ef = None;
        } else {
            self.current_df = self.fs.get(target).and_then(|n| n.parent).unwrap_or(0);
            self.current_ef = Some(target);
        }
        if cmd.p2 == 0x0C {
            Ok(Vec::new())
        } else {
            Ok(self.fcp(target))
        }
    }

    pub(super) fn fcp(&self, i: usize) -> Vec<u8> {
        let Some(n) = self.fs.get(i) else {
            return Vec::new();
        };
        let mut objs = Vec::new();
        match &n.kind {
            NodeKind::Ef { sfi, data } => {
                objs.push(tlv::primitive(0x80, (data.len() as u16).to_be_bytes()));
                objs.push(tlv::primitive(0x82, [0x01]));
                objs.push(tlv::primitive(0x83, n.fid.to_be_bytes()));
                if let Some(s) = sfi {
                    objs.push(tlv::primitive(0x88, [*s << 3]));
                }
            }
            NodeKind::Df { name, .. } => {
                objs.push(tlv::primitive(0x82, [0x38]));
                objs.push(tlv::primitive(0x83, n.fid.to_be_bytes()));
                if !name.is_empty() {
                    objs.push(tlv::primitive(0x84, name.clone()));
                }
            }
        }
        objs.push(tlv::primitive(0x8A, [n.lcs]));
        tlv::encode(&tlv::constructed(0x62, objs))
    }

    pub(super) fn create_file(&mut self, cmd: &Command) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        let fcp = tlv::parse_strict(&cmd.data).map_err(|_| StatusWord::IncorrectData)?;
        if tlv::tag_number(fcp.tag()) != 0x62 {
            return Err(StatusWord::IncorrectData);
        }
        let mut size = None;
        let mut descriptor = None;
        let mut fid = None;
        let mut name = Vec::new();
        let mut sfi: Option<Option<u8>> = None;
        let mut lcs = LCS_INITIALISATION;
        for o in tlv::children(&fcp) {
            let v = tlv::primitive_value(o).ok_or(StatusWord::IncorrectData)?;
            match tlv::tag_number(o.tag()) {
                0x80 | 0x81 if !v.is_empty() && v.len() <= 3 => {
                    size = Some(v.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)));
                }
                0x82 if !v.is_empty() => descriptor = Some(v[0]),
                0x83 if v.len() == 2 => fid = Some(u16::from_be_bytes([v[0], v[1]])),
                0x84 if !v.is_empty() && v.len() <= 16 => name = v.to_vec(),
                // 88 with no value: no short id; one byte: the SFI in bits 8 to 4 (ISO/IEC 7816-4
                // table 12), bits 3 to 1 zero.
                0x88 if v.is_empty() => sfi = Some(None),
                0x88 if v.len() == 1 => {
                    let s = v[0] >> 3;
                    if v[0] & 0x07 != 0 || s == 0 || s > 30 {
                        return Err(StatusWord::IncorrectData);
                    }
                    sfi = Some(Some(s));
                }
                0x8A if v.len() == 1 => lcs = v[0],
                0x80..=0x8F => return Err(StatusWord::IncorrectData),
                _ => {}
            }
        }
        let fid = fid.ok_or(StatusWord::IncorrectData)?;
        if matches!(fid, 0x3F00 | 0x3FFF | 0xFFFF) {
            return Err(StatusWord::IncorrectData);
        }
        let parent = self.current_df;
        if parent != 0 && !self.fs.writable(parent) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        if self.fs.child_by_fid(parent, fid).is_some() {
            return Err(StatusWord::FileExists);
        }
        let idx = match descriptor {
            Some(0x38) => {
                if self.fs.df_by_name(&name).is_some() {
                    return Err(StatusWord::DfNameExists);
                }
                self.reserve(crate::fs::DF_OVERHEAD + name.len())?;
                let idx = self.fs.add(
                    parent,
                    fid,
                    lcs,
                    NodeKind::Df {
                        name,
                        children: Vec::new(),
                        keys: Vec::new(),
                    },
                );
                self.current_df = idx;
                self.current_ef = None;
                idx
            }
            Some(0x01) => {
                let size = size.ok_or(StatusWord::IncorrectData)?;
                let sfi = sfi.unwrap_or(Some((fid & 0x1F) as u8)).filter(|s| *s != 0);
                if let Some(s) = sfi
                    && self.fs.child_by_sfi(parent, s).is_some()
                {
                    return Err(StatusWord::FileExists);
                }
                self.reserve(size)?;
                let idx = self.fs.add(
                    parent,
                    fid,
                    lcs,
                    NodeKind::Ef {
                        sfi,
                        data: vec![0; size],
                    },
                );
                self.current_ef = Some(idx);
                idx
            }
            _ => return Err(StatusWord::IncorrectData),
        };
        let _ = idx;
        Ok(Vec::new())
    }

    pub(super) fn reserve(&self, bytes: usize) -> Result<(), StatusWord> {
        if self.fs.used().saturating_add(bytes) > self.spec.eeprom_size {
            Err(StatusWord::NotEnoughMemory)
        } else {
            Ok(())
        }
    }
}
