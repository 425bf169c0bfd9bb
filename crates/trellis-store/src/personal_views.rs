//! Each user's personal views of an app (`sys_personal_views`): a view definition
//! (`view.schema.json`) kept as JSON per tenant, app, user and name. The engine checks them
//! against the owner's view of the app when they are written and again when they are read.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query, SelectStatement};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// `sys_personal_views` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysPersonalViews {
    Table,
    TenantId,
    AppId,
    UserId,
    Name,
    Definition,
    CreatedAt,
    UpdatedAt,
}

/// A stored personal view.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PersonalViewRow {
    pub name: String,
    /// The view's definition (JSON).
    pub definition: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn select(tenant_id: &str, app_id: &str, user_id: &str) -> SelectStatement {
    Query::select()
        .columns([
            SysPersonalViews::Name,
            SysPersonalViews::Definition,
            SysPersonalViews::CreatedAt,
            SysPersonalViews::UpdatedAt,
        ])
        .from(SysPersonalViews::Table)
        .and_where(Expr::col(SysPersonalViews::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysPersonalViews::AppId).eq(app_id))
        .and_where(Expr::col(SysPersonalViews::UserId).eq(user_id))
        .to_owned()
}

/// The user's views of the app, oldest first.
pub async fn list<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
) -> Result<Vec<PersonalViewRow>, StoreError> {
    let q = select(tenant_id, app_id, user_id)
        .order_by(SysPersonalViews::CreatedAt, Order::Asc)
        .order_by(SysPersonalViews::Name, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}

/// One of the user's views of the app.
pub async fn get<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
    name: &str,
) -> Result<Option<PersonalViewRow>, StoreError> {
    let q = select(tenant_id, app_id, user_id)
        .and_where(Expr::col(SysPersonalViews::Name).eq(name))
        .to_owned();
    rows::one(c, &q).await
}

/// Keeps a new view; false (nothing written) when the user has one of the name.
pub async fn insert<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
    name: &str,
    definition: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = Query::insert()
        .into_table(SysPersonalViews::Table)
        .columns([
            SysPersonalViews::TenantId,
            SysPersonalViews::AppId,
            SysPersonalViews::UserId,
            SysPersonalViews::Name,
            SysPersonalViews::Definition,
            SysPersonalViews::CreatedAt,
            SysPersonalViews::UpdatedAt,
        ])
        .values_panic([
            tenant_id.into(),
            app_id.into(),
            user_id.into(),
            name.into(),
            definition.into(),
            at.into(),
            at.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                SysPersonalViews::TenantId,
                SysPersonalViews::AppId,
                SysPersonalViews::UserId,
                SysPersonalViews::Name,
            ])
            .do_nothing()
            .to_owned(),
        )
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Replaces a view's definition; false when the user has none of the name.
pub async fn update<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
    name: &str,
    definition: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(SysPersonalViews::Table)
        .value(SysPersonalViews::Definition, definition)
        .value(SysPersonalViews::UpdatedAt, at)
        .and_where(Expr::col(SysPersonalViews::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysPersonalViews::AppId).eq(app_id))
        .and_where(Expr::col(SysPersonalViews::UserId).eq(user_id))
        .and_where(Expr::col(SysPersonalViews::Name).eq(name))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Removes a view; false when the user has none of the name.
pub async fn delete<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    user_id: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(SysPersonalViews::Table)
        .and_where(Expr::col(SysPersonalViews::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysPersonalViews::AppId).eq(app_id))
        .and_where(Expr::col(SysPersonalViews::UserId).eq(user_id))
        .and_where(Expr::col(SysPersonalViews::Name).eq(name))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// How many views the user keeps in the app.
pub async fn count<C: crate::Reads>(c: &C, tenant_id: &str, app_id: &str, user_id: &str) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(SysPersonalViews::Name).count(), rows::Count::alias())
        .from(SysPersonalViews::Table)
        .and_where(Expr::col(SysPersonalViews::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysPersonalViews::AppId).eq(app_id))
        .and_where(Expr::col(SysPersonalViews::UserId).eq(user_id))
        .to_owned();
    rows::Count::of(c, &q).await
}

/// Removes every user's views of an app (the app is deleted).
pub async fn delete_for_app<C: crate::Writes>(c: &C, app_id: &str) -> Result<(), StoreError> {
    let q = Query::delete()
        .from_table(SysPersonalViews::Table)
        .and_where(Expr::col(SysPersonalViews::AppId).eq(app_id))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
