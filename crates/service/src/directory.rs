//! Professionals directory use cases.

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
}
