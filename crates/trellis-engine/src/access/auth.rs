//! Passwords (argon2id), bearer tokens (random, stored as SHA-256 hashes), login and the
//! token → caller resolution with a short-lived cache.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use trellis_core::error::FieldCode;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};
use trellis_core::Error;
use trellis_core::status::EventKind;
use trellis_store::system::{self, TokenRow, UserRow};
use trellis_store::{StoreError, WriteTx, security};

use crate::Engine;
use crate::context::TenantCtx;

/// How long a login session lasts without being used (each use moves its end this far out).
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// How long a login session lasts at most, however much it is used.
pub const SESSION_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's expiry is written again only when it would move by more than this (or a tenth of
/// the idle time, if shorter), so a busy session is not a write per request.
const EXTEND_STEP: Duration = Duration::from_secs(5 * 60);
/// How long a resolved token is trusted without asking the database again (revocation on this
/// node is immediate; on other nodes within this time).
const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 50_000;
/// The window of the failed-login limits.
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// Failed logins of one e-mail within the window before logins are refused.
pub const MAX_ACCOUNT_FAILURES: i32 = 10;
/// Failed logins from one address within the window before logins are refused.
pub const MAX_ADDRESS_FAILURES: i32 = 50;

pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("argon2: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new secret token with its kind prefix, and the hash that is stored.
pub fn new_token(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random password for the first administrator.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How long login sessions last: `idle` after their last use (a sliding expiry), `max` after the
/// login at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLifetime {
    pub idle: Duration,
    pub max: Duration,
}

impl Default for SessionLifetime {
    fn default() -> Self {
        SessionLifetime {
            idle: SESSION_IDLE,
            max: SESSION_MAX,
        }
    }
}

fn delta(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl SessionLifetime {
    /// When a session made at `created` ends if it is never used.
    pub fn first_expiry(&self, created: DateTime<Utc>) -> DateTime<Utc> {
        (created + delta(self.idle)).min(created + delta(self.max))
    }

    /// The new end of a session (made at `created`, ending at `expires`) used at `now`, when it
    /// is worth writing: it moves by more than a step. `None`: leave it.
    pub fn extended(
        &self,
        created: DateTime<Utc>,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let next = (now + delta(self.idle)).min(created + delta(self.max));
        let step = delta(EXTEND_STEP.min(self.idle / 10));
        (next - expires > step).then_some(next)
    }
}

#[derive(Clone)]
struct Cached {
    ctx: TenantCtx,
    expires_at: Option<DateTime<Utc>>,
    /// A login session: its id and when it was made (for the sliding expiry).
    session: Option<(String, DateTime<Utc>)>,
    cached_at: Instant,
}

/// Token hash → resolved caller.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, Cached>>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl AuthCache {
    fn get(&self, hash: &str) -> Option<Cached> {
        let entries = self.entries.lock();
        let c = entries.get(hash)?;
        (c.cached_at.elapsed() < CACHE_TTL).then(|| c.clone())
    }
    fn put(&self, hash: String, c: Cached) {
        let mut entries = self.entries.lock();
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, v| v.cached_at.elapsed() < CACHE_TTL);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(hash, c);
    }
    pub fn forget(&self, hash: &str) {
        self.entries.lock().remove(hash);
    }
    /// Moves the end of a cached session (it was extended).
    fn set_expiry(&self, hash: &str, expires_at: DateTime<Utc>) {
        if let Some(c) = self.entries.lock().get_mut(hash) {
            c.expires_at = Some(expires_at);
        }
    }
    /// True at most once a minute per token: when its last use should be written.
    fn should_touch(&self, token_id: &str) -> bool {
        let mut t = self.touched.lock();
        match t.get(token_id) {
            Some(at) if at.elapsed() < Duration::from_secs(60) => false,
            _ => {
                t.insert(token_id.to_string(), Instant::now());
                true
            }
        }
    }
}

/// A user as the API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub name: String,
    pub tenant_id: String,
    pub is_admin: bool,
}

impl From<&UserRow> for UserOut {
    fn from(u: &UserRow) -> Self {
        UserOut {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            tenant_id: u.tenant_id.clone(),
            is_admin: u.is_admin,
        }
    }
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenOut {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// The role it acts with, when it is limited to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    pub revoked: bool,
    /// The secret, present only in the answer that creates the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn fmt_time(t: &DateTime<Utc>) -> String {
    trellis_core::value::format_datetime(t)
}

impl From<&TokenRow> for TokenOut {
    fn from(t: &TokenRow) -> Self {
        TokenOut {
            id: t.id.clone(),
            name: t.name.clone(),
            role: t.role.clone(),
            created_at: fmt_time(&t.created_at),
            expires_at: t.expires_at.as_ref().map(fmt_time),
            last_used_at: t.last_used_at.as_ref().map(fmt_time),
            revoked: t.revoked_at.is_some(),
            token: None,
        }
    }
}

/// A login session as its user sees it in the list of their sessions (never its secret).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SessionOut {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The last time its expiry moved (written at most every few minutes).
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// The session of the request that lists them.
    pub current: bool,
}

/// Too many failed logins: try again after `wait` (at least a second).
fn rate_limited(wait: chrono::Duration) -> Error {
    let wait = wait.num_seconds().max(1) as u64;
    Error::rate_limited(format!("too many failed logins; try again in {wait} seconds"), wait)
}

fn unauthenticated() -> Error {
    Error::unauthenticated("the token is missing, invalid, expired or revoked")
}

impl Engine {
    /// Checks e-mail and password; answers a session token.
    pub async fn login(&self, email: &str, password: &str) -> Result<(String, UserOut), Error> {
        self.login_from(email, password, None, None).await
    }

    /// A login from a client address: after [`MAX_ACCOUNT_FAILURES`] failures for one e-mail or
    /// [`MAX_ADDRESS_FAILURES`] from one address within [`LOGIN_WINDOW_SECS`], answers 429
    /// `rate_limited` (with the seconds to wait in `retry_after`) without
    /// checking the password. Counters live in the database, so they hold across nodes.
    /// `tenant` (a tenant's name) is needed only when the e-mail and password are those of users
    /// in several tenants.
    ///
    /// Each attempt is counted before its password is checked, in one atomic statement: of
    /// any number of simultaneous attempts only as many as the limit leaves get checked. An
    /// attempt that turns out not to be a failure is taken back (a success also clears the
    /// account's count).
    pub async fn login_from(
        &self,
        email: &str,
        password: &str,
        tenant: Option<&str>,
        addr: Option<&str>,
    ) -> Result<(String, UserOut), Error> {
        let mut keys = vec![(format!("acct:{}", email.trim().to_lowercase()), MAX_ACCOUNT_FAILURES)];
        if let Some(a) = addr {
            keys.push((format!("addr:{a}"), MAX_ADDRESS_FAILURES));
        }
        let counted = self.count_login_attempt(&keys).await?;
        match self.check_login(email, password, tenant).await {
            Err(e) if e.code == trellis_core::ErrorCode::Unauthenticated => Err(e),
            Ok(user) => {
                // The session, the account's cleared count and the address's attempt taken
                // back: one transaction.
                let (token, row) = self.new_session(&user);
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                system::insert_token(&tx, &row).await?;
                security::clear_failures(&tx, &counted[0]).await?;
                uncount_attempts(&tx, &counted[1..]).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok((token, UserOut::from(&user)))
            }
            Err(e) => {
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                uncount_attempts(&tx, &counted).await?;
                tx.commit().await.map_err(StoreError::from)?;
                Err(e)
            }
        }
    }

    /// Counts an attempt for each key (account, then address) and answers the keys counted; if
    /// a key is past its limit, counts none (the transaction rolls back) and refuses the attempt
    /// as `rate_limited`.
    async fn count_login_attempt(&self, keys: &[(String, i32)]) -> Result<Vec<String>, Error> {
        let now = Utc::now();
        let since = now - chrono::Duration::seconds(LOGIN_WINDOW_SECS);
        let mut counted = Vec::with_capacity(keys.len());
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        for (k, max) in keys {
            let (n, start) = security::count_attempt(&tx, k, now, since).await?;
            counted.push(k.clone());
            if n > *max {
                tx.rollback().await.map_err(StoreError::from)?;
                return Err(rate_limited(start + chrono::Duration::seconds(LOGIN_WINDOW_SECS) - now));
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(counted)
    }

    /// A new login session of `user`: its token and its row.
    fn new_session(&self, user: &UserRow) -> (String, TokenRow) {
        let (token, hash) = new_token("trs");
        let now = trellis_core::value::now_micros();
        let row = TokenRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: user.tenant_id.clone(),
            user_id: user.id.clone(),
            kind: "session".into(),
            name: "login".into(),
            token_hash: hash,
            role: None,
            created_at: now,
            expires_at: Some(self.sessions.first_expiry(now)),
            last_used_at: Some(now),
            revoked_at: None,
        };
        (token, row)
    }

    /// The user whose e-mail and password these are. An e-mail is unique per tenant, so it may
    /// name users in several tenants: the password picks among them, and `tenant` when it is
    /// theirs in more than one.
    async fn check_login(&self, email: &str, password: &str, tenant: Option<&str>) -> Result<UserRow, Error> {
        let email = email.trim().to_lowercase();
        let mut users = system::users_by_email(&self.db.read, &email).await?;
        if let Some(t) = tenant.map(str::trim).filter(|t| !t.is_empty()) {
            let t = system::tenant_by_name(&self.db.read, t).await?;
            users.retain(|u| t.as_ref().is_some_and(|t| t.id == u.tenant_id));
        }
        if users.is_empty() {
            // Same work as a real check, so timing does not reveal which e-mails exist.
            let _ = verify_password(password, &DUMMY_HASH);
            return Err(Error::unauthenticated("wrong e-mail or password"));
        }
        let mut matching = Vec::new();
        for user in users {
            let ok = {
                let (pw, hash) = (password.to_string(), user.password_hash.clone());
                tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
                    .await
                    .unwrap_or(false)
            };
            if ok && user.disabled_at.is_none() {
                matching.push(user);
            }
        }
        let user = match matching.len() {
            0 => return Err(Error::unauthenticated("wrong e-mail or password")),
            1 => matching.pop().expect("one user"),
            _ => {
                return Err(Error::validation(vec![trellis_core::FieldError::new(
                    "tenant",
                    FieldCode::Required,
                    "this e-mail and password are those of users in several tenants; name the tenant",
                )]));
            }
        };
        Ok(user)
    }

    /// Resolves a bearer token to its caller. A login session's end moves with its use
    /// ([`SessionLifetime::extended`]).
    pub async fn authenticate(&self, token: &str) -> Result<TenantCtx, Error> {
        if !(token.starts_with("trs_") || token.starts_with("trk_")) || token.len() > 100 {
            return Err(unauthenticated());
        }
        let hash = token_hash(token);
        let now = Utc::now();
        let cached = match self.auth_cache.get(&hash) {
            Some(c) => c,
            None => self.resolve(&hash, now).await?,
        };
        if cached.expires_at.is_some_and(|e| e <= now) {
            return Err(unauthenticated());
        }
        if let (Some((id, created)), Some(expires)) = (&cached.session, cached.expires_at) {
            self.extend_session(&hash, id, *created, expires, now);
        }
        self.touch(&cached.ctx);
        Ok(cached.ctx)
    }

    /// A token from the database, put in the cache; revoked, expired and disabled users' tokens
    /// answer 401.
    async fn resolve(&self, hash: &str, now: DateTime<Utc>) -> Result<Cached, Error> {
        let row = system::token_by_hash(&self.db.read, hash)
            .await?
            .ok_or_else(unauthenticated)?;
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
            return Err(unauthenticated());
        }
        let user = system::user_by_id(&self.db.read, &row.tenant_id, &row.user_id)
            .await?
            .ok_or_else(unauthenticated)?;
        if user.disabled_at.is_some() {
            return Err(unauthenticated());
        }
        let is_api = row.kind == "api";
        let token_id = is_api.then(|| row.id.clone());
        let role = if is_api { row.role.clone() } else { None };
        let session = (!is_api).then(|| (row.id.clone(), row.created_at));
        let ctx = TenantCtx::new(user.tenant_id.clone(), user.id.clone(), user.is_admin, token_id)
            .with_token_role(role)
            .with_session(session.as_ref().map(|(id, _)| id.clone()));
        let cached = Cached {
            ctx,
            expires_at: row.expires_at,
            session,
            cached_at: Instant::now(),
        };
        self.auth_cache.put(hash.to_string(), cached.clone());
        Ok(cached)
    }

    /// Moves a session's end when it is due (in the cache now, in the database in the background).
    fn extend_session(&self, hash: &str, id: &str, created: DateTime<Utc>, expires: DateTime<Utc>, now: DateTime<Utc>) {
        let Some(next) = self.sessions.extended(created, expires, now) else {
            return;
        };
        self.auth_cache.set_expiry(hash, next);
        let (db, id) = (self.db.clone(), id.to_string());
        tokio::spawn(async move {
            let extended = async {
                let tx = db.begin_write().await?;
                system::extend_session(&tx, &id, next, now).await?;
                Ok::<_, StoreError>(tx.commit().await?)
            };
            if let Err(e) = extended.await {
                tracing::warn!(error = %e, "could not extend a session");
            }
        });
    }

    fn touch(&self, ctx: &TenantCtx) {
        if let Some(id) = ctx.token_id()
            && self.auth_cache.should_touch(id)
        {
            let (db, id) = (self.db.clone(), id.to_string());
            tokio::spawn(async move {
                let touched = async {
                    let tx = db.begin_write().await?;
                    system::touch_token(&tx, &id, Utc::now()).await?;
                    Ok::<_, StoreError>(tx.commit().await?)
                };
                if let Err(e) = touched.await {
                    tracing::warn!(error = %e, "could not record token use");
                }
            });
        }
    }

    /// The caller's user row.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn me(&self, ctx: &TenantCtx) -> Result<(UserOut, system::TenantRow), Error> {
        let user = system::user_by_id(&self.db.read, ctx.tenant_id(), ctx.user_id())
            .await?
            .ok_or_else(unauthenticated)?;
        let tenant = system::tenant_by_id(&self.db.read, ctx.tenant_id())
            .await?
            .ok_or_else(unauthenticated)?;
        Ok((UserOut::from(&user), tenant))
    }

    /// Creates an API token for the caller; the secret is in the answer only.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_api_token(
        &self,
        ctx: &TenantCtx,
        name: &str,
        role: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<TokenOut, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::validation(vec![trellis_core::FieldError::new(
                "name",
                FieldCode::Length,
                "must be 1 to 100 characters",
            )]));
        }
        let now = trellis_core::value::now_micros();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(Error::validation(vec![trellis_core::FieldError::new(
                "expires_at",
                FieldCode::Past,
                "must be in the future",
            )]));
        }
        // A token limited to a role mints tokens of that role at most: none without a role
        // (that would act as the whole user), none of another role.
        let role = match (ctx.token_role(), role) {
            (Some(own), None) => Some(own.to_string()),
            (Some(own), Some(r)) if r != own => {
                return Err(Error::permission_denied(format!(
                    "a token limited to role '{own}' may only make tokens of that role"
                )));
            }
            (_, role) => role,
        };
        // A role no app of the tenant declares would reach nothing anywhere: refuse it.
        if let Some(r) = &role {
            let mut declared = std::collections::BTreeSet::new();
            for app in system::apps_of(&self.db.read, ctx.tenant_id()).await? {
                let def = crate::compiled::parse_stored(&app)?;
                declared.extend(def.roles.iter().map(|x| x.name.to_string()));
            }
            if !declared.contains(r.as_str()) {
                let known: Vec<&str> = declared.iter().map(String::as_str).collect();
                return Err(Error::validation(vec![trellis_core::FieldError::new(
                    "role",
                    FieldCode::UnknownRole,
                    if known.is_empty() {
                        "no app of the tenant declares roles".to_string()
                    } else {
                        format!(
                            "'{}' is a role of no app; declared roles: {}",
                            trellis_core::names::truncate(r, 64),
                            known.join(", ")
                        )
                    },
                )]));
            }
        }
        let (token, hash) = new_token("trk");
        let row = TokenRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            user_id: ctx.user_id().to_string(),
            kind: "api".into(),
            name: name.to_string(),
            token_hash: hash,
            role,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        // The token and its audit line: one transaction.
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        system::insert_token(&tx, &row).await?;
        let data = serde_json::json!({"name": row.name, "role": row.role});
        crate::audit::write(
            &tx,
            ctx,
            crate::audit::TENANT_SCOPE,
            "$tokens",
            &row.id,
            EventKind::TokenCreated,
            data,
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        let mut out = TokenOut::from(&row);
        out.token = Some(token);
        Ok(out)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_api_tokens(&self, ctx: &TenantCtx) -> Result<Vec<TokenOut>, Error> {
        Ok(system::api_tokens_of(&self.db.read, ctx.tenant_id(), ctx.user_id())
            .await?
            .iter()
            .map(TokenOut::from)
            .collect())
    }

    /// Revokes one of the caller's tokens; another user's or tenant's token answers not found.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn revoke_api_token(&self, ctx: &TenantCtx, id: &str) -> Result<(), Error> {
        // The revocation and its audit line: one transaction.
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let hash = system::revoke_token(&tx, ctx.tenant_id(), ctx.user_id(), "api", id, Utc::now())
            .await?
            .ok_or_else(|| Error::not_found("no such token"))?;
        crate::audit::write(
            &tx,
            ctx,
            crate::audit::TENANT_SCOPE,
            "$tokens",
            id,
            EventKind::TokenRevoked,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.auth_cache.forget(&hash);
        Ok(())
    }
}

impl Engine {
    /// How long login sessions last on this node.
    pub fn session_lifetime(&self) -> SessionLifetime {
        self.sessions
    }

    /// The caller's live login sessions, newest first, the one they use marked `current`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_sessions(&self, ctx: &TenantCtx) -> Result<Vec<SessionOut>, Error> {
        let rows = system::sessions_of(&self.db.read, ctx.tenant_id(), ctx.user_id(), Utc::now()).await?;
        Ok(rows
            .iter()
            .map(|t| SessionOut {
                id: t.id.clone(),
                created_at: fmt_time(&t.created_at),
                last_used_at: t.last_used_at.as_ref().map(fmt_time),
                expires_at: t.expires_at.as_ref().map(fmt_time),
                current: ctx.session_id() == Some(t.id.as_str()),
            })
            .collect())
    }

    /// Ends one of the caller's login sessions; anyone else's (or an unknown id) answers 404.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn revoke_session(&self, ctx: &TenantCtx, id: &str) -> Result<(), Error> {
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let hash = system::revoke_token(&tx, ctx.tenant_id(), ctx.user_id(), "session", id, Utc::now())
            .await?
            .ok_or_else(|| Error::not_found("no such session"))?;
        tx.commit().await.map_err(StoreError::from)?;
        self.auth_cache.forget(&hash);
        Ok(())
    }

    /// Ends the session the caller used (logout). A caller with an API token has no session to
    /// end: 400, since API tokens are revoked by id.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn logout(&self, ctx: &TenantCtx) -> Result<(), Error> {
        let id = ctx.session_id().ok_or_else(|| {
            Error::bad_request(
                "this request did not use a login session; revoke API tokens with DELETE /auth/tokens/{id}",
            )
        })?;
        self.revoke_session(ctx, id).await
    }
}

/// Takes back an attempt counted for each key.
async fn uncount_attempts(tx: &WriteTx, keys: &[String]) -> Result<(), Error> {
    for k in keys {
        security::uncount_attempt(tx, k).await?;
    }
    Ok(())
}

/// A real hash verified against when the e-mail is unknown. A constant of the process (the hash
/// of a random password nobody knows), no tenant data, so it may be shared by nodes.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&generate_password()).unwrap_or_default());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("秘密 secret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("秘密 secret", &h));
        assert!(!verify_password("secret", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn sessions_slide_up_to_their_cap_and_are_written_only_in_steps() {
        let l = SessionLifetime::default();
        let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let first = l.first_expiry(t0);
        assert_eq!(first, t0 + chrono::Duration::hours(12));
        // Used a minute later: the end would move by a minute, not worth a write.
        assert_eq!(l.extended(t0, first, t0 + chrono::Duration::minutes(1)), None);
        // Used an hour later: it moves to an idle time after that use.
        let later = t0 + chrono::Duration::hours(1);
        assert_eq!(l.extended(t0, first, later), Some(later + chrono::Duration::hours(12)));
        // Never beyond the cap, however often used.
        let cap = t0 + chrono::Duration::days(7);
        let late = cap - chrono::Duration::hours(2);
        assert_eq!(l.extended(t0, late - chrono::Duration::hours(3), late), Some(cap));
        assert_eq!(l.extended(t0, cap, cap - chrono::Duration::minutes(1)), None);
        // A short idle time takes short steps.
        let short = SessionLifetime {
            idle: Duration::from_secs(10),
            max: Duration::from_secs(60),
        };
        let e = short.first_expiry(t0);
        assert_eq!(
            short.extended(t0, e, t0 + chrono::Duration::seconds(2)),
            Some(t0 + chrono::Duration::seconds(12))
        );
        assert_eq!(short.extended(t0, e, t0 + chrono::Duration::milliseconds(500)), None);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token("trk");
        let (b, _) = new_token("trk");
        assert_ne!(a, b);
        assert!(a.starts_with("trk_") && a.len() > 40);
        assert_eq!(token_hash(&a), ha);
        assert_eq!(ha.len(), 64);
    }
}
