//! The conformance suite on SQLite, each case on a file of its own.

async fn fresh() -> (carnet_store::Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("carnet.db").display());
    (carnet_store::Database::connect(&url).await.expect("sqlite"), dir)
}

carnet_store::store_suite!(fresh);
