#![no_main]
//! The ITI-65 Provide Document Bundle parser on arbitrary bytes: never panics; a refusal names
//! an element inside the Bundle; an accepted bundle has documents, one role per entry, and
//! declared sizes equal to the decoded bytes.
use std::sync::LazyLock;

use carnet_domain::codes::CodeLists;
use carnet_fhir::{EntryRole, parse_provide_bundle};
use libfuzzer_sys::fuzz_target;

static CODES: LazyLock<CodeLists> = LazyLock::new(CodeLists::dmp_default);

fuzz_target!(|data: &[u8]| {
    match parse_provide_bundle(data, &CODES) {
        Err(e) => {
            assert!(e.path == "Bundle" || e.path.starts_with("Bundle."), "{e}");
            assert!(!e.message.is_empty());
        }
        Ok(bundle) => {
            assert!(!bundle.documents.is_empty());
            assert_eq!(bundle.entries.iter().filter(|r| **r == EntryRole::SubmissionSet).count(), 1);
            for role in &bundle.entries {
                if let EntryRole::DocumentReference(i) | EntryRole::Binary(i) = role {
                    assert!(*i < bundle.documents.len());
                }
            }
            for d in &bundle.documents {
                assert!(d.submission.ins == bundle.ins);
                if let Some(size) = d.submission.declared_size {
                    assert_eq!(size, d.bytes.len() as u64);
                }
                if let Some(sha) = d.submission.declared_sha256 {
                    assert_eq!(sha, d.sha256);
                }
            }
        }
    }
});
