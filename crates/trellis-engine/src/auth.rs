//! Passwords (argon2id), bearer tokens (random, stored as SHA-256 hashes), login and the
//! token → caller resolution with a short-lived cache.

use std::collections::HashMap;
use std::time::{Duration, Instant};

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
use trellis_store::security;
use trellis_store::system::{self, TokenRow, UserRow};

use crate::Engine;
use crate::context::TenantCtx;

/// How long a login session lasts.
pub const SESSION_TTL_HOURS: i64 = 24 * 7;
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

#[derive(Clone)]
struct Cached {
    ctx: TenantCtx,
    expires_at: Option<DateTime<Utc>>,
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
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenOut {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
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

fn unauthenticated() -> Error {
    Error::unauthenticated("the token is missing, invalid, expired or revoked")
}

impl Engine {
    /// Checks e-mail and password; answers a session token.
    pub async fn login(&self, email: &str, password: &str) -> Result<(String, UserOut), Error> {
        self.login_from(email, password, None).await
    }

    /// A login from a client address: after [`MAX_ACCOUNT_FAILURES`] failures for one e-mail or
    /// [`MAX_ADDRESS_FAILURES`] from one address within [`LOGIN_WINDOW_SECS`], answers 429
    /// `rate_limited` (with the seconds to wait in `errors[0]`, field `retry_after`) without
    /// checking the password. Counters live in the database, so they hold across nodes.
    pub async fn login_from(
        &self,
        email: &str,
        password: &str,
        addr: Option<&str>,
    ) -> Result<(String, UserOut), Error> {
        let now = Utc::now();
        let since = now - chrono::Duration::seconds(LOGIN_WINDOW_SECS);
        let mut keys = vec![(format!("acct:{}", email.trim().to_lowercase()), MAX_ACCOUNT_FAILURES)];
        if let Some(a) = addr {
            keys.push((format!("addr:{a}"), MAX_ADDRESS_FAILURES));
        }
        for (k, max) in &keys {
            if let Some((n, start)) = security::failures(&self.db.write, k, since).await?
                && n >= *max
            {
                let wait = (start + chrono::Duration::seconds(LOGIN_WINDOW_SECS) - now)
                    .num_seconds()
                    .max(1);
                return Err(Error::new(
                    trellis_core::ErrorCode::RateLimited,
                    format!("too many failed logins; try again in {wait} seconds"),
                )
                .with_errors(vec![trellis_core::FieldError::new(
                    "retry_after",
                    "retry_after",
                    wait.to_string(),
                )]));
            }
        }
        match self.check_login(email, password).await {
            Err(e) if e.code == trellis_core::ErrorCode::Unauthenticated => {
                for (k, _) in &keys {
                    security::record_failure(&self.db, k, now, since).await?;
                }
                Err(e)
            }
            Err(e) => Err(e),
            Ok(ok) => {
                security::clear_failures(&self.db.write, &keys[0].0).await?;
                Ok(ok)
            }
        }
    }

    async fn check_login(&self, email: &str, password: &str) -> Result<(String, UserOut), Error> {
        let email = email.trim().to_lowercase();
        let user = system::user_by_email(&self.db.read, &email).await?;
        let Some(user) = user else {
            // Same work as a real check, so timing does not reveal which e-mails exist.
            let _ = verify_password(password, &DUMMY_HASH);
            return Err(Error::unauthenticated("wrong e-mail or password"));
        };
        let ok = {
            let (pw, hash) = (password.to_string(), user.password_hash.clone());
            tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
                .await
                .unwrap_or(false)
        };
        if !ok || user.disabled_at.is_some() {
            return Err(Error::unauthenticated("wrong e-mail or password"));
        }
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
            expires_at: Some(now + chrono::Duration::hours(SESSION_TTL_HOURS)),
            last_used_at: None,
            revoked_at: None,
        };
        system::insert_token(&self.db.write, &row).await?;
        Ok((token, UserOut::from(&user)))
    }

    /// Resolves a bearer token to its caller.
    pub async fn authenticate(&self, token: &str) -> Result<TenantCtx, Error> {
        if !(token.starts_with("trs_") || token.starts_with("trk_")) || token.len() > 100 {
            return Err(unauthenticated());
        }
        let hash = token_hash(token);
        let now = Utc::now();
        if let Some(c) = self.auth_cache.get(&hash) {
            if c.expires_at.is_some_and(|e| e <= now) {
                return Err(unauthenticated());
            }
            self.touch(&c.ctx);
            return Ok(c.ctx);
        }
        let row = system::token_by_hash(&self.db.read, &hash)
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
        let token_id = (row.kind == "api").then(|| row.id.clone());
        let role = if row.kind == "api" { row.role.clone() } else { None };
        let ctx =
            TenantCtx::new(user.tenant_id.clone(), user.id.clone(), user.is_admin, token_id).with_token_role(role);
        self.auth_cache.put(
            hash,
            Cached {
                ctx: ctx.clone(),
                expires_at: row.expires_at,
                cached_at: Instant::now(),
            },
        );
        self.touch(&ctx);
        Ok(ctx)
    }

    fn touch(&self, ctx: &TenantCtx) {
        if let Some(id) = ctx.token_id()
            && self.auth_cache.should_touch(id)
        {
            let (db, id) = (self.db.clone(), id.to_string());
            tokio::spawn(async move {
                if let Err(e) = system::touch_token(&db.write, &id, Utc::now()).await {
                    tracing::warn!(error = %e, "could not record token use");
                }
            });
        }
    }

    /// The caller's user row.
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
                "length",
                "must be 1 to 100 characters",
            )]));
        }
        let now = trellis_core::value::now_micros();
        if expires_at.is_some_and(|e| e <= now) {
            return Err(Error::validation(vec![trellis_core::FieldError::new(
                "expires_at",
                "past",
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
                let def = crate::apps::parse_stored(&app)?;
                declared.extend(def.roles.iter().map(|x| x.name.to_string()));
            }
            if !declared.contains(r.as_str()) {
                let known: Vec<&str> = declared.iter().map(String::as_str).collect();
                return Err(Error::validation(vec![trellis_core::FieldError::new(
                    "role",
                    "unknown_role",
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
        system::insert_token(&self.db.write, &row).await?;
        let data = serde_json::json!({"name": row.name, "role": row.role});
        crate::audit::write(
            &self.db.write,
            ctx,
            crate::audit::TENANT_SCOPE,
            "$tokens",
            &row.id,
            "token_created",
            data,
        )
        .await?;
        let mut out = TokenOut::from(&row);
        out.token = Some(token);
        Ok(out)
    }

    pub async fn list_api_tokens(&self, ctx: &TenantCtx) -> Result<Vec<TokenOut>, Error> {
        Ok(system::api_tokens_of(&self.db.read, ctx.tenant_id(), ctx.user_id())
            .await?
            .iter()
            .map(TokenOut::from)
            .collect())
    }

    /// Revokes one of the caller's tokens; another user's or tenant's token answers not found.
    pub async fn revoke_api_token(&self, ctx: &TenantCtx, id: &str) -> Result<(), Error> {
        let hash = system::revoke_token(&self.db.write, ctx.tenant_id(), ctx.user_id(), id, Utc::now())
            .await?
            .ok_or_else(|| Error::not_found("no such token"))?;
        self.auth_cache.forget(&hash);
        crate::audit::write(
            &self.db.write,
            ctx,
            crate::audit::TENANT_SCOPE,
            "$tokens",
            id,
            "token_revoked",
            serde_json::json!({}),
        )
        .await?;
        Ok(())
    }
}

/// A real hash verified against when the e-mail is unknown.
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
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token("trk");
        let (b, _) = new_token("trk");
        assert_ne!(a, b);
        assert!(a.starts_with("trk_") && a.len() > 40);
        assert_eq!(token_hash(&a), ha);
        assert_eq!(ha.len(), 64);
    }
}
