//! `DirectoryStore` on both backends.

use carnet_domain::directory::name_key;
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

const UPSERT: &str = "INSERT INTO professionals (rpps, family_name, given_name, profession, specialty, organisation, email, updated_at, name_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (rpps) DO UPDATE SET family_name = excluded.family_name, given_name = excluded.given_name, \
     profession = excluded.profession, specialty = excluded.specialty, organisation = excluded.organisation, \
     email = excluded.email, updated_at = excluded.updated_at, name_key = excluded.name_key";

const COLUMNS: &str = "rpps, family_name, given_name, profession, specialty, organisation, email";

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
                    .bind(name_key(&p.family_name))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(professionals.len() as u64)
    }

    async fn find_professional_by_rpps(&self, rpps: &Rpps) -> Result<Option<Professional>> {
        let row: Option<ProfessionalRow> =
            on_pool!(self, |pool| sqlx::query_as(&format!("SELECT {COLUMNS} FROM professionals WHERE rpps = $1"))
                .bind(rpps.as_str())
                .fetch_optional(pool)
                .await)?;
        row.map(ProfessionalRow::into_professional).transpose()
    }

    async fn find_professionals_by_name(&self, key_prefix: &str, limit: u32) -> Result<Vec<Professional>> {
        // Keys hold letters and digits only: a prefix with anything else (a LIKE wildcard
        // included) matches no key, and is not passed to LIKE at all.
        if key_prefix.is_empty() || !key_prefix.chars().all(char::is_alphanumeric) {
            return Ok(Vec::new());
        }
        let pattern = format!("{key_prefix}%");
        let rows: Vec<ProfessionalRow> = on_pool!(self, |pool| sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM professionals WHERE name_key LIKE $1 ORDER BY name_key, given_name, rpps LIMIT $2"
        ))
        .bind(&pattern)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(ProfessionalRow::into_professional).collect()
    }
}

impl Database {
    /// Fills the search key of rows saved before it existed (once: later upserts write it).
    pub(crate) async fn fill_name_keys(&self) -> Result<()> {
        let missing: Vec<(String, String)> =
            on_pool!(self, |pool| sqlx::query_as("SELECT rpps, family_name FROM professionals WHERE name_key IS NULL")
                .fetch_all(pool)
                .await)?;
        if missing.is_empty() {
            return Ok(());
        }
        on_writer!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (rpps, family_name) in &missing {
                sqlx::query("UPDATE professionals SET name_key = $1 WHERE rpps = $2 AND name_key IS NULL")
                    .bind(name_key(family_name))
                    .bind(rpps)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// As rows written before the search key existed (the conformance suite's).
    #[cfg(feature = "test-support")]
    pub(crate) async fn forget_name_keys(&self) {
        let done: std::result::Result<_, sqlx::Error> =
            on_pool!(self, |pool| sqlx::query("UPDATE professionals SET name_key = NULL").execute(pool).await.map(|_| ()));
        done.expect("forget the keys");
    }
}
