//! Reading an enrollment record from a file: the record's image paths are relative to the file.
//! Shared by `validate`, `mrz`, `personalize` and `demo`.

use std::path::{Path, PathBuf};

use ecard_imaging::{ImageBudgets, PreparedEnrollment};
use ecard_model::enrollment::ImageRef;
use ecard_model::validation::Problem;

/// What came of one record file.
pub enum Loaded {
    /// Valid, with its images prepared for the chip.
    Valid(Box<PreparedEnrollment>),
    /// Rejected with every problem found.
    Invalid(Vec<Problem>),
}

/// Reads `path` and validates it as of `today`, loading images relative to the record's folder.
pub fn load(path: &Path, today: time::Date) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read enrollment record {}: {e}", path.display()))?;
    let base: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // Called for `{"path": ...}` images only; inline base64 is decoded by the library.
    let mut load_image = |r: &ImageRef| -> Result<Vec<u8>, String> {
        match r {
            ImageRef::Path(path) => {
                let full = base.join(path);
                std::fs::read(&full).map_err(|e| e.to_string())
            }
            ImageRef::Base64(_) => Err("inline images are decoded by the library".into()),
        }
    };
    Ok(
        match ecard_imaging::prepare_enrollment(
            &text,
            &mut load_image,
            today,
            ImageBudgets::default(),
        ) {
            Ok(p) => Loaded::Valid(Box::new(p)),
            Err(problems) => Loaded::Invalid(problems),
        },
    )
}

/// Today's date in Moscow, where the MMC and the station are.
pub fn today_in_moscow() -> time::Date {
    ecard_model::dates::moscow_date(time::OffsetDateTime::now_utc())
}

/// Parses a `YYYY-MM-DD` argument.
pub fn parse_date(s: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &format).map_err(|e| format!("{s:?} is not a date YYYY-MM-DD: {e}"))
}
