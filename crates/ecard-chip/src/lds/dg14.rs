//! DG14: security infos (tag `6E`). On the e-card it holds only the ActiveAuthenticationInfo that
//! tells a reader which signature the chip's INTERNAL AUTHENTICATE returns (Doc 9303-11 6.1).
//!
//! The content is DER, decoded with `der`; a SecurityInfo of a protocol this product does not run
//! is kept as it is (readers skip what they do not know).

use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Any, Decode, Encode, Sequence, ValueOrd};

use super::util::{outer_der, wrap_der};
use super::{EfId, LdsError};

const FILE: EfId = EfId::Dg14;

/// id-icao-mrtd-security-aaProtocolObject.
pub const ID_AA: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.5");
/// ecdsa-plain-SHA256 (BSI TR-03111): the plain r||s signature the e-card's chip returns.
pub const ECDSA_PLAIN_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.1.1.4.1.3");

/// ```text
/// SecurityInfo ::= SEQUENCE {
///   protocol     OBJECT IDENTIFIER,
///   requiredData ANY DEFINED BY protocol,
///   optionalData ANY DEFINED BY protocol OPTIONAL }
/// ```
/// (Doc 9303-11 9.2, SecurityInfos ::= SET OF SecurityInfo.)
#[derive(Clone, Debug, Eq, PartialEq, Sequence, ValueOrd)]
pub struct SecurityInfo {
    /// The protocol.
    pub protocol: ObjectIdentifier,
    /// Protocol-specific data.
    pub required_data: Any,
    /// Protocol-specific optional data.
    #[asn1(optional = "true")]
    pub optional_data: Option<Any>,
}

/// ```text
/// ActiveAuthenticationInfo ::= SEQUENCE {
///   protocol id-icao-mrtd-security-aaProtocolObject,
///   version INTEGER, -- MUST be 1
///   signatureAlgorithm OBJECT IDENTIFIER }
/// ```
/// (Doc 9303-11 9.2.8; a SecurityInfo whose protocol is `2.23.136.1.1.5`.)
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ActiveAuthenticationInfo {
    /// Must be 1.
    pub version: u8,
    /// The signature algorithm of INTERNAL AUTHENTICATE.
    pub signature_algorithm: ObjectIdentifier,
}

/// The content of DG14.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Dg14 {
    /// The security infos, in DER SET OF order.
    pub infos: SetOfVec<SecurityInfo>,
}

fn asn1(what: &'static str) -> impl Fn(der::Error) -> LdsError {
    move |e| LdsError::Asn1 {
        file: FILE,
        what,
        problem: e.to_string(),
    }
}

impl Dg14 {
    /// DG14 announcing Active Authentication with ecdsa-plain-SHA256, as the e-card writes it.
    pub fn active_authentication_ecdsa() -> Self {
        #[allow(clippy::expect_used)]
        let info = (|| -> der::Result<SecurityInfo> {
            Ok(SecurityInfo {
                protocol: ID_AA,
                required_data: Any::encode_from(&1u8)?,
                optional_data: Some(Any::encode_from(&ECDSA_PLAIN_SHA256)?),
            })
        })()
        .expect("an INTEGER and an OID constant always encode");
        let mut infos = SetOfVec::new();
        #[allow(clippy::expect_used)]
        infos
            .insert(info)
            .expect("one element in an empty set is always in order");
        Dg14 { infos }
    }

    /// The Active Authentication info, if DG14 has one that decodes.
    pub fn active_authentication(&self) -> Option<Result<ActiveAuthenticationInfo, LdsError>> {
        let i = self.infos.iter().find(|i| i.protocol == ID_AA)?;
        Some((|| {
            let version: u8 = i
                .required_data
                .decode_as()
                .map_err(asn1("ActiveAuthenticationInfo version"))?;
            let signature_algorithm: ObjectIdentifier = i
                .optional_data
                .as_ref()
                .ok_or(LdsError::Asn1 {
                    file: FILE,
                    what: "ActiveAuthenticationInfo",
                    problem: "signatureAlgorithm is missing (required for ECDSA)".into(),
                })?
                .decode_as()
                .map_err(asn1("ActiveAuthenticationInfo signatureAlgorithm"))?;
            Ok(ActiveAuthenticationInfo {
                version,
                signature_algorithm,
            })
        })())
    }

    /// The file's bytes: `6E` around the DER SET OF.
    pub fn build(&self) -> Vec<u8> {
        #[allow(clippy::expect_used)]
        let der = self
            .infos
            .to_der()
            .expect("a SET OF decoded or built SecurityInfos re-encodes");
        wrap_der(FILE, &der)
    }

    /// Parses DG14: `6E` around exactly one DER SecurityInfos.
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let value = outer_der(FILE, bytes)?;
        let infos = SetOfVec::<SecurityInfo>::from_der(value).map_err(asn1("SecurityInfos"))?;
        Ok(Dg14 { infos })
    }
}
