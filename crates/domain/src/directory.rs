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
        }
        self.specialty = self.specialty.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.email = self.email.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if self.email.as_deref().is_some_and(|e| !plausible_email(e)) {
            return Err(ProfessionalError::Email);
        }
        Ok(self)
    }
}
