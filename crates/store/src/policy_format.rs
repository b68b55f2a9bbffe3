//! The patient's policy as stored in `patient_policies.policy`: a JSON document whose shape this
//! crate owns, so that renaming a field of the domain's `PatientPolicy` cannot make stored rows
//! unreadable (the conversion here changes instead).
//!
//! **Versions.** Version 1 is the shape written before this module existed (serde of the
//! domain type, no version marker), kept field for field. Rows now also carry `"v": 1`, and a
//! row without `v` reads as version 1; a reader that ignores `v` (an older Carnet, during a
//! rolling deployment or a rollback) still reads what this one writes. A version in the JSON,
//! rather than a column, keeps the row one value that every query already reads whole (the
//! gate's join among them) and needs no migration. A later shape is `"v": 2`, with its own
//! `StoredPolicyV2`: [`decode`] reads the marker and dispatches; a version it does not know
//! (a row written by a newer Carnet) is reported as such, never read as version 1.
//!
//! Missing fields read as their defaults (empty, `false`, `null`): a row written before a field
//! existed reads as "nothing chosen" for it, the policy's safe default.

use carnet_domain::Rpps;
use carnet_domain::policy::{Authorization, Declaration, PatientPolicy, Representation, RepresentationKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::StoreError;

const WHAT: &str = "patient policy";

fn corrupt(detail: impl ToString) -> StoreError {
    StoreError::Corrupt { what: WHAT, detail: detail.to_string() }
}

/// The policy's JSON as written today.
pub(crate) fn encode(policy: &PatientPolicy) -> Result<String, StoreError> {
    serde_json::to_string(&StoredPolicyV1::from(policy)).map_err(corrupt)
}

/// A stored policy, of any version this Carnet reads.
pub(crate) fn decode(json: &str) -> Result<PatientPolicy, StoreError> {
    match serde_json::from_str::<StoredPolicyV1>(json) {
        Ok(v1) if v1.v == StoredPolicyV1::VERSION => v1.into_domain(),
        Ok(other) => Err(unknown_version(other.v)),
        // Version 1 did not read it: say so if its marker names another version.
        Err(e) => Err(match serde_json::from_str::<Marker>(json) {
            Ok(Marker { v: Some(v) }) if v != StoredPolicyV1::VERSION => unknown_version(v),
            _ => corrupt(e),
        }),
    }
}

fn unknown_version(v: u64) -> StoreError {
    corrupt(format!("format version {v} is not one this Carnet reads (1)"))
}

/// Only the version marker of a row, whatever its shape.
#[derive(Deserialize)]
struct Marker {
    #[serde(default)]
    v: Option<u64>,
}

/// Version 1. Field names, `null` for absent optional values, RFC 3339 instants and the
/// snake_case representation kinds are the format: change none of them; add a version instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct StoredPolicyV1 {
    /// Always 1; absent in rows written before versions were marked.
    v: u64,
    authorizations: Vec<AuthorizationV1>,
    blocked: Vec<String>,
    medecin_traitant: Option<String>,
    extended_rights: Vec<String>,
    representatives: Vec<RepresentationV1>,
    opposes_bris_de_glace: bool,
    opposes_samu: bool,
    reimbursement_hidden: bool,
}

impl StoredPolicyV1 {
    const VERSION: u64 = 1;
}

impl Default for StoredPolicyV1 {
    fn default() -> Self {
        StoredPolicyV1 {
            v: StoredPolicyV1::VERSION,
            authorizations: Vec::new(),
            blocked: Vec::new(),
            medecin_traitant: None,
            extended_rights: Vec::new(),
            representatives: Vec::new(),
            opposes_bris_de_glace: false,
            opposes_samu: false,
            reimbursement_hidden: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AuthorizationV1 {
    rpps: String,
    #[serde(with = "time::serde::rfc3339")]
    granted_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    expires_at: Option<OffsetDateTime>,
    granted_by: String,
    #[serde(default)]
    declared: Option<DeclarationV1>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DeclarationV1 {
    by: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RepresentationKindV1 {
    Minor,
    ProtectedAdult,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RepresentationV1 {
    representative: String,
    kind: RepresentationKindV1,
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    until: Option<OffsetDateTime>,
    registered_by: String,
    #[serde(with = "time::serde::rfc3339")]
    registered_at: OffsetDateTime,
}

impl From<&PatientPolicy> for StoredPolicyV1 {
    fn from(p: &PatientPolicy) -> Self {
        let rpps = |r: &Rpps| r.as_str().to_owned();
        StoredPolicyV1 {
            v: StoredPolicyV1::VERSION,
            authorizations: p
                .authorizations
                .iter()
                .map(|a| AuthorizationV1 {
                    rpps: rpps(&a.rpps),
                    granted_at: a.granted_at,
                    expires_at: a.expires_at,
                    granted_by: a.granted_by.clone(),
                    declared: a.declared.as_ref().map(|d| DeclarationV1 { by: d.by.clone(), at: d.at }),
                })
                .collect(),
            blocked: p.blocked.iter().map(rpps).collect(),
            medecin_traitant: p.medecin_traitant.as_ref().map(rpps),
            extended_rights: p.extended_rights.iter().map(rpps).collect(),
            representatives: p
                .representatives
                .iter()
                .map(|r| RepresentationV1 {
                    representative: r.representative.clone(),
                    kind: match r.kind {
                        RepresentationKind::Minor => RepresentationKindV1::Minor,
                        RepresentationKind::ProtectedAdult => RepresentationKindV1::ProtectedAdult,
                    },
                    since: r.since,
                    until: r.until,
                    registered_by: r.registered_by.clone(),
                    registered_at: r.registered_at,
                })
                .collect(),
            opposes_bris_de_glace: p.opposes_bris_de_glace,
            opposes_samu: p.opposes_samu,
            reimbursement_hidden: p.reimbursement_hidden,
        }
    }
}

/// A stored RPPS that no longer parses is corruption, named with the field it sits in.
fn rpps(field: &str, raw: &str) -> Result<Rpps, StoreError> {
    Rpps::parse(raw).map_err(|e| corrupt(format!("{field}: {e}")))
}

fn rpps_list(field: &str, raw: Vec<String>) -> Result<Vec<Rpps>, StoreError> {
    raw.iter().map(|r| rpps(field, r)).collect()
}

impl StoredPolicyV1 {
    fn into_domain(self) -> Result<PatientPolicy, StoreError> {
        Ok(PatientPolicy {
            authorizations: self
                .authorizations
                .into_iter()
                .map(|a| {
                    Ok(Authorization {
                        rpps: rpps("authorizations.rpps", &a.rpps)?,
                        granted_at: a.granted_at,
                        expires_at: a.expires_at,
                        granted_by: a.granted_by,
                        declared: a.declared.map(|d| Declaration { by: d.by, at: d.at }),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            blocked: rpps_list("blocked", self.blocked)?,
            medecin_traitant: self.medecin_traitant.map(|r| rpps("medecin_traitant", &r)).transpose()?,
            extended_rights: rpps_list("extended_rights", self.extended_rights)?,
            representatives: self
                .representatives
                .into_iter()
                .map(|r| Representation {
                    representative: r.representative,
                    kind: match r.kind {
                        RepresentationKindV1::Minor => RepresentationKind::Minor,
                        RepresentationKindV1::ProtectedAdult => RepresentationKind::ProtectedAdult,
                    },
                    since: r.since,
                    until: r.until,
                    registered_by: r.registered_by,
                    registered_at: r.registered_at,
                })
                .collect(),
            opposes_bris_de_glace: self.opposes_bris_de_glace,
            opposes_samu: self.opposes_samu,
            reimbursement_hidden: self.reimbursement_hidden,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn r(body: &str) -> Rpps {
        Rpps::from_body(body).expect("ten digits")
    }

    const PATIENT: &str = "https://carnet.dev/dev-issuer#p-184127645108946";

    fn authorizations() -> Vec<Authorization> {
        let declarer = |body| Some(Declaration { by: format!("rpps:{}", r(body)), at: datetime!(2026-03-05 08:00:00.5 UTC) });
        vec![
            // Until revoked, given by the patient.
            Authorization {
                rpps: r("1000000100"),
                granted_at: datetime!(2026-03-04 10:11:12.345 UTC),
                expires_at: None,
                granted_by: PATIENT.into(),
                declared: None,
            },
            // With an expiry (a pharmacist's default window).
            Authorization {
                rpps: r("1000000210"),
                granted_at: datetime!(2026-03-04 10:11:13 UTC),
                expires_at: Some(datetime!(2026-03-07 10:11:13 UTC)),
                granted_by: PATIENT.into(),
                declared: None,
            },
            // Declared at the point of care.
            Authorization {
                rpps: r("1000000320"),
                granted_at: datetime!(2026-03-05 08:00:00.5 UTC),
                expires_at: Some(datetime!(2026-09-01 00:00:00 UTC)),
                granted_by: format!("rpps:{}", r("1000000320")),
                declared: declarer("1000000320"),
            },
            Authorization {
                rpps: r("1000000430"),
                granted_at: datetime!(2026-03-06 09:30:00.001 UTC),
                expires_at: Some(datetime!(2026-03-09 09:30:00.001 UTC)),
                granted_by: format!("rpps:{}", r("1000000430")),
                declared: Some(Declaration { by: format!("rpps:{}", r("1000000430")), at: datetime!(2026-03-06 09:30:00.001 UTC) }),
            },
        ]
    }

    fn representatives() -> Vec<Representation> {
        vec![
            Representation {
                representative: "https://idp.example#parent-1".into(),
                kind: RepresentationKind::Minor,
                since: datetime!(2026-01-10 12:00:00 UTC),
                until: Some(datetime!(2030-02-27 00:00:00 UTC)),
                registered_by: "https://idp.example#parent-1".into(),
                registered_at: datetime!(2026-01-10 12:00:00 UTC),
            },
            Representation {
                representative: "https://idp.example#guardian".into(),
                kind: RepresentationKind::ProtectedAdult,
                since: datetime!(2026-02-01 00:00:00 UTC),
                until: None,
                registered_by: "https://carnet.dev/dev-issuer#insurer-desk".into(),
                registered_at: datetime!(2026-01-31 15:42:07.250 UTC),
            },
            // Ended.
            Representation {
                representative: "https://idp.example#parent-2".into(),
                kind: RepresentationKind::Minor,
                since: datetime!(2026-01-10 12:00:00 UTC),
                until: Some(datetime!(2026-04-01 08:15:00.999 UTC)),
                registered_by: PATIENT.into(),
                registered_at: datetime!(2026-01-10 12:00:00.020 UTC),
            },
        ]
    }

    /// Rows written by the code before this module (serde of the domain type), with what they
    /// must read as.
    fn fixtures() -> Vec<(&'static str, &'static str, PatientPolicy)> {
        macro_rules! fixture {
            ($name:literal) => {
                ($name, include_str!(concat!("../tests/fixtures/policy-v1/", $name, ".json")))
            };
        }
        let everything = PatientPolicy {
            authorizations: authorizations(),
            blocked: vec![r("1000000540")],
            medecin_traitant: Some(r("1000000760")),
            extended_rights: vec![r("1000000870")],
            representatives: representatives(),
            opposes_bris_de_glace: true,
            opposes_samu: false,
            reimbursement_hidden: true,
        };
        [
            (fixture!("empty"), PatientPolicy::default()),
            (fixture!("authorizations"), PatientPolicy { authorizations: authorizations(), ..PatientPolicy::default() }),
            (
                fixture!("blocks-medecin-traitant-extended-rights"),
                PatientPolicy {
                    authorizations: authorizations()[..1].to_vec(),
                    blocked: vec![r("1000000540"), r("1000000650")],
                    medecin_traitant: Some(r("1000000760")),
                    extended_rights: vec![r("1000000100"), r("1000000870")],
                    ..PatientPolicy::default()
                },
            ),
            (fixture!("representatives"), PatientPolicy { representatives: representatives(), ..PatientPolicy::default() }),
            (
                fixture!("oppositions-reimbursement-hidden"),
                PatientPolicy { opposes_bris_de_glace: true, opposes_samu: true, reimbursement_hidden: true, ..PatientPolicy::default() },
            ),
            (fixture!("everything"), everything),
        ]
        .into_iter()
        .map(|((name, json), policy)| (name, json, policy))
        .collect()
    }

    #[test]
    fn rows_written_before_versions_read_as_version_1() {
        for (name, json, expected) in fixtures() {
            assert_eq!(decode(json).unwrap_or_else(|e| panic!("{name}: {e}")), expected, "{name}");
        }
    }

    #[test]
    fn the_written_shape_is_version_1_with_its_marker() {
        for (name, json, policy) in fixtures() {
            let mut written: serde_json::Value = serde_json::from_str(&encode(&policy).expect("encodes")).expect("JSON");
            assert_eq!(written.as_object_mut().and_then(|o| o.remove("v")), Some(serde_json::json!(1)), "{name}");
            let before: serde_json::Value = serde_json::from_str(json).expect("fixture is JSON");
            assert_eq!(written, before, "{name}: the fields of version 1, unchanged");
        }
    }

    #[test]
    fn missing_fields_read_as_nothing_chosen() {
        assert_eq!(decode(r#"{"blocked":[]}"#).expect("defaults"), PatientPolicy::default());
        assert_eq!(decode("{}").expect("defaults"), PatientPolicy::default());
        let terse = r#"{"authorizations":[{"rpps":"10000001007","granted_at":"2026-03-04T10:11:12.345Z","granted_by":"a#b"}]}"#;
        let read = decode(terse).expect("optional fields default");
        assert_eq!(read.authorizations[0].expires_at, None);
        assert_eq!(read.authorizations[0].declared, None);
    }

    #[test]
    fn unknown_versions_and_bad_values_are_corruption_naming_what() {
        let newer = decode(r#"{"v":2,"authorisations":{}}"#).expect_err("a newer shape");
        assert!(newer.to_string().contains("format version 2"), "{newer}");
        let newer_same_shape = decode(r#"{"v":3}"#).expect_err("a newer version");
        assert!(newer_same_shape.to_string().contains("format version 3"), "{newer_same_shape}");
        let bad_rpps = decode(r#"{"v":1,"blocked":["10000001008"]}"#).expect_err("bad check digit");
        assert!(bad_rpps.to_string().contains("blocked: "), "{bad_rpps}");
        let bad_kind = decode(r#"{"representatives":[{"representative":"a#b","kind":"cousin","since":"2026-01-01T00:00:00Z","registered_by":"a#b","registered_at":"2026-01-01T00:00:00Z"}]}"#)
            .expect_err("unknown kind");
        assert!(matches!(bad_kind, StoreError::Corrupt { what: WHAT, .. }), "{bad_kind}");
        assert!(decode("not json").is_err());
    }

    fn instant() -> impl Strategy<Value = OffsetDateTime> {
        // 1970 to 2200, to the nanosecond, at whole-minute offsets (RFC 3339 has no offset seconds).
        (0i128..7_258_118_400_000_000_000, -1439i16..=1439).prop_map(|(nanos, minutes)| {
            let offset = time::UtcOffset::from_whole_seconds(i32::from(minutes) * 60).expect("within a day");
            OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("in range").to_offset(offset)
        })
    }

    fn rpps_value() -> impl Strategy<Value = Rpps> {
        "[0-9]{10}".prop_map(|body| Rpps::from_body(&body).expect("ten digits"))
    }

    fn reference() -> impl Strategy<Value = String> {
        // Any text: the store keeps what the domain checked, byte for byte.
        any::<String>()
    }

    fn authorization() -> impl Strategy<Value = Authorization> {
        (rpps_value(), instant(), proptest::option::of(instant()), reference(), proptest::option::of((reference(), instant()))).prop_map(
            |(rpps, granted_at, expires_at, granted_by, declared)| Authorization {
                rpps,
                granted_at,
                expires_at,
                granted_by,
                declared: declared.map(|(by, at)| Declaration { by, at }),
            },
        )
    }

    fn representation() -> impl Strategy<Value = Representation> {
        (reference(), any::<bool>(), instant(), proptest::option::of(instant()), reference(), instant()).prop_map(
            |(representative, minor, since, until, registered_by, registered_at)| Representation {
                representative,
                kind: if minor { RepresentationKind::Minor } else { RepresentationKind::ProtectedAdult },
                since,
                until,
                registered_by,
                registered_at,
            },
        )
    }

    fn policy() -> impl Strategy<Value = PatientPolicy> {
        let rpps_list = || proptest::collection::vec(rpps_value(), 0..4);
        (
            proptest::collection::vec(authorization(), 0..4),
            rpps_list(),
            proptest::option::of(rpps_value()),
            rpps_list(),
            proptest::collection::vec(representation(), 0..3),
            any::<(bool, bool, bool)>(),
        )
            .prop_map(|(authorizations, blocked, medecin_traitant, extended_rights, representatives, (bdg, samu, remb))| {
                PatientPolicy {
                    authorizations,
                    blocked,
                    medecin_traitant,
                    extended_rights,
                    representatives,
                    opposes_bris_de_glace: bdg,
                    opposes_samu: samu,
                    reimbursement_hidden: remb,
                }
            })
    }

    proptest! {
        #[test]
        fn a_policy_reads_back_as_written(p in policy()) {
            let json = encode(&p).expect("encodes");
            let back = decode(&json).expect("decodes");
            prop_assert_eq!(&back, &p);
            // Instants keep their offset too, not only the moment.
            for (a, b) in back.authorizations.iter().zip(&p.authorizations) {
                prop_assert_eq!(a.granted_at.offset(), b.granted_at.offset());
            }
        }
    }
}
