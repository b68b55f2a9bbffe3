#![no_main]
//! The in-process text extractors (plain text, HTML, FHIR JSON, CDA R2, image headers) on
//! arbitrary bytes: never panic, never exceed the output limit, and a refusal carries a reason
//! and a detail. The first byte chooses the extractor.
use carnet_extract::inline::{Cda, extract};
use carnet_extract::{InlineLimits, Kind};
use libfuzzer_sys::fuzz_target;

const KINDS: [Kind; 5] = [Kind::Text, Kind::Html, Kind::FhirJson, Kind::Cda, Kind::Image];
const LIMITS: InlineLimits = InlineLimits { max_input: 1 << 20, max_output: 4096, max_depth: 32 };

fuzz_target!(|data: &[u8]| {
    let Some((&choice, bytes)) = data.split_first() else { return };
    match extract(KINDS[usize::from(choice) % KINDS.len()], bytes, &LIMITS) {
        Ok(Some(Cda::Text(text))) => assert!(text.len() <= LIMITS.max_output),
        Ok(Some(Cda::Embedded { bytes: inner, .. })) => assert!(inner.len() <= bytes.len()),
        Ok(None) => {}
        Err(e) => assert!(!e.detail.is_empty()),
    }
});
