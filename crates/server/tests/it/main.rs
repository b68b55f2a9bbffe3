//! The integration tests of this crate, in one binary (one link instead of one per file).

// A test reports a failure by panicking: unwrap is how its helpers say "this cannot fail here".
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;
mod apps;
mod cda;
mod connections;
mod documents;
mod edge;
mod extraction;
mod fhir;
mod fhir_clients;
mod fhir_profile;
mod fhir_search;
mod keep_alive;
mod ledger_trust;
mod many_nodes;
mod no_clinical_path;
mod notifications;
mod pkcs11;
mod policy;
mod policy_props;
mod portal;
mod portal_access;
mod portal_documents;
mod portal_oversight;
mod portal_pro;
mod portal_pro_activity;
mod portal_pro_deposit;
mod portal_profile;
mod portal_record;
mod portal_signin;
mod profile;
mod records;
mod s3;
mod scopes;
mod sealed_free_text;
mod smart_launch;
mod text_search;
mod timeline;
mod upload_sweep;
