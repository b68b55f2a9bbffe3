//! `carnet-bench search`'s extraction part: documents deposited in a `carnet serve` child with
//! its extraction worker off, then the worker turned on and timed until every job is done
//! (`/metrics`' `carnet_text_extractions_total`), then the record's first search (the cold
//! build of its index over the texts): text PDFs of 100 KB (documents/s through the real
//! `pdfinfo` + `pdftotext` path of the job) and scanned pages (pages/s through `tesseract -l fra`),
//! with the server's peak RSS (the tools run in child processes of their own, under `prlimit`).
//!
//! The documents are fpdf2's and Pillow's, written at bench time by `tests/pdf/make_pdfs.py`
//! through `CARNET_PYTHON` (scripts/test's `.venv-test`), or taken from `--pdfs DIR`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use carnet_auth::TokenClaims;
use carnet_domain::{Ins, Role};

use crate::bench::ServerUnderTest;

/// What to extract.
pub struct ExtractionPlan {
    /// Text PDFs deposited (cycling over the distinct ones written).
    pub pdfs: usize,
    /// Scanned pages deposited as PNG images.
    pub pages: usize,
    /// Documents made elsewhere (`report-*.pdf`, `scan-*.png`), instead of `CARNET_PYTHON`.
    pub dir: Option<PathBuf>,
    /// The worker's `[extraction] workers` settings compared, one text-PDF phase each (the
    /// OCR phase runs with the last).
    pub workers: Vec<u32>,
}

/// Distinct reports written at most: the rest are deposited again under other ids (their words
/// are the same, the work of extracting them is too).
const DISTINCT: usize = 20;

fn written(plan: &ExtractionPlan, scratch: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &plan.dir {
        return Ok(dir.clone());
    }
    let python = std::env::var("CARNET_PYTHON").context("CARNET_PYTHON is not set (scripts/test's .venv-test with fpdf2), nor --pdfs")?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/pdf/make_pdfs.py");
    let dir = scratch.join("pdfs");
    let status = std::process::Command::new(python)
        .arg(&script)
        .args(["reports"])
        .arg(&dir)
        .args(["--count", &plan.pdfs.clamp(1, DISTINCT).to_string(), "--pages", &plan.pages.min(DISTINCT).to_string()])
        .status()
        .context("running tests/pdf/make_pdfs.py")?;
    if !status.success() {
        bail!("tests/pdf/make_pdfs.py failed: {status}");
    }
    Ok(dir)
}

fn files(dir: &Path, prefix: &str, suffix: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix)))
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display()))).collect()
}

/// `carnet_text_extractions_total` by outcome, summed.
async fn extractions(client: &reqwest::Client, url: &str) -> anyhow::Result<f64> {
    let text = client.get(format!("{url}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("carnet_text_extractions_total{") && !l.contains("outcome=\"retried\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

fn upload_body(unique: &str, mime: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "carnet-bench-extraction";
    let metadata = serde_json::json!({"unique_id": unique, "type_code": "11502-2", "mime_type": mime, "title": "bench"});
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"doc\"\r\nContent-Type: {mime}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One phase: `documents` deposited with the worker off, then extracted with it on. The time
/// to extract them all, the first search's, and the server's peak RSS.
async fn phase(
    data_dir: &Path,
    ins: &Ins,
    label: &str,
    mime: &str,
    documents: &[Vec<u8>],
    count: usize,
    workers: u32,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let doctor_claims = TokenClaims {
        sub: "bench-doctor".into(),
        role: Role::Professional,
        rpps: Some("10000001015".into()),
        profession: Some("10".into()),
        ..TokenClaims::default()
    };
    {
        let server = ServerUnderTest::start(data_dir, &[("CARNET_EXTRACTION__ENABLED", "false".into())]).await?;
        let insurer = server.token(&TokenClaims { sub: "bench-insurer".into(), role: Role::InsurerAgent, ..TokenClaims::default() })?;
        let record = serde_json::json!({
            "ins": ins.to_string(), "identity_status": "qualifiee", "birth_name": "BENCH", "birth_given_names": "Test",
            "birth_date": "1979-03-01", "sex": "F",
        });
        let r = client.post(format!("{}/api/records", server.url)).bearer_auth(&insurer).json(&record).send().await?;
        if !r.status().is_success() && r.status() != reqwest::StatusCode::CONFLICT {
            bail!("creating the bench record: {} {}", r.status(), r.text().await.unwrap_or_default());
        }
        let doctor = server.token(&doctor_claims)?;
        for i in 0..count {
            let bytes = &documents[i % documents.len()];
            let (content_type, body) = upload_body(&format!("urn:uuid:{}", uuid::Uuid::new_v4()), mime, bytes);
            let r = client
                .post(format!("{}/api/records/{ins}/documents", server.url))
                .bearer_auth(&doctor)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("deposit: {} {}", r.status(), r.text().await.unwrap_or_default());
            }
        }
    }
    let server =
        ServerUnderTest::start(data_dir, &[("CARNET_EXTRACTION__BATCH", "50".into()), ("CARNET_EXTRACTION__WORKERS", workers.to_string())])
            .await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3600);
    loop {
        if extractions(&client, &server.url).await? >= count as f64 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{label}: not extracted within an hour");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let extracted = started.elapsed();
    let unavailable = client.get(format!("{}/metrics", server.url)).send().await?.text().await?;
    let unavailable: f64 = unavailable
        .lines()
        .filter(|l| l.starts_with("carnet_text_extractions_total{") && l.contains("outcome=\"unavailable\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // The first search builds the record's index over every text: the indexing's share.
    let doctor = server.token(&doctor_claims)?;
    let searched = Instant::now();
    let r = client.get(format!("{}/api/records/{ins}/search?q=cr%C3%A9atinine", server.url)).bearer_auth(&doctor).send().await?;
    let index = searched.elapsed();
    let total = r.json::<serde_json::Value>().await?["total"].as_u64().unwrap_or(0);
    let rate = count as f64 / (extracted + index).as_secs_f64();
    println!(
        "extraction: {count} {label}, {workers} at a time: extracted in {:.2} s ({:.1}/s), first search (index build) {:.0} ms → {rate:.1} {label}/s extracted and indexed; {} unavailable; {total} found «créatinine»; server peak RSS {:.0} MiB",
        extracted.as_secs_f64(),
        count as f64 / extracted.as_secs_f64(),
        index.as_secs_f64() * 1000.0,
        unavailable as u64,
        server.peak_rss()? as f64 / 1048576.0
    );
    Ok(())
}

/// Extraction and indexing throughput: text PDFs, then scanned pages.
pub async fn extraction(plan: ExtractionPlan) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let dir = written(&plan, scratch.path())?;
    let pdfs = files(&dir, "report-", ".pdf")?;
    let scans = files(&dir, "scan-", ".png")?;
    if pdfs.is_empty() {
        bail!("no report-*.pdf in {}", dir.display());
    }
    let size = pdfs.iter().map(Vec::len).sum::<usize>() / pdfs.len();
    println!(
        "extraction: {} distinct fpdf2 reports of {:.0} KiB on average, {} scanned pages (PNG, Pillow); worker batch 50, {} job(s) at a time",
        pdfs.len(),
        size as f64 / 1024.0,
        scans.len(),
        plan.workers.iter().map(u32::to_string).collect::<Vec<_>>().join(" then ")
    );
    let workers = if plan.workers.is_empty() { vec![1] } else { plan.workers.clone() };
    for (n, w) in workers.iter().enumerate() {
        phase(
            &scratch.path().join(format!("text-{w}")),
            &Ins::from_body(&format!("27903750123{:02}", 45 + n)).context("bench INS")?,
            "text PDFs",
            "application/pdf",
            &pdfs,
            plan.pdfs,
            *w,
        )
        .await?;
    }
    let last = workers.last().copied().unwrap_or(1);
    if plan.pages > 0 {
        if scans.is_empty() {
            bail!("no scan-*.png in {}", dir.display());
        }
        phase(
            &scratch.path().join("ocr"),
            &Ins::from_body("2790375012346").context("bench INS")?,
            "OCR pages",
            "image/png",
            &scans,
            plan.pages,
            last,
        )
        .await?;
    }
    Ok(())
}
