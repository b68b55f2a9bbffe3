//! The conformance suite on PostgreSQL. `scripts/test` starts a throwaway cluster and sets
//! `CARNET_TEST_POSTGRES_URL`; without it this test fails (set `CARNET_SKIP_POSTGRES=1` to skip
//! deliberately when iterating on SQLite only).

#[tokio::test]
async fn postgres_passes_the_conformance_suite() {
    let Ok(admin) = std::env::var("CARNET_TEST_POSTGRES_URL") else {
        if std::env::var("CARNET_SKIP_POSTGRES").is_ok() {
            eprintln!("CARNET_SKIP_POSTGRES set: PostgreSQL conformance skipped");
            return;
        }
        panic!("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
    };
    carnet_store::conformance::run_all(|| async { carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database").0 })
        .await;
}
