//! Each user's own preferences (`sys_user_preferences`, one row per user): today the language
//! of the web UI.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// `sys_user_preferences` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysUserPreferences {
    Table,
    UserId,
    TenantId,
    Language,
    UpdatedAt,
}

/// A user's stored preferences.
#[derive(Debug, Clone, Default, FromQueryResult)]
pub struct PreferencesRow {
    /// A language tag (`zh-CN`, `en-US`); none: the browser's.
    pub language: Option<String>,
}

/// The user's preferences; the defaults when none were saved.
pub async fn get<C: crate::Reads>(c: &C, tenant_id: &str, user_id: &str) -> Result<PreferencesRow, StoreError> {
    let q = Query::select()
        .column(SysUserPreferences::Language)
        .from(SysUserPreferences::Table)
        .and_where(Expr::col(SysUserPreferences::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysUserPreferences::UserId).eq(user_id))
        .to_owned();
    Ok(rows::one::<PreferencesRow, _>(c, &q).await?.unwrap_or_default())
}

/// Creates or replaces the user's preferences.
pub async fn put<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    prefs: &PreferencesRow,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysUserPreferences::Table)
        .columns([
            SysUserPreferences::UserId,
            SysUserPreferences::TenantId,
            SysUserPreferences::Language,
            SysUserPreferences::UpdatedAt,
        ])
        .values_panic([
            user_id.into(),
            tenant_id.into(),
            prefs.language.clone().into(),
            at.into(),
        ])
        .on_conflict(
            OnConflict::column(SysUserPreferences::UserId)
                .update_columns([SysUserPreferences::Language, SysUserPreferences::UpdatedAt])
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
