//! Prometheus metrics: request counts and latencies per route, and what the upload sweep
//! removed, served at `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/records/{ins}`), never the raw path: no INS in metrics.
    route: String,
    status: u16,
}

/// How a document's text extraction ended: `outcome` is `extracted`, `unavailable` (with the
/// stable `reason` code) or `retried`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExtractionLabels {
    outcome: &'static str,
    reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    /// Counted by `carnet serve`'s upload sweep (`Carnet::sweep_uploads`), round after round.
    swept_uploads: Counter,
    swept_orphan_blobs: Counter,
    upload_sweep_failures: Counter,
    /// Full verifications of the ledger by `carnet serve`, and those that found a problem.
    ledger_verifications: Counter,
    ledger_verification_failures: Counter,
    /// Data keys unwrapped by the key provider (the key cache's misses), brought up to date at
    /// each rendering from the crypto crate's count.
    key_unwraps: Counter,
    key_unwraps_sync: std::sync::Mutex<()>,
    /// Text extractions ended by this node's worker (`Carnet::extract_texts`), by outcome.
    extractions: Family<ExtractionLabels, Counter>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("carnet");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_25, 2.0, 16)));
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        let (swept_uploads, swept_orphan_blobs, upload_sweep_failures) = (Counter::default(), Counter::default(), Counter::default());
        registry.register("swept_interrupted_uploads", "Interrupted uploads removed (pending note and blob)", swept_uploads.clone());
        registry.register("swept_orphan_blobs", "Blobs claimed by neither a document nor an upload, deleted", swept_orphan_blobs.clone());
        registry.register("upload_sweep_failures", "Rounds of the upload sweep that failed", upload_sweep_failures.clone());
        let (ledger_verifications, ledger_verification_failures) = (Counter::default(), Counter::default());
        registry.register("ledger_verifications", "Full verifications of the ledger while serving", ledger_verifications.clone());
        registry.register(
            "ledger_verification_failures",
            "Full verifications of the ledger that found it corrupt or inconsistent with the metadata store",
            ledger_verification_failures.clone(),
        );
        let key_unwraps = Counter::default();
        registry.register(
            "key_unwraps",
            "Data keys unwrapped by the key provider (with PKCS#11: decryptions asked of the token)",
            key_unwraps.clone(),
        );
        let extractions = Family::<ExtractionLabels, Counter>::default();
        registry.register("text_extractions", "Documents whose text extraction ended, by outcome and reason", extractions.clone());
        Arc::new(Metrics {
            registry,
            requests,
            latency,
            swept_uploads,
            swept_orphan_blobs,
            upload_sweep_failures,
            ledger_verifications,
            ledger_verification_failures,
            key_unwraps,
            key_unwraps_sync: std::sync::Mutex::new(()),
            extractions,
        })
    }

    /// Counts a round of the upload sweep.
    pub fn upload_sweep(&self, round: &carnet_service::UploadSweep) {
        self.swept_uploads.inc_by(round.interrupted_uploads as u64);
        self.swept_orphan_blobs.inc_by(round.orphan_blobs as u64);
    }

    pub fn upload_sweep_failed(&self) {
        self.upload_sweep_failures.inc();
    }

    /// Counts a round of the text extraction worker.
    pub fn extraction(&self, round: &carnet_service::ExtractionReport) {
        self.extractions.get_or_create(&ExtractionLabels { outcome: "extracted", reason: "" }).inc_by(round.extracted as u64);
        self.extractions.get_or_create(&ExtractionLabels { outcome: "retried", reason: "" }).inc_by(round.retried as u64);
        for reason in &round.unavailable {
            self.extractions.get_or_create(&ExtractionLabels { outcome: "unavailable", reason }).inc();
        }
    }

    /// Counts a full verification of the ledger, failed or not.
    pub fn ledger_verified(&self, failed: bool) {
        self.ledger_verifications.inc();
        if failed {
            self.ledger_verification_failures.inc();
        }
    }

    pub fn render(&self) -> String {
        if let Ok(_one_at_a_time) = self.key_unwraps_sync.lock() {
            let now = carnet_crypto::unwraps_so_far();
            self.key_unwraps.inc_by(now.saturating_sub(self.key_unwraps.get()));
        }
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let labels = RequestLabels { method, route, status: response.status().as_u16() };
    metrics.requests.get_or_create(&labels).inc();
    metrics.latency.get_or_create(&labels).observe(start.elapsed().as_secs_f64());
    response
}
