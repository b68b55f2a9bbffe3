pub mod apps;
pub mod directory;
pub mod documents;
pub mod ledger;
pub mod ops;
pub mod policy;
pub mod records;
pub mod search;
