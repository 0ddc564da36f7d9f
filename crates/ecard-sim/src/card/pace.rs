//! The chip's side of PACE (ECARD.md section 10): CHANGE REFERENCE DATA writes the CAN during
//! personalization, MSE:Set AT picks the protocol and password, four GENERAL AUTHENTICATE steps
//! agree the session keys, and the secure messaging session starts. The arithmetic and the
//! messaging are `ecard-chip`'s ([`ecard_chip::pace`], [`ecard_chip::sm`]), so the reader and the
//! card cannot drift apart; this module is the card OS's protocol state.

use ecard_chip::pace::{self, PaceInfo, Password};

use super::*;

/// PACE in progress on the card.
pub(crate) struct PaceState {
    info: PaceInfo,
    k_pi: Vec<u8>,
    step: u8,
    nonce: [u8; 16],
    sk_map: Vec<u8>,
    generator: Vec<u8>,
    pk_ifd: Vec<u8>,
    pk_ic: Vec<u8>,
    keys: Option<(Vec<u8>, Vec<u8>)>,
}

impl Card {
    pub(super) fn change_reference_data(&mut self, cmd: &Command) -> Answer {
        if self.spec.pace.is_empty() {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0x01 || cmd.p2 != pace::PASSWORD_CAN {
            return Err(StatusWord::IncorrectP1P2);
        }
        if cmd.data.len() != 6 || !cmd.data.iter().all(u8::is_ascii_digit) {
            return Err(StatusWord::IncorrectData);
        }
        // Only during personalization: inside an application DF that is not locked, once.
        if self.current_df == 0 || !self.fs.writable(self.current_df) || self.fs.can.is_some() {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        let can = String::from_utf8(cmd.data.clone()).map_err(|_| StatusWord::IncorrectData)?;
        self.fs.can = Some(crate::fs::Secret(can));
        Ok(Vec::new())
    }

    /// The MRZ password from DG1 of the e-card application (document number, birth and expiry
    /// dates of the TD1 MRZ).
    fn mrz_password(&self) -> Option<Password> {
        let df = self.fs.df_by_name(&ecard_chip::lds::AID)?;
        let ef = self.fs.child_by_fid(df, 0x0101)?;
        let NodeKind::Ef { data, .. } = &self.fs.get(ef)?.kind else {
            return None;
        };
        let (outer, _) = tlv::parse_strict_prefix(data).ok()?;
        let mrz = tlv::children(&outer)
            .iter()
            .find(|t| tlv::tag_number(t.tag()) == 0x5F1F)
            .and_then(tlv::primitive_value)?;
        let mrz = std::str::from_utf8(mrz).ok()?;
        let (doc, dob, doe) = (mrz.get(5..14)?, mrz.get(30..36)?, mrz.get(38..44)?);
        Password::mrz_key(&format!("{doc},{dob},{doe}")).ok()
    }

    pub(super) fn mse_set_at(&mut self, cmd: &Command) -> Answer {
        if self.spec.pace.is_empty() {
            return Err(StatusWord::InsNotSupported);
        }
        if (cmd.p1, cmd.p2) != (0xC1, 0xA4) {
            return Err(StatusWord::IncorrectP1P2);
        }
        self.pace = None;
        self.sm = None;
        let objs = tlv::parse_all_strict(&cmd.data).map_err(|_| StatusWord::IncorrectData)?;
        let mut oid = None;
        let mut pwd = None;
        let mut param = None;
        for o in &objs {
            let v = tlv::primitive_value(o).ok_or(StatusWord::IncorrectData)?;
            match tlv::tag_number(o.tag()) {
                0x80 => oid = Some(v.to_vec()),
                0x83 => pwd = v.first().copied().filter(|_| v.len() == 1),
                0x84 => param = v.first().copied().filter(|_| v.len() == 1),
                _ => {}
            }
        }
        let (Some(oid), Some(pwd)) = (oid, pwd) else {
            return Err(StatusWord::IncorrectData);
        };
        let offered = self.spec.pace_infos();
        let info = offered
            .iter()
            .copied()
            .find(|i| i.oid() == oid && param.is_none_or(|p| p == i.curve.parameter_id()))
            .ok_or(StatusWord::ReferenceNotFound)?;
        let password = match pwd {
            pace::PASSWORD_CAN => {
                let can = self.fs.can.as_ref().ok_or(StatusWord::ReferenceNotFound)?;
                Password::can(&can.0).map_err(|_| StatusWord::ReferenceNotFound)?
            }
            pace::PASSWORD_MRZ => self.mrz_password().ok_or(StatusWord::ReferenceNotFound)?,
            _ => return Err(StatusWord::ReferenceNotFound),
        };
        let k_pi = password
            .key(info.key_length)
            .map_err(|_| StatusWord::ReferenceNotFound)?;
        self.pace = Some(PaceState {
            info,
            k_pi,
            step: 1,
            nonce: [0; 16],
            sk_map: Vec::new(),
            generator: Vec::new(),
            pk_ifd: Vec::new(),
            pk_ic: Vec::new(),
            keys: None,
        });
        Ok(Vec::new())
    }

    pub(super) fn general_authenticate(&mut self, cmd: &Command) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        let Some(mut st) = self.pace.take() else {
            return Err(StatusWord::ConditionsNotSatisfied);
        };
        let chained = cmd.cla & 0x10 != 0;
        // The last step goes without the chaining bit, the others with it.
        if chained != (st.step < 4) {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        let outer = tlv::parse_strict(&cmd.data).map_err(|_| StatusWord::IncorrectData)?;
        if tlv::tag_number(outer.tag()) != 0x7C {
            return Err(StatusWord::IncorrectData);
        }
        let inner = |tag: u32| -> Option<Vec<u8>> {
            tlv::children(&outer)
                .iter()
                .find(|t| tlv::tag_number(t.tag()) == tag)
                .and_then(tlv::primitive_value)
                .map(<[u8]>::to_vec)
        };
        let reply = |tag: u32, v: Vec<u8>| {
            tlv::encode(&tlv::constructed(0x7C, vec![tlv::primitive(tag, v)]))
        };
        let curve = st.info.curve;
        let out = match st.step {
            1 => {
                if !tlv::children(&outer).is_empty() {
                    return Err(StatusWord::IncorrectData);
                }
                self.rng.fill_bytes(&mut st.nonce);
                let z = pace::encrypt_nonce(&st.k_pi, &st.nonce);
                reply(0x80, z.to_vec())
            }
            2 => {
                let pk_map_ifd = inner(0x81).ok_or(StatusWord::IncorrectData)?;
                curve
                    .check_point(&pk_map_ifd)
                    .map_err(|_| StatusWord::IncorrectData)?;
                st.sk_map = curve.random_scalar(&mut self.rng);
                let pk_map_ic = curve
                    .mul(&st.sk_map, None)
                    .map_err(|_| StatusWord::MemoryFailure)?;
                let h = curve
                    .mul(&st.sk_map, Some(&pk_map_ifd))
                    .map_err(|_| StatusWord::IncorrectData)?;
                st.generator = curve
                    .map_generic(&st.nonce, &h)
                    .map_err(|_| StatusWord::IncorrectData)?;
                reply(0x82, pk_map_ic)
            }
            3 => {
                let pk_ifd = inner(0x83).ok_or(StatusWord::IncorrectData)?;
                curve
                    .check_point(&pk_ifd)
                    .map_err(|_| StatusWord::IncorrectData)?;
                let sk = curve.random_scalar(&mut self.rng);
                let pk_ic = curve
                    .mul(&sk, Some(&st.generator))
                    .map_err(|_| StatusWord::MemoryFailure)?;
                if pk_ic == pk_ifd {
                    return Err(StatusWord::IncorrectData);
                }
                let k = curve
                    .mul(&sk, Some(&pk_ifd))
                    .map_err(|_| StatusWord::IncorrectData)?;
                st.keys = Some(pace::session_keys(
                    pace::x_coordinate(&k),
                    st.info.key_length,
                ));
                st.pk_ifd = pk_ifd;
                st.pk_ic = pk_ic.clone();
                reply(0x84, pk_ic)
            }
            4 => {
                let t_ifd = inner(0x85).ok_or(StatusWord::IncorrectData)?;
                let Some((ks_enc, ks_mac)) = st.keys.take() else {
                    return Err(StatusWord::ConditionsNotSatisfied);
                };
                let want = pace::auth_token(&ks_mac, &st.info, &st.pk_ic);
                if !pace::tokens_equal(&want, &t_ifd) {
                    // Wrong password: the terminal's token cannot match.
                    return Err(StatusWord::Other(0x6300));
                }
                let t_ic = pace::auth_token(&ks_mac, &st.info, &st.pk_ifd);
                self.sm =
                    Some(pace::session(&ks_enc, &ks_mac).map_err(|_| StatusWord::MemoryFailure)?);
                return Ok(reply(0x86, t_ic.to_vec()));
            }
            _ => return Err(StatusWord::ConditionsNotSatisfied),
        };
        st.step += 1;
        self.pace = Some(st);
        Ok(out)
    }
}
