//! Tenants and users: the admin CLI's use cases and the first-start bootstrap.

use trellis_core::{Error, FieldError};
use trellis_store::StoreError;
use trellis_store::system::{self, TenantRow, UserRow};

use crate::Engine;
use crate::auth::{generate_password, hash_password};

/// What the first start created, so the caller can tell the operator once.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub tenant: String,
    pub email: String,
    /// Present when the password was generated (printed once, never stored in clear).
    pub generated_password: Option<String>,
}

fn check_email(email: &str) -> Result<String, Error> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && !e.contains(char::is_whitespace);
    if ok {
        Ok(e)
    } else {
        Err(Error::validation(vec![FieldError::new(
            "email",
            "format",
            "must be an e-mail address",
        )]))
    }
}

fn check_password(p: &str) -> Result<(), Error> {
    if p.chars().count() < 8 {
        return Err(Error::validation(vec![FieldError::new(
            "password",
            "min_length",
            "must be at least 8 characters",
        )]));
    }
    Ok(())
}

impl Engine {
    /// Creates a tenant with a unique name.
    pub async fn create_tenant(&self, name: &str) -> Result<TenantRow, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::validation(vec![FieldError::new(
                "name",
                "length",
                "must be 1 to 100 characters",
            )]));
        }
        let row = TenantRow {
            id: uuid::Uuid::now_v7().to_string(),
            name: name.to_string(),
            created_at: trellis_core::value::now_micros(),
        };
        system::insert_tenant(&self.db.write, &row).await.map_err(|e| match e {
            StoreError::Unique(_) => Error::conflict(format!("a tenant named '{name}' exists")),
            other => other.into(),
        })?;
        Ok(row)
    }

    /// Creates a user in a tenant (named); e-mails are unique across tenants (they log in by e-mail).
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
        let email = check_email(email)?;
        check_password(password)?;
        let hash = {
            let p = password.to_string();
            tokio::task::spawn_blocking(move || hash_password(&p))
                .await
                .map_err(|e| Error::internal(e.to_string()))??
        };
        let row = UserRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: t.id,
            name: name
                .map(str::to_string)
                .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string()),
            email: email.clone(),
            password_hash: hash,
            is_admin,
            created_at: trellis_core::value::now_micros(),
            disabled_at: None,
        };
        system::insert_user(&self.db.write, &row).await.map_err(|e| match e {
            StoreError::Unique(_) => Error::conflict(format!("a user with e-mail '{email}' exists")),
            other => other.into(),
        })?;
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
        self.create_tenant("default").await?;
        self.create_user("default", &email, Some("Administrator"), &password, true)
            .await?;
        Ok(Some(Bootstrapped {
            tenant: "default".into(),
            email,
            generated_password: generated,
        }))
    }
}
