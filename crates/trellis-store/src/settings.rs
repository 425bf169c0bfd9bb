//! Per-tenant settings (JSON by key): SMTP and SMS providers, retention, ...

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// `sys_settings` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysSettings {
    Table,
    Key,
    TenantId,
    UpdatedAt,
    Value,
}

#[derive(FromQueryResult)]
struct Setting {
    value: String,
}

#[derive(FromQueryResult)]
struct TenantSetting {
    tenant_id: String,
    value: String,
}

/// A setting's JSON text.
pub async fn get<C: crate::Reads>(c: &C, tenant_id: &str, key: &str) -> Result<Option<String>, StoreError> {
    let q = Query::select()
        .column(SysSettings::Value)
        .from(SysSettings::Table)
        .and_where(Expr::col(SysSettings::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysSettings::Key).eq(key))
        .to_owned();
    Ok(rows::one::<Setting, _>(c, &q).await?.map(|r| r.value))
}

/// Creates or replaces a setting.
pub async fn put<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    key: &str,
    value: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysSettings::Table)
        .columns([
            SysSettings::TenantId,
            SysSettings::Key,
            SysSettings::Value,
            SysSettings::UpdatedAt,
        ])
        .values_panic([tenant_id.into(), key.into(), value.into(), at.into()])
        .on_conflict(
            OnConflict::columns([SysSettings::TenantId, SysSettings::Key])
                .update_columns([SysSettings::Value, SysSettings::UpdatedAt])
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Every tenant's value of a setting, as (tenant id, value).
pub async fn everywhere<C: crate::Reads>(c: &C, key: &str) -> Result<Vec<(String, String)>, StoreError> {
    let q = Query::select()
        .columns([SysSettings::TenantId, SysSettings::Value])
        .from(SysSettings::Table)
        .and_where(Expr::col(SysSettings::Key).eq(key))
        .to_owned();
    Ok(rows::all::<TenantSetting, _>(c, &q)
        .await?
        .into_iter()
        .map(|r| (r.tenant_id, r.value))
        .collect())
}
