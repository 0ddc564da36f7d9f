//! The plan: which commands personalization sends, phase by phase, and how files are cut into
//! APDUs. Pure functions of the profile, the link limits and the files.

use super::*;

impl Personalizer {
    pub(super) fn advance(&mut self) -> Result<(), PersoErrorKind> {
        match self.phase {
            Phase::Checking => {
                if self.profile.pace.offered && self.can.is_none() {
                    return Err(PersoErrorKind::MissingCan {
                        profile: self.profile.name.clone(),
                    });
                }
                self.phase = Phase::Setup;
                if self.profile.security.active_authentication {
                    self.push(
                        OpKind::Generate,
                        Step::GenerateKey,
                        None,
                        None,
                        Command::generate_key_pair(self.profile.security.aa_key_ref),
                    );
                }
                if self.profile.pace.offered
                    && let Some(can) = self.can.clone()
                {
                    // CHANGE REFERENCE DATA, P1 01 (new reference data only), P2 02 (the CAN):
                    // the card OS keeps it as a key object and never answers with it.
                    self.push(
                        OpKind::SetCan,
                        Step::SetCan,
                        None,
                        None,
                        Command::new(0x00, 0x24, 0x01, crate::pace::PASSWORD_CAN)
                            .with_data(can.into_bytes()),
                    );
                }
            }
            Phase::Setup => {
                self.phase = Phase::AwaitFiles;
                if self.files.is_some() {
                    self.plan_writes();
                }
            }
            Phase::AwaitFiles => {}
            Phase::Writing => self.plan_reads(),
            Phase::Reading => match self.profile.security.lock {
                LockMethod::ActivateDf => {
                    self.phase = Phase::Locking;
                    self.push(
                        OpKind::SelectForLock,
                        Step::Lock,
                        None,
                        None,
                        Command::select_aid(&AID, false),
                    );
                    self.push(
                        OpKind::Activate,
                        Step::Lock,
                        None,
                        None,
                        Command::activate_current(),
                    );
                }
                LockMethod::None => {
                    self.lock = Some(LockOutcome::NotLockable);
                    self.phase = Phase::Done;
                }
            },
            Phase::Locking => {
                self.phase = Phase::Verifying;
                let probe = self
                    .files
                    .as_ref()
                    .and_then(|f| f.get(&EfId::Com))
                    .and_then(|c| c.first().copied())
                    .unwrap_or(0x60);
                let f = Some(EfId::Com);
                self.push(
                    OpKind::SelectForVerify,
                    Step::VerifyLock,
                    f,
                    None,
                    Command::select_ef(EfId::Com.fid()),
                );
                self.push(
                    OpKind::VerifyWrite,
                    Step::VerifyLock,
                    f,
                    Some(0),
                    Command::update_binary(0, vec![probe]),
                );
            }
            Phase::Verifying => self.phase = Phase::Done,
            Phase::Done => {}
        }
        Ok(())
    }

    pub(super) fn ef_size(&self, len: usize) -> usize {
        len.saturating_add(self.profile.filesystem.file_slack)
            .min(self.profile.filesystem.max_file_size)
            .max(len)
    }

    pub(super) fn check_files(
        &self,
        files: &LdsFiles,
    ) -> Result<(), (Option<EfId>, PersoErrorKind)> {
        let invalid =
            |ef: Option<EfId>, reason: String| (ef, PersoErrorKind::InvalidFiles { reason });
        for required in [EfId::Com, EfId::Dg1, EfId::Sod] {
            if !files.contains_key(&required) {
                return Err(invalid(Some(required), format!("{required} is missing")));
            }
        }
        for (ef, bytes) in files {
            // Only the outer TLV is checked here (tag, one object, exact length): the content is
            // the LDS builder's and the verifier's business. A deep strict parse would also
            // refuse EF.COM, whose ICAO tag 5F01 is outside ISO/IEC 7816-4's tag rules.
            let h = tlv::parse_header(bytes).map_err(|e| {
                invalid(
                    Some(*ef),
                    format!("{ef} does not start with a TLV header: {e}"),
                )
            })?;
            if h.tag != ef.tag() {
                return Err(invalid(
                    Some(*ef),
                    format!("{ef} has tag {:02X}, expected {:02X}", h.tag, ef.tag()),
                ));
            }
            if h.total_len() != bytes.len() {
                return Err(invalid(
                    Some(*ef),
                    format!(
                        "{ef} is {} bytes but its TLV says {}",
                        bytes.len(),
                        h.total_len()
                    ),
                ));
            }
            let max = self.profile.filesystem.max_file_size;
            if bytes.len() > max {
                return Err(invalid(
                    Some(*ef),
                    format!(
                        "{ef} has {} bytes, over the profile's {max}-byte file limit",
                        bytes.len()
                    ),
                ));
            }
            if bytes.len() > MAX_EVEN_INS_OFFSET + 1
                && self.profile.read.large_offsets == LargeOffsets::None
            {
                return Err(invalid(
                    Some(*ef),
                    format!(
                        "{ef} has {} bytes but the profile cannot reach offsets over 32767",
                        bytes.len()
                    ),
                ));
            }
        }
        match (&self.aa_key, files.get(&EfId::Dg15)) {
            (Some(key), Some(dg15)) => {
                // DG15 = 6F { SubjectPublicKeyInfo }: the value is the SPKI's DER.
                let in_file = tlv::parse_header(dg15)
                    .ok()
                    .and_then(|h| dg15.get(h.header_len..))
                    .and_then(|der| PublicKey::from_public_key_der(der).ok());
                if in_file.as_ref() != Some(key) {
                    return Err(invalid(
                        Some(EfId::Dg15),
                        "DG15 does not hold the public key the chip generated".into(),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(invalid(
                    Some(EfId::Dg15),
                    "DG15 is missing but the chip holds an Active Authentication key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    Some(EfId::Dg15),
                    "DG15 is present but this card OS holds no Active Authentication key".into(),
                ));
            }
            (None, None) => {}
        }
        Ok(())
    }

    pub(super) fn plan_writes(&mut self) {
        self.phase = Phase::Writing;
        let Some(files) = self.files.take() else {
            return;
        };
        let fs = self.profile.filesystem.clone();
        let max_c = self.limits.max_command_data.max(1);
        for ef in EfId::ALL {
            let Some(content) = files.get(&ef) else {
                continue;
            };
            let size = self.ef_size(content.len());
            self.ef_sizes.push((ef, size));
            let mut fcp = vec![
                tlv::primitive(0x80, (size as u16).to_be_bytes()),
                tlv::primitive(0x82, [0x01]),
                tlv::primitive(0x83, ef.fid().to_be_bytes()),
            ];
            if fs.fcp_sfi {
                // SFI in bits 8..4 (ISO/IEC 7816-4 table 12).
                fcp.push(tlv::primitive(0x88, [ef.sfi() << 3]));
            }
            if fs.fcp_life_cycle {
                fcp.push(tlv::primitive(0x8A, [fs.life_cycle_on_create]));
            }
            let mut fcp = tlv::encode(&tlv::constructed(0x62, fcp));
            let extra = self.hook.extra_fcp(Some(ef));
            if !extra.is_empty() {
                // Re-wrap so the extra objects sit inside the template.
                fcp = wrap_fcp(&fcp, &extra);
            }
            self.push(
                OpKind::CreateEf,
                Step::CreateEf,
                Some(ef),
                None,
                Command::create_file(fcp),
            );
            if fs.select_after_create {
                self.push(
                    OpKind::SelectEf,
                    Step::SelectEf,
                    Some(ef),
                    None,
                    Command::select_ef(ef.fid()),
                );
            }
            let mut offset = 0;
            while offset < content.len() {
                let remaining = content.len() - offset;
                let (cmd, n) = if offset <= MAX_EVEN_INS_OFFSET {
                    let n = remaining.min(max_c);
                    let chunk = content[offset..offset + n].to_vec();
                    (Command::update_binary(offset as u16, chunk), n)
                } else {
                    // Odd INS: DO 54 and the DO 53 header share the data field with the chunk.
                    let mut n = remaining.min(max_c);
                    while n > 1 && n + Command::odd_ins_overhead(offset, n) > max_c {
                        n -= 1;
                    }
                    (
                        Command::update_binary_odd(offset, &content[offset..offset + n]),
                        n,
                    )
                };
                self.push(OpKind::Write, Step::Write, Some(ef), Some(offset), cmd);
                offset += n;
            }
        }
        self.files = Some(files);
    }

    pub(super) fn plan_reads(&mut self) {
        self.phase = Phase::Reading;
        let Some(files) = self.files.take() else {
            return;
        };
        let max_r = self.limits.max_response_data.max(3);
        for ef in EfId::ALL {
            let Some(content) = files.get(&ef) else {
                continue;
            };
            self.push(
                OpKind::SelectEf,
                Step::ReadBack,
                Some(ef),
                None,
                Command::select_ef(ef.fid()),
            );
            let mut offset = 0;
            while offset < content.len() {
                let remaining = content.len() - offset;
                let (cmd, n) = if offset <= MAX_EVEN_INS_OFFSET {
                    let n = remaining.min(max_r);
                    (Command::read_binary(offset as u16, n), n)
                } else {
                    let mut n = remaining.min(max_r);
                    while n > 1 && n + do53_header(n) > max_r {
                        n -= 1;
                    }
                    (Command::read_binary_odd(offset, n + do53_header(n)), n)
                };
                self.push(
                    OpKind::Read { len: n },
                    Step::ReadBack,
                    Some(ef),
                    Some(offset),
                    cmd,
                );
                offset += n;
            }
        }
        self.files = Some(files);
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

pub(super) fn wrap_fcp(fcp: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut inner = match tlv::parse_strict(fcp) {
        Ok(t) => tlv::children(&t)
            .iter()
            .flat_map(tlv::encode)
            .collect::<Vec<u8>>(),
        Err(_) => Vec::new(),
    };
    inner.extend_from_slice(extra);
    let mut out = vec![0x62];
    tlv::encode_length(inner.len(), &mut out);
    out.extend(inner);
    out
}
