//! ACTIVATE FILE (the lock), GENERATE ASYMMETRIC KEY PAIR, INTERNAL AUTHENTICATE and GET
//! CHALLENGE. The private key stays in the file tree; no command answers with it.

use super::*;

impl Card {
    pub(super) fn activate(&mut self, cmd: &Command) -> Answer {
        if !self.spec.lock_supported {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0 || cmd.p2 != 0 || !cmd.data.is_empty() {
            return Err(StatusWord::IncorrectP1P2);
        }
        let target = self.current_ef.unwrap_or(self.current_df);
        if target == 0 {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        if let Some(n) = self.fs.nodes.get_mut(target) {
            n.lcs = LCS_ACTIVATED;
        }
        Ok(Vec::new())
    }

    pub(super) fn generate(&mut self, cmd: &Command) -> Answer {
        if !self.spec.active_authentication {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0 || cmd.p2 == 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        let df = self.current_df;
        if df == 0 || !self.fs.writable(df) {
            return Err(StatusWord::SecurityStatusNotSatisfied);
        }
        let secret = p256::SecretKey::random(&mut self.rng);
        let point = secret.public_key().to_sec1_bytes();
        let Some(crate::fs::Node {
            kind: NodeKind::Df { keys, .. },
            ..
        }) = self.fs.nodes.get_mut(df)
        else {
            return Err(StatusWord::ConditionsNotSatisfied);
        };
        if keys.iter().any(|k| k.reference == cmd.p2) {
            return Err(StatusWord::ConditionsNotSatisfied);
        }
        keys.push(Key {
            reference: cmd.p2,
            scalar: secret.to_bytes().to_vec(),
        });
        Ok(tlv::encode(&tlv::constructed(
            0x7F49,
            vec![tlv::primitive(0x86, point.to_vec())],
        )))
    }

    pub(super) fn internal_authenticate(&mut self, cmd: &Command) -> Answer {
        if !self.spec.active_authentication {
            return Err(StatusWord::InsNotSupported);
        }
        if cmd.p1 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        if cmd.data.is_empty() {
            return Err(StatusWord::WrongLength);
        }
        let key = self
            .fs
            .find_key(self.current_df, cmd.p2)
            .ok_or(StatusWord::ReferenceNotFound)?;
        let signing = SigningKey::from_slice(&key.scalar).map_err(|_| StatusWord::MemoryFailure)?;
        let sig: Signature = signing.sign(&cmd.data);
        Ok(sig.to_bytes().to_vec())
    }

    pub(super) fn get_challenge(&mut self, cmd: &Command, ne: usize) -> Answer {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::IncorrectP1P2);
        }
        if ne == 0 {
            return Err(StatusWord::WrongLength);
        }
        let mut out = vec![0; ne];
        self.rng.fill_bytes(&mut out);
        Ok(out)
    }
}
