//! The medical profile in FHIR R4, shaped after HL7 IPS and FR Core: each [`ProfileItem`] as
//! its resource ([`render`]), the searches of the five clinical resources ([`search`]), a
//! professional's FHIR create read back into an item ([`parse`]), and the `Provenance` of an
//! item. Pure: the edge hands over items the gate let through; `docs/fhir-profile.md` says
//! which element comes from where and why.

pub mod parse;
pub mod render;
pub mod search;

pub use parse::{ParsedItem, ProfileError, ProvenanceClaim, parse_item, parse_provenance};
pub use render::{item_reference, item_resource, provenance, resource_type};
pub use search::{ProfileQuery, ProfileResource, profile_searchset};

use carnet_domain::profile::ItemKind;

/// Code systems and extensions of the profile renderings, each with where it comes from.
pub mod systems {
    pub const LOINC: &str = "http://loinc.org";
    pub const UCUM: &str = "http://unitsofmeasure.org";
    pub const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
    pub const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
    pub const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
    pub const ALLERGY_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
    pub const ALLERGY_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
    pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
    pub const IMMUNIZATION_ORIGIN: &str = "http://terminology.hl7.org/CodeSystem/immunization-origin";
    pub const PERFORMER_FUNCTION: &str = "http://terminology.hl7.org/CodeSystem/v2-0443";
    pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
    pub const CONSENT_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/consentcategorycodes";
    pub const PROVENANCE_PARTICIPANT: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
    pub const DATA_OPERATION: &str = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
    /// `unknown`, where R4 requires a code the source did not give.
    pub const DATA_ABSENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
    /// HL7 IPS's way of saying "no known allergies / problems / medications / immunizations".
    pub const IPS_ABSENT_UNKNOWN: &str = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips";

    /// The source document of an item, on the resources R4 gives no element for it
    /// (AllergyIntolerance, Immunization, Consent, RelatedPerson): `valueReference`.
    pub fn source_document_extension() -> String {
        format!("{}source-document", crate::systems::CARNET_EXTENSION_BASE)
    }

    /// The source's own word for a status that has no code in the resource's value set.
    pub fn source_status_extension() -> String {
        format!("{}source-status", crate::systems::CARNET_EXTENSION_BASE)
    }

    /// A denied statement on a resource with no standard negation (Observation, RelatedPerson).
    pub fn negated_extension() -> String {
        format!("{}negated", crate::systems::CARNET_EXTENSION_BASE)
    }

    /// Carnet's codes for the patient's declarations when the source gave none.
    pub fn declaration_system() -> String {
        crate::patient_views::carnet_code_system("patient-declaration")
    }
}

/// The IPS absent-unknown code saying "none known" for a kind, if IPS has one.
pub(crate) fn no_known_code(kind: ItemKind) -> Option<&'static str> {
    match kind {
        ItemKind::Condition => Some("no-known-problems"),
        ItemKind::Allergy => Some("no-known-allergies"),
        ItemKind::Medication => Some("no-known-medications"),
        ItemKind::Immunization => Some("no-known-immunizations"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
