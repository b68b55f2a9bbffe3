//! What Carnet serves, byte for byte: every representative resource as an `insta` snapshot
//! (`tests/snapshots/`). The samples are built from fixed values (ids, instants), so nothing is
//! volatile and nothing is redacted; a rendering built at run time would redact its `id`,
//! `date`, `lastModified` and `location` (see `insta::assert_json_snapshot!`'s redactions).
//! Review a change with `cargo insta review` (or `INSTA_UPDATE=always`, then `git diff`).

use crate::support;

use carnet_fhir::model::Resource;

#[test]
fn rendered_resources() {
    // The last sample is the input fixture, not a rendering.
    for (name, json) in support::samples().into_iter().filter(|(n, _)| !n.starts_with("provide-bundle")) {
        let name = name.trim_end_matches(".json");
        insta::assert_json_snapshot!(name, json);
    }
}

/// The models read back what they wrote, unchanged: nothing rendered is lost on a round trip.
#[test]
fn models_round_trip_everything_they_render() {
    for (name, json) in support::samples() {
        let resource: Resource = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = serde_json::to_value(&resource).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, json, "{name}");
    }
}
