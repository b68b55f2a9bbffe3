pub mod directory;
pub mod ops;
pub mod records;
