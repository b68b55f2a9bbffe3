//! Master keys held by a PKCS#11 token (an HSM, or SoftHSM2 for tests): `Pkcs11Keyring`.
//!
//! Each master key is an AES-256 secret key generated inside the token (`CKA_TOKEN`,
//! `CKA_SENSITIVE`, never `CKA_EXTRACTABLE`), labelled `carnet-master-<id>`. Data keys are
//! sealed by the token with `CKM_AES_GCM`, the context (the patient's INS) as additional
//! authenticated data — the same binding and the same `nonce ‖ ciphertext ‖ tag` layout as the
//! local keyring. `CKM_AES_KEY_WRAP_PAD` was not chosen: it has no associated data, so the
//! context would have to be bound by a second construction, and it would need each data key to be
//! a token object first.
//!
//! Which key is active is a token object too (a private data object labelled
//! `carnet-master-active` whose value is the id), so a running server and `carnet keys rotate` in
//! another process agree through the token, as they agree through the `active` file locally.
//!
//! Sessions: the module is initialised once per process with `CKF_OS_LOCKING_OK` (the module
//! does its own locking; a module that cannot refuses at start). A `cryptoki::Session` is `Send`
//! but not `Sync`, so each operation takes a session from a small pool and puts it back; login
//! state is per application in PKCS#11, so logging in on the first session logs in them all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, RwLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as TokenError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::cipher::{NONCE_LEN, TAG_LEN};
use crate::keyring::KeyProvider;
use crate::{CryptoError, DataKey, Result, WrappedKey};

const LABEL_PREFIX: &str = "carnet-master-";
const ACTIVE_LABEL: &str = "carnet-master-active";
const APPLICATION: &[u8] = b"carnet";
/// Sessions kept open between operations; more are opened under load and closed after.
const POOL_SIZE: usize = 8;

/// Where the token is and how to log in. The PIN comes from the environment, never a file.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`, a vendor's `.so`).
    pub module: PathBuf,
    /// The label of the token holding Carnet's master keys.
    pub token_label: String,
    /// The token's user PIN.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config").field("module", &self.module).field("token_label", &self.token_label).finish_non_exhaustive()
    }
}

pub struct Pkcs11Keyring {
    context: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    idle: Mutex<Vec<Session>>,
    /// Key objects found so far, by id (handles stay valid while the library is loaded).
    handles: RwLock<HashMap<String, ObjectHandle>>,
}

fn token_error(doing: &str, e: TokenError) -> CryptoError {
    CryptoError::Token(format!("{doing}: {e}"))
}

fn poisoned() -> CryptoError {
    CryptoError::Token("a thread panicked while holding the token's sessions".into())
}

/// One initialised context per module and process: `C_Initialize` may be called once.
fn context_for(module: &Path) -> Result<Pkcs11> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS.get_or_init(Default::default).lock().map_err(|_| poisoned())?;
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(module).map_err(|e| token_error(&format!("loading the PKCS#11 module {}", module.display()), e))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(TokenError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(token_error("initialising the PKCS#11 module with OS locking (it must be thread-safe)", e)),
    }
    contexts.insert(module.to_owned(), context.clone());
    Ok(context)
}

fn key_label(id: &str) -> String {
    format!("{LABEL_PREFIX}{id}")
}

impl Pkcs11Keyring {
    /// Logs in to the token labelled `token_label`, creating a first master key if it holds none.
    pub fn open_or_create(config: &Pkcs11Config) -> Result<Pkcs11Keyring> {
        let context = context_for(&config.module)?;
        let slots = context.get_slots_with_initialized_token().map_err(|e| token_error("listing the token slots", e))?;
        let mut slot = None;
        for candidate in slots {
            let info = context.get_token_info(candidate).map_err(|e| token_error("reading a token's information", e))?;
            if info.label().trim_end() == config.token_label {
                slot = Some(candidate);
                break;
            }
        }
        let slot = slot.ok_or_else(|| CryptoError::Token(format!("no initialised token labelled {:?}", config.token_label)))?;
        let keyring = Pkcs11Keyring {
            context,
            slot,
            pin: AuthPin::new(config.pin.as_str().into()),
            idle: Mutex::new(Vec::new()),
            handles: RwLock::default(),
        };
        if keyring.with_session(find_active)?.is_empty() {
            let id = keyring.generate_key()?;
            keyring.with_session(|s| create_pointer(s, 1, &id))?;
        }
        Ok(keyring)
    }

    /// Every master key id on the token, active or not.
    pub fn key_ids(&self) -> Result<Vec<String>> {
        let keys = self.with_session(list_keys)?;
        let mut ids: Vec<String> = keys.into_iter().map(|(id, _)| id).collect();
        ids.sort();
        Ok(ids)
    }

    fn open_session(&self) -> std::result::Result<Session, TokenError> {
        let session = self.context.open_rw_session(self.slot)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(TokenError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(e),
        }
    }

    /// Runs `op` on a pooled, logged-in session.
    fn with_session<T>(&self, op: impl FnOnce(&Session) -> std::result::Result<T, TokenError>) -> Result<T> {
        let pooled = self.idle.lock().map_err(|_| poisoned())?.pop();
        let session = match pooled {
            Some(s) => s,
            None => self.open_session().map_err(|e| token_error("opening a session on the token", e))?,
        };
        let out = op(&session);
        // A session the token has dropped (device removed, token reset) is not reused.
        let dead = matches!(
            &out,
            Err(TokenError::Pkcs11(
                RvError::SessionHandleInvalid | RvError::SessionClosed | RvError::DeviceRemoved | RvError::TokenNotPresent,
                _
            ))
        );
        if !dead {
            let mut idle = self.idle.lock().map_err(|_| poisoned())?;
            if idle.len() < POOL_SIZE {
                idle.push(session);
            }
        }
        out.map_err(|e| token_error("token operation", e))
    }

    /// Generates a new AES-256 master key inside the token (not yet active); returns its id.
    fn generate_key(&self) -> Result<String> {
        let mut id_bytes = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut id_bytes);
        let id = format!("mk-{}", id_bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let handle = self.with_session(|s| {
            s.generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Wrap(false),
                    Attribute::Unwrap(false),
                    Attribute::Sign(false),
                    Attribute::Verify(false),
                    Attribute::Derive(false),
                    Attribute::Label(key_label(&id).into_bytes()),
                    Attribute::Id(id.as_bytes().to_vec()),
                ],
            )
        })?;
        self.handles.write().map_err(|_| poisoned())?.insert(id.clone(), handle);
        Ok(id)
    }

    /// The key object of `id`, looked up on the token the first time (a key another process made).
    fn key_handle(&self, id: &str) -> Result<ObjectHandle> {
        if let Some(handle) = self.handles.read().map_err(|_| poisoned())?.get(id) {
            return Ok(*handle);
        }
        let found = self.with_session(|s| {
            s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Token(true),
                Attribute::Label(key_label(id).into_bytes()),
            ])
        })?;
        let handle = match found.as_slice() {
            [] => return Err(CryptoError::UnknownMasterKey(id.to_owned())),
            [one] => *one,
            _ => return Err(CryptoError::Token(format!("several key objects are labelled {:?}", key_label(id)))),
        };
        self.handles.write().map_err(|_| poisoned())?.insert(id.to_owned(), handle);
        Ok(handle)
    }

    /// Runs `op` with the key object of `id`. A handle cached before another process destroyed
    /// the object (a retirement) is dropped and the key looked up again, once: a key gone from the
    /// token is an unknown master key, as a deleted key file is.
    fn with_key<T>(&self, id: &str, op: impl Fn(&Session, ObjectHandle) -> std::result::Result<T, TokenError>) -> Result<T> {
        for _ in 0..2 {
            let handle = self.key_handle(id)?;
            let done = self.with_session(|s| match op(s, handle) {
                Err(TokenError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _)) => Ok(None),
                other => other.map(Some),
            })?;
            match done {
                Some(out) => return Ok(out),
                None => {
                    self.handles.write().map_err(|_| poisoned())?.remove(id);
                }
            }
        }
        Err(CryptoError::UnknownMasterKey(id.to_owned()))
    }

    /// The active key's id, read from the token each time (another process may have rotated).
    fn current_active(&self) -> Result<String> {
        let newest = self.with_session(find_active)?.into_iter().next();
        let (_, _, id) = newest.ok_or_else(|| CryptoError::Token(format!("the token has no {ACTIVE_LABEL} object")))?;
        Ok(id)
    }
}

/// The active-key pointers, newest first: (handle, generation, id). SoftHSM2 (like the PKCS#11
/// spec for most objects) refuses to modify a data object's `CKA_VALUE`, so a rotation creates
/// a pointer one generation up and then destroys the older ones; a reader in between sees both
/// and takes the newest.
fn find_active(session: &Session) -> std::result::Result<Vec<(ObjectHandle, u64, String)>, TokenError> {
    let found = session.find_objects(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Application(APPLICATION.to_vec()),
        Attribute::Label(ACTIVE_LABEL.as_bytes().to_vec()),
    ])?;
    let mut pointers = Vec::new();
    for handle in found {
        for attribute in session.get_attributes(handle, &[AttributeType::Value])? {
            if let Attribute::Value(value) = attribute
                && let Some((generation, id)) = std::str::from_utf8(&value).ok().and_then(|v| v.split_once(' '))
                && let Ok(generation) = generation.parse::<u64>()
            {
                pointers.push((handle, generation, id.to_owned()));
            }
        }
    }
    pointers.sort_by_key(|p| std::cmp::Reverse(p.1));
    Ok(pointers)
}

/// Creates the pointer naming `id` as the active key at `generation`.
fn create_pointer(session: &Session, generation: u64, id: &str) -> std::result::Result<ObjectHandle, TokenError> {
    session.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Application(APPLICATION.to_vec()),
        Attribute::Label(ACTIVE_LABEL.as_bytes().to_vec()),
        Attribute::Value(format!("{generation} {id}").into_bytes()),
    ])
}

/// Every Carnet master key on the token: (id, handle).
fn list_keys(session: &Session) -> std::result::Result<Vec<(String, ObjectHandle)>, TokenError> {
    let mut keys = Vec::new();
    for handle in session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Token(true)])? {
        for attribute in session.get_attributes(handle, &[AttributeType::Label])? {
            if let Attribute::Label(label) = attribute
                && let Some(id) = std::str::from_utf8(&label).ok().and_then(|l| l.strip_prefix(LABEL_PREFIX))
            {
                keys.push((id.to_owned(), handle));
            }
        }
    }
    Ok(keys)
}

impl KeyProvider for Pkcs11Keyring {
    fn active_key_id(&self) -> Result<String> {
        self.current_active()
    }

    fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey> {
        let active = self.current_active()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let body = self.with_key(&active, |s, handle| {
            let mut iv = nonce;
            let params = GcmParams::new(&mut iv, context, (TAG_LEN as u64 * 8).into())?;
            s.encrypt(&Mechanism::AesGcm(params), handle, &key.0)
        })?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + body.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&body);
        Ok(WrappedKey { sealed, master_key_id: active })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey> {
        let Some((nonce, body)) = wrapped.sealed.split_first_chunk::<NONCE_LEN>().filter(|(_, b)| b.len() >= TAG_LEN) else {
            return Err(CryptoError::Format("wrapped key too short"));
        };
        crate::keyring::count_unwrap();
        // The token's own audit log, where it keeps one, records each decryption too.
        tracing::debug!(master_key = %wrapped.master_key_id, "data key unwrapped by the PKCS#11 token");
        let pooled = self.with_key(&wrapped.master_key_id, |s, handle| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, context, (TAG_LEN as u64 * 8).into())?;
            match s.decrypt(&Mechanism::AesGcm(params), handle, body) {
                Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
                // A wrong context or altered bytes: the tag does not verify.
                // SoftHSM2 reports a failed GCM tag as CKR_GENERAL_ERROR.
                Err(TokenError::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange | RvError::GeneralError, _)) => {
                    Ok(None)
                }
                Err(e) => Err(e),
            }
        })?;
        let bytes = pooled.ok_or(CryptoError::Integrity("wrapped key"))?;
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| CryptoError::Format("a data key has 32 bytes"))?;
        Ok(DataKey::from_bytes(array))
    }

    fn rotate(&self) -> Result<String> {
        let id = self.generate_key()?;
        self.with_session(|s| {
            let older = find_active(s)?;
            let generation = older.first().map_or(1, |(_, g, _)| g + 1);
            create_pointer(s, generation, &id)?;
            for (pointer, _, _) in older {
                s.destroy_object(pointer)?;
            }
            Ok(())
        })?;
        Ok(id)
    }

    fn retire_inactive(&self) -> Result<Vec<String>> {
        let active = self.current_active()?;
        let keys = self.with_session(list_keys)?;
        let mut retired = Vec::new();
        for (id, handle) in keys.into_iter().filter(|(id, _)| *id != active) {
            self.with_session(|s| s.destroy_object(handle))?;
            self.handles.write().map_err(|_| poisoned())?.remove(&id);
            retired.push(id);
        }
        retired.sort();
        Ok(retired)
    }
}

/// Test support: a throwaway SoftHSM2 token. SoftHSM2 finds its token directory through the
/// `SOFTHSM2_CONF` environment variable, read at `C_Initialize`; a test cannot set it in its own
/// process (`set_var` is unsafe), so each test re-runs itself as a child process with it set.
#[cfg(test)]
pub(crate) mod softhsm {
    use std::process::Command;

    use super::Pkcs11Config;

    pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    const LABEL: &str = "CARNET_TEST_SOFTHSM_LABEL";
    const ROLE: &str = "CARNET_TEST_SOFTHSM_ROLE";
    const PIN: &str = "5678-test";

    /// Runs `body` in a child of this test binary logged in to a fresh token; `body` gets its
    /// role ("main", or what `run_role` asked for).
    pub fn on_fresh_token(test: &str, body: impl FnOnce(&Pkcs11Config, &str)) {
        if let Ok(label) = std::env::var(LABEL) {
            let role = std::env::var(ROLE).unwrap_or_default();
            let config = Pkcs11Config { module: MODULE.into(), token_label: label, pin: PIN.to_owned().into() };
            return body(&config, &role);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()))
            .expect("conf");
        let init = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "carnet-test", "--so-pin", "1234-test", "--pin", PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util runs (apt-get install softhsm2)");
        assert!(init.status.success(), "init token: {}", String::from_utf8_lossy(&init.stderr));
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env("SOFTHSM2_CONF", &conf)
            .env(LABEL, "carnet-test")
            .env(ROLE, "main")
            .output()
            .expect("child test runs");
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "child failed:\n{out}\n{}", String::from_utf8_lossy(&child.stderr));
        assert!(out.contains("1 passed"), "the child ran the test:\n{out}");
    }

    /// From inside `body`: runs the same test as another process on the same token, in `role`;
    /// returns what it printed between `<<` and `>>`.
    pub fn run_role(test: &str, role: &str) -> String {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .output()
            .expect("child test runs");
        let out = String::from_utf8_lossy(&child.stdout).into_owned();
        assert!(child.status.success(), "{role} failed:\n{out}\n{}", String::from_utf8_lossy(&child.stderr));
        let start = out.find("<<").map(|i| i + 2).expect("a printed answer");
        let end = out[start..].find(">>").expect("a printed answer") + start;
        out[start..end].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::softhsm::{on_fresh_token, run_role};
    use super::*;

    #[test]
    fn wraps_open_only_with_their_context_and_survive_rotation_until_retired() {
        on_fresh_token("pkcs11::tests::wraps_open_only_with_their_context_and_survive_rotation_until_retired", |config, _| {
            let ring = Pkcs11Keyring::open_or_create(config).expect("opened");
            let dek = DataKey::generate();
            let wrapped = ring.wrap(&dek, b"ins-1").expect("wrap");
            assert_eq!(wrapped.sealed.len(), NONCE_LEN + 32 + TAG_LEN);
            assert_eq!(ring.unwrap(&wrapped, b"ins-1").expect("unwrap").0, dek.0);
            assert!(matches!(ring.unwrap(&wrapped, b"ins-2"), Err(CryptoError::Integrity(_))), "bound to the patient");
            let mut flipped = wrapped.clone();
            flipped.sealed[20] ^= 1;
            assert!(matches!(ring.unwrap(&flipped, b"ins-1"), Err(CryptoError::Integrity(_))), "bit flip");

            let reopened = Pkcs11Keyring::open_or_create(config).expect("reopened");
            let old = ring.active_key_id().expect("active");
            assert_eq!(reopened.active_key_id().expect("active"), old, "no second first key");
            let new = ring.rotate().expect("rotate");
            assert_ne!(new, old);
            assert_eq!(ring.key_ids().expect("ids"), {
                let mut both = vec![old.clone(), new.clone()];
                both.sort();
                both
            });
            assert_eq!(reopened.unwrap(&wrapped, b"ins-1").expect("old wraps open after a rotation").0, dek.0);
            let rewrapped = ring.wrap(&dek, b"ins-1").expect("rewrap");
            assert_eq!(rewrapped.master_key_id, new);
            assert_eq!(ring.retire_inactive().expect("retire"), vec![old.clone()]);
            assert_eq!(ring.key_ids().expect("ids"), vec![new]);
            assert!(matches!(ring.unwrap(&wrapped, b"ins-1"), Err(CryptoError::UnknownMasterKey(id)) if id == old), "old wraps die");
            let fresh = Pkcs11Keyring::open_or_create(config).expect("reopened");
            assert!(fresh.unwrap(&wrapped, b"ins-1").is_err(), "the key object is gone from the token");
            assert_eq!(fresh.unwrap(&rewrapped, b"ins-1").expect("unwrap").0, dek.0);
        });
    }

    #[test]
    fn master_keys_never_leave_the_token() {
        on_fresh_token("pkcs11::tests::master_keys_never_leave_the_token", |config, _| {
            let ring = Pkcs11Keyring::open_or_create(config).expect("opened");
            let handle = ring.key_handle(&ring.active_key_id().expect("active")).expect("key object");
            let attributes = ring
                .with_session(|s| {
                    s.get_attributes(
                        handle,
                        &[AttributeType::Value, AttributeType::Sensitive, AttributeType::Extractable, AttributeType::NeverExtractable],
                    )
                })
                .expect("attributes");
            assert!(!attributes.iter().any(|a| matches!(a, Attribute::Value(_))), "the token refuses CKA_VALUE: {attributes:?}");
            assert!(attributes.contains(&Attribute::Sensitive(true)));
            assert!(attributes.contains(&Attribute::Extractable(false)));
            assert!(attributes.contains(&Attribute::NeverExtractable(true)), "generated inside the token");
            let made_extractable = ring.with_session(|s| s.update_attributes(handle, &[Attribute::Extractable(true)]));
            assert!(made_extractable.is_err(), "CKA_EXTRACTABLE cannot be turned on");
            let made_readable = ring.with_session(|s| s.update_attributes(handle, &[Attribute::Sensitive(false)]));
            assert!(made_readable.is_err(), "CKA_SENSITIVE cannot be turned off");
        });
    }

    const TWO: &str = "pkcs11::tests::a_server_follows_a_rotation_made_by_another_process";

    #[test]
    fn a_server_follows_a_rotation_made_by_another_process() {
        on_fresh_token(TWO, |config, role| {
            let ring = Pkcs11Keyring::open_or_create(config).expect("opened");
            if role == "rotate" || role == "retire" {
                // `carnet keys rotate`, in its own process.
                let new = ring.rotate().expect("rotate");
                if role == "retire" {
                    ring.retire_inactive().expect("retire");
                }
                let wrapped = ring.wrap(&DataKey::from_bytes([7; 32]), b"ins-9").expect("wrap");
                println!("<<{new} {}>>", wrapped.sealed.iter().map(|b| format!("{b:02x}")).collect::<String>());
                return;
            }
            let dek = DataKey::generate();
            let before = ring.wrap(&dek, b"ins-1").expect("wrap");
            let answer = run_role(TWO, "rotate");
            let (new, sealed) = answer.split_once(' ').expect("id and wrap");
            assert_ne!(new, before.master_key_id);
            assert_eq!(ring.active_key_id().expect("active"), new, "the server reads the active key from the token");
            assert_eq!(ring.wrap(&dek, b"ins-2").expect("wrap").master_key_id, new, "new wraps use the new key");
            let sealed: Vec<u8> = (0..sealed.len()).step_by(2).map(|i| u8::from_str_radix(&sealed[i..i + 2], 16).expect("hex")).collect();
            let by_other = WrappedKey { master_key_id: new.to_owned(), sealed };
            assert_eq!(ring.unwrap(&by_other, b"ins-9").expect("a key made by the other process").0, [7; 32]);
            assert_eq!(ring.unwrap(&before, b"ins-1").expect("old wrap").0, dek.0);

            // A second rotation, with the old keys retired by the other process: this process's
            // handle on the retired key is dead, and the old wrap with it.
            let answer = run_role(TWO, "retire");
            let (newest, _) = answer.split_once(' ').expect("id and wrap");
            assert_eq!(ring.active_key_id().expect("active"), newest);
            let after_first = WrappedKey { master_key_id: new.to_owned(), ..by_other.clone() };
            assert!(
                matches!(ring.unwrap(&before, b"ins-1"), Err(CryptoError::UnknownMasterKey(id)) if id == before.master_key_id),
                "retired by the other process"
            );
            assert!(matches!(ring.unwrap(&after_first, b"ins-9"), Err(CryptoError::UnknownMasterKey(_))));
            assert_eq!(ring.wrap(&dek, b"ins-3").expect("wrap").master_key_id, newest);
        });
    }
}
