//! The committed samples (written by tools/samplegen): every `samples/*.json` prepares cleanly with
//! today 2026-11-25, and every `samples/invalid/*.json` fails with all its problems named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ecard_imaging::{ImageBudgets, PreparedEnrollment, prepare_enrollment};
use ecard_model::enrollment::ImageRef;
use ecard_model::time::macros::date;
use ecard_model::validation::Problem;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// What the CLI does: read the record, load images relative to it.
fn prepare(record: &Path) -> Result<PreparedEnrollment, Vec<Problem>> {
    let json = std::fs::read_to_string(record).unwrap();
    let base = record.parent().unwrap().to_path_buf();
    let mut load = |r: &ImageRef| match r {
        ImageRef::Path(p) => std::fs::read(base.join(p)).map_err(|e| e.to_string()),
        ImageRef::Base64(_) => Err("inline images are decoded by the library".into()),
    };
    prepare_enrollment(
        &json,
        &mut load,
        date!(2026 - 11 - 25),
        ImageBudgets::default(),
    )
}

#[test]
fn every_sample_prepares() {
    let files = json_files(&samples());
    assert!(files.len() >= 6, "samples: {files:?}");
    let mut nationalities = Vec::new();
    let mut late = 0;
    for file in &files {
        let p = prepare(file).unwrap_or_else(|problems| {
            panic!("{}: {problems:#?}", file.display());
        });
        assert!(
            p.face.jpeg.len() <= 20_000,
            "{}: {:?}",
            file.display(),
            p.face
        );
        assert!(p.face.width >= 240 && p.face.height >= 320);
        assert!(
            p.signature.jpeg.len() <= 6_000,
            "{}: {:?}",
            file.display(),
            p.signature
        );
        assert!(
            (20_000..=60_000).contains(&p.photo_original.len()),
            "{}: photo is {} bytes",
            file.display(),
            p.photo_original.len()
        );
        assert!(p.signature_original.starts_with(b"\x89PNG"));
        nationalities.push(p.holder.nationality().to_string());
        late += usize::from(p.late_notification);
    }
    for code in ["UZB", "TJK", "KGZ", "CHN", "VNM", "ARM", "XXA"] {
        assert!(nationalities.iter().any(|n| n == code), "no {code} sample");
    }
    assert_eq!(late, 0, "the replacement sample is filed within 7 days");
}

fn paths(file: &str) -> Vec<String> {
    let problems = prepare(&samples().join("invalid").join(file)).unwrap_err();
    problems.into_iter().map(|p| p.path).collect()
}

#[test]
fn invalid_samples_report_every_problem() {
    assert_eq!(
        paths("minor-expired-permanent.json"),
        [
            "phone",
            "residence_status",
            "date_of_birth",
            "identity_document.date_of_expiry"
        ]
    );
    assert_eq!(
        paths("bad-mrz-and-replacement.json"),
        [
            "nationality",
            "application.previous_document_number",
            "application.cause",
            "application.event_date",
            "identity_document.mrz[1]",
            "photo",
        ]
    );
    assert_eq!(
        paths("bad-images-and-names.json"),
        ["given_names", "name_cyrillic.surname", "photo", "signature"]
    );
    let problems = prepare(&samples().join("invalid/bad-images-and-names.json")).unwrap_err();
    assert_eq!(
        problems[2].to_string(),
        "photo: 180x240 px is under the minimum 240x320; send the portrait crop (at least 240x320 px) at a higher resolution"
    );
    let problems = prepare(&samples().join("invalid/bad-mrz-and-replacement.json")).unwrap_err();
    assert!(
        problems[5]
            .to_string()
            .starts_with("photo: cannot read missing-photo.jpg: "),
        "{}",
        problems[5]
    );
}
