//! The professionals directory (a local mirror of the national RPPS register).

use serde::{Deserialize, Serialize};

use crate::{Finess, Profession, Rpps};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Professional {
    pub rpps: Rpps,
    pub family_name: String,
    pub given_name: String,
    pub profession: Profession,
    pub specialty: Option<String>,
    pub organisation: Option<Finess>,
    /// Where the professional is told of what concerns them (e.g. an emergency access to a
    /// patient whose médecin traitant they are). Optional.
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfessionalError {
    #[error("{field} must be 1 to {max} characters")]
    Name { field: &'static str, max: usize },
    #[error("{field} contains a control character")]
    Control { field: &'static str },
    #[error("email must look like name@domain (at most 254 characters)")]
    Email,
}

/// A plausible e-mail address: one `@`, something on each side, no spaces or controls. Delivery
/// is the real check.
pub fn plausible_email(s: &str) -> bool {
    s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'))
}

impl Professional {
    pub const MAX_NAME: usize = 100;

    /// Trims names and checks their length; identifiers are already valid by type.
    pub fn validated(mut self) -> Result<Professional, ProfessionalError> {
        self.family_name = self.family_name.trim().to_owned();
        self.given_name = self.given_name.trim().to_owned();
        for (field, v) in [("family_name", &self.family_name), ("given_name", &self.given_name)] {
            if v.is_empty() || v.chars().count() > Self::MAX_NAME {
                return Err(ProfessionalError::Name { field, max: Self::MAX_NAME });
            }
            if v.chars().any(char::is_control) {
                return Err(ProfessionalError::Control { field });
            }
        }
        self.specialty = self.specialty.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.email = self.email.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if self.email.as_deref().is_some_and(|e| !plausible_email(e)) {
            return Err(ProfessionalError::Email);
        }
        Ok(self)
    }
}

/// The key a family name is searched by: lower case, accents and ligatures folded to plain
/// letters (`É` → `e`, `Œ` → `oe`), and everything but letters and digits dropped (spaces,
/// hyphens, apostrophes), so that `Le Gall`, `LE-GALL` and `legall` are one name, and a typed
/// prefix of a name is a prefix of its key. Letters outside the Latin alphabets are kept lower-cased.
pub fn name_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match fold(c) {
            Some(plain) => key.push_str(plain),
            None if c.is_alphanumeric() => key.push(c),
            None => {}
        }
    }
    key
}

/// A lower-case Latin letter with its accent or ligature, as plain ASCII; ASCII letters and digits
/// as themselves; `None` for anything else.
fn fold(c: char) -> Option<&'static str> {
    const ASCII: [&str; 36] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ];
    Some(match c {
        'a'..='z' => ASCII[(c as u8 - b'a') as usize],
        '0'..='9' => ASCII[26 + (c as u8 - b'0') as usize],
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_name_with_a_control_character_is_refused() {
        let pro = |family: &str, given: &str| Professional {
            rpps: crate::Rpps::from_body("1000000101").expect("rpps"),
            family_name: family.into(),
            given_name: given.into(),
            profession: crate::Profession::Medecin,
            specialty: None,
            organisation: None,
            email: None,
        };
        assert!(matches!(pro("BER\0NARD", "Paul").validated(), Err(ProfessionalError::Control { field: "family_name" })));
        assert!(matches!(pro("BERNARD", "Paul\nX").validated(), Err(ProfessionalError::Control { field: "given_name" })));
        assert!(pro("D’ALEMBERT-LÉGER", "Anne Sophie").validated().is_ok());
    }

    #[test]
    fn accents_case_ligatures_and_separators_fold_away() {
        assert_eq!(name_key("Lefèvre"), "lefevre");
        assert_eq!(name_key("LEFÈVRE"), "lefevre");
        assert_eq!(name_key("Le Gall"), "legall");
        assert_eq!(name_key("N’Diaye-Çelik"), "ndiayecelik");
        assert_eq!(name_key("ŒUVRARD"), "oeuvrard");
        assert_eq!(name_key("Straße"), "strasse");
        assert_eq!(name_key("  "), "");
        assert_eq!(name_key("Ивanov"), "ивanov", "other alphabets are kept, lower-cased");
    }

    /// French names: ASCII letters with the accents and ligatures the register holds.
    fn french_name() -> impl Strategy<Value = String> {
        "[a-zA-ZàâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ' -]{0,24}"
    }

    fn strip_accents(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                'à' | 'â' | 'ä' => 'a',
                'À' | 'Â' | 'Ä' => 'A',
                'ç' => 'c',
                'Ç' => 'C',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'É' | 'È' | 'Ê' | 'Ë' => 'E',
                'î' | 'ï' => 'i',
                'Î' | 'Ï' => 'I',
                'ô' | 'ö' => 'o',
                'Ô' | 'Ö' => 'O',
                'ù' | 'û' | 'ü' => 'u',
                'Ù' | 'Û' | 'Ü' => 'U',
                'ÿ' => 'y',
                'Ÿ' => 'Y',
                other => other,
            })
            .collect()
    }

    proptest! {
        /// Upper or lower case, with or without accents: the same key.
        #[test]
        fn case_and_accents_do_not_matter(name in french_name()) {
            prop_assert_eq!(name_key(&name.to_uppercase()), name_key(&name));
            prop_assert_eq!(name_key(&name.to_lowercase()), name_key(&name));
            prop_assert_eq!(name_key(&strip_accents(&name)), name_key(&name));
        }

        /// Keys are plain lower-case ASCII letters for French names, and folding is idempotent.
        #[test]
        fn keys_are_plain_and_stable(name in french_name()) {
            let key = name_key(&name);
            prop_assert!(key.chars().all(|c| c.is_ascii_lowercase()), "{}", key);
            prop_assert_eq!(name_key(&key), key.clone());
        }

        /// What a person types first finds the name: the key of a prefix is a prefix of the key.
        #[test]
        fn a_typed_prefix_finds_the_name(name in french_name(), cut in 0usize..24) {
            let prefix: String = name.chars().take(cut).collect();
            prop_assert!(name_key(&name).starts_with(&name_key(&prefix)));
        }

        /// Nothing panics, whatever the input.
        #[test]
        fn any_text_folds(name in any::<String>()) {
            let key = name_key(&name);
            prop_assert!(key.chars().all(char::is_alphanumeric));
        }
    }
}
