#![no_main]
//! The structured CDA R2 reader on arbitrary bytes: never panics, and a refusal names an
//! element (an XPath) with a short detail.
use carnet_extract::cda::{CdaLimits, read_cda};
use libfuzzer_sys::fuzz_target;

const LIMITS: CdaLimits = CdaLimits {
    max_input: 1 << 20,
    max_depth: 32,
    max_elements: 10_000,
    max_attributes: 16,
    max_attribute_len: 4096,
    max_text_len: 1 << 16,
};

fuzz_target!(|data: &[u8]| {
    if let Err(e) = read_cda(data, &LIMITS) {
        assert!(e.path.starts_with('/'));
        assert!(!e.detail.is_empty() && e.detail.len() <= 300);
    }
});
