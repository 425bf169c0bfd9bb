//! Tenants and users: the admin CLI's use cases and the first-start bootstrap.

use trellis_core::error::FieldCode;
use trellis_core::{Error, FieldError};
use trellis_store::system::{self, TenantRow, UserRow};
use trellis_store::{StoreError, WriteTx};

use crate::Engine;
use crate::access::auth::{generate_password, hash_password};

/// What the first start created, so the caller can tell the operator once.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub tenant: String,
    pub email: String,
    /// Present when the password was generated (printed once, never stored in clear).
    pub generated_password: Option<String>,
}

/// The e-mail in the form it is stored and looked up in (trimmed, lower case).
fn check_email(email: &str) -> Result<String, FieldError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !e.contains(char::is_whitespace);
    if ok {
        Ok(e)
    } else {
        Err(FieldError::new("email", FieldCode::Format, "must be an e-mail address"))
    }
}

/// Fewest characters a new password may have.
pub const MIN_PASSWORD: usize = 10;
/// Most characters a password may have: argon2 hashes any length, but nobody types more.
const MAX_PASSWORD: usize = 1024;

/// Passwords among the most used, lower case: the first guesses of anyone trying accounts (a
/// constant list built into the binary, so a process static).
static COMMON_PASSWORDS: std::sync::LazyLock<std::collections::HashSet<String>> = std::sync::LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_lowercase)
        .collect()
});

/// The password policy, applied wherever a password is set (the API, the CLI, the first
/// administrator): at least [`MIN_PASSWORD`] characters, not one repeated character, not a
/// common password, not the e-mail. Existing passwords are not checked again at login.
pub fn check_password(p: &str, email: &str) -> Result<(), FieldError> {
    let n = p.chars().count();
    if n < MIN_PASSWORD {
        return Err(FieldError::new(
            "password",
            FieldCode::MinLength,
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if n > MAX_PASSWORD {
        return Err(FieldError::new(
            "password",
            FieldCode::MaxLength,
            format!("must be at most {MAX_PASSWORD} characters"),
        ));
    }
    // Ten times the same key is as good as none.
    let first = p.chars().next();
    if p.chars().all(|c| Some(c) == first) {
        return Err(FieldError::new(
            "password",
            FieldCode::Weak,
            "must not repeat a single character",
        ));
    }
    let lower = p.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower) {
        return Err(FieldError::new(
            "password",
            FieldCode::Common,
            "is one of the most used passwords; choose another",
        ));
    }
    let email = email.trim().to_lowercase();
    if !email.is_empty() && (lower == email || email.split('@').next() == Some(lower.as_str())) {
        return Err(FieldError::new(
            "password",
            FieldCode::SameAsEmail,
            "must not be the e-mail address",
        ));
    }
    Ok(())
}

/// Checks a new user's e-mail, name and password together (every problem at once); answers the
/// stored e-mail and name. Without a name, the e-mail's local part is used.
fn check_new_user(email: &str, name: Option<&str>, password: &str) -> Result<(String, String), Error> {
    let mut errors = Vec::new();
    let email = check_email(email).unwrap_or_else(|e| {
        errors.push(e);
        String::new()
    });
    let name = match name.map(str::trim) {
        Some(n) if n.is_empty() || n.chars().count() > 100 => {
            errors.push(FieldError::new(
                "name",
                FieldCode::Length,
                "must be 1 to 100 characters",
            ));
            String::new()
        }
        Some(n) => n.to_string(),
        None => email.split('@').next().unwrap_or("").to_string(),
    };
    if let Err(e) = check_password(password, &email) {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok((email, name))
    } else {
        Err(Error::validation(errors))
    }
}

impl Engine {
    /// Creates a tenant with a unique name.
    pub async fn create_tenant(&self, name: &str) -> Result<TenantRow, Error> {
        let row = tenant_row(name)?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        insert_tenant(&tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(row)
    }

    /// Creates a user in a tenant (named); e-mails are unique within a tenant.
    pub async fn create_user(
        &self,
        tenant: &str,
        email: &str,
        name: Option<&str>,
        password: &str,
        is_admin: bool,
    ) -> Result<UserRow, Error> {
        let t = system::tenant_by_name(&self.db.read, tenant)
            .await?
            .ok_or_else(|| Error::not_found(format!("no tenant named '{tenant}'")))?;
        self.insert_user(&t.id, email, name, password, is_admin).await
    }

    /// Creates a user in the tenant with this id (the CLI's and the directory API's common part).
    pub(crate) async fn insert_user(
        &self,
        tenant_id: &str,
        email: &str,
        name: Option<&str>,
        password: &str,
        is_admin: bool,
    ) -> Result<UserRow, Error> {
        let row = user_row(tenant_id, email, name, password, is_admin).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        insert_user(&tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(row)
    }

    /// On a database without tenants, creates tenant `default` and its first administrator.
    pub async fn bootstrap(&self, email: Option<&str>, password: Option<&str>) -> Result<Option<Bootstrapped>, Error> {
        if system::count_tenants(&self.db.read).await? > 0 {
            return Ok(None);
        }
        let email = email.unwrap_or("admin@example.com").to_string();
        let (password, generated) = match password {
            Some(p) => (p.to_string(), None),
            None => {
                let p = generate_password();
                (p.clone(), Some(p))
            }
        };
        // The tenant and its administrator in one transaction: a tenant without one would stop
        // the next start from bootstrapping.
        let tenant = tenant_row("default")?;
        let admin = user_row(&tenant.id, &email, Some("Administrator"), &password, true).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        insert_tenant(&tx, &tenant).await?;
        insert_user(&tx, &admin).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(Bootstrapped {
            tenant: "default".into(),
            email,
            generated_password: generated,
        }))
    }
}

/// A new tenant's row, its name checked.
fn tenant_row(name: &str) -> Result<TenantRow, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::validation(vec![FieldError::new(
            "name",
            FieldCode::Length,
            "must be 1 to 100 characters",
        )]));
    }
    Ok(TenantRow {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        created_at: trellis_core::value::now_micros(),
    })
}

async fn insert_tenant(tx: &WriteTx, row: &TenantRow) -> Result<(), Error> {
    system::insert_tenant(tx, row).await.map_err(|e| match e {
        StoreError::Unique(_) => Error::conflict(format!("a tenant named '{}' exists", row.name)),
        other => other.into(),
    })
}

/// A new user's row, its e-mail, name and password checked and the password hashed.
async fn user_row(
    tenant_id: &str,
    email: &str,
    name: Option<&str>,
    password: &str,
    is_admin: bool,
) -> Result<UserRow, Error> {
    let (email, name) = check_new_user(email, name, password)?;
    let hash = {
        let p = password.to_string();
        tokio::task::spawn_blocking(move || hash_password(&p))
            .await
            .map_err(|e| Error::internal(e.to_string()))??
    };
    Ok(UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        name,
        email,
        password_hash: hash,
        is_admin,
        created_at: trellis_core::value::now_micros(),
        disabled_at: None,
    })
}

async fn insert_user(tx: &WriteTx, row: &UserRow) -> Result<(), Error> {
    system::insert_user(tx, row).await.map_err(|e| match e {
        // Only a user of the same tenant can hold the e-mail (unique per tenant), so this tells
        // nothing about other tenants.
        StoreError::Unique(_) => Error::conflict(format!("a user with e-mail '{}' exists", row.email))
            .with_errors(vec![FieldError::new("email", FieldCode::Duplicate, "is taken")]),
        other => other.into(),
    })
}

impl Engine {
    /// The caller a command of the admin CLI acts as in tenant `tenant`: the user with e-mail
    /// `email`, with their own roles and rights, or without one the tenant's first
    /// administrator (who may do everything). A disabled user cannot act.
    pub async fn cli_caller(&self, tenant: &str, email: Option<&str>) -> Result<crate::TenantCtx, Error> {
        let t = system::tenant_by_name(&self.db.read, tenant).await?.ok_or_else(|| {
            Error::not_found(format!(
                "tenant '{}' does not exist",
                trellis_core::names::truncate(tenant, 64)
            ))
        })?;
        let user = match email {
            Some(e) => system::user_by_email_in(&self.db.read, &t.id, &e.trim().to_lowercase())
                .await?
                .filter(|u| u.disabled_at.is_none())
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "no active user '{}' in tenant '{tenant}'",
                        trellis_core::names::truncate(e, 254)
                    ))
                })?,
            None => system::users_of(&self.db.read, &t.id)
                .await?
                .into_iter()
                .filter(|u| u.is_admin && u.disabled_at.is_none())
                .min_by(|a, b| a.created_at.cmp(&b.created_at))
                .ok_or_else(|| Error::not_found(format!("tenant '{tenant}' has no active administrator")))?,
        };
        Ok(crate::TenantCtx::new(t.id, user.id, user.is_admin, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(p: &str, email: &str) -> Option<String> {
        check_password(p, email).err().map(|e| e.code.to_string())
    }

    #[test]
    fn passwords_follow_the_policy() {
        assert_eq!(code("short-pw1", "a@b.c").as_deref(), Some("min_length"));
        assert_eq!(code("aaaaaaaaaaaa", "a@b.c").as_deref(), Some("weak"));
        assert_eq!(code("Password123", "a@b.c").as_deref(), Some("common"));
        assert_eq!(code("QWERTYUIOP", "a@b.c").as_deref(), Some("common"));
        assert_eq!(
            code("li.lei@example.com", "Li.Lei@Example.com").as_deref(),
            Some("same_as_email")
        );
        assert_eq!(
            code("longname.li", "longname.li@example.com").as_deref(),
            Some("same_as_email")
        );
        assert_eq!(code("correct horse battery", "a@b.c"), None);
        // The passwords the black-box tests use are not common.
        for p in [
            "password-123",
            "admin-password-1",
            "member-password-1",
            "tenant-password-1",
        ] {
            assert_eq!(code(p, "x@example.com"), None, "{p}");
        }
    }

    #[test]
    fn the_common_list_is_loaded() {
        assert!(COMMON_PASSWORDS.len() > 300);
        assert!(COMMON_PASSWORDS.iter().all(|p| p == &p.to_lowercase()));
    }
}
