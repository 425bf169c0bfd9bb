//! Rows of the system tables: tenants, users, tokens, apps and their versions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query, Value};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

#[derive(Debug, Clone, FromQueryResult)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromQueryResult)]
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

#[derive(Debug, Clone, FromQueryResult)]
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

#[derive(Debug, Clone, FromQueryResult)]
pub struct AppRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub version: i64,
    pub definition: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `sys_app_versions` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysAppVersions {
    Table,
    AppId,
    CreatedAt,
    CreatedBy,
    Definition,
    Version,
}

/// `sys_apps` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysApps {
    Table,
    CreatedAt,
    Definition,
    Id,
    Name,
    TenantId,
    UpdatedAt,
    Version,
}

/// `sys_tenants` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysTenants {
    Table,
    CreatedAt,
    Id,
    Name,
}

/// `sys_tokens` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysTokens {
    Table,
    CreatedAt,
    ExpiresAt,
    Id,
    Kind,
    LastUsedAt,
    Name,
    RevokedAt,
    Role,
    TenantId,
    TokenHash,
    UserId,
}

/// `sys_users` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysUsers {
    Table,
    CreatedAt,
    DisabledAt,
    Email,
    Id,
    IsAdmin,
    Name,
    PasswordHash,
    TenantId,
}

const TENANT_COLS: [SysTenants; 3] = [SysTenants::Id, SysTenants::Name, SysTenants::CreatedAt];
const USER_COLS: [SysUsers; 8] = [
    SysUsers::Id,
    SysUsers::TenantId,
    SysUsers::Email,
    SysUsers::Name,
    SysUsers::PasswordHash,
    SysUsers::IsAdmin,
    SysUsers::CreatedAt,
    SysUsers::DisabledAt,
];
const TOKEN_COLS: [SysTokens; 11] = [
    SysTokens::Id,
    SysTokens::TenantId,
    SysTokens::UserId,
    SysTokens::Kind,
    SysTokens::Name,
    SysTokens::TokenHash,
    SysTokens::Role,
    SysTokens::CreatedAt,
    SysTokens::ExpiresAt,
    SysTokens::LastUsedAt,
    SysTokens::RevokedAt,
];
const APP_COLS: [SysApps; 7] = [
    SysApps::Id,
    SysApps::TenantId,
    SysApps::Name,
    SysApps::Version,
    SysApps::Definition,
    SysApps::CreatedAt,
    SysApps::UpdatedAt,
];

pub async fn insert_tenant<C: crate::Writes>(c: &C, t: &TenantRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysTenants::Table)
        .columns(TENANT_COLS)
        .values_panic([t.id.clone().into(), t.name.clone().into(), t.created_at.into()])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

pub async fn tenant_by_name<C: crate::Reads>(c: &C, name: &str) -> Result<Option<TenantRow>, StoreError> {
    let q = Query::select()
        .columns(TENANT_COLS)
        .from(SysTenants::Table)
        .and_where(Expr::col(SysTenants::Name).eq(name))
        .to_owned();
    rows::one(c, &q).await
}

pub async fn tenant_by_id<C: crate::Reads>(c: &C, id: &str) -> Result<Option<TenantRow>, StoreError> {
    let q = Query::select()
        .columns(TENANT_COLS)
        .from(SysTenants::Table)
        .and_where(Expr::col(SysTenants::Id).eq(id))
        .to_owned();
    rows::one(c, &q).await
}

pub async fn count_tenants<C: crate::Reads>(c: &C) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(SysTenants::Id).count(), rows::Count::alias())
        .from(SysTenants::Table)
        .to_owned();
    rows::Count::of(c, &q).await
}

pub async fn insert_user<C: crate::Writes>(c: &C, u: &UserRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysUsers::Table)
        .columns(USER_COLS)
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
pub async fn users_by_email<C: crate::Reads>(c: &C, email: &str) -> Result<Vec<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS)
        .from(SysUsers::Table)
        .and_where(Expr::col(SysUsers::Email).eq(email))
        .order_by(SysUsers::CreatedAt, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}

/// The user of a tenant with an e-mail.
pub async fn user_by_email_in<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    email: &str,
) -> Result<Option<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS)
        .from(SysUsers::Table)
        .and_where(Expr::col(SysUsers::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysUsers::Email).eq(email))
        .to_owned();
    rows::one(c, &q).await
}

pub async fn user_by_id<C: crate::Reads>(c: &C, tenant_id: &str, id: &str) -> Result<Option<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS)
        .from(SysUsers::Table)
        .and_where(Expr::col(SysUsers::Id).eq(id))
        .and_where(Expr::col(SysUsers::TenantId).eq(tenant_id))
        .to_owned();
    rows::one(c, &q).await
}

/// The users of a tenant, by e-mail.
pub async fn users_of<C: crate::Reads>(c: &C, tenant_id: &str) -> Result<Vec<UserRow>, StoreError> {
    let q = Query::select()
        .columns(USER_COLS)
        .from(SysUsers::Table)
        .and_where(Expr::col(SysUsers::TenantId).eq(tenant_id))
        .order_by(SysUsers::Email, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}

/// The users of the tenant among the ids.
pub async fn users_by_ids<C: crate::Reads>(c: &C, tenant_id: &str, ids: &[String]) -> Result<Vec<UserRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(USER_COLS)
        .from(SysUsers::Table)
        .and_where(Expr::col(SysUsers::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysUsers::Id).is_in(ids.iter().cloned()))
        .to_owned();
    rows::all(c, &q).await
}

/// Which of the ids are users of the tenant.
pub async fn existing_user_ids<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(SysUsers::Id)
        .from(SysUsers::Table)
        .and_where(Expr::col(SysUsers::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysUsers::Id).is_in(ids.iter().cloned()))
        .to_owned();
    rows::Id::all(c, &q).await
}

pub async fn insert_token<C: crate::Writes>(c: &C, t: &TokenRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysTokens::Table)
        .columns(TOKEN_COLS)
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

pub async fn token_by_hash<C: crate::Reads>(c: &C, hash: &str) -> Result<Option<TokenRow>, StoreError> {
    let q = Query::select()
        .columns(TOKEN_COLS)
        .from(SysTokens::Table)
        .and_where(Expr::col(SysTokens::TokenHash).eq(hash))
        .to_owned();
    rows::one(c, &q).await
}

/// API tokens of a user (never sessions), newest first.
pub async fn api_tokens_of<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = Query::select()
        .columns(TOKEN_COLS)
        .from(SysTokens::Table)
        .and_where(Expr::col(SysTokens::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysTokens::UserId).eq(user_id))
        .and_where(Expr::col(SysTokens::Kind).eq("api"))
        .order_by(SysTokens::CreatedAt, Order::Desc)
        .to_owned();
    rows::all(c, &q).await
}

/// The live login sessions of a user (not revoked, not expired at `now`), newest first.
pub async fn sessions_of<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<TokenRow>, StoreError> {
    let q = Query::select()
        .columns(TOKEN_COLS)
        .from(SysTokens::Table)
        .and_where(Expr::col(SysTokens::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysTokens::UserId).eq(user_id))
        .and_where(Expr::col(SysTokens::Kind).eq("session"))
        .and_where(Expr::col(SysTokens::RevokedAt).is_null())
        .and_where(Expr::col(SysTokens::ExpiresAt).gt(now))
        .order_by(SysTokens::CreatedAt, Order::Desc)
        .to_owned();
    rows::all(c, &q).await
}

/// Moves a session's expiry (the sliding expiry) and records its use.
pub async fn extend_session<C: crate::Writes>(
    c: &C,
    id: &str,
    expires_at: DateTime<Utc>,
    used_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let u = Query::update()
        .table(SysTokens::Table)
        .value(SysTokens::ExpiresAt, expires_at)
        .value(SysTokens::LastUsedAt, used_at)
        .and_where(Expr::col(SysTokens::Id).eq(id))
        .and_where(Expr::col(SysTokens::RevokedAt).is_null())
        .to_owned();
    c.execute_later(c.get_database_backend().build(&u)).await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct TokenHash {
    token_hash: String,
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
        .column(SysTokens::TokenHash)
        .from(SysTokens::Table)
        .and_where(Expr::col(SysTokens::Id).eq(id))
        .and_where(Expr::col(SysTokens::Kind).eq(kind))
        .and_where(Expr::col(SysTokens::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysTokens::UserId).eq(user_id))
        .and_where(Expr::col(SysTokens::RevokedAt).is_null())
        .to_owned();
    let Some(TokenHash { token_hash: hash }) = rows::one(c, &q).await? else {
        return Ok(None);
    };
    let u = Query::update()
        .table(SysTokens::Table)
        .value(SysTokens::RevokedAt, at)
        .and_where(Expr::col(SysTokens::Id).eq(id))
        .to_owned();
    c.execute(&u).await?;
    Ok(Some(hash))
}

pub async fn touch_token<C: crate::Writes>(c: &C, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    let u = Query::update()
        .table(SysTokens::Table)
        .value(SysTokens::LastUsedAt, at)
        .and_where(Expr::col(SysTokens::Id).eq(id))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&u)).await?;
    Ok(())
}

pub async fn apps_of<C: crate::Reads>(c: &C, tenant_id: &str) -> Result<Vec<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS)
        .from(SysApps::Table)
        .and_where(Expr::col(SysApps::TenantId).eq(tenant_id))
        .order_by(SysApps::Name, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}

pub async fn app_by_name<C: crate::Reads>(c: &C, tenant_id: &str, name: &str) -> Result<Option<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS)
        .from(SysApps::Table)
        .and_where(Expr::col(SysApps::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysApps::Name).eq(name))
        .to_owned();
    rows::one(c, &q).await
}

/// Every app's (tenant, name, version): what a node compares to notice changes made elsewhere.
/// Apps of every tenant with this name (inbound webhooks name an app, not a tenant).
pub async fn apps_named<C: crate::Reads>(c: &C, name: &str) -> Result<Vec<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS)
        .from(SysApps::Table)
        .and_where(Expr::col(SysApps::Name).eq(name))
        .to_owned();
    rows::all(c, &q).await
}

pub async fn app_by_id<C: crate::Reads>(c: &C, id: &str) -> Result<Option<AppRow>, StoreError> {
    let q = Query::select()
        .columns(APP_COLS)
        .from(SysApps::Table)
        .and_where(Expr::col(SysApps::Id).eq(id))
        .to_owned();
    rows::one(c, &q).await
}

#[derive(FromQueryResult)]
struct AppVersion {
    tenant_id: String,
    name: String,
    version: i64,
}

pub async fn app_versions<C: crate::Reads>(c: &C) -> Result<Vec<(String, String, i64)>, StoreError> {
    let q = Query::select()
        .columns([SysApps::TenantId, SysApps::Name, SysApps::Version])
        .from(SysApps::Table)
        .to_owned();
    Ok(rows::all::<AppVersion, _>(c, &q)
        .await?
        .into_iter()
        .map(|r| (r.tenant_id, r.name, r.version))
        .collect())
}

pub async fn insert_app<C: crate::Writes>(c: &C, r: &AppRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysApps::Table)
        .columns(APP_COLS)
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
        .table(SysApps::Table)
        .value(SysApps::Name, r.name.clone())
        .value(SysApps::Version, r.version)
        .value(SysApps::Definition, r.definition.clone())
        .value(SysApps::UpdatedAt, r.updated_at)
        .and_where(Expr::col(SysApps::Id).eq(r.id.clone()))
        .and_where(Expr::col(SysApps::Version).eq(expected))
        .to_owned();
    Ok(c.execute(&q).await.map_err(StoreError::classify)?.rows_affected() == 1)
}

pub async fn delete_app<C: crate::Writes>(c: &C, id: &str) -> Result<(), StoreError> {
    c.execute(
        &Query::delete()
            .from_table(SysApps::Table)
            .and_where(Expr::col(SysApps::Id).eq(id))
            .to_owned(),
    )
    .await?;
    c.execute(
        &Query::delete()
            .from_table(SysAppVersions::Table)
            .and_where(Expr::col(SysAppVersions::AppId).eq(id))
            .to_owned(),
    )
    .await?;
    crate::personal_views::delete_for_app(c, id).await?;
    crate::packages::delete_for_app(c, id).await?;
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
        .into_table(SysAppVersions::Table)
        .columns([
            SysAppVersions::AppId,
            SysAppVersions::Version,
            SysAppVersions::Definition,
            SysAppVersions::CreatedBy,
            SysAppVersions::CreatedAt,
        ])
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
