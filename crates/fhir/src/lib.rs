//! FHIR R4 (4.0.1) for Carnet: the resources it serves and the IHE MHD bundles it reads.
//!
//! - [`model`]: hand-written serde models of the resources Carnet uses;
//! - [`render`]: domain → FHIR (`patient`, `document_reference`, `list_submission_set`,
//!   `bundle_searchset`, `transaction_response`, `operation_outcome`);
//! - [`capability`]: the CapabilityStatement, from the transactions the server mounts;
//! - [`mhd`]: ITI-65 Provide Document Bundle → `DocumentSubmission`s and their bytes, every
//!   refusal carrying the FHIRPath of the failing element;
//! - [`labels`]: the one rule for security-label codings (ITI-65 and label updates) and the
//!   readers of a label update (`PUT`, JSON Patch) → the new label set;
//! - [`profile`]: the medical profile's items as IPS-shaped R4 resources, their searches, a
//!   professional's create read back, and the IPS `$summary` items;
//! - [`synthea`]: a Synthea patient bundle → reference traits, a generated (test-register)
//!   NIR and documents, for `carnet import synthea`, with the same paths in its refusals.
//!
//! Architecture invariant: no HTTP, no storage, no clock, no policy. The edge calls this crate
//! with values it loaded and the policy let through; rendering cannot fail; parsing never
//! panics, whatever the bytes (property-tested and fuzzed).

pub mod capability;
pub mod datetime;
pub mod labels;
pub mod mhd;
pub mod model;
pub mod patient_views;
pub mod profile;
pub mod render;
pub mod search;
pub mod search_page;
pub mod synthea;
pub mod systems;

pub use capability::{ServerDescription, ServerSecurity, SmartEndpoints, Transaction, capability_statement};
pub use labels::{LabelPatch, LabelPut, LabelUpdate, read_label_patch, read_label_put};
pub use mhd::{EntryRole, MhdError, ProvideBundle, ProvidedDocument, SubmissionSetMeta, parse_provide_bundle};
pub use render::{
    IssueSeverity, IssueType, RenderContext, SearchEntry, SearchMode, SubmissionSetView, bundle_searchset, document_reference,
    list_submission_set, operation_outcome, patient, transaction_response,
};
