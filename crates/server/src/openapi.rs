//! The OpenAPI document of `/api`, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{apps, directory, documents, ledger, policy, profile, records, search, timeline};

#[derive(OpenApi)]
#[openapi(
    info(title = "Carnet API", description = "Record management and directory of the Carnet shared medical record. Documents are also exchanged over FHIR (IHE MHD) at /fhir."),
    paths(
        records::create, records::status, records::close, records::reopen, records::request_destruction,
        records::statistics, directory::find, directory::search, directory::upsert, directory::import,
        documents::upload, documents::list, documents::read, documents::content, documents::withdraw,
        documents::archive, documents::unarchive, search::search, timeline::timeline,
        profile::list, profile::add, profile::correct, profile::entered_in_error,
        policy::read, policy::change, policy::emergency, policy::labels, policy::delete_reimbursement, policy::preferences,
        policy::set_preferences, apps::list, apps::revoke, apps::allow, ledger::latest, ledger::public_key, ledger::at_size, ledger::inclusion, ledger::consistency, ledger::history, ledger::receipts,
        ledger::review_items, ledger::acknowledge, ledger::annotate,
    ),
    modifiers(&BearerAuth),
    tags((name = "records", description = "Record lifecycle"), (name = "documents", description = "Encrypted documents: deposit, consultation, retrieval, lifecycle"),
        (name = "policy", description = "The patient's choices: authorizations, blocks, médecin traitant, representatives, oppositions, labels, emergency access, notifications, the apps connected to the record"),
        (name = "ledger", description = "The access ledger: signed tree heads, proofs, access history, review queue"), (name = "directory", description = "Professionals directory"),
        (name = "profile", description = "The medical profile: items read from structured (CDA level 3) deposits, each visible as its source document is, and direct entries"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
