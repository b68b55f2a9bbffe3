//! A patient's identity: the INS reference traits and the identity status (the French
//! "Référentiel national d'identitovigilance").

use serde::{Deserialize, Serialize};
use time::Date;

/// How far the identity has been checked. Only a `Qualifiee` identity may feed a record:
/// it was retrieved from the national INS service *and* checked against an identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    Provisoire,
    Recuperee,
    Validee,
    Qualifiee,
}

impl IdentityStatus {
    pub const ALL: [IdentityStatus; 4] =
        [IdentityStatus::Provisoire, IdentityStatus::Recuperee, IdentityStatus::Validee, IdentityStatus::Qualifiee];

    /// Only a qualified identity may be used to deposit documents.
    pub fn may_feed(self) -> bool {
        self == IdentityStatus::Qualifiee
    }

    /// A provisional identity has no INS retrieved from the national service: no record key.
    pub fn has_ins(self) -> bool {
        matches!(self, IdentityStatus::Recuperee | IdentityStatus::Qualifiee)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::Provisoire => "provisoire",
            IdentityStatus::Recuperee => "recuperee",
            IdentityStatus::Validee => "validee",
            IdentityStatus::Qualifiee => "qualifiee",
        }
    }

    pub fn parse(s: &str) -> Option<IdentityStatus> {
        IdentityStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
    /// Indeterminate: allowed by the INS traits for a very small number of people.
    #[serde(rename = "I")]
    Indeterminate,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
            Sex::Indeterminate => "I",
        }
    }

    pub fn parse(s: &str) -> Option<Sex> {
        match s {
            "M" => Some(Sex::Male),
            "F" => Some(Sex::Female),
            "I" => Some(Sex::Indeterminate),
            _ => None,
        }
    }
}

/// What a demographics search (PDQm, ITI-78) matches on; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraitsQuery {
    pub family: Option<String>,
    pub given: Option<String>,
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
}

/// The INS reference traits, as returned by the national INS service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceTraits {
    pub birth_name: String,
    /// All birth first names, space-separated, in civil-registry order.
    pub birth_given_names: String,
    pub birth_date: Date,
    pub sex: Sex,
    /// INSEE code of the birthplace (5 characters, `99xxx` abroad); absent when unknown.
    pub birthplace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraitsError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains a control character (position {position})")]
    Control { field: &'static str, position: usize },
    #[error("birthplace must be a 5-character INSEE code (digits, or 2A/2B for Corsica), found {0:?}")]
    Birthplace(String),
}

impl ReferenceTraits {
    pub const MAX_NAME: usize = 100;

    /// Checks the traits a caller sent; normalises surrounding white space.
    pub fn validated(mut self) -> Result<ReferenceTraits, TraitsError> {
        self.birth_name = self.birth_name.trim().to_owned();
        self.birth_given_names = self.birth_given_names.split_whitespace().collect::<Vec<_>>().join(" ");
        for (field, value) in [("birth_name", &self.birth_name), ("birth_given_names", &self.birth_given_names)] {
            if value.is_empty() {
                return Err(TraitsError::Empty { field });
            }
            if value.chars().count() > Self::MAX_NAME {
                return Err(TraitsError::TooLong { field, max: Self::MAX_NAME });
            }
            // A NUL, a line break or an escape in a name breaks whatever prints or matches it
            // later (the INS service, a label, a search); no civil-registry name has one.
            if let Some(position) = value.chars().position(char::is_control) {
                return Err(TraitsError::Control { field, position });
            }
        }
        if let Some(place) = &self.birthplace {
            let b = place.as_bytes();
            let ok = b.len() == 5
                && b.iter().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 1 && b[0] == b'2' && (*c == b'A' || *c == b'B')));
            if !ok {
                return Err(TraitsError::Birthplace(place.clone()));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn traits() -> ReferenceTraits {
        ReferenceTraits {
            birth_name: " DUPONT ".into(),
            birth_given_names: "Marie  Claire".into(),
            birth_date: date!(1984 - 12 - 01),
            sex: Sex::Female,
            birthplace: Some("76451".into()),
        }
    }

    #[test]
    fn names_with_control_characters_are_refused() {
        for bad in ["DUP\0ONT", "DUPONT\nX", "DU\u{1b}[31mPONT", "DUPONT\u{7f}"] {
            let t = ReferenceTraits { birth_name: bad.into(), ..traits() };
            assert!(matches!(t.validated(), Err(TraitsError::Control { field: "birth_name", .. })), "{bad:?}");
        }
        // Given names are split on white space (a line break or a tab between two is a space);
        // any other control character is refused.
        for bad in ["Marie\0Claire", "Marie \u{1b}Claire", "Marie\u{7f}"] {
            let t = ReferenceTraits { birth_given_names: bad.into(), ..traits() };
            assert!(matches!(t.validated(), Err(TraitsError::Control { field: "birth_given_names", .. })), "{bad:?}");
        }
        // Accents, apostrophes, hyphens and spaces are names.
        let t = ReferenceTraits { birth_name: "D’ALEMBERT-LÉGER".into(), birth_given_names: "Zoé Anne-Sophie".into(), ..traits() };
        assert!(t.validated().is_ok());
    }

    #[test]
    fn only_qualified_identities_feed() {
        for st in IdentityStatus::ALL {
            assert_eq!(st.may_feed(), st == IdentityStatus::Qualifiee);
            assert_eq!(IdentityStatus::parse(st.as_str()), Some(st));
        }
    }

    #[test]
    fn traits_are_normalised_and_checked() {
        let t = traits().validated().expect("valid");
        assert_eq!(t.birth_name, "DUPONT");
        assert_eq!(t.birth_given_names, "Marie Claire");
        let corsica = ReferenceTraits { birthplace: Some("2A004".into()), ..traits() };
        assert!(corsica.validated().is_ok());
        let bad = ReferenceTraits { birthplace: Some("7645".into()), ..traits() };
        assert_eq!(bad.validated(), Err(TraitsError::Birthplace("7645".into())));
        let empty = ReferenceTraits { birth_name: "  ".into(), ..traits() };
        assert_eq!(empty.validated(), Err(TraitsError::Empty { field: "birth_name" }));
    }
}
