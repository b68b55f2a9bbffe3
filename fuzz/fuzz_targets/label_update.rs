#![no_main]
//! The label-update readers (`PUT` body and JSON Patch of `DocumentReference.securityLabel`) on
//! arbitrary bytes, against a stored document carrying MASQUE_PS: never panic; a refusal names
//! the resource or the patch; an accepted update is a set of labels and says exactly how it
//! differs from the stored ones. The stored document is the `put` seed (Carnet's rendering).
use std::sync::LazyLock;

use carnet_domain::SecurityLabel;
use carnet_fhir::model::DocumentReference;
use carnet_fhir::{LabelUpdate, MhdError, read_label_patch, read_label_put};
use libfuzzer_sys::fuzz_target;

const STORED_JSON: &str = include_str!("../seeds/label_update/put");
const ID: &str = "10020000-0000-4000-8000-000000000002";
const NOW: [SecurityLabel; 1] = [SecurityLabel::MasquePs];

static STORED: LazyLock<DocumentReference> =
    LazyLock::new(|| serde_json::from_str(STORED_JSON).expect("the put seed is a DocumentReference Carnet rendered"));

fn check(result: Result<LabelUpdate, MhdError>, roots: &[&str]) {
    match result {
        Err(e) => {
            assert!(roots.iter().any(|r| e.path == *r || e.path.starts_with(&format!("{r}.")) || e.path.starts_with(&format!("{r}["))), "{e}");
            assert!(!e.message.is_empty());
        }
        Ok(update) => {
            for l in SecurityLabel::ALL {
                assert!(update.labels.iter().filter(|x| **x == l).count() <= 1, "{update:?}");
                assert_eq!(update.added.contains(&l), update.labels.contains(&l) && !NOW.contains(&l), "{update:?}");
                assert_eq!(update.removed.contains(&l), NOW.contains(&l) && !update.labels.contains(&l), "{update:?}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(read_label_put(ID, data).and_then(|put| put.apply(&STORED)), &["DocumentReference"]);
    check(read_label_patch(data).and_then(|patch| patch.apply(&STORED)), &["Parameters", "DocumentReference"]);
});
