//! The ledger suite on PostgreSQL: a scratch database per test on the cluster named by
//! `CARNET_TEST_POSTGRES_URL` (`scripts/test` starts one). Without it these tests fail.

use crate::support;

use carnet_ledger::{GroupCommit, Ledger, verify_store};
use sqlx::PgPool;

ledger_suite!(support::postgres);

#[tokio::test]
#[allow(clippy::unwrap_used)]
async fn ledger_migrations_keep_out_of_the_metadata_stores_migration_table() {
    let url = support::scratch_postgres_database().await;
    let public = PgPool::connect(&url).await.unwrap();
    // What carnet-store's migrator leaves in `public`: the same versions as ours, other checksums.
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL, \
         execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES \
         (1, 'records and directory', TRUE, '\\x0102', 10), (2, 'documents', TRUE, '\\x0304', 20);",
    )
    .execute(&public)
    .await
    .unwrap();

    let ledger = Ledger::open(&url, support::signer(), support::config(GroupCommit::default())).await.unwrap();
    ledger.append(&support::entry(1)).await.unwrap();
    drop(ledger);
    // Reopening finds its own migrations applied.
    let ledger = Ledger::open(&url, support::signer(), support::config(GroupCommit::default())).await.unwrap();
    assert_eq!(ledger.append(&support::entry(2)).await.unwrap().index, 1);

    let metadata: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, description FROM public._sqlx_migrations ORDER BY version").fetch_all(&public).await.unwrap();
    assert_eq!(metadata, vec![(1, "records and directory".into()), (2, "documents".into())], "untouched");
    let ours: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM ledger._sqlx_migrations ORDER BY version").fetch_all(&public).await.unwrap();
    assert_eq!(ours, vec![1, 2, 3]);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::TEXT FROM information_schema.tables WHERE table_schema = 'ledger' ORDER BY 1")
            .fetch_all(&public)
            .await
            .unwrap();
    assert_eq!(tables, ["_sqlx_migrations", "entries", "nodes", "tree_heads"]);
    assert!(verify_store(ledger.store(), &[support::public_key()]).await.unwrap().is_clean());
}
