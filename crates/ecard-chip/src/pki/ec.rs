//! EC public keys in SubjectPublicKeyInfo: explicit P-256 domain parameters (Doc 9303-12 4.1.6.3
//! asks CSCA and DS keys to carry them) and the named curve, both read, only P-256 accepted.
//!
//! A key with explicit parameters is accepted only when every parameter IS P-256's: a reader that
//! took the point alone would let a forger pick a weak curve. This module does no signing.

use der::asn1::{BitString, ObjectIdentifier, OctetString, Uint};
use der::{Any, Decode, Encode, Sequence, Tagged};
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// id-ecPublicKey (RFC 5480).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / prime256v1.
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// prime-field (X9.62).
pub const PRIME_FIELD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.1.1");

const P: [u8; 32] = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
const A: [u8; 32] = hex32("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc");
const B: [u8; 32] = hex32("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
const N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const SEED: [u8; 20] = {
    let full = hex32("c49d360886e704936a6678e1139d26b7819f7e90000000000000000000000000");
    let mut s = [0u8; 20];
    let mut i = 0;
    while i < 20 {
        s[i] = full[i];
        i += 1;
    }
    s
};

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("hex constant"),
    }
}

/// ```text
/// ECParameters ::= SEQUENCE {
///    version   ECPVer,          -- version is always 1
///    fieldID   FieldID,         -- identifies the finite field over which the curve is defined
///    curve     Curve,           -- coefficients a and b of the elliptic curve
///    base      ECPoint,         -- specifies the base point P on the elliptic curve
///    order     INTEGER,         -- the order n of the base point
///    cofactor  INTEGER OPTIONAL -- The integer h = #E(Fq)/n
/// }
/// ```
/// (RFC 3279 section 2.3.5, SEC 1; Doc 9303-12 4.1.6.3 requires it in CSCA and DS keys.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EcParameters {
    /// Always 1.
    pub version: u8,
    /// The field.
    pub field_id: FieldId,
    /// The curve coefficients.
    pub curve: Curve,
    /// The base point, SEC 1 encoded.
    pub base: OctetString,
    /// The order of the base point.
    pub order: Uint,
    /// The cofactor.
    #[asn1(optional = "true")]
    pub cofactor: Option<Uint>,
}

/// ```text
/// FieldID ::= SEQUENCE {
///    fieldType   OBJECT IDENTIFIER,
///    parameters  ANY DEFINED BY fieldType }  -- Prime-p ::= INTEGER for prime-field
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct FieldId {
    /// `prime-field` for P-256.
    pub field_type: ObjectIdentifier,
    /// The prime p, as an INTEGER, for a prime field.
    pub parameters: Any,
}

/// ```text
/// Curve ::= SEQUENCE {
///    a         FieldElement,
///    b         FieldElement,
///    seed      BIT STRING OPTIONAL }
/// FieldElement ::= OCTET STRING
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Curve {
    /// Coefficient a.
    pub a: OctetString,
    /// Coefficient b.
    pub b: OctetString,
    /// The seed the curve was generated from.
    #[asn1(optional = "true")]
    pub seed: Option<BitString>,
}

/// Why a SubjectPublicKeyInfo is not a P-256 key this product accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The algorithm is not id-ecPublicKey.
    #[error("public key algorithm is {found}, expected id-ecPublicKey")]
    NotEc {
        /// The algorithm OID found.
        found: ObjectIdentifier,
    },
    /// Named curve other than P-256.
    #[error("named curve is {found}, expected secp256r1")]
    OtherCurve {
        /// The curve OID found.
        found: ObjectIdentifier,
    },
    /// Explicit parameters that are not P-256's.
    #[error("explicit EC parameters are not P-256's: {field} differs")]
    ExplicitNotP256 {
        /// The first parameter that differs.
        field: &'static str,
    },
    /// The parameters are neither an OID nor a decodable ECParameters.
    #[error("EC parameters do not decode: {0}")]
    Parameters(String),
    /// The point is not on P-256.
    #[error("public key is not a valid P-256 point")]
    BadPoint,
}

fn uint(bytes: &[u8]) -> Uint {
    #[allow(clippy::expect_used)]
    Uint::new(bytes).expect("P-256 constants are at most 32 bytes, within Uint's limits")
}

/// The P-256 domain parameters written out, with the seed.
pub fn p256_explicit_parameters() -> EcParameters {
    let g = p256::AffinePoint::GENERATOR.to_encoded_point(false);
    #[allow(clippy::expect_used)]
    let params = (|| -> der::Result<EcParameters> {
        Ok(EcParameters {
            version: 1,
            field_id: FieldId {
                field_type: PRIME_FIELD,
                parameters: Any::encode_from(&uint(&P))?,
            },
            curve: Curve {
                a: OctetString::new(A.to_vec())?,
                b: OctetString::new(B.to_vec())?,
                seed: Some(BitString::from_bytes(&SEED)?),
            },
            base: OctetString::new(g.as_bytes().to_vec())?,
            order: uint(&N),
            cofactor: Some(uint(&[1])),
        })
    })()
    .expect("constant P-256 parameters encode: sizes are fixed and small");
    params
}

/// A SubjectPublicKeyInfo with explicit P-256 parameters (what CSCA and DS certificates carry).
pub fn spki_explicit(key: &p256::PublicKey) -> SubjectPublicKeyInfoOwned {
    let point = key.to_encoded_point(false);
    #[allow(clippy::expect_used)]
    let spki = (|| -> der::Result<SubjectPublicKeyInfoOwned> {
        Ok(SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&p256_explicit_parameters())?),
            },
            subject_public_key: BitString::from_bytes(point.as_bytes())?,
        })
    })()
    .expect("a 65-byte point and constant parameters always encode");
    spki
}

/// A SubjectPublicKeyInfo with the named curve (what DG15 carries, and what most tools write).
pub fn spki_named(key: &p256::PublicKey) -> SubjectPublicKeyInfoOwned {
    let point = key.to_encoded_point(false);
    #[allow(clippy::expect_used)]
    let spki = (|| -> der::Result<SubjectPublicKeyInfoOwned> {
        Ok(SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: ID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&SECP256R1)?),
            },
            subject_public_key: BitString::from_bytes(point.as_bytes())?,
        })
    })()
    .expect("a 65-byte point and a constant OID always encode");
    spki
}

fn strip(b: &[u8]) -> &[u8] {
    let skip = b.iter().take_while(|x| **x == 0).count();
    &b[skip..]
}

/// Checks that explicit parameters are exactly P-256 (the seed, being informative, is not checked).
pub fn check_p256(params: &EcParameters) -> Result<(), KeyError> {
    let differs = |field| Err(KeyError::ExplicitNotP256 { field });
    if params.version != 1 {
        return differs("version");
    }
    if params.field_id.field_type != PRIME_FIELD {
        return differs("field type");
    }
    let p = params
        .field_id
        .parameters
        .decode_as::<Uint>()
        .map_err(|_| KeyError::ExplicitNotP256 { field: "prime" })?;
    if strip(p.as_bytes()) != strip(&P) {
        return differs("prime");
    }
    // Field elements are fixed-length octet strings in SEC 1; compare as numbers to be lenient
    // about leading zeros, which changes nothing about the curve.
    if strip(params.curve.a.as_bytes()) != strip(&A) {
        return differs("coefficient a");
    }
    if strip(params.curve.b.as_bytes()) != strip(&B) {
        return differs("coefficient b");
    }
    let base = p256::EncodedPoint::from_bytes(params.base.as_bytes()).map_err(|_| {
        KeyError::ExplicitNotP256 {
            field: "base point",
        }
    })?;
    let base: Option<p256::AffinePoint> = p256::AffinePoint::from_encoded_point(&base).into();
    if base != Some(p256::AffinePoint::GENERATOR) {
        return differs("base point");
    }
    if strip(params.order.as_bytes()) != strip(&N) {
        return differs("order");
    }
    if let Some(h) = &params.cofactor
        && strip(h.as_bytes()) != [1]
    {
        return differs("cofactor");
    }
    Ok(())
}

/// The P-256 key in a SubjectPublicKeyInfo with explicit parameters or the named curve.
pub fn public_key_from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<p256::PublicKey, KeyError> {
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(KeyError::NotEc {
            found: spki.algorithm.oid,
        });
    }
    let params = spki
        .algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| KeyError::Parameters("absent (implicitlyCA is not accepted)".into()))?;
    if params.tag() == der::Tag::ObjectIdentifier {
        let oid = params
            .decode_as::<ObjectIdentifier>()
            .map_err(|e| KeyError::Parameters(e.to_string()))?;
        if oid != SECP256R1 {
            return Err(KeyError::OtherCurve { found: oid });
        }
    } else {
        let explicit = EcParameters::from_der(
            &params
                .to_der()
                .map_err(|e| KeyError::Parameters(e.to_string()))?,
        )
        .map_err(|e| KeyError::Parameters(e.to_string()))?;
        check_p256(&explicit)?;
    }
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(KeyError::BadPoint)?;
    p256::PublicKey::from_sec1_bytes(bits).map_err(|_| KeyError::BadPoint)
}
