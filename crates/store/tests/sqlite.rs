//! The conformance suite on SQLite, each case in its own temporary file.

#[tokio::test]
async fn sqlite_passes_the_conformance_suite() {
    let dir = std::env::temp_dir().join(format!("carnet-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let counter = std::sync::atomic::AtomicU32::new(0);
    carnet_store::conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.join(format!("case-{n}.db"));
        async move {
            let _ = std::fs::remove_file(&path);
            carnet_store::Database::connect(&format!("sqlite://{}", path.display())).await.expect("sqlite")
        }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}
