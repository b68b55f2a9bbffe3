//! Hand-written serde models of the FHIR R4 (4.0.1) resources Carnet serves.
//!
//! Only the elements Carnet emits or reads are modelled (see ARCHITECTURE.md for why no
//! generated crate is used). Every resource struct carries a zero-sized `resource_type` field,
//! so it serializes with its `resourceType` whether alone or inside a `Bundle`.

mod clinical;
mod datatypes;
mod resource_type;
mod resources;

pub use clinical::*;
pub use datatypes::*;
pub use resource_type::{ResourceName, ResourceType};
pub use resources::*;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Any resource Carnet puts in a bundle or a `contained` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Patient(Box<Patient>),
    Practitioner(Box<Practitioner>),
    PractitionerRole(Box<PractitionerRole>),
    DocumentReference(Box<DocumentReference>),
    Binary(Box<Binary>),
    List(Box<List>),
    Bundle(Box<Bundle>),
    OperationOutcome(Box<OperationOutcome>),
    CapabilityStatement(Box<CapabilityStatement>),
    Consent(Box<Consent>),
    AuditEvent(Box<AuditEvent>),
    Composition(Box<Composition>),
    Condition(Box<Condition>),
    AllergyIntolerance(Box<AllergyIntolerance>),
    MedicationStatement(Box<MedicationStatement>),
    Immunization(Box<Immunization>),
    Observation(Box<Observation>),
    RelatedPerson(Box<RelatedPerson>),
    Provenance(Box<Provenance>),
}

macro_rules! resource_enum_glue {
    ($($ty:ident),* $(,)?) => {
        $(impl From<$ty> for Resource {
            fn from(r: $ty) -> Resource { Resource::$ty(Box::new(r)) }
        })*

        impl Resource {
            /// The `resourceType` on the wire.
            pub fn type_name(&self) -> &'static str {
                match self { $(Resource::$ty(_) => <$ty as ResourceName>::NAME,)* }
            }
        }

        impl Serialize for Resource {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // Each struct writes its own `resourceType`.
                match self { $(Resource::$ty(r) => r.serialize(s),)* }
            }
        }

        impl<'de> Deserialize<'de> for Resource {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = serde_json::Value::deserialize(d)?;
                let name = value
                    .get("resourceType")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| D::Error::custom("a resource needs a resourceType string"))?
                    .to_owned();
                match name.as_str() {
                    $(<$ty as ResourceName>::NAME => serde_json::from_value::<$ty>(value).map(Resource::from).map_err(D::Error::custom),)*
                    other => Err(D::Error::custom(format!("resourceType {other} is not one Carnet models"))),
                }
            }
        }
    };
}

resource_enum_glue!(
    Patient,
    Practitioner,
    PractitionerRole,
    DocumentReference,
    Binary,
    List,
    Bundle,
    OperationOutcome,
    CapabilityStatement,
    Consent,
    AuditEvent,
    Composition,
    Condition,
    AllergyIntolerance,
    MedicationStatement,
    Immunization,
    Observation,
    RelatedPerson,
    Provenance,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_writes_its_type_alone_and_in_a_bundle() {
        let patient = Patient { id: Some("p".into()), ..Patient::default() };
        let alone = serde_json::to_value(&patient).expect("serializes");
        assert_eq!(alone["resourceType"], "Patient");
        let bundle = Bundle {
            type_: "searchset".into(),
            entry: vec![BundleEntry { resource: Some(patient.clone().into()), ..BundleEntry::default() }],
            ..Bundle::default()
        };
        let json = serde_json::to_value(&bundle).expect("serializes");
        assert_eq!(json["resourceType"], "Bundle");
        assert_eq!(json["entry"][0]["resource"]["resourceType"], "Patient");
        let back: Bundle = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, bundle);
    }

    #[test]
    fn a_wrong_or_unknown_resource_type_is_refused() {
        let as_patient = serde_json::from_value::<Patient>(serde_json::json!({"resourceType": "Practitioner"}));
        assert!(as_patient.is_err());
        let unknown = serde_json::from_value::<Resource>(serde_json::json!({"resourceType": "Encounter"}));
        let err = unknown.expect_err("not modelled").to_string();
        assert!(err.contains("Encounter"), "{err}");
        assert!(serde_json::from_value::<Resource>(serde_json::json!({"id": "x"})).is_err());
    }

    #[test]
    fn unknown_elements_are_ignored_when_reading_models() {
        let p: Patient = serde_json::from_value(serde_json::json!({"resourceType": "Patient", "id": "x", "photo": [{}]})).expect("ignored");
        assert_eq!(p.id.as_deref(), Some("x"));
    }
}
