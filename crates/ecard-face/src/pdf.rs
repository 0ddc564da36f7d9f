//! The two raster pages as one PDF at the card's true size.
//!
//! Why raster and not vector text: the PNG pages are what the station checks (MRZ geometry, OCR)
//! and what a card printer prints at its native 300 dpi; embedding the very same pixels means the
//! PDF cannot drift from them, and no font is embedded (no subsetting, no licence question). Each
//! page's MediaBox is the card size in points (85.60 x 53.98 mm = 242.65 x 153.01 pt) and the
//! image fills it exactly. Pixels are stored losslessly (Flate), never as JPEG: the MRZ must stay
//! crisp. This module writes bytes only.

use image::RgbImage;
use miniz_oxide::deflate::{CompressionLevel, compress_to_vec_zlib};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, TextStr};

/// Millimetres to PDF points.
pub fn mm_to_pt(mm: f32) -> f32 {
    mm / 25.4 * 72.0
}

/// A PDF with one page per image, each `width_mm` x `height_mm`.
pub(crate) fn pages(images: &[&RgbImage], width_mm: f32, height_mm: f32) -> Vec<u8> {
    let (w_pt, h_pt) = (mm_to_pt(width_mm), mm_to_pt(height_mm));
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    // Three objects a page: the page, its image, its content stream.
    let page_ref = |i: usize| Ref::new(4 + 3 * i as i32);
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..images.len()).map(page_ref))
        .count(images.len() as i32);
    // No holder data in the metadata: the file may sit in a spool folder.
    pdf.document_info(info)
        .title(TextStr("e-card face"))
        .producer(TextStr("ecard-face"));
    for (i, img) in images.iter().enumerate() {
        let page_id = page_ref(i);
        let image_id = Ref::new(page_id.get() + 1);
        let content_id = Ref::new(page_id.get() + 2);
        let name = Name(b"Face");
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, w_pt, h_pt));
        page.parent(tree);
        page.contents(content_id);
        page.resources().x_objects().pair(name, image_id);
        page.finish();

        let data = compress_to_vec_zlib(img.as_raw(), CompressionLevel::DefaultLevel as u8);
        let mut xobj = pdf.image_xobject(image_id, &data);
        xobj.filter(Filter::FlateDecode);
        xobj.width(img.width() as i32);
        xobj.height(img.height() as i32);
        xobj.color_space().device_rgb();
        xobj.bits_per_component(8);
        xobj.interpolate(false);
        xobj.finish();

        let mut content = Content::new();
        content.save_state();
        content.transform([w_pt, 0.0, 0.0, h_pt, 0.0, 0.0]);
        content.x_object(name);
        content.restore_state();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}
