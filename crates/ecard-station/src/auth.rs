//! Bearer tokens and roles. Only SHA-256 hashes of tokens are kept (in the config and in memory);
//! a token itself is never stored by the station nor logged. The admin token generated at first
//! start is written once to `DATA_DIR/admin.token` (mode 0600) for the operator to read.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Submits enrollments.
    Intake,
    /// Retries and voids jobs, watches lanes, reads jobs.
    Operator,
    /// Reads jobs and metrics.
    Qa,
    /// Reads the blank-stock ledger (the vault's supervisor); nothing else.
    Supervisor,
    /// Reads de-identified statistics (`/api/v1/statistics`, the console's statistics page) and
    /// nothing else: no jobs, no faces, no numbers.
    Analyst,
    /// Everything.
    Admin,
}

/// Who may read the blank-stock ledger besides admin.
pub const STOCK_ROLES: [Role; 1] = [Role::Supervisor];

impl Role {
    /// The spelling in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Intake => "intake",
            Role::Operator => "operator",
            Role::Qa => "qa",
            Role::Supervisor => "supervisor",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

/// One known token: a name for the audit log, a role, the token's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// Who holds it (written to the audit log as the actor).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer ...` header.
    #[error("missing bearer token: send \"Authorization: Bearer <token>\"")]
    Missing,
    /// A token we do not know.
    #[error("unknown bearer token")]
    Unknown,
    /// A known token without the role.
    #[error("token {name:?} has role {role}; this needs {needed}")]
    Forbidden {
        /// The token's name.
        name: String,
        /// Its role.
        role: &'static str,
        /// Roles that may.
        needed: String,
    },
}

/// SHA-256 (hex) of a token, as written in the config.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The station's known tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<TokenEntry>,
}

impl Auth {
    /// From entries.
    pub fn new(tokens: Vec<TokenEntry>) -> Auth {
        Auth { tokens }
    }

    /// Adds a token given in clear (its hash is kept).
    pub fn add_token(&mut self, name: &str, role: Role, token: &str) {
        self.tokens.push(TokenEntry {
            name: name.to_string(),
            role,
            sha256: Sha256::digest(token.as_bytes()).into(),
        });
    }

    /// Checks an `Authorization` header value against the roles allowed (admin always is).
    pub fn check(&self, header: Option<&str>, allowed: &[Role]) -> Result<&TokenEntry, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Compares hashes, in constant time, against every token (no early exit): timing
        // reveals neither a token nor which entry matched.
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.sha256.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        let entry = found.ok_or(AuthError::Unknown)?;
        if entry.role == Role::Admin || allowed.contains(&entry.role) {
            Ok(entry)
        } else {
            Err(AuthError::Forbidden {
                name: entry.name.clone(),
                role: entry.role.as_str(),
                needed: allowed
                    .iter()
                    .chain(std::iter::once(&Role::Admin))
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        let mut auth = Auth::default();
        auth.add_token("intake-1", Role::Intake, "t-intake");
        auth.add_token("boss", Role::Admin, "t-admin");
        assert_eq!(auth.check(None, &[Role::Qa]), Err(AuthError::Missing));
        assert_eq!(
            auth.check(Some("Basic abc"), &[Role::Qa]),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.check(Some("Bearer nope"), &[Role::Qa]),
            Err(AuthError::Unknown)
        );
        assert_eq!(
            auth.check(Some("Bearer t-intake"), &[Role::Qa]),
            Err(AuthError::Forbidden {
                name: "intake-1".into(),
                role: "intake",
                needed: "qa or admin".into()
            })
        );
        assert_eq!(
            auth.check(Some("Bearer t-intake"), &[Role::Intake])
                .unwrap()
                .name,
            "intake-1"
        );
        assert_eq!(
            auth.check(Some("Bearer t-admin"), &[Role::Qa])
                .unwrap()
                .name,
            "boss"
        );
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!format!("{:?}", auth).contains("sha256"));
    }
}
