//! `carnet serve` runs the text extraction worker: the demo's seeded PDFs get their text, and
//! `/metrics` counts the outcomes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::{free_port, start_demo};

#[test]
fn the_server_extracts_the_text_of_deposits_and_counts_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _demo = start_demo(dir.path(), port);
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let extracted = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("carnet_text_extractions_total{") && l.contains("outcome=\"extracted\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = Command::new("curl").args(["-sf", "--max-time", "10", &metrics]).output().expect("curl");
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if extracted(&last) > 0.0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no text extracted within 60 s; /metrics:\n{last}");
}
