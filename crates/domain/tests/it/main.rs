//! The integration tests of this crate, in one binary (one link instead of one per file).

// A test reports a failure by panicking: unwrap is how its helpers say "this cannot fail here".
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;
mod identifiers_props;
mod nir_oracle;
mod policy_changes;
mod policy_decisions;
mod policy_props;
mod policy_scenarios;
mod profile_decisions;
mod rights_decisions;
mod scope_decisions;
