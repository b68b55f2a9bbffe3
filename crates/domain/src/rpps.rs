//! Professional and organisation identifiers: RPPS (11 digits) and FINESS (9 digits), both
//! ending in a Luhn check digit.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::luhn;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} has {expected} digits, found {found} characters")]
    Length { what: &'static str, expected: usize, found: usize },
    #[error("{what} contains only digits, found {found:?}")]
    Character { what: &'static str, found: char },
    #[error("{what} check digit (Luhn) does not match")]
    CheckDigit { what: &'static str },
}

fn parse_luhn(what: &'static str, len: usize, input: &str) -> Result<String, IdError> {
    let s = input.trim();
    if let Some(found) = s.chars().find(|c| !c.is_ascii_digit()) {
        return Err(IdError::Character { what, found });
    }
    if s.len() != len {
        return Err(IdError::Length { what, expected: len, found: s.chars().count() });
    }
    if !luhn::is_valid(s) {
        return Err(IdError::CheckDigit { what });
    }
    Ok(s.to_owned())
}

macro_rules! luhn_id {
    ($name:ident, $what:literal, $len:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const LEN: usize = $len;

            pub fn parse(input: &str) -> Result<Self, IdError> {
                parse_luhn($what, $len, input).map($name)
            }

            /// Builds a valid identifier from its body (all digits but the check digit).
            pub fn from_body(body: &str) -> Result<Self, IdError> {
                if let Some(found) = body.chars().find(|c| !c.is_ascii_digit()) {
                    return Err(IdError::Character { what: $what, found });
                }
                Self::parse(&format!("{body}{}", luhn::check_digit(body)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

luhn_id!(Rpps, "an RPPS number", 11, "A health professional's RPPS number: 11 digits, Luhn key.");
luhn_id!(Finess, "a FINESS number", 9, "An organisation's FINESS number: 9 digits, Luhn key.");

impl Rpps {
    /// The OID of the RPPS register in national identifiers (`8` + RPPS is the IdNat_PS).
    pub const OID: &'static str = "1.2.250.1.71.4.2.1";
}

impl Finess {
    pub const OID: &'static str = "1.2.250.1.71.4.2.2";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpps_checks() {
        let rpps = Rpps::from_body("1000000000").expect("digits");
        assert_eq!(rpps.as_str().len(), 11);
        assert_eq!(Rpps::parse(rpps.as_str()), Ok(rpps.clone()));
        let mut bad = rpps.as_str().to_owned();
        let last = bad.pop().expect("11 chars");
        bad.push(if last == '9' { '0' } else { char::from(last as u8 + 1) });
        assert_eq!(Rpps::parse(&bad), Err(IdError::CheckDigit { what: "an RPPS number" }));
        assert!(matches!(Rpps::parse("123"), Err(IdError::Length { found: 3, .. })));
        assert!(matches!(Rpps::parse("1000000000x"), Err(IdError::Character { found: 'x', .. })));
    }

    #[test]
    fn finess_checks() {
        let finess = Finess::from_body("75000001").expect("digits");
        assert_eq!(Finess::parse(finess.as_str()), Ok(finess));
        assert!(matches!(Finess::parse("7500000"), Err(IdError::Length { .. })));
    }
}
