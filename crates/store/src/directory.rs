//! `DirectoryStore` on both backends.

use carnet_domain::{Finess, Profession, Professional, Rpps};
use time::OffsetDateTime;

use crate::database::{on_pool, on_writer};
use crate::time_codec::to_millis;
use crate::{Database, DirectoryStore, Result, StoreError};

#[derive(sqlx::FromRow)]
struct ProfessionalRow {
    rpps: String,
    family_name: String,
    given_name: String,
    profession: String,
    specialty: Option<String>,
    organisation: Option<String>,
    email: Option<String>,
}

impl ProfessionalRow {
    fn into_professional(self) -> Result<Professional> {
        let corrupt = |what, detail: String| StoreError::Corrupt { what, detail };
        Ok(Professional {
            rpps: Rpps::parse(&self.rpps).map_err(|e| corrupt("RPPS", e.to_string()))?,
            family_name: self.family_name,
            given_name: self.given_name,
            profession: Profession::from_code(&self.profession).map_err(|e| corrupt("profession", e.to_string()))?,
            specialty: self.specialty,
            organisation: self.organisation.map(|f| Finess::parse(&f).map_err(|e| corrupt("FINESS", e.to_string()))).transpose()?,
            email: self.email,
        })
    }
}

const UPSERT: &str = "INSERT INTO professionals (rpps, family_name, given_name, profession, specialty, organisation, email, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (rpps) DO UPDATE SET family_name = excluded.family_name, given_name = excluded.given_name, \
     profession = excluded.profession, specialty = excluded.specialty, organisation = excluded.organisation, \
     email = excluded.email, updated_at = excluded.updated_at";

impl DirectoryStore for Database {
    async fn save_professionals(&self, professionals: &[Professional], now: OffsetDateTime) -> Result<u64> {
        let now = to_millis(now);
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            for p in professionals {
                sqlx::query(UPSERT)
                    .bind(p.rpps.as_str())
                    .bind(&p.family_name)
                    .bind(&p.given_name)
                    .bind(p.profession.code())
                    .bind(p.specialty.as_deref())
                    .bind(p.organisation.as_ref().map(|f| f.as_str()))
                    .bind(p.email.as_deref())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(professionals.len() as u64)
    }

    async fn find_professional_by_rpps(&self, rpps: &Rpps) -> Result<Option<Professional>> {
        let row: Option<ProfessionalRow> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT rpps, family_name, given_name, profession, specialty, organisation, email FROM professionals WHERE rpps = $1"
        )
        .bind(rpps.as_str())
        .fetch_optional(pool)
        .await)?;
        row.map(ProfessionalRow::into_professional).transpose()
    }
}
