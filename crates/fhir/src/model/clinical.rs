//! The clinical resources of the medical profile (IPS-shaped): Condition, AllergyIntolerance,
//! MedicationStatement, Immunization, Observation, RelatedPerson and Provenance, with only the
//! elements Carnet writes. Outside input is not read through these structs but through
//! `crate::profile::parse`, which checks each element with its path.

use serde::{Deserialize, Serialize};

use super::datatypes::{CodeableConcept, Extension, HumanName, Meta, Period, Quantity, Reference};
use super::resource_type::{ResourceName, ResourceType};
use super::resources::Narrative;

macro_rules! clinical_names {
    ($($ty:ident),* $(,)?) => {
        $(impl ResourceName for $ty { const NAME: &'static str = stringify!($ty); })*
    };
}

clinical_names!(Condition, AllergyIntolerance, MedicationStatement, Immunization, Observation, RelatedPerson, Provenance);

/// `Condition` (IPS `Condition-uv-ips`): a problem or an antécédent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    pub resource_type: ResourceType<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    pub subject: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abatement_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<ConditionEvidence>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionEvidence {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<Reference>,
}

/// `AllergyIntolerance` (IPS `AllergyIntolerance-uv-ips`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntolerance {
    pub resource_type: ResourceType<AllergyIntolerance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    pub patient: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_occurrence: Option<String>,
}

/// `MedicationStatement` (IPS `MedicationStatement-uv-ips`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationStatement {
    pub resource_type: ResourceType<MedicationStatement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub status: String,
    pub medication_codeable_concept: CodeableConcept,
    pub subject: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_asserted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information_source: Option<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Reference>,
}

/// `Immunization` (IPS `Immunization-uv-ips`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Immunization {
    pub resource_type: ResourceType<Immunization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub status: String,
    pub vaccine_code: CodeableConcept,
    pub patient: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_source: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_origin: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_number: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<ImmunizationPerformer>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImmunizationPerformer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<CodeableConcept>,
    pub actor: Reference,
}

/// `Observation` (IPS laboratory results and vital signs; the organ donation position).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub resource_type: ResourceType<Observation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_boolean: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_range: Vec<ObservationReferenceRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Reference>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservationReferenceRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `RelatedPerson`: a person the patient names to contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedPerson {
    pub resource_type: ResourceType<RelatedPerson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    pub patient: Reference,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relationship: Vec<CodeableConcept>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// `ContactPoint`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Provenance`: who recorded an item, when, and from which document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub resource_type: ResourceType<Provenance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    pub target: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_date_time: Option<String>,
    pub recorded: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<CodeableConcept>,
    pub agent: Vec<ProvenanceAgent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entity: Vec<ProvenanceEntity>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceAgent {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    pub who: Reference,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceEntity {
    pub role: String,
    pub what: Reference,
}
