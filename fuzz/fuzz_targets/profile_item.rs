#![no_main]
//! A profile item created through FHIR (Condition, AllergyIntolerance, MedicationStatement,
//! Immunization, Observation) and its `X-Provenance`, on arbitrary JSON: never panics; a refusal
//! names an element with a message; an accepted item is of the type it was sent as.
use carnet_fhir::profile::{parse_item, parse_provenance, resource_type};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    match parse_item(&body) {
        Err(e) => assert!(!e.path.is_empty() && !e.message.is_empty(), "{e:?}"),
        Ok(item) => assert_eq!(body.get("resourceType").and_then(Value::as_str), Some(resource_type(item.kind))),
    }
    if let Err(e) = parse_provenance(&body) {
        assert!(!e.path.is_empty() && !e.message.is_empty(), "{e:?}");
    }
});
