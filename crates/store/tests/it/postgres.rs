//! The conformance suite on PostgreSQL, each case on a scratch database of its own.
//! `scripts/test` starts a throwaway cluster and sets `CARNET_TEST_POSTGRES_URL`; without it
//! these tests fail.

async fn fresh() -> (carnet_store::Database, ()) {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL")
        .expect("CARNET_TEST_POSTGRES_URL is not set: run the suite with scripts/test (it starts PostgreSQL)");
    (carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database").0, ())
}

carnet_store::store_suite!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_admit_more_than_the_limit() {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL").expect("CARNET_TEST_POSTGRES_URL is not set");
    let (a, url) = carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database");
    let b = carnet_store::Database::connect(&url).await.expect("second node");
    carnet_store::conformance::two_nodes_never_admit_more_than_the_limit(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deliverers_deliver_each_message_once() {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL").expect("CARNET_TEST_POSTGRES_URL is not set");
    let (a, url) = carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database");
    let b = carnet_store::Database::connect(&url).await.expect("second node");
    carnet_store::conformance::two_deliverers_deliver_each_message_once(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_hold_one_job_lease_together() {
    let admin = std::env::var("CARNET_TEST_POSTGRES_URL").expect("CARNET_TEST_POSTGRES_URL is not set");
    let (a, url) = carnet_store::conformance::scratch_postgres(&admin).await.expect("scratch database");
    let b = carnet_store::Database::connect(&url).await.expect("second node");
    carnet_store::conformance::two_nodes_never_hold_one_job_lease_together(a, b).await;
}
