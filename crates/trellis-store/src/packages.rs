//! The package each installed app came from (`sys_app_packages`): its name and version, the
//! version's definition (the base of the next upgrade's three-way merge) and, per element key,
//! the package version the element was last taken from.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// `sys_app_packages` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysAppPackages {
    Table,
    AppId,
    TenantId,
    Package,
    Version,
    Base,
    Origins,
    InstalledAt,
    UpdatedAt,
}

const COLS: [SysAppPackages; 8] = [
    SysAppPackages::AppId,
    SysAppPackages::TenantId,
    SysAppPackages::Package,
    SysAppPackages::Version,
    SysAppPackages::Base,
    SysAppPackages::Origins,
    SysAppPackages::InstalledAt,
    SysAppPackages::UpdatedAt,
];

/// An app's package record.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct AppPackageRow {
    pub app_id: String,
    pub tenant_id: String,
    pub package: String,
    pub version: String,
    /// The installed version's app definition as the package holds it (JSON).
    pub base: String,
    /// Element path → the package version it was last taken from (JSON object).
    pub origins: String,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The package an app was installed from, if any.
pub async fn of_app<C: crate::Reads>(c: &C, app_id: &str) -> Result<Option<AppPackageRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysAppPackages::Table)
        .and_where(Expr::col(SysAppPackages::AppId).eq(app_id))
        .to_owned();
    rows::one(c, &q).await
}

/// Records (or replaces) the package an app was installed or upgraded from.
pub async fn put<C: crate::Writes>(c: &C, r: &AppPackageRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysAppPackages::Table)
        .columns(COLS)
        .values_panic([
            r.app_id.clone().into(),
            r.tenant_id.clone().into(),
            r.package.clone().into(),
            r.version.clone().into(),
            r.base.clone().into(),
            r.origins.clone().into(),
            r.installed_at.into(),
            r.updated_at.into(),
        ])
        .on_conflict(
            OnConflict::column(SysAppPackages::AppId)
                .update_columns([
                    SysAppPackages::Package,
                    SysAppPackages::Version,
                    SysAppPackages::Base,
                    SysAppPackages::Origins,
                    SysAppPackages::UpdatedAt,
                ])
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Forgets an app's package record (the app is deleted).
pub async fn delete_for_app<C: crate::Writes>(c: &C, app_id: &str) -> Result<(), StoreError> {
    c.execute(
        &Query::delete()
            .from_table(SysAppPackages::Table)
            .and_where(Expr::col(SysAppPackages::AppId).eq(app_id))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The package records of a tenant's apps.
pub async fn of_tenant<C: crate::Reads>(c: &C, tenant_id: &str) -> Result<Vec<AppPackageRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysAppPackages::Table)
        .and_where(Expr::col(SysAppPackages::TenantId).eq(tenant_id))
        .to_owned();
    rows::all(c, &q).await
}
