//! The elliptic curves PACE runs on (Doc 9303-11 section 9.5.1, standardized domain parameters),
//! with all arithmetic from RustCrypto: `p256` and `p384` (elliptic-curve 0.13), `bp256` and
//! `bp384` (elliptic-curve 0.14). Points cross this module as uncompressed SEC1 bytes
//! (`04 || x || y`) and scalars as big-endian bytes, so the protocol code is one for all curves.
//! Every decoded point is checked to lie on the curve and not to be the identity.

use rand_core::CryptoRngCore;

/// A curve of PACE's standardized domain parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (secp256r1), parameterId 12.
    P256,
    /// brainpoolP256r1, parameterId 13.
    BrainpoolP256r1,
    /// NIST P-384 (secp384r1), parameterId 15.
    P384,
    /// brainpoolP384r1, parameterId 16.
    BrainpoolP384r1,
}

/// A point or scalar that is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CurveError {
    /// Bytes that are not an uncompressed point on the curve, or the identity.
    #[error("not a valid point on {0}")]
    BadPoint(&'static str),
    /// A scalar of the wrong size, zero, or not below the group order.
    #[error("not a valid scalar for {0}")]
    BadScalar(&'static str),
    /// A result at infinity (a degenerate mapping or key agreement).
    #[error("the computation on {0} gave the point at infinity")]
    Identity(&'static str),
}

macro_rules! ops_013 {
    ($m:ident, $krate:ident, $name:literal) => {
        mod $m {
            use super::CurveError;
            use $krate::elliptic_curve::ff::PrimeField;
            use $krate::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
            use $krate::elliptic_curve::{Field, Group};
            use $krate::{AffinePoint, EncodedPoint, FieldBytes, ProjectivePoint, Scalar};

            pub const NAME: &str = $name;

            pub fn scalar(b: &[u8]) -> Result<Scalar, CurveError> {
                let len = FieldBytes::default().len();
                if b.len() > len {
                    return Err(CurveError::BadScalar(NAME));
                }
                let mut buf = FieldBytes::default();
                buf[len - b.len()..].copy_from_slice(b);
                let s: Option<Scalar> = Scalar::from_repr(buf).into();
                s.filter(|s| !bool::from(Field::is_zero(s)))
                    .ok_or(CurveError::BadScalar(NAME))
            }

            pub fn point(b: &[u8]) -> Result<ProjectivePoint, CurveError> {
                if b.first() != Some(&0x04) {
                    return Err(CurveError::BadPoint(NAME));
                }
                let ep = EncodedPoint::from_bytes(b).map_err(|_| CurveError::BadPoint(NAME))?;
                let p: Option<AffinePoint> = AffinePoint::from_encoded_point(&ep).into();
                let p = ProjectivePoint::from(p.ok_or(CurveError::BadPoint(NAME))?);
                if bool::from(p.is_identity()) {
                    return Err(CurveError::BadPoint(NAME));
                }
                Ok(p)
            }

            pub fn encode(p: &ProjectivePoint) -> Result<Vec<u8>, CurveError> {
                if bool::from(p.is_identity()) {
                    return Err(CurveError::Identity(NAME));
                }
                Ok(p.to_affine().to_encoded_point(false).as_bytes().to_vec())
            }

            pub fn generator() -> ProjectivePoint {
                ProjectivePoint::GENERATOR
            }

            pub fn field_len() -> usize {
                FieldBytes::default().len()
            }
        }
    };
}

macro_rules! ops_014 {
    ($m:ident, $krate:ident, $name:literal) => {
        mod $m {
            use super::CurveError;
            use $krate::Scalar;
            use $krate::elliptic_curve::ff::{Field, PrimeField};
            use $krate::elliptic_curve::group::Group;
            use $krate::elliptic_curve::sec1::{FromSec1Point, ToSec1Point};
            use $krate::r1::{AffinePoint, FieldBytes, ProjectivePoint};

            pub const NAME: &str = $name;

            pub fn scalar(b: &[u8]) -> Result<Scalar, CurveError> {
                let len = field_len();
                if b.len() > len {
                    return Err(CurveError::BadScalar(NAME));
                }
                let mut buf = FieldBytes::default();
                buf[len - b.len()..].copy_from_slice(b);
                let s: Option<Scalar> = Scalar::from_repr(buf).into();
                s.filter(|s| !bool::from(Field::is_zero(s)))
                    .ok_or(CurveError::BadScalar(NAME))
            }

            pub fn point(b: &[u8]) -> Result<ProjectivePoint, CurveError> {
                if b.first() != Some(&0x04) {
                    return Err(CurveError::BadPoint(NAME));
                }
                let p = AffinePoint::from_sec1_bytes(b).map_err(|_| CurveError::BadPoint(NAME))?;
                let p = ProjectivePoint::from(p);
                if bool::from(p.is_identity()) {
                    return Err(CurveError::BadPoint(NAME));
                }
                Ok(p)
            }

            pub fn encode(p: &ProjectivePoint) -> Result<Vec<u8>, CurveError> {
                if bool::from(p.is_identity()) {
                    return Err(CurveError::Identity(NAME));
                }
                Ok(p.to_affine().to_sec1_point(false).as_bytes().to_vec())
            }

            pub fn generator() -> ProjectivePoint {
                ProjectivePoint::generator()
            }

            pub fn field_len() -> usize {
                FieldBytes::default().len()
            }
        }
    };
}

ops_013!(nist256, p256, "NIST P-256");
ops_013!(nist384, p384, "NIST P-384");
ops_014!(bp256r1, bp256, "brainpoolP256r1");
ops_014!(bp384r1, bp384, "brainpoolP384r1");

/// Runs `$body` with `$m` bound to the curve's module.
macro_rules! on_curve {
    ($curve:expr, $m:ident => $body:expr) => {
        match $curve {
            Curve::P256 => {
                use nist256 as $m;
                $body
            }
            Curve::P384 => {
                use nist384 as $m;
                $body
            }
            Curve::BrainpoolP256r1 => {
                use bp256r1 as $m;
                $body
            }
            Curve::BrainpoolP384r1 => {
                use bp384r1 as $m;
                $body
            }
        }
    };
}

impl Curve {
    /// The curve of a standardized domain parameter id (Doc 9303-11 Table 6), if supported.
    pub fn from_parameter_id(id: u8) -> Option<Curve> {
        match id {
            12 => Some(Curve::P256),
            13 => Some(Curve::BrainpoolP256r1),
            15 => Some(Curve::P384),
            16 => Some(Curve::BrainpoolP384r1),
            _ => None,
        }
    }

    /// The standardized domain parameter id.
    pub fn parameter_id(self) -> u8 {
        match self {
            Curve::P256 => 12,
            Curve::BrainpoolP256r1 => 13,
            Curve::P384 => 15,
            Curve::BrainpoolP384r1 => 16,
        }
    }

    /// The curve's name.
    pub fn name(self) -> &'static str {
        on_curve!(self, m => m::NAME)
    }

    /// Bytes of a field element (32 or 48).
    pub fn field_len(self) -> usize {
        on_curve!(self, m => m::field_len())
    }

    /// A uniformly random non-zero scalar, from `rng`, as big-endian bytes.
    pub fn random_scalar(self, rng: &mut dyn CryptoRngCore) -> Vec<u8> {
        let mut b = vec![0u8; self.field_len()];
        loop {
            rng.fill_bytes(&mut b);
            if self.check_scalar(&b).is_ok() {
                return b;
            }
        }
    }

    /// Checks that `b` is a scalar in `[1, n-1]`.
    pub fn check_scalar(self, b: &[u8]) -> Result<(), CurveError> {
        on_curve!(self, m => m::scalar(b).map(|_| ()))
    }

    /// Checks that `p` is an uncompressed point on the curve, not the identity.
    pub fn check_point(self, p: &[u8]) -> Result<(), CurveError> {
        on_curve!(self, m => m::point(p).map(|_| ()))
    }

    /// `k * base`, where `base` is the curve's generator when `None`.
    pub fn mul(self, k: &[u8], base: Option<&[u8]>) -> Result<Vec<u8>, CurveError> {
        on_curve!(self, m => {
            let k = m::scalar(k)?;
            let base = match base {
                Some(b) => m::point(b)?,
                None => m::generator(),
            };
            m::encode(&(base * k))
        })
    }

    /// Generic Mapping (Doc 9303-11 section 4.4.3.3.1): `G' = s * G + H` for the nonce `s`.
    pub fn map_generic(self, s: &[u8], h: &[u8]) -> Result<Vec<u8>, CurveError> {
        on_curve!(self, m => {
            let s = m::scalar(s)?;
            let h = m::point(h)?;
            m::encode(&(m::generator() * s + h))
        })
    }
}
