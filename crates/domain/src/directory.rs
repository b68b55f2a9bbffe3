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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfessionalError {
    #[error("{field} must be 1 to {max} characters")]
    Name { field: &'static str, max: usize },
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
        Ok(self)
    }
}
