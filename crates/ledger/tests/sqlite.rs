//! The ledger suite on SQLite (a file of its own per test).

mod support;

ledger_suite!(support::sqlite);
