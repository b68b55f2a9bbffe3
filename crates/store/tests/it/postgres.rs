//! The conformance suite on PostgreSQL, each case on a scratch database of its own.
//! `scripts/test` starts a throwaway cluster and sets `CARNET_TEST_POSTGRES_URL`; without it
//! these tests fail.

async fn fresh() -> (carnet_store::Database, ()) {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
        .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
    (carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database").0, ())
}

carnet_store::store_suite!(fresh);
