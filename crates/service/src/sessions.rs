//! People's portal sessions and the sign-ins that open them.
//!
//! The browser holds a 256-bit random id from the OS RNG (base64url); the store keeps its
//! SHA-256 only, with the verified person, a CSRF token and the instants the domain's
//! `SessionTimes` judges. A session found expired on use is deleted there and then; the rest go
//! with the retention sweep.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carnet_domain::{Actor, Scopes, SessionState, SessionTimes};
use carnet_store::{PendingSignIn, SessionStore, StoredSession};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Carnet, Result, ServiceError};

/// How long a sign-in may take between leaving for the identity provider and coming back.
pub const SIGN_IN_LIFETIME: time::Duration = time::Duration::minutes(10);

/// 32 bytes from the OS RNG, base64url without padding (43 characters).
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(secret: &str) -> String {
    carnet_domain::hex::encode(&Sha256::digest(secret.as_bytes()))
}

/// A session just opened: what the browser is given. Not `Debug`: the id signs the person in.
pub struct OpenedSession {
    /// The cookie's value.
    pub id: String,
    pub csrf_token: String,
}

/// A live session found by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The person, acting for themselves (no app, no scopes beyond their role).
    pub actor: Actor,
    /// The token every state-changing form of this session must post back.
    pub csrf_token: String,
    /// When the person signed in (what "since your last visit" counts from).
    pub signed_in_at: time::OffsetDateTime,
}

/// The secrets of a sign-in under way: `state` travels through the identity provider and back,
/// the nonce goes into the ID token, the PKCE verifier stays here until the code exchange.
pub struct SignInSecrets {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// What the callback needs of a sign-in it took.
pub struct TakenSignIn {
    pub nonce: String,
    pub pkce_verifier: String,
}

impl Carnet {
    /// Opens a session for a person whose identity was just verified. The session acts for the
    /// person themselves: whatever the token said of scopes or a client, the portal is no app.
    pub async fn open_session(&self, actor: &Actor) -> Result<OpenedSession> {
        let person = Actor { scopes: Scopes::RoleOnly, client: None, ..actor.clone() };
        let serialized = serde_json::to_string(&person).map_err(|e| ServiceError::Invalid(format!("the person cannot be kept: {e}")))?;
        let now = self.now();
        let limits = self.config.sessions;
        let times = SessionTimes { created_at: now, last_seen_at: now, revoked_at: None };
        let (id, csrf_token) = (random_secret(), random_secret());
        self.db
            .insert_session(&StoredSession {
                id_hash: hash(&id),
                actor: serialized,
                csrf_token: csrf_token.clone(),
                created_at: now,
                last_seen_at: now,
                idle_expires_at: times.idle_expiry(limits),
                absolute_expires_at: times.absolute_expiry(limits),
                revoked_at: None,
            })
            .await?;
        Ok(OpenedSession { id, csrf_token })
    }

    /// The live session of this id; `None` when unknown, expired or revoked (an expired one is
    /// deleted on the way). A use is written at most about once a minute.
    pub async fn session(&self, id: &str) -> Result<Option<SignedIn>> {
        let id_hash = hash(id);
        let Some(stored) = self.db.find_session(&id_hash).await? else { return Ok(None) };
        let now = self.now();
        let limits = self.config.sessions;
        let times = SessionTimes { created_at: stored.created_at, last_seen_at: stored.last_seen_at, revoked_at: stored.revoked_at };
        match times.state(now, limits) {
            SessionState::Live => {}
            SessionState::Revoked => return Ok(None),
            SessionState::IdleExpired | SessionState::AbsoluteExpired => {
                self.db.delete_session(&id_hash).await?;
                return Ok(None);
            }
        }
        if times.needs_touch(now) {
            let touched = SessionTimes { last_seen_at: now, ..times };
            // Revoked meanwhile (signed out in another tab): over.
            if !self.db.touch_session(&id_hash, now, touched.idle_expiry(limits)).await? {
                return Ok(None);
            }
        }
        let actor = serde_json::from_str(&stored.actor)
            .map_err(|e| ServiceError::Store(carnet_store::StoreError::Corrupt { what: "session's person", detail: e.to_string() }))?;
        Ok(Some(SignedIn { actor, csrf_token: stored.csrf_token, signed_in_at: stored.created_at }))
    }

    /// Sign-out: the session is revoked, on every node at once. `false` if there was none.
    pub async fn close_session(&self, id: &str) -> Result<bool> {
        Ok(self.db.revoke_session(&hash(id), self.now()).await?)
    }

    /// Starts a sign-in: fresh state, nonce and PKCE verifier, kept (by the state's hash) for
    /// [`SIGN_IN_LIFETIME`].
    pub async fn begin_sign_in(&self) -> Result<SignInSecrets> {
        let now = self.now();
        // Anyone may start a sign-in: abandoned ones are purged here too, at most once a minute
        // per node, so between sweeps they amount to a few minutes' worth, not an hour's.
        let last = self.sessions_purged_at.load(std::sync::atomic::Ordering::Relaxed);
        if now.unix_timestamp() - last >= 60
            && self
                .sessions_purged_at
                .compare_exchange(last, now.unix_timestamp(), std::sync::atomic::Ordering::Relaxed, std::sync::atomic::Ordering::Relaxed)
                .is_ok()
        {
            self.db.purge_sessions(now).await?;
        }
        let secrets = SignInSecrets { state: random_secret(), nonce: random_secret(), pkce_verifier: random_secret() };
        self.db
            .insert_sign_in(&PendingSignIn {
                state_hash: hash(&secrets.state),
                nonce: secrets.nonce.clone(),
                pkce_verifier: secrets.pkce_verifier.clone(),
                created_at: now,
                expires_at: now + SIGN_IN_LIFETIME,
            })
            .await?;
        Ok(secrets)
    }

    /// The sign-in this callback's `state` belongs to, once: `None` for an unknown, expired or
    /// already used state (a replayed or stale callback).
    pub async fn take_sign_in(&self, state: &str) -> Result<Option<TakenSignIn>> {
        let taken = self.db.take_sign_in(&hash(state), self.now()).await?;
        Ok(taken.map(|p| TakenSignIn { nonce: p.nonce, pkce_verifier: p.pkce_verifier }))
    }

    /// Deletes sessions expired or revoked and sign-ins abandoned; part of the retention sweep.
    pub(crate) async fn purge_sessions(&self) -> Result<u64> {
        Ok(self.db.purge_sessions(self.now()).await?)
    }
}
