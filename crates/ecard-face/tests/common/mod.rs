//! Shared fixtures: a holder, synthetic photo and signature images, and the fonts (or a skip).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ecard_face::{FaceData, FontPaths, Fonts, Template};
use ecard_model::enrollment::CyrillicName;
use ecard_model::holder::HolderFields;
use ecard_model::mrz::Td1;
use ecard_model::time::{Date, Month};
use ecard_model::{DocumentNumber, Holder, Sex};
use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

/// The fonts, or `None` (after printing "skipped: ...") when the Debian font packages are absent.
pub fn fonts_or_skip() -> Option<Fonts> {
    match Fonts::load(&FontPaths::default()) {
        Ok(f) => Some(f),
        Err(e) => {
            if std::env::var("ECARD_FACE_TESTS").as_deref() == Ok("1") {
                panic!("fonts required (ECARD_FACE_TESTS=1): {e}");
            }
            eprintln!("skipped: {e}");
            None
        }
    }
}

pub fn holder(surname: &str, given: &str, patronymic: Option<&str>, cyr: bool) -> Holder {
    Holder::new(holder_fields(surname, given, patronymic, cyr)).unwrap()
}

pub fn holder_fields(
    surname: &str,
    given: &str,
    patronymic: Option<&str>,
    cyr: bool,
) -> HolderFields {
    HolderFields {
        surname: surname.into(),
        given_names: given.into(),
        patronymic: patronymic.map(Into::into),
        name_cyrillic: cyr.then(|| CyrillicName {
            surname: "КАРИМОВ".into(),
            given_names: "АЛИШЕР".into(),
            patronymic: patronymic.map(|_| "БАХОДИРОВИЧ".into()),
        }),
        date_of_birth: Date::from_calendar_date(1990, Month::May, 17).unwrap(),
        sex: Sex::M,
        nationality: "UZB".into(),
    }
}

pub fn karimov() -> Holder {
    holder("KARIMOV", "ALISHER", Some("BAKHODIROVICH"), true)
}

pub fn number() -> DocumentNumber {
    DocumentNumber::new(77, 1234567).unwrap()
}

pub fn issue() -> Date {
    Date::from_calendar_date(2026, Month::November, 25).unwrap()
}

pub fn mrz(h: &Holder, n: &DocumentNumber) -> [String; 3] {
    Td1::for_card(h, n, ecard_model::dates::expiry_for(issue())).lines
}

/// A portrait-like JPEG: grey background, a skin-toned oval head, dark shoulders.
pub fn photo_jpeg(shade: u8) -> Vec<u8> {
    let (w, h) = (480u32, 600u32);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 - 240.0, y as f32 - 250.0);
        if (fx / 120.0).powi(2) + (fy / 160.0).powi(2) < 1.0 {
            Rgb([224, 172, shade])
        } else if y > 430 && (fx.abs() < 230.0) {
            Rgb([40, 50, 70])
        } else {
            Rgb([205, 210, 215])
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

/// A signature-like PNG with transparency: a dark wavy stroke.
pub fn signature_png(amplitude: f32) -> Vec<u8> {
    let (w, h) = (600u32, 160u32);
    let mut img = RgbaImage::from_pixel(w, h, Rgba([255, 255, 255, 0]));
    for x in 30..570u32 {
        let t = x as f32 / 40.0;
        let y = 80.0 + amplitude * t.sin() * (1.0 + (t * 0.37).cos()) / 2.0;
        for dy in -3i32..=3 {
            let yy = (y as i32 + dy).clamp(0, h as i32 - 1) as u32;
            img.put_pixel(x, yy, Rgba([20, 30, 90, 255]));
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

pub const AUTHORITY: &str = "ГУ МВД России по г. Москве, ММЦ «Сахарово» / MMC Sakharovo, Moscow";

pub struct Owned {
    pub holder: Holder,
    pub number: DocumentNumber,
    pub mrz: [String; 3],
    pub photo: Vec<u8>,
    pub signature: Vec<u8>,
    pub authority: String,
    pub issue: Date,
}

impl Owned {
    pub fn new(holder: Holder) -> Owned {
        let number = number();
        let mrz = mrz(&holder, &number);
        Owned {
            holder,
            number,
            mrz,
            photo: photo_jpeg(150),
            signature: signature_png(50.0),
            authority: AUTHORITY.into(),
            issue: issue(),
        }
    }

    pub fn data(&self) -> FaceData<'_> {
        FaceData {
            holder: &self.holder,
            document_number: &self.number,
            date_of_issue: self.issue,
            date_of_expiry: ecard_model::dates::expiry_for(self.issue),
            issuing_authority: &self.authority,
            mrz: &self.mrz,
            photo: &self.photo,
            signature: &self.signature,
            qr: None,
            can: Some("123456"),
        }
    }
}

pub fn template() -> Template {
    Template::builtin()
}
