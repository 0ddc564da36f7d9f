//! A whole card's files from one holder's content ([`build_card`]), and back ([`parse_card`]).
//!
//! This is where the station's decisions about what a card holds live: DG1, DG2, DG7, DG11, DG12
//! always; DG14 and DG15 only with an Active Authentication key; EF.COM lists what is present;
//! EF.SOD signs every data group. No file is written here; the bytes go to `perso`.

use ecard_model::mrz::Td1;
use x509_cert::Certificate;

use super::sod::SodBuildError;
use super::{Com, Dg1, Dg2, Dg7, Dg11, Dg12, Dg14, Dg15, EfId, FaceImage, LdsError, LdsFiles, Sod};
use crate::pki::Signer;

/// What the station puts on one card. Debug shows no holder data.
#[derive(Clone)]
pub struct CardContent {
    /// The TD1 MRZ (DG1).
    pub td1: Td1,
    /// Full name in national script, `SURNAME<<GIVEN<PATRONYMIC` (DG11 `5F0E`).
    pub name_national: Option<String>,
    /// Full date of birth (DG11 `5F2B`).
    pub date_of_birth: time::Date,
    /// The face JPEG (DG2).
    pub face_jpeg: Vec<u8>,
    /// Face width in pixels.
    pub face_width: u16,
    /// Face height in pixels.
    pub face_height: u16,
    /// The signature JPEG (DG7).
    pub signature_jpeg: Vec<u8>,
    /// Issuing authority (DG12 `5F19`).
    pub issuing_authority: String,
    /// Date of issue (DG12 `5F26`).
    pub date_of_issue: time::Date,
    /// Personalization time (DG12 `5F55`).
    pub personalized_at: time::PrimitiveDateTime,
}

impl std::fmt::Debug for CardContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardContent")
            .field("td1", &self.td1)
            .field("face_len", &self.face_jpeg.len())
            .field("signature_len", &self.signature_jpeg.len())
            .finish_non_exhaustive()
    }
}

/// Why a card's files could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// EF.SOD could not be built or signed.
    #[error(transparent)]
    Sod(#[from] SodBuildError),
    /// The content contradicts itself (a caller bug: the model should have caught it).
    #[error("card content is inconsistent: {what}")]
    Inconsistent {
        /// What disagrees, without values.
        what: &'static str,
    },
}

/// Builds every file of a card. DG14 and DG15 are present only with `aa_public_key`.
pub fn build_card(
    content: &CardContent,
    aa_public_key: Option<&p256::PublicKey>,
    signer: &dyn Signer,
    ds_cert: &Certificate,
    signing_time: time::OffsetDateTime,
) -> Result<LdsFiles, BuildError> {
    let dob = content.date_of_birth;
    let yymmdd = format!(
        "{:02}{:02}{:02}",
        dob.year().rem_euclid(100),
        u8::from(dob.month()),
        dob.day()
    );
    if content.td1.date_of_birth != yymmdd {
        return Err(BuildError::Inconsistent {
            what: "MRZ date of birth differs from the full date of birth",
        });
    }
    let mut files = LdsFiles::new();
    files.insert(EfId::Dg1, Dg1::from_td1(&content.td1).build());
    files.insert(
        EfId::Dg2,
        Dg2 {
            header: Default::default(),
            face: FaceImage::jpeg(
                content.face_jpeg.clone(),
                content.face_width,
                content.face_height,
                content.td1.sex,
            ),
        }
        .build(),
    );
    files.insert(EfId::Dg7, Dg7::one(content.signature_jpeg.clone()).build());
    files.insert(
        EfId::Dg11,
        Dg11 {
            full_name: content.name_national.clone(),
            date_of_birth: Some(super::util::date_text(dob)),
            ..Default::default()
        }
        .build(),
    );
    files.insert(
        EfId::Dg12,
        Dg12::new(
            &content.issuing_authority,
            content.date_of_issue,
            content.personalized_at,
        )
        .build(),
    );
    if let Some(key) = aa_public_key {
        files.insert(EfId::Dg14, Dg14::active_authentication_ecdsa().build());
        files.insert(EfId::Dg15, Dg15::for_key(key).build());
    }
    let present: Vec<EfId> = files.keys().copied().collect();
    let sod = Sod::build(&files, signer, ds_cert, signing_time)?;
    files.insert(EfId::Com, Com::for_files(&present).build());
    files.insert(EfId::Sod, sod);
    Ok(files)
}

/// Every file of a card, parsed. EF.COM, DG1 and EF.SOD are mandatory.
#[derive(Debug, Clone)]
pub struct ParsedCard {
    /// EF.COM.
    pub com: Com,
    /// DG1.
    pub dg1: Dg1,
    /// DG2.
    pub dg2: Option<Dg2>,
    /// DG7.
    pub dg7: Option<Dg7>,
    /// DG11.
    pub dg11: Option<Dg11>,
    /// DG12.
    pub dg12: Option<Dg12>,
    /// DG14.
    pub dg14: Option<Dg14>,
    /// DG15.
    pub dg15: Option<Dg15>,
    /// EF.SOD.
    pub sod: Sod,
}

fn need(files: &LdsFiles, ef: EfId) -> Result<&[u8], LdsError> {
    files
        .get(&ef)
        .map(Vec::as_slice)
        .ok_or(LdsError::Absent { file: ef })
}

fn opt<T>(
    files: &LdsFiles,
    ef: EfId,
    parse: fn(&[u8]) -> Result<T, LdsError>,
) -> Result<Option<T>, LdsError> {
    files.get(&ef).map(|b| parse(b)).transpose()
}

/// Parses every file of a card; the first file that does not parse is the error.
pub fn parse_card(files: &LdsFiles) -> Result<ParsedCard, LdsError> {
    Ok(ParsedCard {
        com: Com::parse(need(files, EfId::Com)?)?,
        dg1: Dg1::parse(need(files, EfId::Dg1)?)?,
        dg2: opt(files, EfId::Dg2, Dg2::parse)?,
        dg7: opt(files, EfId::Dg7, Dg7::parse)?,
        dg11: opt(files, EfId::Dg11, Dg11::parse)?,
        dg12: opt(files, EfId::Dg12, Dg12::parse)?,
        dg14: opt(files, EfId::Dg14, Dg14::parse)?,
        dg15: opt(files, EfId::Dg15, Dg15::parse)?,
        sod: Sod::parse(need(files, EfId::Sod)?)?,
    })
}
