//! Issuing one card: the holder's content, the chip, the Document Signer, in one call.
//!
//! This is the step a station lane and `ecard personalize` share: build the card's content from
//! the model, let the chip generate its Active Authentication key, build and sign the LDS files
//! around that key, write them, read them back and lock. It adds no protocol of its own: the
//! [`Personalizer`](crate::perso::Personalizer) drives the card and
//! [`build_card`](crate::lds::build_card) makes the files. Time is an argument, as everywhere here.

use ecard_model::holder::Holder;
use ecard_model::mrz::Td1;
use ecard_model::number::DocumentNumber;
use time::{OffsetDateTime, PrimitiveDateTime};
use x509_cert::Certificate;

use crate::lds::{CardContent, LdsFiles, build_card};
use crate::perso::{PersoError, PersoReport, Personalizer, run};
use crate::pki::Signer;
use crate::profile::Profile;
use crate::transport::Transport;

/// The images that go on the chip, already fitted to their byte budgets.
#[derive(Clone)]
pub struct ChipImages {
    /// The face JPEG for DG2.
    pub face_jpeg: Vec<u8>,
    /// Its width in pixels.
    pub face_width: u16,
    /// Its height in pixels.
    pub face_height: u16,
    /// The greyscale signature JPEG for DG7.
    pub signature_jpeg: Vec<u8>,
}

/// The card's content for `holder`, numbered `number`, personalized at `at`.
///
/// The date of issue is `at`'s calendar day in Moscow and the expiry 5 years later (ECARD.md
/// section 3); DG12's personalization time is Moscow local time too, so the printed and the chip
/// dates never disagree around midnight UTC.
pub fn card_content(
    holder: &Holder,
    number: &DocumentNumber,
    images: ChipImages,
    issuing_authority: &str,
    at: OffsetDateTime,
) -> CardContent {
    let local = at.to_offset(ecard_model::dates::MOSCOW_OFFSET);
    let date_of_issue = local.date();
    let expiry = ecard_model::dates::expiry_for(date_of_issue);
    CardContent {
        td1: Td1::for_card(holder, number, expiry),
        name_national: holder.national_name(),
        date_of_birth: holder.date_of_birth(),
        face_jpeg: images.face_jpeg,
        face_width: images.face_width,
        face_height: images.face_height,
        signature_jpeg: images.signature_jpeg,
        issuing_authority: issuing_authority.to_string(),
        date_of_issue,
        personalized_at: PrimitiveDateTime::new(local.date(), local.time()),
    }
}

/// A card written, read back and (where the profile can) locked, with the files it holds.
#[derive(Debug, Clone)]
pub struct IssuedCard {
    /// What the personalization did.
    pub report: PersoReport,
    /// The files written, byte for byte (what the station keeps for QA).
    pub files: LdsFiles,
}

/// Personalizes the card behind `transport` with `content`, signing EF.SOD with `signer` (whose
/// certificate is `ds_cert`) at `signing_time`, and writing `can` as the chip's PACE password
/// where the profile offers PACE. The first failing step ends the run with an error that names
/// the step, file, offset and status word, and says whether the card is spoiled.
pub fn issue(
    transport: &mut dyn Transport,
    profile: &Profile,
    content: &CardContent,
    signer: &dyn Signer,
    ds_cert: &Certificate,
    signing_time: OffsetDateTime,
    can: Option<&str>,
) -> Result<IssuedCard, PersoError> {
    let mut perso = Personalizer::new(profile, transport.limits());
    if let Some(can) = can {
        perso = perso.with_can(can);
    }
    let mut written = None;
    let report = run(transport, perso, |aa_key| {
        let files = build_card(content, aa_key.as_ref(), signer, ds_cert, signing_time)?;
        written = Some(files.clone());
        Ok::<_, crate::lds::BuildError>(files)
    })?;
    // `run` finishes only after the files were provided, written and read back.
    let files = written.unwrap_or_default();
    Ok(IssuedCard { report, files })
}
