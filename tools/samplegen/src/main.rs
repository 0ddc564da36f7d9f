//! `samplegen [OUT_DIR]`: writes the sample enrollment records, portraits and signatures under
//! `OUT_DIR` (default `samples`).
//!
//! Everything is drawn by code from fixed seeds, so a rerun gives the same files byte for byte and
//! no image is downloaded. The people are invented; the records pass validation with today
//! 2026-11-25 and stay valid for years (adults, passports expiring after 2030). `invalid/` holds
//! records that break several rules at once, for the CLI's tests.
#![forbid(unsafe_code)]

mod draw;

use std::error::Error;
use std::fs;
use std::path::Path;

use draw::{Look, Rng};
use ecard_model::dates::parse_date;
use ecard_model::enrollment::{
    Application, CyrillicName, IdentityDocument, IdentityDocumentKind, ImageRef, ReplacementCause,
    ResidenceStatus,
};
use ecard_model::mrz::{Td3, Td3Fields, transliterate};
use ecard_model::{DocumentNumber, EnrollmentRecord, Sex};
use image::codecs::jpeg::JpegEncoder;
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

struct Person {
    slug: &'static str,
    application_id: &'static str,
    surname: &'static str,
    given_names: &'static str,
    patronymic: Option<&'static str>,
    cyrillic: Option<(&'static str, &'static str, Option<&'static str>)>,
    date_of_birth: &'static str,
    sex: Sex,
    nationality: &'static str,
    kind: IdentityDocumentKind,
    document_number: &'static str,
    issuing_state: &'static str,
    document_expiry: &'static str,
    /// Write the passport's TD3 MRZ (with the personal number given).
    mrz: Option<&'static str>,
    replacement: Option<(&'static str, ReplacementCause, &'static str)>,
    applied_on: &'static str,
    look: Look,
}

fn people() -> Vec<Person> {
    vec![
        Person {
            slug: "karimov",
            application_id: "MMC-2026-0000123",
            surname: "KARIMOV",
            given_names: "ALISHER",
            patronymic: Some("BAKHODIROVICH"),
            cyrillic: Some(("КАРИМОВ", "АЛИШЕР", Some("БАХОДИРОВИЧ"))),
            date_of_birth: "1990-05-17",
            sex: Sex::M,
            nationality: "UZB",
            kind: IdentityDocumentKind::Passport,
            document_number: "FA1234567",
            issuing_state: "UZB",
            document_expiry: "2031-03-14",
            mrz: Some("31705901234567"),
            replacement: None,
            applied_on: "2026-11-24",
            look: Look {
                skin: [205.0, 160.0, 125.0],
                hair: [35.0, 28.0, 25.0],
                iris: [70.0, 45.0, 30.0],
                shirt: [40.0, 70.0, 130.0],
                background: [215.0, 222.0, 232.0],
                long_hair: false,
                head_rx: 112.0,
                head_ry: 150.0,
                hairline: -0.55,
            },
        },
        Person {
            slug: "rakhimova",
            application_id: "MMC-2026-0000456",
            surname: "RAKHIMOVA",
            given_names: "ZARINA",
            patronymic: Some("SHARIFOVNA"),
            cyrillic: Some(("РАХИМОВА", "ЗАРИНА", Some("ШАРИФОВНА"))),
            date_of_birth: "1995-03-08",
            sex: Sex::F,
            nationality: "TJK",
            kind: IdentityDocumentKind::Passport,
            document_number: "401234567",
            issuing_state: "TJK",
            document_expiry: "2033-06-30",
            mrz: None,
            replacement: None,
            applied_on: "2026-10-15",
            look: Look {
                skin: [220.0, 180.0, 150.0],
                hair: [25.0, 20.0, 18.0],
                iris: [60.0, 40.0, 25.0],
                shirt: [150.0, 40.0, 70.0],
                background: [230.0, 226.0, 214.0],
                long_hair: true,
                head_rx: 104.0,
                head_ry: 142.0,
                hairline: -0.5,
            },
        },
        Person {
            slug: "asanov",
            application_id: "MMC-2026-0000789",
            surname: "ASANOV",
            given_names: "NURLAN",
            patronymic: None,
            cyrillic: Some(("АСАНОВ", "НУРЛАН", None)),
            date_of_birth: "1987-11-02",
            sex: Sex::M,
            nationality: "KGZ",
            kind: IdentityDocumentKind::Passport,
            document_number: "AC1234567",
            issuing_state: "KGZ",
            document_expiry: "2032-09-01",
            mrz: None,
            replacement: Some(("771000123", ReplacementCause::Lost, "2026-11-20")),
            applied_on: "2026-11-23",
            look: Look {
                skin: [200.0, 165.0, 130.0],
                hair: [20.0, 18.0, 18.0],
                iris: [50.0, 35.0, 25.0],
                shirt: [60.0, 60.0, 60.0],
                background: [210.0, 225.0, 215.0],
                long_hair: false,
                head_rx: 120.0,
                head_ry: 148.0,
                hairline: -0.62,
            },
        },
        Person {
            slug: "wang",
            application_id: "MMC-2026-0001011",
            surname: "WANG",
            given_names: "XIAOMING",
            patronymic: None,
            cyrillic: None,
            date_of_birth: "1992-07-21",
            sex: Sex::M,
            nationality: "CHN",
            kind: IdentityDocumentKind::Passport,
            document_number: "EJ4821937",
            issuing_state: "CHN",
            document_expiry: "2034-02-10",
            mrz: Some(""),
            replacement: None,
            applied_on: "2026-09-02",
            look: Look {
                skin: [225.0, 190.0, 155.0],
                hair: [15.0, 15.0, 18.0],
                iris: [35.0, 25.0, 20.0],
                shirt: [235.0, 235.0, 235.0],
                background: [200.0, 215.0, 235.0],
                long_hair: false,
                head_rx: 108.0,
                head_ry: 146.0,
                hairline: -0.48,
            },
        },
        Person {
            slug: "nguyen",
            application_id: "MMC-2026-0001213",
            surname: "NGUYEN",
            given_names: "THI LAN",
            patronymic: None,
            cyrillic: Some(("НГУЕН", "ТХИ ЛАН", None)),
            date_of_birth: "1998-01-30",
            sex: Sex::F,
            nationality: "VNM",
            kind: IdentityDocumentKind::Passport,
            document_number: "C7654321",
            issuing_state: "VNM",
            document_expiry: "2035-01-30",
            mrz: None,
            replacement: None,
            applied_on: "2026-06-18",
            look: Look {
                skin: [228.0, 196.0, 165.0],
                hair: [30.0, 22.0, 20.0],
                iris: [40.0, 28.0, 22.0],
                shirt: [90.0, 140.0, 110.0],
                background: [235.0, 228.0, 228.0],
                long_hair: true,
                head_rx: 100.0,
                head_ry: 138.0,
                hairline: -0.45,
            },
        },
        Person {
            slug: "hakobyan",
            application_id: "MMC-2026-0001415",
            surname: "HAKOBYAN",
            given_names: "ANI",
            patronymic: Some("ARMENOVNA"),
            cyrillic: Some(("АКОПЯН", "АНИ", Some("АРМЕНОВНА"))),
            date_of_birth: "1979-09-14",
            sex: Sex::F,
            nationality: "ARM",
            kind: IdentityDocumentKind::Passport,
            document_number: "AT0456789",
            issuing_state: "ARM",
            document_expiry: "2030-12-31",
            mrz: None,
            replacement: None,
            applied_on: "2026-03-05",
            look: Look {
                skin: [215.0, 172.0, 140.0],
                hair: [70.0, 40.0, 25.0],
                iris: [85.0, 100.0, 60.0],
                shirt: [30.0, 30.0, 45.0],
                background: [220.0, 220.0, 225.0],
                long_hair: true,
                head_rx: 106.0,
                head_ry: 146.0,
                hairline: -0.52,
            },
        },
        Person {
            slug: "bekov",
            application_id: "MMC-2026-0001617",
            surname: "BEKOV",
            given_names: "RUSLAN",
            patronymic: Some("MAGOMEDOVICH"),
            cyrillic: Some(("БЕКОВ", "РУСЛАН", Some("МАГОМЕДОВИЧ"))),
            date_of_birth: "1970-04-04",
            sex: Sex::M,
            nationality: "XXA",
            kind: IdentityDocumentKind::StatelessPersonDocument,
            document_number: "0012345",
            issuing_state: "RUS",
            document_expiry: "2031-04-04",
            mrz: None,
            replacement: None,
            applied_on: "2026-07-30",
            look: Look {
                skin: [195.0, 150.0, 118.0],
                hair: [120.0, 118.0, 115.0],
                iris: [60.0, 70.0, 80.0],
                shirt: [110.0, 85.0, 60.0],
                background: [225.0, 230.0, 225.0],
                long_hair: false,
                head_rx: 122.0,
                head_ry: 152.0,
                hairline: -0.4,
            },
        },
    ]
}

fn date(s: &str) -> Result<ecard_model::time::Date> {
    Ok(parse_date(s)?)
}

fn record(p: &Person) -> Result<EnrollmentRecord> {
    let mrz = match p.mrz {
        None => None,
        Some(personal_number) => Some(
            Td3::build(&Td3Fields {
                document_code: "P".into(),
                issuing_state: p.issuing_state.into(),
                primary_identifier: transliterate(p.surname)?,
                secondary_identifier: transliterate(p.given_names)?,
                document_number: p.document_number.into(),
                nationality: p.nationality.into(),
                date_of_birth: date(p.date_of_birth)?,
                sex: p.sex.as_char(),
                date_of_expiry: date(p.document_expiry)?,
                personal_number: personal_number.into(),
            })?
            .lines,
        ),
    };
    let application = match p.replacement {
        None => Application::FirstIssue,
        Some((previous, cause, event)) => Application::Replacement {
            previous_document_number: previous.parse::<DocumentNumber>()?,
            cause,
            event_date: date(event)?,
        },
    };
    Ok(EnrollmentRecord {
        application_id: p.application_id.into(),
        surname: p.surname.into(),
        given_names: p.given_names.into(),
        patronymic: p.patronymic.map(Into::into),
        name_cyrillic: p.cyrillic.map(|(s, g, pat)| CyrillicName {
            surname: s.into(),
            given_names: g.into(),
            patronymic: pat.map(Into::into),
        }),
        date_of_birth: date(p.date_of_birth)?,
        sex: p.sex,
        residence_region: None,
        nationality: p.nationality.into(),
        residence_status: ResidenceStatus::Temporary,
        identity_document: IdentityDocument {
            kind: p.kind,
            number: p.document_number.into(),
            issuing_state: p.issuing_state.into(),
            date_of_expiry: date(p.document_expiry)?,
            mrz,
        },
        photo: ImageRef::Path(format!("{}/photo.jpg", p.slug)),
        signature: ImageRef::Path(format!("{}/signature.png", p.slug)),
        application,
        applied_on: date(p.applied_on)?,
    })
}

fn jpeg(img: &image::RgbImage, quality: u8) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(img)?;
    Ok(out)
}

fn png(img: &image::DynamicImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

fn pretty(v: &impl serde::Serialize) -> Result<Vec<u8>> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s.into_bytes())
}

fn main() -> Result<()> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "samples".into());
    let out = Path::new(&out);
    let mut records = Vec::new();
    for (i, p) in people().iter().enumerate() {
        let mut rng = Rng::new(1000 + i as u64);
        write(
            &out.join(p.slug).join("photo.jpg"),
            &jpeg(&draw::portrait(&p.look, &mut rng), 90)?,
        )?;
        let sig = image::DynamicImage::ImageRgba8(draw::signature(&mut rng));
        write(&out.join(p.slug).join("signature.png"), &png(&sig)?)?;
        let r = record(p)?;
        write(&out.join(format!("{}.json", p.slug)), &pretty(&r)?)?;
        records.push(serde_json::to_value(&r)?);
    }
    invalid(out, &records)?;
    Ok(())
}

/// Records that break several rules at once, each pointing at images one level up.
fn invalid(out: &Path, records: &[Value]) -> Result<()> {
    let dir = out.join("invalid");
    let relink = |v: &mut Value| {
        for key in ["photo", "signature"] {
            if let Some(Value::String(p)) = v.pointer_mut(&format!("/{key}/path")) {
                *p = format!("../{p}");
            }
        }
    };
    // A minor with an expired passport, a permanent resident, and a field the contract lacks.
    let mut minor = records[1].clone();
    relink(&mut minor);
    minor["application_id"] = json!("MMC-2026-9000001");
    minor["date_of_birth"] = json!("2013-02-01");
    minor["residence_status"] = json!("permanent");
    minor["identity_document"]["date_of_expiry"] = json!("2026-01-31");
    minor["phone"] = json!("+7 900 000-00-00");
    write(&dir.join("minor-expired-permanent.json"), &pretty(&minor)?)?;

    // An MRZ with a broken check digit, an unknown nationality, a replacement dated after the
    // application, and a photo file that does not exist.
    let mut mrz = records[0].clone();
    relink(&mut mrz);
    mrz["application_id"] = json!("MMC-2026-9000002");
    if let Some(Value::String(l2)) = mrz.pointer_mut("/identity_document/mrz/1") {
        let good = l2.as_bytes()[9];
        let bad = if good == b'0' { '1' } else { '0' };
        l2.replace_range(9..10, &bad.to_string());
    }
    mrz["nationality"] = json!("UZX");
    mrz["application"] = json!({"kind": "replacement", "previous_document_number": "7712345",
                               "cause": "stolen", "event_date": "2026-12-01"});
    mrz["photo"] = json!({"path": "missing-photo.jpg"});
    write(&dir.join("bad-mrz-and-replacement.json"), &pretty(&mrz)?)?;

    // Images that cannot go on the chip, and names that cannot go in an MRZ.
    let mut images = records[4].clone();
    images["application_id"] = json!("MMC-2026-9000003");
    images["given_names"] = json!("THI LAN 2");
    images["name_cyrillic"]["surname"] = json!("NGUYEN");
    images["photo"] = json!({"path": "small-photo.jpg"});
    images["signature"] = json!({"path": "blank-signature.png"});
    let small = image::imageops::resize(
        &draw::portrait(&people()[4].look, &mut Rng::new(7)),
        180,
        240,
        image::imageops::FilterType::Triangle,
    );
    write(&dir.join("small-photo.jpg"), &jpeg(&small, 85)?)?;
    let blank = image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        600,
        200,
        image::Rgba([255, 255, 255, 0]),
    ));
    write(&dir.join("blank-signature.png"), &png(&blank)?)?;
    write(&dir.join("bad-images-and-names.json"), &pretty(&images)?)?;
    Ok(())
}
