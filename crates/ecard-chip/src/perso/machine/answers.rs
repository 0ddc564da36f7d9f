//! Judging the card's answers: which status words let personalization go on, what a blank check
//! or a read-back means, and parsing the key the chip generated.

use super::plan::wrap_fcp;
use super::*;

impl Personalizer {
    pub(super) fn on_response(&mut self, op: &Op, rsp: Response) -> Result<(), PersoErrorKind> {
        let status = |rsp: &Response| PersoErrorKind::Status {
            ins: op.cmd.ins,
            sw: rsp.sw,
        };
        if op.kind == OpKind::CheckBlank && self.profile.pace.offered && self.can.is_none() {
            // Before anything is written: the card stays blank.
            return Err(PersoErrorKind::MissingCan {
                profile: self.profile.name.clone(),
            });
        }
        match op.kind {
            OpKind::CheckBlank => match rsp.sw {
                StatusWord::FileNotFound if self.profile.filesystem.create_app_df => {
                    let fcp = tlv::encode(&tlv::constructed(0x62, {
                        let mut v = vec![
                            tlv::primitive(0x82, [0x38]),
                            tlv::primitive(0x83, self.profile.filesystem.df_fid.to_be_bytes()),
                            tlv::primitive(0x84, AID.to_vec()),
                        ];
                        if self.profile.filesystem.fcp_life_cycle {
                            v.push(tlv::primitive(
                                0x8A,
                                [self.profile.filesystem.life_cycle_on_create],
                            ));
                        }
                        v
                    }));
                    let extra = self.hook.extra_fcp(None);
                    let fcp = if extra.is_empty() {
                        fcp
                    } else {
                        wrap_fcp(&fcp, &extra)
                    };
                    self.push(
                        OpKind::CreateDf,
                        Step::CreateDf,
                        None,
                        None,
                        Command::create_file(fcp),
                    );
                    if self.profile.filesystem.select_after_create {
                        self.push(
                            OpKind::SelectDf,
                            Step::SelectDf,
                            None,
                            None,
                            Command::select_aid(&AID, false),
                        );
                    }
                    Ok(())
                }
                StatusWord::Ok if self.profile.filesystem.create_app_df => {
                    Err(PersoErrorKind::NotBlank(NotBlank::ApplicationExists))
                }
                StatusWord::Ok => {
                    if fcp_life_cycle(&rsp.data).is_some_and(|lcs| lcs >= 0x04) {
                        return Err(PersoErrorKind::NotBlank(NotBlank::Locked));
                    }
                    self.push(
                        OpKind::CheckNoCom,
                        Step::CheckBlank,
                        Some(EfId::Com),
                        None,
                        Command::select_ef(EfId::Com.fid()),
                    );
                    Ok(())
                }
                _ => Err(status(&rsp)),
            },
            OpKind::CheckNoCom => match rsp.sw {
                StatusWord::FileNotFound => Ok(()),
                StatusWord::Ok => Err(PersoErrorKind::NotBlank(NotBlank::HasFiles)),
                _ => Err(status(&rsp)),
            },
            OpKind::Read { len } => {
                if !rsp.sw.is_ok() && rsp.sw != StatusWord::EndOfFile {
                    return Err(status(&rsp));
                }
                let data = if op.cmd.ins & 1 == 1 {
                    let t =
                        tlv::parse_strict(&rsp.data).map_err(|e| PersoErrorKind::Malformed {
                            detail: format!("READ BINARY answer is not one DO 53: {e}"),
                        })?;
                    tlv::primitive_value(&t)
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default()
                } else {
                    rsp.data
                };
                if data.len() != len {
                    return Err(PersoErrorKind::Malformed {
                        detail: format!(
                            "READ BINARY returned {} bytes, asked for {len}",
                            data.len()
                        ),
                    });
                }
                self.readback.extend_from_slice(&data);
                self.check_readback(op.file)
            }
            OpKind::SelectForVerify if rsp.sw == StatusWord::SecurityStatusNotSatisfied => {
                // A card that refuses even the SELECT once locked (a PACE card outside secure
                // messaging, a closed SCP03 channel): the lock holds, and the write probe has
                // nothing to add.
                self.ops.retain(|o| o.kind != OpKind::VerifyWrite);
                self.lock = Some(LockOutcome::Locked {
                    write_refused_with: rsp.sw,
                });
                Ok(())
            }
            OpKind::VerifyWrite => {
                if rsp.sw.is_ok() {
                    return Err(PersoErrorKind::LockNotEffective { sw: rsp.sw });
                }
                self.lock = Some(LockOutcome::Locked {
                    write_refused_with: rsp.sw,
                });
                Ok(())
            }
            OpKind::Generate => {
                if !rsp.sw.is_ok() {
                    return Err(status(&rsp));
                }
                self.touched = true;
                self.aa_key = Some(parse_7f49(&rsp.data)?);
                Ok(())
            }
            kind => {
                if !rsp.sw.is_ok() {
                    return Err(status(&rsp));
                }
                if is_modifying(kind) {
                    self.touched = true;
                }
                Ok(())
            }
        }
    }

    pub(super) fn check_readback(&mut self, file: Option<EfId>) -> Result<(), PersoErrorKind> {
        let Some(ef) = file else {
            return Ok(());
        };
        let Some(expected) = self.files.as_ref().and_then(|f| f.get(&ef)) else {
            return Ok(());
        };
        if self.readback.len() < expected.len() {
            return Ok(());
        }
        let got = std::mem::take(&mut self.readback);
        let want = Sha256::digest(expected);
        let have = Sha256::digest(&got);
        if want != have {
            return Err(PersoErrorKind::ReadBackMismatch {
                expected_len: expected.len(),
                expected_sha256: hex(&want),
                got_len: got.len(),
                got_sha256: hex(&have),
            });
        }
        let ef_size = self
            .ef_sizes
            .iter()
            .find(|(e, _)| *e == ef)
            .map_or(expected.len(), |(_, s)| *s);
        self.written.push(WrittenFile {
            ef,
            len: expected.len(),
            ef_size,
            sha256: want.into(),
        });
        Ok(())
    }
}

fn fcp_life_cycle(fcp: &[u8]) -> Option<u8> {
    let t = tlv::parse_strict(fcp).ok()?;
    tlv::children(&t)
        .iter()
        .find(|c| tlv::tag_number(c.tag()) == 0x8A)
        .and_then(|c| tlv::primitive_value(c)?.first().copied())
}

fn parse_7f49(data: &[u8]) -> Result<PublicKey, PersoErrorKind> {
    let malformed = |detail: String| PersoErrorKind::Malformed { detail };
    let t = tlv::parse_strict(data)
        .map_err(|e| malformed(format!("key answer is not one TLV: {e}")))?;
    if tlv::tag_number(t.tag()) != 0x7F49 {
        return Err(malformed(format!(
            "key answer has tag {:X}, expected 7F49",
            tlv::tag_number(t.tag())
        )));
    }
    let point = tlv::children(&t)
        .iter()
        .find(|c| tlv::tag_number(c.tag()) == 0x86)
        .and_then(tlv::primitive_value)
        .ok_or_else(|| malformed("key answer 7F49 has no point (tag 86)".into()))?;
    if point.len() != 65 || point[0] != 0x04 {
        return Err(malformed(format!(
            "key point has {} bytes, expected a 65-byte uncompressed P-256 point",
            point.len()
        )));
    }
    PublicKey::from_sec1_bytes(point).map_err(|_| malformed("key point is not on P-256".into()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
