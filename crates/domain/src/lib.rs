//! Carnet's domain core.
//!
//! Architecture invariant: this crate does no I/O and depends on no tokio, sqlx, axum or crypto
//! crate. Everything here is a value, a parser or a pure rule, so it is tested exhaustively with
//! unit and property tests and fuzzed where it parses outside input.

pub mod access;
pub mod actor;
pub mod clock;
pub mod codes;
pub mod directory;
pub mod document;
pub mod emergency;
pub mod guard;
pub mod hex;
pub mod identity;
pub mod ins;
pub mod luhn;
pub mod matrix;
pub mod policy;
pub mod profession;
pub mod profile;
pub mod record;
pub mod rights;
pub mod rpps;
pub mod scope;
pub mod session;

pub use access::{AccessContext, AccessDecision, Basis, DenyReason, LabelDenied, authorize_label_change, decide, decide_record};
pub use actor::{Actor, ActorKind, ProfessionalIdentity, Role, Scopes};
pub use clock::Clock;
pub use directory::Professional;
pub use document::{DocumentId, DocumentMeta, DocumentStatus, SecurityLabel};
pub use emergency::{EmergencyAccess, EmergencyDenied, EmergencyKind, EmergencyRequest, open_emergency};
pub use guard::{EnumerationRule, GuardVerdict, Judgement, NOTE_REFRESH, Standing};
pub use identity::{IdentityStatus, ReferenceTraits, Sex, TraitsQuery};
pub use ins::{Ins, InsError, InsKind};
pub use matrix::{MatrixError, ProfessionMatrix};
pub use policy::{
    ApprovedChange, Authorization, AuthorizationWindows, PatientPolicy, PolicyChange, PolicyDenied, PolicyError, Representation,
    RepresentationKind, authorize_change,
};
pub use profession::Profession;
pub use profile::{ItemContent, ItemId, ItemKind, ItemMeta, ItemOrigin, ItemStatus, ProfileItem, decide_item};
pub use record::{CreationChannel, Record, RecordAction, RecordStatus, RetentionPolicy};
pub use rights::{Action, ActionDenied, ActionKind, Grant, HolderContext, authorize};
pub use rpps::{Finess, IdError, Rpps};
pub use scope::{DocumentScope, Interaction, Need, Operation, ScopeDenied, ScopeError, SmartScope};
pub use session::{SessionLimits, SessionState, SessionTimes};
