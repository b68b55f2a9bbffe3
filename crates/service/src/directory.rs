//! Professionals directory use cases.

use carnet_domain::directory::name_key;
use carnet_domain::{Action, Actor, Operation, Professional, Rpps, authorize};
use carnet_store::DirectoryStore;

use crate::{Carnet, Result, ServiceError};

impl Carnet {
    /// Upserts professionals, all or none. Operators maintain the directory (from the national
    /// register's extracts).
    pub async fn save_professionals(&self, actor: &Actor, professionals: Vec<Professional>) -> Result<u64> {
        self.scoped(actor, Operation::WriteDirectory, None).await?;
        authorize(actor, Action::MaintainDirectory)?;
        let professionals = professionals
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.validated().map_err(|e| ServiceError::Invalid(format!("professional #{i}: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.db.save_professionals(&professionals, self.now()).await?)
    }

    /// The directory is public information (as the national "Annuaire Santé" is): any
    /// authenticated actor may look a professional up.
    pub async fn find_professional(&self, actor: &Actor, rpps: &Rpps) -> Result<Professional> {
        self.scoped(actor, Operation::ReadDirectory, None).await?;
        self.db.find_professional_by_rpps(rpps).await?.ok_or(ServiceError::NotFound("professional"))
    }

    /// Professionals whose family name starts with `name` (case, accents, spaces and hyphens
    /// aside: `carnet_domain::directory::name_key`), in name order: the same public directory,
    /// for the same actors, as `find_professional`. Never more than `NAME_SEARCH_LIMIT`; `more`
    /// says others matched (the caller types more of the name). A name shorter than
    /// `NAME_SEARCH_MIN` letters is refused: the directory is looked up, not listed.
    pub async fn find_professionals_by_name(&self, actor: &Actor, name: &str) -> Result<NameSearch> {
        self.scoped(actor, Operation::ReadDirectory, None).await?;
        let key = name_key(name);
        if key.chars().count() < NAME_SEARCH_MIN {
            return Err(ServiceError::Invalid(format!("name: at least {NAME_SEARCH_MIN} letters of the family name")));
        }
        let mut found = self.db.find_professionals_by_name(&key, NAME_SEARCH_LIMIT as u32 + 1).await?;
        let more = found.len() > NAME_SEARCH_LIMIT;
        found.truncate(NAME_SEARCH_LIMIT);
        Ok(NameSearch { found, more })
    }
}

/// The most professionals a search by name returns.
pub const NAME_SEARCH_LIMIT: usize = 20;
/// The fewest letters a search by name takes.
pub const NAME_SEARCH_MIN: usize = 2;

/// What a search of the directory by name found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSearch {
    /// At most `NAME_SEARCH_LIMIT`, in name order.
    pub found: Vec<Professional>,
    /// More matched than were returned.
    pub more: bool,
}
