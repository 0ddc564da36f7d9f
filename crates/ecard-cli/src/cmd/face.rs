//! The printed card face for an issued card: the same holder, number, dates and MRZ as its chip.

use std::path::Path;

use anyhow::Context;
use ecard_chip::lds::CardContent;
use ecard_face::{FaceData, Fonts, Template, render};
use ecard_imaging::PreparedEnrollment;
use ecard_model::number::DocumentNumber;

/// Renders the card's front and back (PNG at 300 dpi) and the two-page PDF into `dir`.
pub fn write_faces(
    dir: &Path,
    fonts: &Fonts,
    prepared: &PreparedEnrollment,
    number: &DocumentNumber,
    content: &CardContent,
) -> anyhow::Result<()> {
    let data = FaceData {
        holder: &prepared.holder,
        document_number: number,
        date_of_issue: content.date_of_issue,
        date_of_expiry: ecard_model::dates::expiry_for(content.date_of_issue),
        issuing_authority: &content.issuing_authority,
        mrz: &content.td1.lines,
        photo: &prepared.photo_original,
        signature: &prepared.signature_original,
        qr: None,
    };
    let face = render(&data, &Template::builtin(), fonts)
        .with_context(|| format!("cannot render the face of card {number}"))?;
    for (name, bytes) in [
        ("face-front.png", &face.front_png),
        ("face-back.png", &face.back_png),
        ("face.pdf", &face.pdf),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
