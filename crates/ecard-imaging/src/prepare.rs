//! One pass over an enrollment: record validation, then the photo and signature, every problem of
//! all three returned together (ECARD.md section 2: collect all, then fail once).
//!
//! The caller does the file I/O through `load_image` (paths are relative to the record file); this
//! module only decodes inline base64 itself. Must not: log, or stop at the first problem.

use ecard_model::enrollment::ImageRef;
use ecard_model::holder::Holder;
use ecard_model::validation::{Problem, check_record};
use ecard_model::{EnrollmentRecord, time::Date};

use crate::encode::{face_jpeg_from, signature_jpeg};
use crate::{
    ChipImage, DEFAULT_FACE_BUDGET, DEFAULT_SIGNATURE_BUDGET, ImageProblem, MAX_SIDE,
    MIN_FACE_HEIGHT, MIN_FACE_WIDTH,
};

/// Byte budgets for the chip images (a firmware profile may set smaller ones for small chips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageBudgets {
    /// DG2 face JPEG.
    pub face_bytes: usize,
    /// DG7 signature JPEG.
    pub signature_bytes: usize,
}

impl Default for ImageBudgets {
    fn default() -> Self {
        ImageBudgets {
            face_bytes: DEFAULT_FACE_BUDGET,
            signature_bytes: DEFAULT_SIGNATURE_BUDGET,
        }
    }
}

/// An enrollment ready for personalization.
#[derive(Clone)]
pub struct PreparedEnrollment {
    /// The validated record.
    pub record: EnrollmentRecord,
    /// The holder built from it.
    pub holder: Holder,
    /// A replacement filed more than 7 days after the event (issued anyway; the MMC decides).
    pub late_notification: bool,
    /// The photo as loaded, for printing.
    pub photo_original: Vec<u8>,
    /// The signature as loaded, for printing.
    pub signature_original: Vec<u8>,
    /// The DG2 face JPEG.
    pub face: ChipImage,
    /// The DG7 signature JPEG.
    pub signature: ChipImage,
}

// Personal data: Debug shows the application id and the image sizes only.
impl std::fmt::Debug for PreparedEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedEnrollment")
            .field("application_id", &self.record.application_id)
            .field("late_notification", &self.late_notification)
            .field("face", &self.face)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// The loader the caller passes: reads the file an [`ImageRef::Path`] names (relative to the
/// record file). The error text goes into the problem as is ("photo: cannot read photo.jpg: ...").
pub type ImageLoader<'a> = dyn FnMut(&ImageRef) -> Result<Vec<u8>, String> + 'a;

/// Validates `json` (with `today` as the Moscow date), loads and converts both images, and returns
/// the enrollment or every problem found: the record's, then the photo's, then the signature's.
///
/// `load_image` is called only for [`ImageRef::Path`]; inline base64 is decoded here. Images are
/// examined even when the record has problems, so the clerk sees everything at once; an image
/// whose own field has a record problem (missing, malformed) is skipped.
pub fn prepare_enrollment(
    json: &str,
    load_image: &mut ImageLoader<'_>,
    today: Date,
    budgets: ImageBudgets,
) -> Result<PreparedEnrollment, Vec<Problem>> {
    prepare_enrollment_from(json, load_image, today, budgets, None)
}

/// [`prepare_enrollment`], with the face's quality search starting at `face_quality` (see
/// [`crate::encode::face_jpeg_from`]): a station passes the quality of the record before, which
/// usually saves most of the search.
pub fn prepare_enrollment_from(
    json: &str,
    load_image: &mut ImageLoader<'_>,
    today: Date,
    budgets: ImageBudgets,
    face_quality: Option<u8>,
) -> Result<PreparedEnrollment, Vec<Problem>> {
    let checked = check_record(json, today);
    let mut problems = match &checked {
        Ok(_) => Vec::new(),
        Err(p) => p.clone(),
    };
    // The image references, read on their own so a broken record still gets its images checked.
    let refs: Option<serde_json::Value> = serde_json::from_str(json).ok();
    let image_ref = |key: &str| -> Option<ImageRef> {
        let v = refs.as_ref()?.get(key)?.clone();
        serde_json::from_value(v).ok()
    };
    let field_broken = |problems: &[Problem], key: &str| {
        problems
            .iter()
            .any(|p| p.path == key || p.path.starts_with(&format!("{key}.")))
    };

    let mut run = |key: &'static str,
                   convert: &dyn Fn(&[u8]) -> Result<ChipImage, ImageProblem>,
                   problems: &mut Vec<Problem>|
     -> Option<(Vec<u8>, ChipImage)> {
        if field_broken(problems, key) {
            return None;
        }
        let r = image_ref(key)?;
        let bytes = match &r {
            ImageRef::Path(path) => match load_image(&r) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(Problem {
                        path: key.into(),
                        message: format!("cannot read {path}: {e}"),
                    });
                    return None;
                }
            },
            ImageRef::Base64(_) => match r.decode_base64() {
                Some(Ok(b)) => b,
                // Validation already reported bad base64, and a Base64 ref always decodes to Some.
                _ => return None,
            },
        };
        match convert(&bytes) {
            Ok(chip) => Some((bytes, chip)),
            Err(e) => {
                problems.push(Problem {
                    path: key.into(),
                    message: advice(key, &e),
                });
                None
            }
        }
    };
    let photo = run(
        "photo",
        &|b: &[u8]| face_jpeg_from(b, budgets.face_bytes, face_quality),
        &mut problems,
    );
    let signature = run(
        "signature",
        &|b: &[u8]| signature_jpeg(b, budgets.signature_bytes),
        &mut problems,
    );

    let record = match checked {
        Ok(r) if problems.is_empty() => r,
        _ => return Err(problems),
    };
    let holder = Holder::from_record(&record).map_err(|e| {
        // Validation checks every rule `Holder::new` does; this reports a drift between the two.
        vec![Problem {
            path: "record".into(),
            message: e.to_string(),
        }]
    })?;
    match (photo, signature) {
        (Some((photo_original, face)), Some((signature_original, signature))) => {
            Ok(PreparedEnrollment {
                late_notification: record.late_notification(),
                record,
                holder,
                photo_original,
                signature_original,
                face,
                signature,
            })
        }
        // Both images were produced whenever no problem was recorded; kept total for safety.
        _ => Err(vec![Problem {
            path: "record".into(),
            message: "the images could not be prepared".into(),
        }]),
    }
}

/// The problem text with what the clerk can do about it.
fn advice(key: &str, e: &ImageProblem) -> String {
    let what = if key == "photo" {
        format!("the portrait crop (at least {MIN_FACE_WIDTH}x{MIN_FACE_HEIGHT} px)")
    } else {
        "a scan of the signature".to_string()
    };
    match e {
        ImageProblem::TooLarge { .. } | ImageProblem::TooManyBytes { .. } => {
            format!("{e}; send {what}")
        }
        ImageProblem::TooSmall { .. } => format!("{e}; send {what} at a higher resolution"),
        ImageProblem::Unrecognized
        | ImageProblem::UnsupportedFormat { .. }
        | ImageProblem::Undecodable { .. } => format!("{e}; send {what} as a JPEG or PNG file"),
        ImageProblem::MemoryLimit { .. } => {
            format!("{e}; send {what} no larger than {MAX_SIDE}x{MAX_SIDE} px")
        }
        ImageProblem::Blank => format!("{e}; scan the signature again"),
        ImageProblem::OverBudget { .. } => {
            format!("{e}; send {what} with a plainer background")
        }
        _ => e.to_string(),
    }
}
