//! The QR seal (ECARD.md section 8): `EC1:` + base45 (RFC 9285) of zlib-compressed COSE_Sign1 whose
//! payload is a CBOR map with text keys `v`, `iss`, `dn`, `sn`, `gn`, `pn` (absent when none),
//! `dob`, `doi`, `doe` ("YYYY-MM-DD"), `sex`, `nat`, `dg2` (32-byte SHA-256 of the chip's DG2).
//!
//! Decoding takes any text (a QR from another system, a truncated or altered seal) and answers with
//! a typed [`SealError`], never a panic. Decompression is bounded so a small QR cannot expand into a
//! large allocation. Nothing here verifies trust: see [`Seal::verify`] and [`crate::check`].

use coset::cbor::value::Value;
use ecard_chip::pki::Signer;
use ecard_model::holder::Holder;
use ecard_model::number::DocumentNumber;
use x509_cert::Certificate;

use crate::cose::{self, CoseError, SignedCose};

/// The text every e-card seal starts with.
pub const SEAL_PREFIX: &str = "EC1:";

/// A seal decompresses to at most this many bytes (a real one is about 300).
const MAX_COSE_LEN: usize = 16 * 1024;

/// Why a seal could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The text does not start with `EC1:`: a QR code of another system.
    #[error("not an e-card seal: the QR text starts with {got:?}, expected \"EC1:\"")]
    NotASeal {
        /// The first characters (at most 8; a prefix, not holder data).
        got: String,
    },
    /// The text after the prefix is not base45.
    #[error("seal is not valid base45 (RFC 9285): {reason}")]
    Base45 {
        /// What the decoder said.
        reason: String,
    },
    /// The base45 bytes are not zlib data (a truncated or altered seal).
    #[error("seal is not zlib data: {reason}")]
    Zlib {
        /// What the decompressor said.
        reason: String,
    },
    /// The COSE_Sign1 is malformed, or does not verify.
    #[error(transparent)]
    Cose(#[from] CoseError),
    /// The payload is not the e-card's CBOR map.
    #[error("seal payload: {field}: {problem}")]
    Payload {
        /// The key (or "map").
        field: &'static str,
        /// What is wrong, without the value.
        problem: String,
    },
}

/// What the seal vouches for. Personal data: Debug is redacted.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct SealPayload {
    /// Issuing state, "RUS".
    pub iss: String,
    /// Document number, 9 digits.
    pub dn: String,
    /// Surname (Latin).
    pub sn: String,
    /// Given names (Latin).
    pub gn: String,
    /// Patronymic (Latin), when the holder has one.
    pub pn: Option<String>,
    /// Date of birth.
    #[serde(serialize_with = "ymd")]
    pub dob: time::Date,
    /// Date of issue.
    #[serde(serialize_with = "ymd")]
    pub doi: time::Date,
    /// Date of expiry.
    #[serde(serialize_with = "ymd")]
    pub doe: time::Date,
    /// "M" or "F".
    pub sex: String,
    /// Nationality, alpha-3.
    pub nat: String,
    /// SHA-256 of the chip's DG2 file (tag, length and value).
    #[serde(with = "hex32")]
    pub dg2: [u8; 32],
}

fn ymd<S: serde::Serializer>(d: &time::Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&date_text(*d))
}

mod hex32 {
    pub fn serialize<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

impl std::fmt::Debug for SealPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealPayload(<redacted>)")
    }
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn date_text(d: time::Date) -> String {
    d.format(DATE).unwrap_or_default()
}

fn bad(field: &'static str, problem: impl Into<String>) -> SealError {
    SealError::Payload {
        field,
        problem: problem.into(),
    }
}

impl SealPayload {
    /// The seal of a card: the holder, number and dates as on the chip, and the SHA-256 of the DG2
    /// file exactly as written.
    pub fn for_card(
        holder: &Holder,
        number: &DocumentNumber,
        date_of_issue: time::Date,
        date_of_expiry: time::Date,
        dg2_file: &[u8],
    ) -> SealPayload {
        use sha2::Digest;
        SealPayload {
            iss: "RUS".into(),
            dn: number.mrz_form(),
            sn: holder.surname().to_string(),
            gn: holder.given_names().to_string(),
            pn: holder.patronymic().map(str::to_string),
            dob: holder.date_of_birth(),
            doi: date_of_issue,
            doe: date_of_expiry,
            sex: holder.sex().as_char().to_string(),
            nat: holder.nationality().to_string(),
            dg2: sha2::Sha256::digest(dg2_file).into(),
        }
    }

    /// The payload as a CBOR map, keys in the order of ECARD.md section 8.
    pub fn to_cbor(&self) -> Vec<u8> {
        let t = |s: &str| Value::Text(s.to_string());
        let mut m = vec![
            (t("v"), Value::Integer(1.into())),
            (t("iss"), t(&self.iss)),
            (t("dn"), t(&self.dn)),
            (t("sn"), t(&self.sn)),
            (t("gn"), t(&self.gn)),
        ];
        if let Some(pn) = &self.pn {
            m.push((t("pn"), t(pn)));
        }
        m.extend([
            (t("dob"), t(&date_text(self.dob))),
            (t("doi"), t(&date_text(self.doi))),
            (t("doe"), t(&date_text(self.doe))),
            (t("sex"), t(&self.sex)),
            (t("nat"), t(&self.nat)),
            (t("dg2"), Value::Bytes(self.dg2.to_vec())),
        ]);
        let mut out = Vec::new();
        #[allow(clippy::expect_used)]
        coset::cbor::ser::into_writer(&Value::Map(m), &mut out)
            .expect("writing a CBOR value of text, integers and bytes into a Vec cannot fail");
        out
    }

    /// Reads the payload map. Every key of the e-card's map must be there (`pn` may be absent) and
    /// no other; `v` must be 1.
    pub fn from_cbor(bytes: &[u8]) -> Result<SealPayload, SealError> {
        let mut fields = read_map(bytes).map_err(|p| bad("map", p))?;
        let v = fields.take("v").ok_or_else(|| bad("v", "missing"))?;
        if v != Value::Integer(1.into()) {
            return Err(bad("v", "version is not 1"));
        }
        let p = SealPayload {
            iss: fields.text("iss")?,
            dn: fields.text("dn")?,
            sn: fields.text("sn")?,
            gn: fields.text("gn")?,
            pn: match fields.take("pn") {
                None => None,
                Some(Value::Text(s)) => Some(s),
                Some(_) => return Err(bad("pn", "not a text string")),
            },
            dob: fields.date("dob")?,
            doi: fields.date("doi")?,
            doe: fields.date("doe")?,
            sex: fields.text("sex")?,
            nat: fields.text("nat")?,
            dg2: match fields.take("dg2") {
                Some(Value::Bytes(b)) => b
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("dg2", format!("{} bytes, expected 32", b.len())))?,
                Some(_) => return Err(bad("dg2", "not a byte string")),
                None => return Err(bad("dg2", "missing")),
            },
        };
        if let Some(k) = fields.0.first() {
            return Err(SealError::Payload {
                field: "map",
                problem: format!("unknown key {:?}", k.0),
            });
        }
        if p.iss != "RUS" {
            return Err(bad("iss", "issuing state is not RUS"));
        }
        if p.dn.len() != 9 || !p.dn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("dn", "document number is not 9 digits"));
        }
        if p.sex != "M" && p.sex != "F" {
            return Err(bad("sex", "not M or F"));
        }
        Ok(p)
    }
}

/// The entries of a CBOR map with text keys; taken out one by one.
pub(crate) struct Fields(pub(crate) Vec<(String, Value)>);

/// Reads one CBOR map with text keys, and nothing after it.
pub(crate) fn read_map(bytes: &[u8]) -> Result<Fields, String> {
    let mut rest = bytes;
    let value: Value =
        coset::cbor::de::from_reader(&mut rest).map_err(|e| format!("not CBOR: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the map", rest.len()));
    }
    let Value::Map(entries) = value else {
        return Err("not a CBOR map".into());
    };
    let mut out: Vec<(String, Value)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let Value::Text(k) = k else {
            return Err("a key is not a text string".into());
        };
        if out.iter().any(|(o, _)| *o == k) {
            return Err(format!("key {k:?} appears twice"));
        }
        out.push((k, v));
    }
    Ok(Fields(out))
}

impl Fields {
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    fn text(&mut self, key: &'static str) -> Result<String, SealError> {
        match self.take(key) {
            Some(Value::Text(s)) => Ok(s),
            Some(_) => Err(bad(key, "not a text string")),
            None => Err(bad(key, "missing")),
        }
    }

    fn date(&mut self, key: &'static str) -> Result<time::Date, SealError> {
        let s = self.text(key)?;
        time::Date::parse(&s, DATE).map_err(|_| bad(key, "not a YYYY-MM-DD date"))
    }
}

/// A decoded seal: its payload and its COSE_Sign1 (signature not verified until [`Seal::verify`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Seal {
    /// What the seal says.
    pub payload: SealPayload,
    /// The signed envelope.
    pub cose: SignedCose,
}

/// Inflates a zlib stream that must fill `z` exactly: bytes after its end are refused (a seal is
/// one stream; anything appended is not what was signed and compressed).
fn inflate_whole(z: &[u8]) -> Result<Vec<u8>, SealError> {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::inflate_flags::{
        TINFL_FLAG_COMPUTE_ADLER32, TINFL_FLAG_PARSE_ZLIB_HEADER,
        TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    };
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress};
    let mut d = DecompressorOxide::new();
    let mut out = vec![0u8; MAX_COSE_LEN];
    let (status, consumed, written) = decompress(
        &mut d,
        z,
        &mut out,
        0,
        TINFL_FLAG_PARSE_ZLIB_HEADER
            | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
            | TINFL_FLAG_COMPUTE_ADLER32,
    );
    if status != TINFLStatus::Done {
        return Err(SealError::Zlib {
            reason: format!("{status:?}"),
        });
    }
    if consumed != z.len() {
        return Err(SealError::Zlib {
            reason: format!(
                "{} byte(s) after the end of the compressed seal",
                z.len() - consumed
            ),
        });
    }
    out.truncate(written);
    Ok(out)
}

impl Seal {
    /// Signs `payload` with the Document Signer `signer` (certificate `ds`) and returns the QR text
    /// (`EC1:...`).
    pub fn sign(
        payload: &SealPayload,
        signer: &dyn Signer,
        ds: &Certificate,
    ) -> Result<String, SealError> {
        let cose = cose::sign("seal", payload.to_cbor(), signer, ds)?;
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&cose, 9);
        Ok(format!("{SEAL_PREFIX}{}", base45::encode(z)))
    }

    /// Decodes QR text into a seal, checking its form but not its signature.
    pub fn decode(text: &str) -> Result<Seal, SealError> {
        let Some(b45) = text.strip_prefix(SEAL_PREFIX) else {
            return Err(SealError::NotASeal {
                got: text.chars().take(8).collect(),
            });
        };
        let z = base45::decode(b45).map_err(|e| SealError::Base45 {
            reason: e.to_string(),
        })?;
        let cose_bytes = inflate_whole(&z)?;
        let cose = cose::decode("seal", &cose_bytes)?;
        let payload = SealPayload::from_cbor(&cose.payload)?;
        Ok(Seal { payload, cose })
    }

    /// Finds the seal's Document Signer among `ds_certs` by kid, holds it to the chip's DS policy
    /// ([`cose::check_ds`]: chain to `trust`, the seal's date of issue inside its validity and
    /// private key usage period, valid on `at`, key usage, document type), and verifies the
    /// signature. Returns the signer's certificate.
    pub fn verify<'c>(
        &self,
        ds_certs: &'c [Certificate],
        trust: &[Certificate],
        at: time::Date,
    ) -> Result<&'c Certificate, SealError> {
        let ds = self.cose.find_signer("seal", ds_certs)?;
        let signed = ecard_chip::verify::SignedAt::MoscowDay(self.payload.doi);
        cose::check_ds("seal", ds, trust, signed, at)?;
        self.cose.verify_signature("seal", ds)?;
        Ok(ds)
    }
}
