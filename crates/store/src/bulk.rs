//! Bulk generation of synthetic records and document metadata, for the growth benchmark only
//! (`carnet-bench growth`): millions of rows written directly, in multi-row statements, where
//! the API would take hours. Nothing clinical is generated: rows carry codes and ids, no titles,
//! no blobs.

use carnet_domain::Ins;
use time::OffsetDateTime;

use crate::database::{on_pool, on_writer};
use crate::time_codec::to_millis;
use crate::{Database, Result, StoreError};

/// The synthetic patient number `n` of the growth benchmark.
pub fn bench_ins(n: u64) -> Result<Ins> {
    Ins::from_body(&format!("18{:011}", n % 100_000_000_000)).map_err(|e| StoreError::Corrupt { what: "bench INS", detail: e.to_string() })
}

const ROWS_PER_STATEMENT: usize = 100;

impl Database {
    /// Inserts records for patients `from..to` with `documents_each` document rows each.
    pub async fn bulk_generate(&self, from: u64, to: u64, documents_each: u32, now: OffsetDateTime) -> Result<()> {
        let now_ms = to_millis(now);
        let patients: Vec<u64> = (from..to).collect();
        for batch in patients.chunks(ROWS_PER_STATEMENT * 10) {
            let inss: Vec<Ins> = batch.iter().map(|n| bench_ins(*n)).collect::<Result<_>>()?;
            let first = batch.first().copied().unwrap_or(0);
            on_writer!(self, |pool| {
                let mut tx = pool.begin().await?;
                for group in inss.chunks(ROWS_PER_STATEMENT) {
                    let values: Vec<String> = (0..group.len())
                        .map(|i| format!("(${}, 'nir', 'qualifiee', 'BENCH', 'Test', '1980-01-01', 'F', NULL, 'active', 'insurer_agent', 'bench', NULL, ${}, NULL, NULL, NULL, NULL, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                        .collect();
                    let sql = format!(
                        "INSERT INTO records (ins, ins_kind, identity_status, birth_name, birth_given_names, birth_date, sex, birthplace, status, channel, \
                         created_by, creator_organisation, created_at, closed_at, close_reason, destruction_due_at, destroyed_at, first_fed_at) VALUES {}",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for ins in group {
                        q = q.bind(ins.as_str()).bind(now_ms).bind(now_ms);
                    }
                    q.execute(&mut *tx).await?;
                }
                // Ids in ascending order: the indexes grow at their right edge, as they would
                // over years of deposits, instead of taking random writes all over a 10 M-row tree.
                let mut docs: Vec<(String, &Ins, u32)> = Vec::with_capacity(inss.len() * documents_each as usize);
                for (i, ins) in inss.iter().enumerate() {
                    for d in 0..documents_each {
                        let k = (first + i as u64) * u64::from(documents_each) + u64::from(d);
                        docs.push((format!("00000000-0000-4000-8000-{k:012x}"), ins, d));
                    }
                }
                for group in docs.chunks(ROWS_PER_STATEMENT) {
                    let values: Vec<String> = (0..group.len())
                        .map(|i| {
                            let b = 5 * i;
                            format!(
                                "(${}, ${}, ${}, 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument', '10', \
                                 'http://loinc.org', '11502-2', 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode', \
                                 'urn:ihe:iti:xds-sd:pdf:2008', 'application/pdf', 'fr-FR', 'rpps:10000001015', 'rpps:10000001015', \
                                 ${}, 102400, ${}, '', 'current', FALSE)",
                                b + 1,
                                b + 2,
                                b + 3,
                                b + 4,
                                b + 5
                            )
                        })
                        .collect();
                    let sql = format!(
                        "INSERT INTO documents (id, ins, unique_id, class_system, class_code, type_system, type_code, format_system, format_code, \
                         mime_type, language, author, deposited_by, submitted_at, size, sha256, labels, status, archived) VALUES {}",
                        values.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, ins, d) in group {
                        q = q
                            .bind(id.clone())
                            .bind(ins.as_str())
                            .bind(format!("urn:uuid:{id}"))
                            .bind(now_ms - i64::from(*d) * 86_400_000)
                            .bind(vec![0u8; 32]);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
        }
        Ok(())
    }
}

impl Database {
    /// Refreshes the planner's statistics after a bulk load, as an operator would.
    pub async fn analyze(&self) -> Result<()> {
        on_writer!(self, |pool| {
            sqlx::query("ANALYZE").execute(pool).await?;
        });
        Ok(())
    }

    /// Rows in `records` and `documents`, to report what a benchmark ran against.
    pub async fn bulk_counts(&self) -> Result<(i64, i64)> {
        let counts = on_pool!(self, |pool| {
            let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records").fetch_one(pool).await?;
            let documents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents").fetch_one(pool).await?;
            (records, documents)
        });
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_patients_have_valid_distinct_ins() {
        let a = super::bench_ins(0).expect("first");
        let b = super::bench_ins(999_999).expect("millionth");
        let c = super::bench_ins(9_999_999).expect("ten millionth");
        assert_ne!(a, b);
        assert_ne!(b, c);
    }
}
