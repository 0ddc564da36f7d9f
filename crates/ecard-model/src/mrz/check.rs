//! The Doc 9303 Part 3 check digit: weights 7, 3, 1 repeating; digits by value, A-Z as 10-35, `<` as 0.

/// A character that has no value in the check-digit alphabet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "character {found:?} at position {position} is not allowed in an MRZ (only 0-9, A-Z and <)"
)]
pub struct CheckDigitError {
    /// The offending character.
    pub found: char,
    /// Its position in the checked field, from 0.
    pub position: usize,
}

/// The value of one MRZ character for the check-digit sum.
pub fn check_digit_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        '<' => Some(0),
        _ => None,
    }
}

/// The check digit over `field` (0-9).
pub fn check_digit(field: &str) -> Result<u8, CheckDigitError> {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    for (position, found) in field.chars().enumerate() {
        let value = check_digit_value(found).ok_or(CheckDigitError { found, position })?;
        sum += value * WEIGHTS[position % 3];
    }
    // The sum of at most a few dozen values below 36 times 7 cannot overflow u32; mod 10 fits a u8.
    Ok((sum % 10) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc9303_part3_examples() {
        // Doc 9303 Part 3, 4.9: date 520727 has check digit 3; document number AB2134<<< has 5.
        assert_eq!(check_digit("520727"), Ok(3));
        assert_eq!(check_digit("AB2134<<<"), Ok(5));
        assert_eq!(
            check_digit("ab"),
            Err(CheckDigitError {
                found: 'a',
                position: 0
            })
        );
    }
}
