//! The name field of an MRZ: building it with Doc 9303 Part 3 truncation, and deciding whether a
//! name field agrees with the names of a record (ECARD.md section 2).
//!
//! Inputs here are already in MRZ form (see [`super::transliterate`]): A-Z with `<` between name
//! parts. Nothing here knows which document the field came from beyond its width.

/// Builds a name field of `width` characters: `PRIMARY<<SECONDARY`, padded with `<`.
///
/// When the names do not fit (Doc 9303 Part 3, 4.6.6), the secondary identifier is truncated first;
/// if the primary identifier alone leaves no room for the `<<` and one character of the secondary,
/// the primary is cut too and the secondary keeps its initial. The cut is made so that the field
/// ends in a letter, which tells a reader the name was truncated.
pub fn name_field(primary: &str, secondary: &str, width: usize) -> String {
    let full = if secondary.is_empty() {
        primary.to_string()
    } else {
        format!("{primary}<<{secondary}")
    };
    if full.len() <= width {
        return format!("{full:<<width$}");
    }
    if secondary.is_empty() {
        return end_in_letter(&primary[..width], primary.as_bytes().get(width).copied());
    }
    if primary.len() + 3 <= width {
        let room = width - primary.len() - 2;
        let cut = end_in_letter(&secondary[..room], secondary.as_bytes().get(room).copied());
        return format!("{primary}<<{cut}");
    }
    // The primary takes all but `<<` and the initial of the secondary.
    let keep = width.saturating_sub(3);
    let cut_primary = end_in_letter(&primary[..keep], primary.as_bytes().get(keep).copied());
    let initial = secondary.chars().next().unwrap_or('<');
    format!("{cut_primary}<<{initial}")
}

/// A cut of a name that must end in a letter: when the cut falls on a `<` between parts, the last
/// letter before it gives way to `<` and the next part's initial (`ANNA<MARIA` cut to 5 becomes
/// `ANN<M`). `next` is the character just after the cut. A one-letter part before the `<` cannot
/// give way, so such a cut keeps its trailing filler (and reads as untruncated).
fn end_in_letter(cut: &str, next: Option<u8>) -> String {
    let b = cut.as_bytes();
    match (b.last(), next) {
        (Some(b'<'), Some(n)) if n != b'<' && b.len() >= 3 && b[b.len() - 2] != b'<' => {
            let mut s = cut[..b.len() - 2].to_string();
            s.push('<');
            s.push(char::from(n));
            s
        }
        _ => cut.to_string(),
    }
}

/// Splits a name field into primary and secondary identifiers (fillers trimmed).
pub fn split_name_field(field: &str) -> (String, String) {
    let name = field.trim_end_matches('<');
    match name.split_once("<<") {
        Some((p, s)) => (p.to_string(), s.trim_start_matches('<').to_string()),
        None => (name.to_string(), String::new()),
    }
}

/// Whether the name `field` of an MRZ (fillers included, its full width) agrees with a primary
/// identifier and any of the candidate secondary identifiers, all in MRZ form.
///
/// An untruncated field must equal the field built from the names. A full field ending in a letter
/// may have been truncated by its issuer in another way than ours: then every part it shows must be
/// a non-empty prefix of the corresponding part of the names, in order.
pub fn name_field_agrees(field: &str, primary: &str, secondaries: &[&str]) -> bool {
    let width = field.len();
    if secondaries
        .iter()
        .any(|s| name_field(primary, s, width) == field)
    {
        return true;
    }
    let truncated = field.ends_with(|c: char| c != '<');
    if !truncated {
        return false;
    }
    let (p, s) = split_name_field(field);
    parts_prefix(&p, primary) && secondaries.iter().any(|exp| parts_prefix(&s, exp))
}

/// Each `<`-separated part of `shown` is a non-empty prefix of the same part of `expected`.
fn parts_prefix(shown: &str, expected: &str) -> bool {
    if shown.is_empty() {
        return true;
    }
    let exp: Vec<&str> = expected.split('<').collect();
    let got: Vec<&str> = shown.split('<').collect();
    got.len() <= exp.len()
        && got
            .iter()
            .zip(&exp)
            .all(|(g, e)| !g.is_empty() && e.starts_with(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_and_pads() {
        assert_eq!(
            name_field("ERIKSSON", "ANNA<MARIA", 30),
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
        );
        assert_eq!(name_field("MADONNA", "", 10), "MADONNA<<<");
    }

    #[test]
    fn truncates_secondary_first_and_ends_in_a_letter() {
        let f = name_field("KARIMOV", "ALISHER<BAKHODIROVICH<UGLI", 30);
        assert_eq!(f, "KARIMOV<<ALISHER<BAKHODIROVICH");
        let f = name_field("NILAVADHANANANDA", "ARNPOL<PETCH<CHARONGUANG", 30);
        assert_eq!(f, "NILAVADHANANANDA<<ARNPOL<PETCH");
        assert_eq!(f.len(), 30);
        // The cut falls on the `<` after PETC...: it ends in an initial instead.
        let f = name_field("NILAVADHANANANDA", "ARNPOL<PETCHA<CHARONGUANG", 31);
        assert_eq!(f, "NILAVADHANANANDA<<ARNPOL<PETCHA");
        let f = name_field("NILAVADHANANANDA", "ARNPOL<PETCH<CHARONGUANG", 31);
        assert_eq!(f, "NILAVADHANANANDA<<ARNPOL<PETC<C");
        assert_eq!(f.len(), 31);
    }

    #[test]
    fn truncates_a_long_primary() {
        let f = name_field("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG", "JOHN", 30);
        assert_eq!(f, "ABCDEFGHIJKLMNOPQRSTUVWXYZA<<J");
        assert_eq!(f.len(), 30);
    }

    #[test]
    fn agreement() {
        let f = "KARIMOV<<ALISHER<<<<<<<<<<<<<<<<<<<<<<<";
        assert!(name_field_agrees(
            f,
            "KARIMOV",
            &["ALISHER<BAKHODIROVICH", "ALISHER"]
        ));
        assert!(!name_field_agrees(f, "KARIMOV", &["ALISHER<BAKHODIROVICH"]));
        assert!(!name_field_agrees(f, "KARIMOF", &["ALISHER"]));
        // Another issuer's truncation: initials.
        let t = "NILAVADHANANANDA<<A<P<C<<<<<<<<";
        assert!(!name_field_agrees(
            t,
            "NILAVADHANANANDA",
            &["ARNPOL<PETCH<C"]
        ));
        let t = "NILAVADHANANANDA<<ARN<PET<CHARO";
        assert!(name_field_agrees(
            t,
            "NILAVADHANANANDA",
            &["ARNPOL<PETCH<CHARONGUANG"]
        ));
        assert!(!name_field_agrees(
            t,
            "NILAVADHANANANDA",
            &["ARNPOL<PAUL<CHARONGUANG"]
        ));
    }
}
