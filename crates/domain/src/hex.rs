//! Lower-case hexadecimal: how Carnet writes document ids, hashes, keys and signatures, and the
//! only spelling it reads back.
//!
//! Strict on purpose. `u8::from_str_radix` also takes `+a` for `0a` and `AB` for `ab`, which gave
//! one id two spellings (two cache keys, two ledger targets, two URLs for one document). Upper
//! case is refused rather than folded for the same reason: every value here is written by Carnet
//! in lower case, so a decoded value always writes back to the text it was read from. A caller
//! reading a hash from a standard that allows upper case (XML Schema's `hexBinary`) folds it
//! itself, where the reason is visible.

/// Why a text is not lower-case hexadecimal of the expected length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("hexadecimal digits are 0-9 and a-f (lower case)")]
    NotHex,
    #[error("expected {expected} hexadecimal digits, got {found}")]
    Length { expected: usize, found: usize },
    #[error("hexadecimal digits come in pairs, got {0}")]
    OddLength(usize),
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two digits of one byte, as ASCII.
pub fn encode_byte(byte: u8) -> [u8; 2] {
    [DIGITS[usize::from(byte >> 4)], DIGITS[usize::from(byte & 0x0f)]]
}

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        let [high, low] = encode_byte(b);
        out.push(char::from(high));
        out.push(char::from(low));
    }
    out
}

fn nibble(digit: u8) -> Result<u8, HexError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(HexError::NotHex),
    }
}

/// Fills `out` from exactly `2 × out.len()` digits.
pub fn decode_into(text: &str, out: &mut [u8]) -> Result<(), HexError> {
    let digits = text.as_bytes();
    if digits.len() != 2 * out.len() {
        return Err(HexError::Length { expected: 2 * out.len(), found: digits.len() });
    }
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Ok(())
}

pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::OddLength(text.len()));
    }
    let mut out = vec![0; text.len() / 2];
    decode_into(text, &mut out)?;
    Ok(out)
}

pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let mut out = [0; N];
    decode_into(text, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0x00, 0x0a, 0xff, 0x7f]), "000aff7f");
        assert_eq!(decode("000aff7f"), Ok(vec![0x00, 0x0a, 0xff, 0x7f]));
        assert_eq!(decode_array::<2>("beef"), Ok([0xbe, 0xef]));
    }

    #[test]
    fn second_spellings_are_refused() {
        // `+a` is what `u8::from_str_radix` took for `0a`; a sign or a space is no digit anywhere.
        for bad in ["+a", "0A", "AB", "Ab", "-0", " a", "a ", "0x", "g0", "é", "٣٣"] {
            assert_eq!(decode(bad), Err(HexError::NotHex), "{bad:?}");
        }
        assert_eq!(decode("abc"), Err(HexError::OddLength(3)));
        assert_eq!(decode_array::<2>("abcdef"), Err(HexError::Length { expected: 4, found: 6 }));
        assert_eq!(decode_array::<1>("+a"), Err(HexError::NotHex));
    }

    proptest! {
        #[test]
        fn decode_reads_back_what_encode_writes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let text = encode(&bytes);
            prop_assert_eq!(text.len(), 2 * bytes.len());
            prop_assert!(text.bytes().all(|c| DIGITS.contains(&c)));
            prop_assert_eq!(decode(&text), Ok(bytes));
        }

        /// Whatever decodes is the canonical spelling of what it decodes to: one text per value.
        #[test]
        fn decode_accepts_only_the_canonical_spelling(text in prop_oneof![
            any::<String>(),
            "[0-9a-fA-F+ -]{0,12}",
            prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| encode(&b)),
        ]) {
            if let Ok(bytes) = decode(&text) {
                prop_assert_eq!(encode(&bytes), text);
            }
        }

        #[test]
        fn decode_array_agrees_with_decode(text in "[0-9a-fA-F+]{0,10}") {
            let whole = decode(&text);
            match decode_array::<4>(&text) {
                Ok(array) => prop_assert_eq!(whole, Ok(array.to_vec())),
                Err(_) => prop_assert!(whole.map(|b| b.len() != 4).unwrap_or(true)),
            }
        }
    }
}
