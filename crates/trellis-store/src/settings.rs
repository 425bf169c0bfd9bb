//! Per-tenant settings (JSON by key): SMTP and SMS providers, retention, ...

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};

use crate::error::StoreError;

/// A setting's JSON text.
pub async fn get<C: crate::Writes>(c: &C, tenant_id: &str, key: &str) -> Result<Option<String>, StoreError> {
    let a = Alias::new;
    let q = Query::select()
        .column(a("value"))
        .from(a("sys_settings"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned();
    c.query_one(&q)
        .await?
        .map(|r| Ok(r.try_get::<String>("", "value")?))
        .transpose()
}

/// Creates or replaces a setting.
pub async fn put<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    key: &str,
    value: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let a = Alias::new;
    let q = Query::insert()
        .into_table(a("sys_settings"))
        .columns(["tenant_id", "key", "value", "updated_at"].map(a))
        .values_panic([tenant_id.into(), key.into(), value.into(), at.into()])
        .on_conflict(
            OnConflict::columns([a("tenant_id"), a("key")])
                .update_columns([a("value"), a("updated_at")])
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Every tenant's value of a setting, as (tenant id, value).
pub async fn everywhere<C: crate::Writes>(c: &C, key: &str) -> Result<Vec<(String, String)>, StoreError> {
    let a = Alias::new;
    let q = Query::select()
        .columns([a("tenant_id"), a("value")])
        .from(a("sys_settings"))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "tenant_id")?, r.try_get("", "value")?)))
        .collect()
}
