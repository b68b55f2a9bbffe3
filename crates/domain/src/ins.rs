//! The INS (Identifiant National de Santé): a patient's NIR or NIA, the key of every record.
//!
//! Both share one format: 13 characters + a 2-digit key, key = 97 − (number mod 97). The
//! department part may be Corsica's `2A`/`2B`, which count as 19/18 for the key computation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which register the INS comes from; each has its own OID in FHIR/CDA identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsKind {
    /// NIR: the social security number.
    Nir,
    /// NIA: the waiting number given before a NIR is assigned.
    Nia,
    /// A NIR from the test register (never a real person).
    TestNir,
}

impl InsKind {
    pub const ALL: [InsKind; 3] = [InsKind::Nir, InsKind::Nia, InsKind::TestNir];

    pub fn oid(self) -> &'static str {
        match self {
            InsKind::Nir => "1.2.250.1.213.1.4.8",
            InsKind::Nia => "1.2.250.1.213.1.4.9",
            InsKind::TestNir => "1.2.250.1.213.1.4.10",
        }
    }

    /// The FHIR identifier system, `urn:oid:<oid>`.
    pub fn system(self) -> String {
        format!("urn:oid:{}", self.oid())
    }

    /// Accepts a bare OID or `urn:oid:` form.
    pub fn from_system(system: &str) -> Option<InsKind> {
        let oid = system.strip_prefix("urn:oid:").unwrap_or(system);
        InsKind::ALL.into_iter().find(|k| k.oid() == oid)
    }
}

/// Why a string is not an INS. Each variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InsError {
    #[error("an INS has 15 characters (13 + a 2-digit key), found {found}")]
    Length { found: usize },
    #[error("invalid character {found:?} at position {position}: only digits (and 2A/2B as department) are allowed")]
    Character { position: usize, found: char },
    #[error("the key does not match: expected {expected:02}, found {found:02}")]
    Key { expected: u8, found: u8 },
}

/// A syntactically valid INS whose key matches. Stored normalised: 15 characters, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ins(String);

impl Ins {
    /// Parses a 15-character INS. Spaces and dots are tolerated as separators (people write
    /// `1 84 12 76 451 089 46`), as python-stdnum does.
    pub fn parse(input: &str) -> Result<Ins, InsError> {
        let compact: String = input.chars().filter(|c| !matches!(c, ' ' | '.')).collect::<String>().to_ascii_uppercase();
        let chars: Vec<char> = compact.chars().collect();
        if chars.len() != 15 {
            return Err(InsError::Length { found: chars.len() });
        }
        for (position, &c) in chars.iter().enumerate() {
            let corsica = position == 6 && (c == 'A' || c == 'B') && chars[5] == '2';
            if !c.is_ascii_digit() && !corsica {
                return Err(InsError::Character { position, found: c });
            }
        }
        let body: String = chars[..13].iter().collect();
        let found: u8 = compact[13..].parse().map_err(|_| InsError::Character { position: 13, found: chars[13] })?;
        let expected = key_of(&body);
        if expected != found {
            return Err(InsError::Key { expected, found });
        }
        Ok(Ins(compact))
    }

    /// Builds a valid INS from its 13-character body, computing the key (demo data, tests).
    pub fn from_body(body: &str) -> Result<Ins, InsError> {
        if body.chars().count() != 13 {
            return Err(InsError::Length { found: body.chars().count() + 2 });
        }
        let upper = body.to_ascii_uppercase();
        let key = key_of_checked(&upper)?;
        Ins::parse(&format!("{upper}{key:02}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The sex digit (1 male, 2 female; 3/4/7/8 for provisional numbers).
    pub fn sex_digit(&self) -> u8 {
        self.0.as_bytes()[0] - b'0'
    }
}

fn key_of_checked(body: &str) -> Result<u8, InsError> {
    for (position, c) in body.chars().enumerate() {
        let corsica = position == 6 && (c == 'A' || c == 'B') && body.as_bytes().get(5) == Some(&b'2');
        if !c.is_ascii_digit() && !corsica {
            return Err(InsError::Character { position, found: c });
        }
    }
    Ok(key_of(body))
}

/// Key over a 13-character body already checked for its characters.
fn key_of(body: &str) -> u8 {
    // 2A → 19, 2B → 18 (department part only).
    let digits = body.replacen("2A", "19", 1).replacen("2B", "18", 1);
    let number = digits.bytes().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
    (97 - number % 97) as u8
}

impl fmt::Display for Ins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Ins {
    type Err = InsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ins::parse(s)
    }
}

impl TryFrom<String> for Ins {
    type Error = InsError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ins::parse(&s)
    }
}

impl From<Ins> for String {
    fn from(ins: Ins) -> String {
        ins.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_valid_nir() {
        // 1 84 12 76 451 089, key 97 - (1841276451089 mod 97)
        let ins = Ins::from_body("1841276451089").expect("valid body");
        assert_eq!(Ins::parse(ins.as_str()), Ok(ins.clone()));
        assert_eq!(ins.sex_digit(), 1);
    }

    #[test]
    fn tolerates_spaces_and_lower_case() {
        let ins = Ins::from_body("2690549588157").expect("valid body");
        let spaced = format!("{} {} {}", &ins.as_str()[..1], &ins.as_str()[1..7], &ins.as_str()[7..]);
        assert_eq!(Ins::parse(&spaced), Ok(ins));
    }

    #[test]
    fn corsica_2a_and_2b_count_as_19_and_18() {
        // 2 55 08 2A 004 005: the key is computed on 2550819004005 (19 in place of 2A), giving 90.
        let body_2a = "255082A004005";
        let number: u64 = "2550819004005".parse().expect("digits");
        let key = 97 - (number % 97) as u8;
        assert_eq!(Ins::parse(&format!("{body_2a}{key:02}")).map(|i| i.to_string()), Ok(format!("{body_2a}{key:02}")));
        let body_2b = "155082B004005";
        let number: u64 = "1550818004005".parse().expect("digits");
        let key = 97 - (number % 97) as u8;
        assert!(Ins::parse(&format!("{body_2b}{key:02}")).is_ok());
        assert!(Ins::parse(&format!("{}{key:02}", body_2b.to_lowercase())).is_ok());
    }

    #[test]
    fn published_examples() {
        // python-stdnum's documented examples (stdnum.fr.nir), an independent source.
        for valid in ["295109912611193", "2 95 10 99 126 111 93", "253072B07300470", "253072A07300443"] {
            assert!(Ins::parse(valid).is_ok(), "{valid}");
        }
        assert_eq!(Ins::parse("295109912611199"), Err(InsError::Key { expected: 93, found: 99 }));
        assert!(matches!(Ins::parse("253072C07300443"), Err(InsError::Character { position: 6, found: 'C' })));
        assert_eq!(Ins::parse("6546546546546703"), Err(InsError::Length { found: 16 }));
        assert_eq!(Ins::from_body("255082A004005").map(|i| i.to_string()), Ok("255082A00400590".to_owned()));
    }

    #[test]
    fn each_failed_check_is_named() {
        assert_eq!(Ins::parse("12345"), Err(InsError::Length { found: 5 }));
        assert_eq!(Ins::parse("1841276X5108900"), Err(InsError::Character { position: 7, found: 'X' }));
        // A letter at the department position is only valid as 2A/2B.
        assert_eq!(Ins::parse("184121A45108900"), Err(InsError::Character { position: 6, found: 'A' }));
        let good = Ins::from_body("1841276451089").expect("valid body");
        let key: u8 = good.as_str()[13..].parse().expect("digits");
        let wrong = (key % 97) + 1;
        let bad = format!("{}{wrong:02}", &good.as_str()[..13]);
        assert_eq!(Ins::parse(&bad), Err(InsError::Key { expected: key, found: wrong }));
    }

    #[test]
    fn oids_round_trip() {
        for kind in InsKind::ALL {
            assert_eq!(InsKind::from_system(&kind.system()), Some(kind));
            assert_eq!(InsKind::from_system(kind.oid()), Some(kind));
        }
        assert_eq!(InsKind::from_system("urn:oid:1.2.3"), None);
        assert_eq!(InsKind::Nir.system(), "urn:oid:1.2.250.1.213.1.4.8");
    }
}
