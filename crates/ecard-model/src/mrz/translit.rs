//! Doc 9303 Part 3 transliteration of names into the MRZ character set (A-Z and `<`).
//!
//! Cyrillic follows the Part 3 table (ECARD.md section 5); Latin letters with diacritics lose them
//! or take the Part 3 digraphs (Ä AE, Ö OE, Ü UE, Å AA, Æ AE, Ø OE, ß SS, Þ TH, IJ stays IJ).
//! Spaces and hyphens separate name parts and become `<`; apostrophes are omitted (Part 3, 4.6.5:
//! D'ARTAGNAN becomes DARTAGNAN); full stops and commas are dropped.

/// The MRZ form of one Cyrillic capital letter, or `None` when the letter is not Cyrillic.
fn cyrillic(c: char) -> Option<&'static str> {
    Some(match c {
        'А' => "A",
        'Б' => "B",
        'В' => "V",
        'Г' => "G",
        'Д' => "D",
        'Е' => "E",
        'Ё' => "E",
        'Ж' => "ZH",
        'З' => "Z",
        'И' => "I",
        'Й' => "I",
        'К' => "K",
        'Л' => "L",
        'М' => "M",
        'Н' => "N",
        'О' => "O",
        'П' => "P",
        'Р' => "R",
        'С' => "S",
        'Т' => "T",
        'У' => "U",
        'Ф' => "F",
        'Х' => "KH",
        'Ц' => "TS",
        'Ч' => "CH",
        'Ш' => "SH",
        'Щ' => "SHCH",
        'Ъ' => "IE",
        'Ы' => "Y",
        'Ь' => "",
        'Э' => "E",
        'Ю' => "IU",
        'Я' => "IA",
        // Ukrainian, Belarusian and other letters of the Part 3 Cyrillic table.
        'Є' => "IE",
        'І' => "I",
        'Ї' => "I",
        'Ґ' => "G",
        'Ў' => "U",
        _ => return None,
    })
}

/// The MRZ form of one Latin capital letter with a diacritic, or `None`.
fn latin(c: char) -> Option<&'static str> {
    Some(match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ā' | 'Ă' | 'Ą' => "A",
        'Ä' | 'Æ' => "AE",
        'Å' => "AA",
        'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'Ď' | 'Đ' | 'Ð' => "D",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' | 'Ə' => "E",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'Ĥ' | 'Ħ' => "H",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' | 'I' => "I",
        'Ĳ' => "IJ",
        'Ĵ' => "J",
        'Ķ' => "K",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'Ñ' | 'Ń' | 'Ņ' | 'Ň' | 'Ŋ' => "N",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'Ö' | 'Ø' | 'Œ' => "OE",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' | 'Ș' => "S",
        'ẞ' => "SS",
        'Ţ' | 'Ť' | 'Ŧ' | 'Ț' => "T",
        'Þ' => "TH",
        'Ù' | 'Ú' | 'Û' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'Ü' => "UE",
        'Ŵ' => "W",
        'Ơ' => "O",
        'Ư' => "U",
        'Ý' | 'Ÿ' | 'Ŷ' => "Y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        // Vietnamese letters with two diacritics (Latin Extended Additional): capitals sit at even
        // code points U+1EA0..U+1EF8, in runs by base letter A(12) E(8) I(2) O(12) U(7) Y(4).
        '\u{1EA0}'..='\u{1EF8}' if (c as u32).is_multiple_of(2) => {
            let i = (c as u32 - 0x1EA0) / 2;
            match i {
                0..=11 => "A",
                12..=19 => "E",
                20..=21 => "I",
                22..=33 => "O",
                34..=40 => "U",
                _ => "Y",
            }
        }
        _ => return None,
    })
}

/// A character that cannot be put into an MRZ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "character {found:?} cannot be transliterated into the MRZ (letters, space, hyphen and apostrophe only)"
)]
pub struct TransliterationError {
    /// The character.
    pub found: char,
}

/// Transliterates one name (surname, given names, patronymic) into MRZ characters: upper case A-Z,
/// with `<` where the name had a space or hyphen, apostrophes omitted. Runs of separators collapse
/// to one.
pub fn transliterate(name: &str) -> Result<String, TransliterationError> {
    let mut out = String::with_capacity(name.len());
    // 'ß' has no single-character upper case; map it before upper-casing.
    for c in name.trim().chars().flat_map(|c| {
        if c == 'ß' {
            vec!['ẞ']
        } else {
            c.to_uppercase().collect()
        }
    }) {
        match c {
            'A'..='Z' => out.push(c),
            ' ' | '-' | '<' => {
                if !out.is_empty() && !out.ends_with('<') {
                    out.push('<');
                }
            }
            // Apostrophes (ASCII, typographic, and the Uzbek/Hawaiian modifier letters) are omitted.
            '.' | ',' | '\'' | '’' | 'ʻ' | 'ʼ' => {}
            _ => match cyrillic(c).or_else(|| latin(c)) {
                Some(s) => out.push_str(s),
                None => return Err(TransliterationError { found: c }),
            },
        }
    }
    Ok(out.trim_end_matches('<').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc9303_part3_cyrillic_examples() {
        assert_eq!(transliterate("Жукова").as_deref(), Ok("ZHUKOVA"));
        assert_eq!(transliterate("Юлия").as_deref(), Ok("IULIIA"));
        assert_eq!(transliterate("Щукин").as_deref(), Ok("SHCHUKIN"));
        assert_eq!(transliterate("Подъячев").as_deref(), Ok("PODIEIACHEV"));
        assert_eq!(transliterate("Игорь").as_deref(), Ok("IGOR"));
    }

    #[test]
    fn latin_diacritics_and_separators() {
        assert_eq!(
            transliterate("Müller-Lüdenscheidt").as_deref(),
            Ok("MUELLER<LUEDENSCHEIDT")
        );
        // Doc 9303 Part 3, 4.6.5: apostrophes are omitted, hyphens and spaces become fillers.
        assert_eq!(transliterate("D'Artagnan").as_deref(), Ok("DARTAGNAN"));
        assert_eq!(transliterate("O’Neill").as_deref(), Ok("ONEILL"));
        assert_eq!(transliterate("Marie-Elise").as_deref(), Ok("MARIE<ELISE"));
        assert_eq!(
            transliterate("van der Steen").as_deref(),
            Ok("VAN<DER<STEEN")
        );
        assert_eq!(
            transliterate("Nguyễn Thị Ánh").as_deref(),
            Ok("NGUYEN<THI<ANH")
        );
        assert_eq!(transliterate("Trương Ư").as_deref(), Ok("TRUONG<U"));
        assert_eq!(transliterate("Gʻulomov").as_deref(), Ok("GULOMOV"));
        assert_eq!(transliterate("Ångström").as_deref(), Ok("AANGSTROEM"));
        assert_eq!(transliterate("Straße").as_deref(), Ok("STRASSE"));
        assert_eq!(
            transliterate("Smith2"),
            Err(TransliterationError { found: '2' })
        );
    }
}
