//! `SessionStore` on both backends: people's portal sessions and the sign-ins under way.
//! The store keeps hashes of the browser's secrets, never the secrets; it decides nothing about
//! expiry (the domain's `SessionTimes` does), it only keeps the instants and purges on request.

use time::OffsetDateTime;

use crate::Result;
use crate::database::{Database, on_pool, on_writer};
use crate::time_codec::{from_millis, opt_from_millis, to_millis};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// SHA-256 of the browser's session id, hex.
    pub id_hash: String,
    /// The verified person, serialized by the service.
    pub actor: String,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub idle_expires_at: OffsetDateTime,
    pub absolute_expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a sign-in under way must check at its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// SHA-256 of the `state` sent to the identity provider, hex.
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

pub trait SessionStore {
    /// `Conflict` if the id hash is taken (a 256-bit random id: never, unless the RNG is broken).
    fn insert_session(&self, session: &StoredSession) -> impl Future<Output = Result<()>> + Send;
    fn find_session(&self, id_hash: &str) -> impl Future<Output = Result<Option<StoredSession>>> + Send;
    /// Notes a use of a session not revoked; `false` if there is none.
    fn touch_session(
        &self,
        id_hash: &str,
        at: OffsetDateTime,
        idle_expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Revokes a session (sign-out); `false` if there is none or it was revoked already.
    fn revoke_session(&self, id_hash: &str, at: OffsetDateTime) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes one session, whatever its state (an expired one found on use).
    fn delete_session(&self, id_hash: &str) -> impl Future<Output = Result<()>> + Send;
    /// Deletes sessions revoked or expired at `now`, and sign-ins past their expiry; how many.
    fn purge_sessions(&self, now: OffsetDateTime) -> impl Future<Output = Result<u64>> + Send;
    fn insert_sign_in(&self, sign_in: &PendingSignIn) -> impl Future<Output = Result<()>> + Send;
    /// Takes (finds and deletes, at once) a sign-in still valid at `now`: a second take of the
    /// same state finds nothing, so a replayed callback is refused.
    fn take_sign_in(&self, state_hash: &str, now: OffsetDateTime) -> impl Future<Output = Result<Option<PendingSignIn>>> + Send;
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    actor: String,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
    idle_expires_at: i64,
    absolute_expires_at: i64,
    revoked_at: Option<i64>,
}

const SESSION_COLUMNS: &str = "id_hash, actor, csrf_token, created_at, last_seen_at, idle_expires_at, absolute_expires_at, revoked_at";

impl SessionRow {
    fn into_session(self) -> Result<StoredSession> {
        Ok(StoredSession {
            id_hash: self.id_hash,
            actor: self.actor,
            csrf_token: self.csrf_token,
            created_at: from_millis(self.created_at)?,
            last_seen_at: from_millis(self.last_seen_at)?,
            idle_expires_at: from_millis(self.idle_expires_at)?,
            absolute_expires_at: from_millis(self.absolute_expires_at)?,
            revoked_at: opt_from_millis(self.revoked_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SignInRow {
    state_hash: String,
    nonce: String,
    pkce_verifier: String,
    created_at: i64,
    expires_at: i64,
}

impl SessionStore for Database {
    async fn insert_session(&self, s: &StoredSession) -> Result<()> {
        let sql = format!("INSERT INTO portal_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        let done = on_writer!(self, |pool| sqlx::query(&sql)
            .bind(&s.id_hash)
            .bind(&s.actor)
            .bind(&s.csrf_token)
            .bind(to_millis(s.created_at))
            .bind(to_millis(s.last_seen_at))
            .bind(to_millis(s.idle_expires_at))
            .bind(to_millis(s.absolute_expires_at))
            .bind(s.revoked_at.map(to_millis))
            .execute(pool)
            .await
            .map(|_| ()));
        match done {
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                Err(crate::StoreError::Conflict("a session with this id exists"))
            }
            other => Ok(other?),
        }
    }

    async fn find_session(&self, id_hash: &str) -> Result<Option<StoredSession>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE id_hash = $1");
        let row: Option<SessionRow> = on_pool!(self, |pool| sqlx::query_as(&sql).bind(id_hash).fetch_optional(pool).await)?;
        row.map(SessionRow::into_session).transpose()
    }

    async fn touch_session(&self, id_hash: &str, at: OffsetDateTime, idle_expires_at: OffsetDateTime) -> Result<bool> {
        let done = on_writer!(self, |pool| sqlx::query(
            "UPDATE portal_sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id_hash = $1 AND revoked_at IS NULL"
        )
        .bind(id_hash)
        .bind(to_millis(at))
        .bind(to_millis(idle_expires_at))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    async fn revoke_session(&self, id_hash: &str, at: OffsetDateTime) -> Result<bool> {
        let done =
            on_writer!(self, |pool| sqlx::query("UPDATE portal_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL")
                .bind(id_hash)
                .bind(to_millis(at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        on_writer!(self, |pool| sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    async fn purge_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        let now = to_millis(now);
        let sessions = on_writer!(self, |pool| sqlx::query(
            "DELETE FROM portal_sessions WHERE revoked_at IS NOT NULL OR idle_expires_at <= $1 OR absolute_expires_at <= $1"
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        let sign_ins = on_writer!(self, |pool| sqlx::query("DELETE FROM portal_sign_ins WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(sessions + sign_ins)
    }

    async fn insert_sign_in(&self, s: &PendingSignIn) -> Result<()> {
        on_writer!(self, |pool| sqlx::query(
            "INSERT INTO portal_sign_ins (state_hash, nonce, pkce_verifier, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(&s.state_hash)
        .bind(&s.nonce)
        .bind(&s.pkce_verifier)
        .bind(to_millis(s.created_at))
        .bind(to_millis(s.expires_at))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn take_sign_in(&self, state_hash: &str, now: OffsetDateTime) -> Result<Option<PendingSignIn>> {
        // One statement: two callbacks racing with the same state cannot both take it.
        let row: Option<SignInRow> = on_writer!(self, |pool| sqlx::query_as(
            "DELETE FROM portal_sign_ins WHERE state_hash = $1 RETURNING state_hash, nonce, pkce_verifier, created_at, expires_at"
        )
        .bind(state_hash)
        .fetch_optional(pool)
        .await)?;
        let Some(row) = row else { return Ok(None) };
        let sign_in = PendingSignIn {
            state_hash: row.state_hash,
            nonce: row.nonce,
            pkce_verifier: row.pkce_verifier,
            created_at: from_millis(row.created_at)?,
            expires_at: from_millis(row.expires_at)?,
        };
        Ok((sign_in.expires_at > now).then_some(sign_in))
    }
}
