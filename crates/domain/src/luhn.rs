//! The Luhn check digit used by RPPS and FINESS numbers.

/// True when the digit string, check digit included, passes Luhn. Non-digits fail.
pub fn is_valid(digits: &str) -> bool {
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && sum(digits.bytes().rev(), false).is_multiple_of(10)
}

/// The check digit to append to `body` (digits only, caller checks).
pub fn check_digit(body: &str) -> u8 {
    let s = sum(body.bytes().rev(), true);
    ((10 - s % 10) % 10) as u8
}

fn sum(rev: impl Iterator<Item = u8>, double_first: bool) -> u32 {
    rev.enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if (i % 2 == 0) == double_first {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!(is_valid("79927398713"));
        assert!(!is_valid("79927398710"));
        assert_eq!(check_digit("7992739871"), 3);
        assert!(!is_valid(""));
        assert!(!is_valid("12a4"));
    }
}
