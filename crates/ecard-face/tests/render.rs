//! Renderer checks on the PNG pages: size, MRZ geometry against Doc 9303, every field drawn inside
//! its own box, long names shrinking or wrapping, the PDF at true size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ecard_face::{render, render_images};

/// Writes the pages to `$ECARD_FACE_OUT` when set, to look at them.
fn dump(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("ECARD_FACE_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    }
}

#[test]
fn renders_id1_pages_at_300_dpi() {
    let Some(fonts) = fonts_or_skip() else { return };
    let o = Owned::new(karimov());
    let face = render(&o.data(), &template(), &fonts).unwrap();
    dump("front.png", &face.front_png);
    dump("back.png", &face.back_png);
    dump("card.pdf", &face.pdf);
    let mut f = holder_fields(
        "WOLFESCHLEGELSTEINHAUSEN BERGERDORFF VON DER HOHENZOLLERN SIGMARINGEN MACKENZIES",
        "MARIA-LUISA ALEXANDRA",
        None,
        false,
    );
    f.sex = ecard_model::Sex::F;
    f.nationality = "BOL".into();
    let long = Owned::new(Holder::new(f).unwrap());
    let long_face = render(&long.data(), &template(), &fonts).unwrap();
    dump("front-long.png", &long_face.front_png);
    let q = checker(49);
    let mut with_qr = o.data();
    with_qr.qr = Some(&q);
    dump(
        "front-qr.png",
        &render(&with_qr, &template(), &fonts).unwrap().front_png,
    );
    for png in [&face.front_png, &face.back_png, &long_face.front_png] {
        let img = image::load_from_memory(png).unwrap();
        assert_eq!((img.width(), img.height()), (1011, 638));
    }
}

/// Ink (luma below half) bounding boxes of the MRZ lines, in pixels: `[x0, y0, x1, y1]` each.
fn mrz_lines(back: &image::GrayImage, zone_top: u32) -> Vec<[u32; 4]> {
    let (w, h) = back.dimensions();
    let ink = |x: u32, y: u32| back.get_pixel(x, y).0[0] < 128;
    let rows: Vec<bool> = (zone_top..h).map(|y| (0..w).any(|x| ink(x, y))).collect();
    let mut lines = Vec::new();
    let mut start = None;
    for (i, &r) in rows.iter().chain(std::iter::once(&false)).enumerate() {
        let y = zone_top + i as u32;
        match (r, start) {
            (true, None) => start = Some(y),
            (false, Some(y0)) => {
                let xs: Vec<u32> = (0..w).filter(|&x| (y0..y).any(|yy| ink(x, yy))).collect();
                lines.push([xs[0], y0, *xs.last().unwrap(), y - 1]);
                start = None;
            }
            _ => {}
        }
    }
    lines
}

#[test]
fn mrz_sits_in_the_doc9303_zone() {
    let Some(fonts) = fonts_or_skip() else { return };
    let t = template();
    let o = Owned::new(karimov());
    let (_, back) = render_images(&o.data(), &t, &fonts).unwrap();
    let gray = image::DynamicImage::ImageRgb8(back).to_luma8();
    let k = t.px_per_mm();
    let mm = |px: u32| px as f32 / k;
    let zone_top = ((53.98 - 17.9) * k).floor() as u32;
    let lines = mrz_lines(&gray, zone_top);
    assert_eq!(lines.len(), 3, "three MRZ lines expected, found {lines:?}");
    let card_h = 53.98;
    let mut centres = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let [x0, y0, x1, y1] = *l;
        let (left, right) = (mm(x0), mm(x1 + 1));
        let (top, bottom) = (mm(y0), mm(y1 + 1));
        eprintln!(
            "line {}: x {left:.2}..{right:.2} mm, y {top:.2}..{bottom:.2} mm, height {:.2} mm",
            i + 1,
            bottom - top
        );
        // Part 5 §4.2.1.3: first character's left edge 5.0 ± 1.0 mm from the left edge.
        assert!(
            (4.0..=6.0).contains(&left),
            "line {} starts at {left} mm",
            i + 1
        );
        // 30 cells of 2.54 mm from there: the ink ends inside the last cell.
        assert!(
            right <= 5.0 + 30.0 * 2.54 + 0.3,
            "line {} ends at {right} mm",
            i + 1
        );
        assert!(
            right >= 5.0 + 29.0 * 2.54,
            "line {} ends early at {right} mm",
            i + 1
        );
        // Inside Zone VII (bottom 17.9 mm) and clear of the 2.0 mm edge margin.
        assert!(top >= card_h - 17.9 && bottom <= card_h - 2.0);
        // OCR-B size 1 capitals are about 2.4 mm tall.
        assert!(
            (2.2..=2.8).contains(&(bottom - top)),
            "line {} height {}",
            i + 1,
            bottom - top
        );
        centres.push(card_h - (top + bottom) / 2.0);
    }
    // Reference centre lines 4.23 mm apart (Part 5 Figure 6), the first 13.18 mm from the bottom.
    for (got, want) in centres.iter().zip([13.18, 8.95, 4.72]) {
        assert!(
            (got - want).abs() < 0.25,
            "centre {got:.2} mm, expected {want} mm"
        );
    }
}

use ecard_face::{Element, Face, FaceData, FaceError, Field, QrMatrix, Template};
use ecard_model::Holder;
use ecard_model::holder::HolderFields;
use ecard_model::time::{Date, Month};

/// Pixels that differ between two renders, per face.
fn diff(a: &FaceData<'_>, b: &FaceData<'_>, t: &Template) -> [Vec<(u32, u32)>; 2] {
    let fonts = fonts_or_skip().unwrap();
    let (fa, ba) = render_images(a, t, &fonts).unwrap();
    let (fb, bb) = render_images(b, t, &fonts).unwrap();
    let d = |x: &image::RgbImage, y: &image::RgbImage| {
        x.enumerate_pixels()
            .filter(|(i, j, p)| y.get_pixel(*i, *j) != *p)
            .map(|(i, j, _)| (i, j))
            .collect::<Vec<_>>()
    };
    [d(&fa, &fb), d(&ba, &bb)]
}

/// Asserts that `a` and `b` differ, and only inside the boxes of `element` (on either face).
fn differs_only_in(a: &FaceData<'_>, b: &FaceData<'_>, element: Element) {
    let t = template();
    let diffs = diff(a, b, &t);
    let mut placed = 0;
    for (face, d) in [Face::Front, Face::Back].into_iter().zip(&diffs) {
        match t.element_px(face, element) {
            Some(r) => {
                placed += 1;
                assert!(
                    !d.is_empty(),
                    "{element:?} on {face:?}: no pixel changed in {r:?}"
                );
                let outside: Vec<_> = d.iter().filter(|(x, y)| !r.contains(*x, *y)).collect();
                assert!(
                    outside.is_empty(),
                    "{element:?} on {face:?}: {} changed pixels outside {r:?}, e.g. {:?}",
                    outside.len(),
                    &outside[..outside.len().min(5)]
                );
            }
            None => assert!(
                d.is_empty(),
                "{element:?} is not on {face:?} but it changed"
            ),
        }
    }
    assert!(placed > 0, "{element:?} is placed nowhere");
}

fn base() -> HolderFields {
    holder_fields("KARIMOV", "ALISHER", Some("BAKHODIROVICH"), true)
}

/// The base card, and a card with the holder changed by `f` (MRZ kept, to isolate the field).
fn holder_variant(element: Element, f: impl FnOnce(&mut HolderFields)) {
    if fonts_or_skip().is_none() {
        return;
    }
    let a = Owned::new(Holder::new(base()).unwrap());
    let mut fields = base();
    f(&mut fields);
    let mut b = Owned::new(Holder::new(fields).unwrap());
    b.mrz = a.mrz.clone();
    differs_only_in(&a.data(), &b.data(), element);
}

#[test]
fn surname_is_drawn_in_its_box() {
    holder_variant(Element::Field(Field::Surname), |h| {
        h.surname = "KARIMOVA".into()
    });
}

#[test]
fn given_names_are_drawn_in_their_box() {
    holder_variant(Element::Field(Field::GivenNames), |h| {
        h.given_names = "ALISHERBEK".into()
    });
}

#[test]
fn patronymic_is_drawn_in_its_box_and_absent_when_none() {
    holder_variant(Element::Field(Field::Patronymic), |h| {
        h.patronymic = None;
        h.name_cyrillic.as_mut().unwrap().patronymic = None;
    });
}

#[test]
fn date_of_birth_is_drawn_in_its_box() {
    holder_variant(Element::Field(Field::DateOfBirth), |h| {
        h.date_of_birth = Date::from_calendar_date(1991, Month::May, 17).unwrap()
    });
}

#[test]
fn sex_is_drawn_in_its_box() {
    holder_variant(Element::Field(Field::Sex), |h| h.sex = ecard_model::Sex::F);
}

#[test]
fn nationality_is_drawn_in_its_box() {
    holder_variant(Element::Field(Field::Nationality), |h| {
        h.nationality = "TJK".into()
    });
}

#[test]
fn document_data_and_images_are_drawn_in_their_boxes() {
    if fonts_or_skip().is_none() {
        return;
    }
    let a = Owned::new(karimov());
    let other_number = ecard_model::DocumentNumber::new(77, 7654321).unwrap();
    let mut b = a.data();
    b.document_number = &other_number;
    differs_only_in(&a.data(), &b, Element::Field(Field::DocumentNumber));

    let mut b = a.data();
    b.date_of_expiry = Date::from_calendar_date(2031, Month::December, 1).unwrap();
    differs_only_in(&a.data(), &b, Element::Field(Field::DateOfExpiry));

    let mut b = a.data();
    b.date_of_issue = Date::from_calendar_date(2026, Month::December, 1).unwrap();
    differs_only_in(&a.data(), &b, Element::Field(Field::DateOfIssue));

    let mut b = a.data();
    b.issuing_authority = "ММЦ «Сахарово» / MMC Sakharovo";
    differs_only_in(&a.data(), &b, Element::Field(Field::IssuingAuthority));

    let photo = photo_jpeg(90);
    let mut b = a.data();
    b.photo = &photo;
    differs_only_in(&a.data(), &b, Element::Photo);

    let sig = signature_png(25.0);
    let mut b = a.data();
    b.signature = &sig;
    differs_only_in(&a.data(), &b, Element::Signature);
}

#[test]
fn longest_names_shrink_or_wrap_inside_their_boxes() {
    // 80 characters, the most a name part may have (ecard_model::holder::MAX_NAME_CHARS).
    let long = "WOLFESCHLEGELSTEINHAUSEN BERGERDORFF VON DER HOHENZOLLERN SIGMARINGEN MACKENZIES";
    assert_eq!(long.chars().count(), ecard_model::holder::MAX_NAME_CHARS);
    holder_variant(Element::Field(Field::Surname), |h| h.surname = long.into());
    holder_variant(Element::Field(Field::GivenNames), |h| {
        h.given_names = long.into()
    });
    holder_variant(Element::Field(Field::Patronymic), |h| {
        h.patronymic = Some(long.into())
    });
    // 60 characters in both scripts still fit (two lines each at the smallest size).
    let cyr = "ВОЛЬФЕШЛЕГЕЛЬШТЕЙНХАУЗЕН БЕРГЕРДОРФ ФОН ДЕР ГОГЕНЦОЛЛЕРН ЗИГ";
    assert_eq!(cyr.chars().count(), 60);
    holder_variant(Element::Field(Field::Surname), |h| {
        h.surname = long.chars().take(60).collect();
        h.name_cyrillic.as_mut().unwrap().surname = cyr.into();
    });
}

/// The size a value was drawn at shows in its ink height: a long name is drawn smaller.
#[test]
fn a_long_name_is_drawn_smaller_than_a_short_one() {
    let Some(fonts) = fonts_or_skip() else { return };
    let t = template();
    let r = t
        .element_px(Face::Front, Element::Field(Field::Surname))
        .unwrap();
    let ink_rows = |surname: &str| {
        let mut f = base();
        f.surname = surname.into();
        f.name_cyrillic = None;
        let o = Owned::new(Holder::new(f).unwrap());
        let (front, _) = render_images(&o.data(), &t, &fonts).unwrap();
        // Height of the tallest run of inked rows below the label: one text line at its size.
        let rows: Vec<bool> = (r.y + 25..r.y + r.h)
            .map(|y| (r.x..r.x + r.w).any(|x| front.get_pixel(x, y).0[0] < 100))
            .collect();
        rows.split(|b| !b).map(|run| run.len()).max().unwrap()
    };
    let short = ink_rows("KARIMOV");
    let long = ink_rows("WOLFESCHLEGELSTEINHAUSENBERGERDORFF");
    assert!(long < short, "long name line {long} px, short {short} px");
}

#[test]
fn a_name_that_cannot_fit_is_an_error_naming_the_field() {
    let Some(fonts) = fonts_or_skip() else { return };
    let text = ecard_face::template::DEFAULT_TEMPLATE.replace(
        "box_mm = [25.5, 10.0, 30.8, 8.2]",
        "box_mm = [25.5, 10.0, 30.8, 4.2]",
    );
    let t = Template::parse(&text, "narrow.toml").unwrap();
    let mut f = base();
    f.surname = "WOLFESCHLEGELSTEINHAUSEN BERGERDORFF VON DER HOHENZOLLERN SIGMARINGEN".into();
    let o = Owned::new(Holder::new(f).unwrap());
    let err = render(&o.data(), &t, &fonts).unwrap_err();
    assert_eq!(
        err,
        FaceError::DoesNotFit {
            face: "front",
            element: "field surname".into(),
            w_mm: 30.8,
            h_mm: 4.2,
            min_size_pt: 3.5
        }
    );
    // The message names the field and the fix, never the name.
    assert!(!err.to_string().contains("WOLF"));
}

fn checker(width: usize) -> QrMatrix {
    QrMatrix {
        width,
        dark: (0..width * width)
            .map(|i| (i / width + i % width).is_multiple_of(2))
            .collect(),
    }
}

#[test]
fn qr_seal_is_drawn_in_its_box_at_4_px_a_module_or_refused() {
    if fonts_or_skip().is_none() {
        return;
    }
    let a = Owned::new(karimov());
    let q = checker(41);
    let mut b = a.data();
    b.qr = Some(&q);
    differs_only_in(&a.data(), &b, Element::Qr);

    // 24.8 mm at 300 dpi covers 294 px: 65 modules (QR version 12, a seal with a patronymic) + 8
    // quiet fit at 4 px, 66 do not.
    let fonts = fonts_or_skip().unwrap();
    let q = checker(65);
    let mut b = a.data();
    b.qr = Some(&q);
    render(&b, &template(), &fonts).unwrap();
    let q = checker(66);
    b.qr = Some(&q);
    let err = render(&b, &template(), &fonts).unwrap_err();
    assert_eq!(
        err,
        FaceError::QrTooDense {
            modules: 66,
            needed_px: 296,
            box_px: 294
        }
    );
}

#[test]
fn pdf_has_two_pages_at_true_card_size() {
    let Some(fonts) = fonts_or_skip() else { return };
    let o = Owned::new(karimov());
    let face = render(&o.data(), &template(), &fonts).unwrap();
    let text = String::from_utf8_lossy(&face.pdf);
    let boxes: Vec<Vec<f32>> = text
        .match_indices("/MediaBox [")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest[..rest.find(']').unwrap()]
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(boxes.len(), 2);
    for b in boxes {
        // 85.60 x 53.98 mm in points.
        assert_eq!(b[..2], [0.0, 0.0]);
        assert!(
            (b[2] - 242.646).abs() < 0.01 && (b[3] - 153.014).abs() < 0.01,
            "{b:?}"
        );
    }
    assert!(face.pdf.starts_with(b"%PDF-"));
}

#[test]
fn bad_images_and_mrz_are_typed_errors() {
    let Some(fonts) = fonts_or_skip() else { return };
    let o = Owned::new(karimov());
    let mut d = o.data();
    d.photo = b"GIF89a not a photo";
    assert!(matches!(
        render(&d, &template(), &fonts).unwrap_err(),
        FaceError::Image { image: "photo", .. }
    ));
    let mut mrz = o.mrz.clone();
    mrz[1].pop();
    let mut d = o.data();
    d.mrz = &mrz;
    assert_eq!(
        render(&d, &template(), &fonts).unwrap_err(),
        FaceError::Mrz {
            line: 2,
            problem: "has 29 characters; a TD1 line has 30".into()
        }
    );
    // Right shape, wrong document number check digit (line 1, position 15).
    let mut mrz = o.mrz.clone();
    let wrong = if mrz[0].as_bytes()[14] == b'0' {
        "1"
    } else {
        "0"
    };
    mrz[0].replace_range(14..15, wrong);
    let mut d = o.data();
    d.mrz = &mrz;
    assert!(matches!(
        render(&d, &template(), &fonts).unwrap_err(),
        FaceError::MrzCheck { problem } if problem.contains("check digit")
    ));
}

#[test]
fn face_data_debug_is_redacted() {
    let o = Owned::new(karimov());
    let s = format!("{:?}", o.data());
    assert!(!s.contains("KARIMOV") && !s.contains("1990"), "{s}");
}
