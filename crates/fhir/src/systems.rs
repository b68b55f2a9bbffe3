//! Code systems, identifier systems and extension URLs, each with where it comes from.

/// RFC 3986 URIs as identifier values (`urn:oid:…`, `urn:uuid:…`): IHE MHD's system for
/// `masterIdentifier` and SubmissionSet identifiers.
pub const URI: &str = "urn:ietf:rfc:3986";

/// Identifier types of FR Core (Interop'Santé): `INS-NIR`, `INS-NIA`, `INS-NIR-TEST`, `IDNPS`…
/// (FR Core `FRCorePatientINSProfile` identifier slices, `fr-core-cs-v2-0203`).
pub const FR_IDENTIFIER_TYPE: &str = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203";

/// FR Core's identity reliability extension on Patient (`fr-core-identity-reliability`); its
/// `identityStatus` sub-extension carries the RNIV status.
pub const FR_IDENTITY_RELIABILITY: &str = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability";

/// The four RNIV identity statuses (PROV, RECUP, VALI, QUAL), FR Core 2.2.0
/// `fr-core-cs-identity-status`, bound `required` to `identityStatus`. Earlier FR Core
/// releases and the ANS PDSm examples used HL7 v2 table 0445 (`fr-core-cs-v2-0445`), which has
/// no code for "qualifiée" and conveyed it as VALI + an INS-typed identifier.
pub const FR_IDENTITY_STATUS: &str = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status";

/// FR Core HumanName extension: all birth first names, space-separated, as on the INS.
pub const FR_BIRTH_LIST_GIVEN_NAME: &str = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-birth-list-given-name";

/// HL7 core extension for the birthplace (an `Address`).
pub const PATIENT_BIRTH_PLACE: &str = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace";

/// FR Core extension carrying the INSEE code of an address.
pub const FR_ADDRESS_INSEE_CODE: &str = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code";

/// INSEE commune codes (TRE_R13), as FR Core examples code the birthplace.
pub const INSEE_COMMUNE: &str = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM";

/// IdNat_PS: national identifiers of health professionals (`8` + RPPS, `0` + ADELI).
pub const IDNAT_PS: &str = "urn:oid:1.2.250.1.71.4.2.1";

/// FR Core's RPPS slice system (11 digits, no prefix); accepted on input.
pub const RPPS_FR_CORE: &str = "https://rpps.esante.gouv.fr";

/// TRE_A07 visibility labels, as `urn:oid:` (see `SecurityLabel::SYSTEM_OID`): how Carnet writes
/// the system. What it reads is `crate::labels`' rule.
pub fn security_label_system() -> String {
    format!("urn:oid:{}", carnet_domain::SecurityLabel::SYSTEM_OID)
}

/// TRE_A07's canonical URL in the ANS terminology (NOS), as ANS's PDSm guide writes it.
pub const TRE_A07: &str = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument";

/// HL7 v3 confidentiality codes. Only `N` (normal: no restriction) is accepted on input, and
/// ignored: any other code is a restriction Carnet would fail to enforce.
pub const V3_CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";
/// The OID of HL7 v3 Confidentiality (R4's `v3-Confidentiality` CodeSystem, `identifier`).
pub const V3_CONFIDENTIALITY_OID: &str = "2.16.840.1.113883.5.25";

/// IHE MHD list types: `submissionset`, `folder`.
pub const MHD_LIST_TYPES: &str = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes";
/// MHD 4.0.x wrote the IHE canonical base with `http:`; 4.1+ with `https:`. Both are read.
pub const MHD_LIST_TYPES_HTTP: &str = "http://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes";

/// IHE MHD SubmissionSet `sourceId` extension.
pub const MHD_SOURCE_ID: &str = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId";
pub const MHD_SOURCE_ID_HTTP: &str = "http://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId";

/// Other spellings of the IHE format code system (`carnet_domain::codes::FORMAT_SYSTEM_IHE`):
/// its OID (used by the R4 example `Bundle-xds.json`) and the ANS TRE_A11 URL (used by PDSm).
/// Input coded in them is read as the IHE system.
pub const FORMAT_SYSTEM_ALIASES: [&str; 2] =
    ["urn:oid:1.3.6.1.4.1.19376.1.2.3", "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"];

/// Carnet's own extensions. A URN rather than an URL: Carnet has no canonical web home yet,
/// and an URL that does not resolve would pretend otherwise. One place to change it.
pub const CARNET_EXTENSION_BASE: &str = "urn:carnet:fhir:StructureDefinition:";

/// SHA-256 of a document's bytes (base64), on `Attachment`. R4's `Attachment.hash` is SHA-1
/// and IHE MHD 4.x defines nothing for SHA-256, which is the hash Carnet keeps; Carnet emits
/// no SHA-1 (it would have to compute one on every read).
pub fn sha256_extension() -> String {
    format!("{CARNET_EXTENSION_BASE}attachment-sha256")
}

/// Exact size in bytes (`valueDecimal`) when it exceeds R4's `unsignedInt` (2^31 − 1), which
/// `Attachment.size` cannot hold (R5 made it `integer64`).
pub fn large_size_extension() -> String {
    format!("{CARNET_EXTENSION_BASE}attachment-size")
}

/// SMART on FHIR: security service and OAuth endpoints extension (CapabilityStatement).
pub const RESTFUL_SECURITY_SERVICE: &str = "http://terminology.hl7.org/CodeSystem/restful-security-service";
pub const SMART_OAUTH_URIS: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";
