//! The ledger suite on SQLite (a file of its own per test).

use crate::support;

ledger_suite!(support::sqlite);
