pub mod directory;
pub mod documents;
pub mod ledger;
pub mod policy;
pub mod ops;
pub mod records;
