//! A card's QR seal as files beside its other outputs: `seal.txt` (the `EC1:` text) and
//! `seal.png` (the symbol at 4 px a module, quiet zone 4), so a checkpoint test can scan the seal
//! on its own, whatever the face template does with it.

use std::path::Path;

use anyhow::Context;

/// Writes `seal.txt` and `seal.png` for the seal text `text` into `dir`.
pub fn write(dir: &Path, text: &str) -> anyhow::Result<()> {
    let q = ecard_seal::encode_qr(text).context("cannot encode the seal as a QR code")?;
    let txt = dir.join("seal.txt");
    std::fs::write(&txt, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", txt.display()))?;
    let png = dir.join("seal.png");
    ecard_seal::qr_image(&q, 4)
        .save_with_format(&png, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", png.display()))
}
