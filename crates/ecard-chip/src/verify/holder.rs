//! What the card says about its holder, for display and `--json`, and the DG1/DG11 agreement check.
//!
//! Values here are personal data: they are returned to the caller (the officer's screen, the
//! inspector's JSON) but Debug redacts them, so they never reach a log by accident.

use ecard_model::mrz::{Td1, transliterate};

use super::Outcome;
use crate::lds::{Dg11, Dg12};

/// The holder and document as the chip states them.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct HolderSummary {
    /// Document code ("IR").
    pub document_code: String,
    /// Issuing state.
    pub issuing_state: String,
    /// Document number.
    pub document_number: String,
    /// Surname, MRZ form with spaces.
    pub surname: String,
    /// Given names (and patronymic), MRZ form with spaces.
    pub given_names: String,
    /// Date of birth, `YYYY-MM-DD` (from DG11 when present, else the MRZ with a century guess).
    pub date_of_birth: Option<String>,
    /// Sex (`M`, `F`, `<`).
    pub sex: String,
    /// Nationality.
    pub nationality: String,
    /// Date of expiry, `YYYY-MM-DD`.
    pub date_of_expiry: Option<String>,
    /// Full name in national script, spaces for separators (DG11).
    pub full_name_national: Option<String>,
    /// Issuing authority (DG12).
    pub issuing_authority: Option<String>,
    /// Date of issue, `YYYY-MM-DD` (DG12).
    pub date_of_issue: Option<String>,
}

impl std::fmt::Debug for HolderSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolderSummary")
            .field("document_code", &self.document_code)
            .field("issuing_state", &self.issuing_state)
            .finish_non_exhaustive()
    }
}

fn spaced(s: &str) -> String {
    s.split('<')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn yymmdd(s: &str, century: i32) -> Option<time::Date> {
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u8>().ok();
    let month = time::Month::try_from(n(2..4)?).ok()?;
    time::Date::from_calendar_date(century + i32::from(n(0..2)?), month, n(4..6)?).ok()
}

/// The expiry date of an MRZ (20YY: the e-card was first issued in 2026).
pub(crate) fn expiry(t: &Td1) -> Option<time::Date> {
    yymmdd(&t.date_of_expiry, 2000)
}

impl HolderSummary {
    pub(crate) fn new(t: &Td1, dg11: Option<&Dg11>, dg12: Option<&Dg12>, at: time::Date) -> Self {
        let dob = dg11
            .and_then(|d| d.date_of_birth_date().ok().flatten())
            .or_else(|| {
                // A two-digit year after the check date's is last century.
                let yy: i32 = t.date_of_birth.get(0..2)?.parse().ok()?;
                let century = if yy > at.year() % 100 { 1900 } else { 2000 };
                yymmdd(&t.date_of_birth, century)
            });
        HolderSummary {
            document_code: t.document_code.clone(),
            issuing_state: t.issuing_state.clone(),
            document_number: t.document_number.clone(),
            surname: spaced(&t.primary_identifier),
            given_names: spaced(&t.secondary_identifier),
            date_of_birth: dob.map(|d| d.to_string()),
            sex: t.sex.to_string(),
            nationality: t.nationality.clone(),
            date_of_expiry: expiry(t).map(|d| d.to_string()),
            full_name_national: dg11.and_then(|d| d.full_name.as_deref()).map(spaced),
            issuing_authority: dg12.and_then(|d| d.issuing_authority.clone()),
            date_of_issue: dg12
                .and_then(|d| d.date_of_issue_date().ok().flatten())
                .map(|d| d.to_string()),
        }
    }
}

/// Whether MRZ name line `line3` is the name `surname`, `given` (MRZ characters, `<` between the
/// given names), allowing for Doc 9303-3 truncation: a name that fits must be exact; one that does
/// not may have each component cut short (down to an initial) and trailing given names dropped, but
/// never a character that is not the name's.
pub(crate) fn mrz_name_agrees(line3: &str, surname: &str, given: &str) -> bool {
    let full = if given.is_empty() {
        surname.to_string()
    } else {
        format!("{surname}<<{given}")
    };
    let mrz = line3.trim_end_matches('<');
    if full.len() <= line3.len() {
        return mrz == full;
    }
    let (p, s) = mrz.split_once("<<").unwrap_or((mrz, ""));
    if p.is_empty() || !surname.starts_with(p) {
        return false;
    }
    let want: Vec<&str> = given.split('<').collect();
    let got: Vec<&str> = s.split('<').filter(|x| !x.is_empty()).collect();
    got.len() <= want.len() && got.iter().zip(&want).all(|(g, w)| w.starts_with(g))
}

/// DG11's national-script name, transliterated, against the MRZ name; DG11's date of birth against
/// the MRZ's. The MRZ name may be truncated to its 30 characters.
pub(crate) fn check_dg1_dg11(t: Option<&Td1>, dg11: Option<&Dg11>, has_dg11: bool) -> Outcome {
    let Some(t) = t else {
        return Outcome::Skipped("no MRZ with valid check digits".into());
    };
    let Some(dg11) = dg11 else {
        return Outcome::Skipped(
            if has_dg11 {
                "DG11 did not parse"
            } else {
                "no DG11"
            }
            .into(),
        );
    };
    if let Some(dob) = &dg11.date_of_birth
        && dob.get(2..) != Some(t.date_of_birth.as_str())
    {
        return Outcome::Fail("DG1 and DG11: date of birth differs".into());
    }
    // A foreign resident's Latin name follows the passport's spelling (HAKOBYAN), while DG11 holds
    // a Russian rendering (АКОПЯН) that Doc 9303 Part 3 transliterates differently (AKOPIAN). Both
    // are signed by the SOD, so a name that does not transliterate to the MRZ is not evidence of
    // tampering: the officer is told to compare the names by eye, and the card stays valid.
    if let Some(name) = &dg11.full_name {
        let (sur, given) = name.split_once("<<").unwrap_or((name.as_str(), ""));
        match (transliterate(sur), transliterate(given)) {
            (Ok(s), Ok(g)) => {
                if !mrz_name_agrees(&t.lines[2], &s, &g) {
                    return Outcome::Warn(
                        "DG11's national-script name does not transliterate (Doc 9303 Part 3) to the MRZ name, \
                         which follows the passport's spelling; compare the two names by eye"
                            .into(),
                    );
                }
            }
            _ => {
                return Outcome::Warn(
                    "DG11's name cannot be transliterated into MRZ characters; compare it with the MRZ name by eye"
                        .into(),
                );
            }
        }
    }
    Outcome::Pass
}

#[cfg(test)]
mod tests {
    use super::mrz_name_agrees;

    fn line(s: &str) -> String {
        format!("{s:<<30}")
    }

    #[test]
    fn exact_names_must_match_exactly() {
        assert!(mrz_name_agrees(
            &line("ZHUKOVA<<IULIIA<PETROVNA"),
            "ZHUKOVA",
            "IULIIA<PETROVNA"
        ));
        assert!(!mrz_name_agrees(
            &line("ZHUKOVA<<IULIIA"),
            "ZHUKOVA",
            "IULIIA<PETROVNA"
        ));
        assert!(!mrz_name_agrees(
            &line("ZHUKOVA<<IULIA<PETROVNA"),
            "ZHUKOVA",
            "IULIIA<PETROVNA"
        ));
        assert!(mrz_name_agrees(&line("ZHUKOVA"), "ZHUKOVA", ""));
    }

    #[test]
    fn truncated_names_may_be_cut_but_not_changed() {
        let (s, g) = ("KONSTANTINOPOLSKAIA", "ALEKSANDRA<VLADIMIROVNA");
        // 19 + 2 + 23 = 44 characters: too long for the 30 of TD1 line 3.
        assert!(mrz_name_agrees("KONSTANTINOPOLSKAIA<<ALEKSAND", s, g));
        assert!(mrz_name_agrees("KONSTANTINOPOLSKAIA<<ALEKSA<V", s, g));
        assert!(mrz_name_agrees("KONSTANTINOPOLSKAIA<<A<VLADIM", s, g));
        assert!(!mrz_name_agrees("KONSTANTINOPOLSKAIA<<OLGA<VLA", s, g));
        assert!(!mrz_name_agrees("KONSTANTINOPOLSKAIB<<ALEKSAND", s, g));
        assert!(!mrz_name_agrees("KONSTANTINOPOLSKAIA<<A<V<X<<<", s, g));
    }
}
