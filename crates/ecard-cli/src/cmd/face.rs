//! The printed card face for an issued card: the same holder, number, dates and MRZ as its chip,
//! and its QR seal (ECARD.md section 8).
//!
//! The seal is also written on its own (`seal.txt`, `seal.png` at 4 px a module), so a checkpoint
//! test can scan it even where the face template has no room for it.

use std::path::Path;

use anyhow::Context;
use ecard_chip::lds::CardContent;
use ecard_face::{FaceData, FaceError, Fonts, QrMatrix, Template, render};
use ecard_imaging::PreparedEnrollment;
use ecard_model::number::DocumentNumber;

/// Renders the card's front and back (PNG at 300 dpi) and the two-page PDF into `dir`, with the
/// QR seal `seal` (its `EC1:` text) on the front. Returns why the seal is not on the face, if it
/// is not: a template whose QR box is too small for the seal at 4 px a module gets a face without
/// it (the seal is still written as `seal.png`), and the caller warns.
pub fn write_faces(
    dir: &Path,
    fonts: &Fonts,
    prepared: &PreparedEnrollment,
    number: &DocumentNumber,
    content: &CardContent,
    seal: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let qr = match seal {
        Some(text) => {
            let q = ecard_seal::encode_qr(text)
                .with_context(|| format!("cannot encode the seal of card {number} as a QR code"))?;
            write_seal(dir, text, &q)?;
            Some(QrMatrix {
                width: q.width,
                dark: q.dark,
            })
        }
        None => None,
    };
    let data = FaceData {
        holder: &prepared.holder,
        document_number: number,
        date_of_issue: content.date_of_issue,
        date_of_expiry: ecard_model::dates::expiry_for(content.date_of_issue),
        issuing_authority: &content.issuing_authority,
        mrz: &content.td1.lines,
        photo: &prepared.photo_original,
        signature: &prepared.signature_original,
        qr: qr.as_ref(),
    };
    let template = Template::builtin();
    let (face, without_seal) = match render(&data, &template, fonts) {
        Err(e @ FaceError::QrTooDense { .. }) => {
            let without = FaceData { qr: None, ..data };
            let face = render(&without, &template, fonts)
                .with_context(|| format!("cannot render the face of card {number}"))?;
            (face, Some(e.to_string()))
        }
        r => (
            r.with_context(|| format!("cannot render the face of card {number}"))?,
            None,
        ),
    };
    for (name, bytes) in [
        ("face-front.png", &face.front_png),
        ("face-back.png", &face.back_png),
        ("face.pdf", &face.pdf),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(without_seal)
}

/// Writes `seal.txt` (the QR text) and `seal.png` (the symbol at 4 px a module, quiet zone 4).
fn write_seal(dir: &Path, text: &str, q: &ecard_seal::QrModules) -> anyhow::Result<()> {
    let txt = dir.join("seal.txt");
    std::fs::write(&txt, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", txt.display()))?;
    let png = dir.join("seal.png");
    ecard_seal::qr_image(q, 4)
        .save_with_format(&png, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", png.display()))
}
