//! The integration tests of this crate, in one binary (one link instead of one per file).

// A test reports a failure by panicking: unwrap is how its helpers say "this cannot fail here".
#![allow(clippy::unwrap_used)]

mod backup;
mod cli;
mod demo_portal;
mod extraction;
mod import_synthea;
mod nodes;
mod smart;
