//! The conformance suite on SQLite, each case on a file of its own.

async fn fresh() -> (carnet_store::Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    (carnet_store::Database::connect(&url).await.expect("sqlite"), dir)
}

carnet_store::store_suite!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_admit_more_than_the_limit() {
    let (a, dir) = fresh().await;
    let b = carnet_store::Database::connect(&format!("sqlite://{}", dir.path().join("carnet.db").display())).await.expect("second node");
    carnet_store::conformance::two_nodes_never_admit_more_than_the_limit(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deliverers_deliver_each_message_once() {
    let (a, dir) = fresh().await;
    let b = carnet_store::Database::connect(&format!("sqlite://{}", dir.path().join("carnet.db").display())).await.expect("second node");
    carnet_store::conformance::two_deliverers_deliver_each_message_once(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_hold_one_job_lease_together() {
    let (a, dir) = fresh().await;
    let b = carnet_store::Database::connect(&format!("sqlite://{}", dir.path().join("carnet.db").display())).await.expect("second node");
    carnet_store::conformance::two_nodes_never_hold_one_job_lease_together(a, b).await;
}
