pub mod directory;
pub mod documents;
pub mod ops;
pub mod records;
