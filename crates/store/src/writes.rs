//! Statements that land together or not at all, sent as one unit (`Database::write_atomically`).
//!
//! Why: on SQLite every statement is a trip to sqlx's worker thread and back, two thread
//! wake-ups that cost ~150 µs on this machine against ~20 µs of SQLite's own work, and the one
//! writer connection is held for every trip of a transaction. An ITI-65 deposit was seven trips
//! (BENCHMARKS.md, fifth round). Here a transaction's statements go in ONE trip, as one
//! multi-statement query `BEGIN; …; COMMIT` (sqlx's SQLite driver runs a query's statements in
//! order and binds each `$N` by its number), each statement's `$1…` renumbered after the ones
//! before it. On PostgreSQL the same statements run one by one in a transaction.

use std::borrow::Cow;
use std::fmt::Write as _;

use futures::TryStreamExt as _;

use crate::database::{Writer, rollback_if_open};
use crate::{Database, Result, StoreError};

/// One statement's parameter, typed the same on both backends.
#[derive(Debug, Clone)]
pub(crate) enum Param<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Option<Cow<'a, [u8]>>),
}

/// A statement written with `$1`-style parameters, and their values in order. The text is ours
/// (a constant): it has no `$` but its parameters', which renumbering relies on.
#[derive(Debug, Clone)]
pub(crate) struct Statement<'a> {
    pub(crate) sql: &'a str,
    pub(crate) params: Vec<Param<'a>>,
}

impl<'a> Statement<'a> {
    pub(crate) fn new(sql: &'a str) -> Statement<'a> {
        Statement { sql, params: Vec::new() }
    }

    pub(crate) fn text(self, value: impl Into<Cow<'a, str>>) -> Self {
        self.param(Param::Text(Some(value.into())))
    }

    pub(crate) fn opt_text<T: Into<Cow<'a, str>>>(self, value: Option<T>) -> Self {
        self.param(Param::Text(value.map(Into::into)))
    }

    pub(crate) fn int(self, value: i64) -> Self {
        self.param(Param::Int(Some(value)))
    }

    pub(crate) fn opt_int(self, value: Option<i64>) -> Self {
        self.param(Param::Int(value))
    }

    pub(crate) fn bool(self, value: bool) -> Self {
        self.param(Param::Bool(value))
    }

    pub(crate) fn bytes(self, value: impl Into<Cow<'a, [u8]>>) -> Self {
        self.param(Param::Bytes(Some(value.into())))
    }

    pub(crate) fn opt_bytes(self, value: Option<&'a [u8]>) -> Self {
        self.param(Param::Bytes(value.map(Cow::Borrowed)))
    }

    fn param(mut self, p: Param<'a>) -> Self {
        self.params.push(p);
        self
    }
}

/// Binds `$params` (an iterator of `&Param`) to `$query`, a `sqlx::query` of either backend.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for p in $params {
            query = match p {
                $crate::writes::Param::Text(v) => query.bind(v.as_deref()),
                $crate::writes::Param::Int(v) => query.bind(*v),
                $crate::writes::Param::Bool(v) => query.bind(*v),
                $crate::writes::Param::Bytes(v) => query.bind(v.as_deref()),
            };
        }
        query
    }};
}
pub(crate) use bind_params;

/// The statements of one transaction.
#[derive(Debug, Default)]
pub(crate) struct Writes<'a> {
    /// Each must change exactly one row, or nothing is written: `Stale(what)`. Run first.
    guards: Vec<(Statement<'a>, &'static str)>,
    statements: Vec<Statement<'a>>,
}

impl<'a> Writes<'a> {
    /// A statement that must change exactly one row (optimistic concurrency: "still current").
    pub(crate) fn guard(&mut self, statement: Statement<'a>, what: &'static str) {
        self.guards.push((statement, what));
    }

    pub(crate) fn push(&mut self, statement: Statement<'a>) {
        self.statements.push(statement);
    }
}

/// Parameters per SQLite trip, well under SQLite's limit on a parameter's number (32,766): a
/// large bundle goes in several trips of one transaction.
const MAX_PARAMS_PER_TRIP: usize = 10_000;

/// Statements per trip up to which the trip's query stays prepared on the connection (sqlx's
/// statement cache): a deposit's usual shapes; the rare large bundle is prepared each time
/// rather than kept.
const MAX_CACHED_STATEMENTS: usize = 8;

/// Appends `sql` to `out` with every `$N` shifted to `$(N + offset)`.
fn push_shifted(out: &mut String, sql: &str, offset: usize) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            // Writing into a String cannot fail.
            Ok(n) => {
                let _ = write!(out, "{}", n + offset);
            }
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

/// One trip's query: `prefix; s1; s2; …; suffix` with the statements' parameters numbered in
/// sequence.
fn script<'s, 'a: 's>(prefix: Option<&str>, statements: &[&'s Statement<'a>], suffix: Option<&str>) -> String {
    let mut sql = String::new();
    let mut offset = 0;
    if let Some(p) = prefix {
        sql.push_str(p);
        sql.push_str("; ");
    }
    for s in statements {
        push_shifted(&mut sql, s.sql, offset);
        sql.push_str("; ");
        offset += s.params.len();
    }
    if let Some(s) = suffix {
        sql.push_str(s);
    }
    sql
}

/// Splits statements into trips of at most `MAX_PARAMS_PER_TRIP` parameters (at least one
/// statement each).
fn trips<'s, 'a>(statements: &'s [Statement<'a>]) -> Vec<Vec<&'s Statement<'a>>> {
    let mut out: Vec<Vec<&Statement>> = Vec::new();
    let mut params = 0;
    for s in statements {
        match out.last_mut() {
            Some(trip) if params + s.params.len() <= MAX_PARAMS_PER_TRIP => trip.push(s),
            _ => {
                out.push(vec![s]);
                params = 0;
            }
        }
        params += s.params.len();
    }
    out
}

impl Database {
    /// Runs `writes` as one transaction: every statement or none. `Stale` if a guard changed no
    /// row; a statement's error as it came (callers map unique violations to `Conflict`).
    pub(crate) async fn write_atomically(&self, writes: &Writes<'_>) -> Result<()> {
        match &self.writer {
            Writer::Sqlite(writer) => {
                let mut writer = writer.lock().await;
                writer.ready().await?;
                // Until this trip is known to have ended, a transaction may be left open.
                writer.in_doubt = true;
                let result = sqlite_trips(&mut writer.connection, writes).await;
                // After an error the transaction is still open; if even ROLLBACK fails, the next
                // holder tries again (`ready`).
                if result.is_err() && rollback_if_open(&mut writer.connection).await.is_err() {
                    return result;
                }
                writer.in_doubt = false;
                drop(writer);
                result?;
                self.flush_log().await
            }
            Writer::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for (s, what) in &writes.guards {
                    let changed = bind_params!(sqlx::query(s.sql), &s.params).execute(&mut *tx).await?.rows_affected();
                    if changed != 1 {
                        return Err(StoreError::Stale(what));
                    }
                }
                for s in &writes.statements {
                    bind_params!(sqlx::query(s.sql), &s.params).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }
}

/// The SQLite side of `write_atomically`: guards in a first trip (their counts must be read
/// before going on), then the statements and `COMMIT` — one trip in all when there is no guard.
/// On error the transaction is left open: the caller rolls back.
async fn sqlite_trips(connection: &mut sqlx::SqliteConnection, writes: &Writes<'_>) -> Result<()> {
    let mut begun = false;
    if !writes.guards.is_empty() {
        let guards: Vec<&Statement> = writes.guards.iter().map(|(s, _)| s).collect();
        let sql = script(Some("BEGIN"), &guards, None);
        let query =
            bind_params!(sqlx::query(&sql), guards.iter().flat_map(|s| &s.params)).persistent(guards.len() <= MAX_CACHED_STATEMENTS);
        let results: Vec<_> = sqlx::Executor::execute_many(&mut *connection, query).try_collect().await?;
        // The first result is BEGIN's; then one per guard. A missing count is no proof either.
        for (i, (_, what)) in writes.guards.iter().enumerate() {
            if results.get(i + 1).map(|r| r.rows_affected()) != Some(1) {
                return Err(StoreError::Stale(what));
            }
        }
        begun = true;
    }
    let trips = trips(&writes.statements);
    if trips.is_empty() {
        if begun {
            sqlx::query("COMMIT").execute(&mut *connection).await?;
        }
        return Ok(());
    }
    let last = trips.len() - 1;
    for (i, trip) in trips.iter().enumerate() {
        let prefix = (i == 0 && !begun).then_some("BEGIN");
        let suffix = (i == last).then_some("COMMIT");
        let sql = script(prefix, trip, suffix);
        let query = bind_params!(sqlx::query(&sql), trip.iter().flat_map(|s| &s.params)).persistent(trip.len() <= MAX_CACHED_STATEMENTS);
        query.execute(&mut *connection).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_after_the_statements_before() {
        let a = Statement::new("INSERT INTO t (a, b) VALUES ($1, $2)").int(1).int(2);
        let b = Statement::new("UPDATE t SET b = $2 WHERE a = $1 OR b = $1").int(3).int(4);
        let c = Statement::new("DELETE FROM t WHERE a = $10").int(5);
        assert_eq!(
            script(Some("BEGIN"), &[&a, &b, &c], Some("COMMIT")),
            "BEGIN; INSERT INTO t (a, b) VALUES ($1, $2); UPDATE t SET b = $4 WHERE a = $3 OR b = $3; DELETE FROM t WHERE a = $14; COMMIT"
        );
    }

    #[test]
    fn a_dollar_without_digits_is_left_alone() {
        let mut out = String::new();
        push_shifted(&mut out, "SELECT '$' || $1, $", 5);
        assert_eq!(out, "SELECT '$' || $6, $");
    }

    #[test]
    fn trips_hold_at_most_the_parameter_limit_and_at_least_one_statement() {
        let wide = |n: usize| {
            let mut s = Statement::new("X");
            for i in 0..n {
                s = s.int(i as i64);
            }
            s
        };
        let statements = vec![wide(6_000), wide(4_000), wide(1), wide(12_000), wide(2)];
        let sizes: Vec<Vec<usize>> = trips(&statements).iter().map(|t| t.iter().map(|s| s.params.len()).collect()).collect();
        assert_eq!(sizes, vec![vec![6_000, 4_000], vec![1], vec![12_000], vec![2]]);
        assert!(trips(&[]).is_empty());
    }
}
