//! The card status list (ECARD.md section 8): a COSE_Sign1 in the seal's form whose payload is a
//! CBOR map `v` 1, `iss` "RUS", `iat` and `nxt` (RFC 3339 UTC text), `rev` an array of
//! `[document number, reason, since YYYY-MM-DD]`.
//!
//! A list past its `nxt` is stale: [`StatusList::is_stale`] says so and the checkpoint shows amber;
//! it is never silently trusted. Times are arguments; nothing here reads a clock.

use coset::cbor::value::Value;
use ecard_chip::pki::Signer;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_cert::Certificate;

use crate::cose::{self, CoseError, SignedCose};
use crate::seal::read_map;

/// Why a status list could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The COSE_Sign1 is malformed or does not verify.
    #[error(transparent)]
    Cose(#[from] CoseError),
    /// The payload is not the e-card's status map.
    #[error("status list: {field}: {problem}")]
    Payload {
        /// The key, or `rev[i]`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The list was issued before the one already held: an old list replayed (it may lack
    /// revocations made since). The held list stays in use.
    #[error(
        "status list issued at {got} is older than the one already held (issued at {held}); keeping the newer list"
    )]
    Older {
        /// `iat` of the list offered (RFC 3339).
        got: String,
        /// `iat` of the list held (RFC 3339).
        held: String,
    },
    /// A revocation reason is not one of the five.
    #[error(
        "status list: unknown revocation reason {got:?}, expected replaced, lost, damaged, details_changed or voided"
    )]
    UnknownReason {
        /// What was found.
        got: String,
    },
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> StatusError {
    StatusError::Payload {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Why a number is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// A replacement card was applied for.
    Replaced,
    /// Reported lost.
    Lost,
    /// Reported damaged.
    Damaged,
    /// The holder's details changed.
    DetailsChanged,
    /// Spoiled in production; the number was never a valid card.
    Voided,
}

impl Reason {
    /// The reason as on the list.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Replaced => "replaced",
            Reason::Lost => "lost",
            Reason::Damaged => "damaged",
            Reason::DetailsChanged => "details_changed",
            Reason::Voided => "voided",
        }
    }
}

impl std::str::FromStr for Reason {
    type Err = StatusError;
    fn from_str(s: &str) -> Result<Self, StatusError> {
        Ok(match s {
            "replaced" => Reason::Replaced,
            "lost" => Reason::Lost,
            "damaged" => Reason::Damaged,
            "details_changed" => Reason::DetailsChanged,
            "voided" => Reason::Voided,
            _ => {
                return Err(StatusError::UnknownReason {
                    got: s.chars().take(32).collect(),
                });
            }
        })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

time::serde::format_description!(ymd, Date, "[year]-[month]-[day]");

/// One revoked number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revocation {
    /// Document number, 9 digits.
    pub document_number: String,
    /// Why.
    pub reason: Reason,
    /// From when (`YYYY-MM-DD` in JSON).
    #[serde(with = "ymd")]
    pub since: time::Date,
}

/// What a status list says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListPayload {
    /// Issued at (UTC, whole seconds).
    pub iat: OffsetDateTime,
    /// Next update (UTC, whole seconds); past it the list is stale.
    pub nxt: OffsetDateTime,
    /// The revoked numbers.
    pub rev: Vec<Revocation>,
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default()
}

impl StatusListPayload {
    /// A list issued at `iat` with the default next update 24 hours later.
    pub fn new(iat: OffsetDateTime, rev: Vec<Revocation>) -> StatusListPayload {
        let iat = iat
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(iat);
        StatusListPayload {
            iat,
            nxt: iat + time::Duration::hours(24),
            rev,
        }
    }

    /// The payload as a CBOR map.
    pub fn to_cbor(&self) -> Vec<u8> {
        let t = |s: &str| Value::Text(s.to_string());
        let rev = self
            .rev
            .iter()
            .map(|r| {
                Value::Array(vec![
                    t(&r.document_number),
                    t(r.reason.as_str()),
                    t(&r.since.format(DATE).unwrap_or_default()),
                ])
            })
            .collect();
        let m = Value::Map(vec![
            (t("v"), Value::Integer(1.into())),
            (t("iss"), t("RUS")),
            (t("iat"), t(&rfc3339(self.iat))),
            (t("nxt"), t(&rfc3339(self.nxt))),
            (t("rev"), Value::Array(rev)),
        ]);
        let mut out = Vec::new();
        #[allow(clippy::expect_used)]
        coset::cbor::ser::into_writer(&m, &mut out)
            .expect("writing a CBOR value of text, integers and arrays into a Vec cannot fail");
        out
    }

    /// Reads the payload map.
    pub fn from_cbor(bytes: &[u8]) -> Result<StatusListPayload, StatusError> {
        let mut f = read_map(bytes).map_err(|p| bad("map", p))?;
        if f.take("v") != Some(Value::Integer(1.into())) {
            return Err(bad("v", "missing or not 1"));
        }
        match f.take("iss") {
            Some(Value::Text(s)) if s == "RUS" => {}
            _ => return Err(bad("iss", "missing or not \"RUS\"")),
        }
        let mut time_of = |key: &'static str| -> Result<OffsetDateTime, StatusError> {
            match f.take(key) {
                Some(Value::Text(s)) => OffsetDateTime::parse(&s, &Rfc3339)
                    .map(|t| t.to_offset(time::UtcOffset::UTC))
                    .map_err(|_| bad(key, "not an RFC 3339 time")),
                _ => Err(bad(key, "missing or not text")),
            }
        };
        let iat = time_of("iat")?;
        let nxt = time_of("nxt")?;
        let Some(Value::Array(items)) = f.take("rev") else {
            return Err(bad("rev", "missing or not an array"));
        };
        let mut rev = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let field = || format!("rev[{i}]");
            let Value::Array(parts) = item else {
                return Err(bad(field(), "not an array"));
            };
            let [Value::Text(dn), Value::Text(reason), Value::Text(since)] = parts.as_slice()
            else {
                return Err(bad(field(), "not [number, reason, since] as text"));
            };
            if dn.len() != 9 || !dn.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(field(), "document number is not 9 digits"));
            }
            rev.push(Revocation {
                document_number: dn.clone(),
                reason: reason.parse()?,
                since: time::Date::parse(since, DATE)
                    .map_err(|_| bad(field(), "since is not a YYYY-MM-DD date"))?,
            });
        }
        if let Some((k, _)) = f.0.first() {
            return Err(bad("map", format!("unknown key {k:?}")));
        }
        if nxt < iat {
            return Err(bad("nxt", "next update is before issued-at"));
        }
        Ok(StatusListPayload { iat, nxt, rev })
    }
}

/// A decoded status list; verified when it came from [`StatusList::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct StatusList {
    /// What the list says.
    pub payload: StatusListPayload,
    /// The signed envelope.
    pub cose: SignedCose,
}

impl StatusList {
    /// Signs `payload` with the Document Signer `signer` (certificate `ds`): COSE_Sign1 bytes, as
    /// published at `GET /api/v1/status-list` and written to `status.cose`.
    pub fn sign(
        payload: &StatusListPayload,
        signer: &dyn Signer,
        ds: &Certificate,
    ) -> Result<Vec<u8>, StatusError> {
        Ok(cose::sign("status list", payload.to_cbor(), signer, ds)?)
    }

    /// Decodes a status list's bytes, checking its form but not its signature.
    pub fn decode(bytes: &[u8]) -> Result<StatusList, StatusError> {
        let cose = cose::decode("status list", bytes)?;
        let payload = StatusListPayload::from_cbor(&cose.payload)?;
        Ok(StatusList { payload, cose })
    }

    /// Decodes and verifies: kid among `ds_certs`, the DS held to the chip's policy
    /// ([`cose::check_ds`]: chain to `trust`, `iat` inside its validity and private key usage
    /// period, valid on `at`, key usage, document type), signature.
    pub fn verify(
        bytes: &[u8],
        ds_certs: &[Certificate],
        trust: &[Certificate],
        at: time::Date,
    ) -> Result<StatusList, StatusError> {
        let list = StatusList::decode(bytes)?;
        let ds = list.cose.find_signer("status list", ds_certs)?;
        let signed = ecard_chip::verify::SignedAt::Instant(list.payload.iat);
        cose::check_ds("status list", ds, trust, signed, at)?;
        list.cose.verify_signature("status list", ds)?;
        Ok(list)
    }

    /// Refuses this list when it was issued before `held` (no replay of an old list): compare the
    /// signed `iat`s. A list with the same `iat` is accepted (the same list fetched again).
    pub fn check_not_older(&self, held: Option<&StatusList>) -> Result<(), StatusError> {
        match held {
            Some(h) if self.payload.iat < h.payload.iat => Err(StatusError::Older {
                got: rfc3339(self.payload.iat),
                held: rfc3339(h.payload.iat),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the list is past its next update at `now`.
    pub fn is_stale(&self, now: OffsetDateTime) -> bool {
        now > self.payload.nxt
    }

    /// The entry for `document_number`, if revoked.
    pub fn find(&self, document_number: &str) -> Option<&Revocation> {
        self.payload
            .rev
            .iter()
            .find(|r| r.document_number == document_number)
    }

    /// The revoked numbers (for the chip verifier's revocation set).
    pub fn numbers(&self) -> std::collections::BTreeSet<String> {
        self.payload
            .rev
            .iter()
            .map(|r| r.document_number.clone())
            .collect()
    }
}
