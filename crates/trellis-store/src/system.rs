//! Rows of the system tables: tenants, users, tokens, apps and their versions.

use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, Value};

use crate::error::StoreError;

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub kind: String,
    pub name: String,
    pub token_hash: String,
    pub role: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub version: i64,
    pub definition: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn a(s: &str) -> Alias {
    Alias::new(s)
}

fn tenant(r: &QueryResult) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
        id: r.try_get("", "id")?,
        name: r.try_get("", "name")?,
        created_at: r.try_get("", "created_at")?,
    })
}

fn user(r: &QueryResult) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        email: r.try_get("", "email")?,
        name: r.try_get("", "name")?,
        password_hash: r.try_get("", "password_hash")?,
        is_admin: r.try_get("", "is_admin")?,
        created_at: r.try_get("", "created_at")?,
        disabled_at: r.try_get("", "disabled_at")?,
    })
}

fn token(r: &QueryResult) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        user_id: r.try_get("", "user_id")?,
        kind: r.try_get("", "kind")?,
        name: r.try_get("", "name")?,
        token_hash: r.try_get("", "token_hash")?,
        role: r.try_get("", "role")?,
        created_at: r.try_get("", "created_at")?,
        expires_at: r.try_get("", "expires_at")?,
        last_used_at: r.try_get("", "last_used_at")?,
        revoked_at: r.try_get("", "revoked_at")?,
    })
}

fn app(r: &QueryResult) -> Result<AppRow, StoreError> {
    Ok(AppRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        name: r.try_get("", "name")?,
        version: r.try_get("", "version")?,
        definition: r.try_get("", "definition")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

const TENANT_COLS: [&str; 3] = ["id", "name", "created_at"];
const USER_COLS: [&str; 8] = [
    "id",
    "tenant_id",
    "email",
    "name",
    "password_hash",
    "is_admin",
    "created_at",
    "disabled_at",
];
const TOKEN_COLS: [&str; 11] = [
    "id",
    "tenant_id",
    "user_id",
    "kind",
    "name",
    "token_hash",
    "role",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
];
const APP_COLS: [&str; 7] = [
    "id",
    "tenant_id",
    "name",
    "version",
    "definition",
    "created_at",
    "updated_at",
];

pub async fn insert_tenant<C: crate::Writes>(c: &C, t: &TenantRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_tenants"))
        .columns(TENANT_COLS.map(a))
        .values_panic([t.id.clone().into(), t.name.clone().into(), t.created_at.into()])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

pub async fn tenant_by_name<C: crate::Writes>(c: &C, name: &str) -> Result<Option<TenantRow>, StoreError> {
    let q = Query::select()
        .columns(TENANT_COLS.map(a))
        .from(a("sys_tenants"))
        .and_where(Expr::col(a("name")).eq(name))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(tenant).transpose()
}

pub async fn tenant_by_id<C: crate::Writes>(c: &C, id: &str) -> Result<Option<TenantRow>, StoreError> {
    let q = Query::select()
        .columns(TENANT_COLS.map(a))
        .from(a("sys_tenants"))
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(tenant).transpose()
}

pub async fn count_tenants<C: crate::Writes>(c: &C) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(a("id")).count(), a("n"))
        .from(a("sys_tenants"))
        .to_owned();
    Ok(c.query_one(&q)
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}

pub async fn insert_user<C: crate::Writes>(c: &C, u: &UserRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_users"))
        .columns(USER_COLS.map(a))
        .values_panic([
            u.id.clone().into(),
            u.tenant_id.clone().into(),
            u.email.clone().into(),
            u.name.clone().into(),
            u.password_hash.clone().into(),
            u.is_admin.into(),
            u.created_at.into(),
            Value::ChronoDateTimeUtc(u.disabled_at).into(),
        ])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

/// The users with an e-mail, in every tenant (an e-mail is unique per tenant only), oldest first.
pub async fn users_by_email<C: crate::Writes>(c: &C, email: &str) -> Result<Vec<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS.map(a))
        .from(a("sys_users"))
        .and_where(Expr::col(a("email")).eq(email))
        .order_by(a("created_at"), Order::Asc)
        .to_owned();
    c.query_all(&q).await?.iter().map(user).collect()
}

/// The user of a tenant with an e-mail.
pub async fn user_by_email_in<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    email: &str,
) -> Result<Option<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS.map(a))
        .from(a("sys_users"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("email")).eq(email))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(user).transpose()
}

pub async fn user_by_id<C: crate::Writes>(c: &C, tenant_id: &str, id: &str) -> Result<Option<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS.map(a))
        .from(a("sys_users"))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(user).transpose()
}

/// The users of a tenant, by e-mail.
pub async fn users_of<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS.map(a))
        .from(a("sys_users"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .order_by(a("email"), Order::Asc)
        .to_owned();
    c.query_all(&q).await?.iter().map(user).collect()
}

/// Which of the ids are users of the tenant.
pub async fn existing_user_ids<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(a("id"))
        .from(a("sys_users"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("id")).is_in(ids.iter().cloned()))
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "id")?))
        .collect()
}

pub async fn insert_token<C: crate::Writes>(c: &C, t: &TokenRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_tokens"))
        .columns(TOKEN_COLS.map(a))
        .values_panic([
            t.id.clone().into(),
            t.tenant_id.clone().into(),
            t.user_id.clone().into(),
            t.kind.clone().into(),
            t.name.clone().into(),
            t.token_hash.clone().into(),
            Value::String(t.role.clone()).into(),
            t.created_at.into(),
            Value::ChronoDateTimeUtc(t.expires_at).into(),
            Value::ChronoDateTimeUtc(t.last_used_at).into(),
            Value::ChronoDateTimeUtc(t.revoked_at).into(),
        ])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

pub async fn token_by_hash<C: crate::Writes>(c: &C, hash: &str) -> Result<Option<TokenRow>, StoreError> {
    let q = Query::select()
        .columns(TOKEN_COLS.map(a))
        .from(a("sys_tokens"))
        .and_where(Expr::col(a("token_hash")).eq(hash))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(token).transpose()
}

/// API tokens of a user (never sessions), newest first.
pub async fn api_tokens_of<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = Query::select()
        .columns(TOKEN_COLS.map(a))
        .from(a("sys_tokens"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .and_where(Expr::col(a("kind")).eq("api"))
        .order_by(a("created_at"), Order::Desc)
        .to_owned();
    c.query_all(&q).await?.iter().map(token).collect()
}

/// The live login sessions of a user (not revoked, not expired at `now`), newest first.
pub async fn sessions_of<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = Query::select()
        .columns(TOKEN_COLS.map(a))
        .from(a("sys_tokens"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .and_where(Expr::col(a("kind")).eq("session"))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .and_where(Expr::col(a("expires_at")).gt(now))
        .order_by(a("created_at"), Order::Desc)
        .to_owned();
    c.query_all(&q).await?.iter().map(token).collect()
}

/// Moves a session's expiry (the sliding expiry) and records its use.
pub async fn extend_session<C: crate::Writes>(
    c: &C,
    id: &str,
    expires_at: DateTime<Utc>,
    used_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let u = Query::update()
        .table(a("sys_tokens"))
        .value(a("expires_at"), expires_at)
        .value(a("last_used_at"), used_at)
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .to_owned();
    c.execute(&u).await?;
    Ok(())
}

/// Marks a token of a kind (`api`, `session`) revoked; answers its hash, `None` when the user
/// has no such live token.
pub async fn revoke_token<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    kind: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let q = Query::select()
        .column(a("token_hash"))
        .from(a("sys_tokens"))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("kind")).eq(kind))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .and_where(Expr::col(a("revoked_at")).is_null())
        .to_owned();
    let Some(row) = c.query_one(&q).await? else {
        return Ok(None);
    };
    let hash: String = row.try_get("", "token_hash")?;
    let u = Query::update()
        .table(a("sys_tokens"))
        .value(a("revoked_at"), at)
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    c.execute(&u).await?;
    Ok(Some(hash))
}

pub async fn touch_token<C: crate::Writes>(c: &C, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    let u = Query::update()
        .table(a("sys_tokens"))
        .value(a("last_used_at"), at)
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    c.execute(&u).await?;
    Ok(())
}

pub async fn apps_of<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS.map(a))
        .from(a("sys_apps"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .order_by(a("name"), Order::Asc)
        .to_owned();
    c.query_all(&q).await?.iter().map(app).collect()
}

pub async fn app_by_name<C: crate::Writes>(c: &C, tenant_id: &str, name: &str) -> Result<Option<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS.map(a))
        .from(a("sys_apps"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("name")).eq(name))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(app).transpose()
}

/// Every app's (tenant, name, version): what a node compares to notice changes made elsewhere.
/// Apps of every tenant with this name (inbound webhooks name an app, not a tenant).
pub async fn apps_named<C: crate::Writes>(c: &C, name: &str) -> Result<Vec<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS.map(a))
        .from(a("sys_apps"))
        .and_where(Expr::col(a("name")).eq(name))
        .to_owned();
    c.query_all(&q).await?.iter().map(app).collect()
}

pub async fn app_by_id<C: crate::Writes>(c: &C, id: &str) -> Result<Option<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS.map(a))
        .from(a("sys_apps"))
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(app).transpose()
}

pub async fn app_versions<C: crate::Writes>(c: &C) -> Result<Vec<(String, String, i64)>, StoreError> {
    let q = Query::select()
        .columns(["tenant_id", "name", "version"].map(a))
        .from(a("sys_apps"))
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "tenant_id")?,
                r.try_get("", "name")?,
                r.try_get("", "version")?,
            ))
        })
        .collect()
}

pub async fn insert_app<C: crate::Writes>(c: &C, r: &AppRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_apps"))
        .columns(APP_COLS.map(a))
        .values_panic([
            r.id.clone().into(),
            r.tenant_id.clone().into(),
            r.name.clone().into(),
            r.version.into(),
            r.definition.clone().into(),
            r.created_at.into(),
            r.updated_at.into(),
        ])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

/// Stores a new definition version of an app, only if it is still at `expected`; false otherwise.
pub async fn update_app<C: crate::Writes>(c: &C, r: &AppRow, expected: i64) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(a("sys_apps"))
        .value(a("name"), r.name.clone())
        .value(a("version"), r.version)
        .value(a("definition"), r.definition.clone())
        .value(a("updated_at"), r.updated_at)
        .and_where(Expr::col(a("id")).eq(r.id.clone()))
        .and_where(Expr::col(a("version")).eq(expected))
        .to_owned();
    Ok(c.execute(&q).await.map_err(StoreError::classify)?.rows_affected() == 1)
}

pub async fn delete_app<C: crate::Writes>(c: &C, id: &str) -> Result<(), StoreError> {
    c.execute(
        &Query::delete()
            .from_table(a("sys_apps"))
            .and_where(Expr::col(a("id")).eq(id))
            .to_owned(),
    )
    .await?;
    c.execute(
        &Query::delete()
            .from_table(a("sys_app_versions"))
            .and_where(Expr::col(a("app_id")).eq(id))
            .to_owned(),
    )
    .await?;
    Ok(())
}

pub async fn insert_app_version<C: crate::Writes>(
    c: &C,
    app_id: &str,
    version: i64,
    definition: &str,
    created_by: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_app_versions"))
        .columns(["app_id", "version", "definition", "created_by", "created_at"].map(a))
        .values_panic([
            app_id.into(),
            version.into(),
            definition.into(),
            Value::String(created_by.map(str::to_string)).into(),
            at.into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
