//! Who is who in a tenant beyond users: role membership per app, delegations while away, and
//! business calendars.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Order, Query};

use crate::error::StoreError;

fn a(s: &str) -> Alias {
    Alias::new(s)
}

/// The roles a user holds in an app.
pub async fn roles_of<C: crate::Writes>(c: &C, app_id: &str, user_id: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(a("role"))
        .from(a("sys_role_members"))
        .and_where(Expr::col(a("app_id")).eq(app_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "role")?))
        .collect()
}

/// Every role a user holds in the tenant's apps, as (app id, role).
pub async fn roles_of_user<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let q = Query::select()
        .columns([a("app_id"), a("role")])
        .from(a("sys_role_members"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .order_by(a("app_id"), Order::Asc)
        .order_by(a("role"), Order::Asc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<String>("", "app_id")?, r.try_get::<String>("", "role")?)))
        .collect()
}

/// The members of a role of an app.
pub async fn members_of<C: crate::Writes>(c: &C, app_id: &str, role: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(a("user_id"))
        .from(a("sys_role_members"))
        .and_where(Expr::col(a("app_id")).eq(app_id))
        .and_where(Expr::col(a("role")).eq(role))
        .order_by(a("user_id"), Order::Asc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "user_id")?))
        .collect()
}

/// Adds a member (idempotent).
pub async fn add_member<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    role: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_role_members"))
        .columns(["tenant_id", "app_id", "role", "user_id", "created_at"].map(a))
        .values_panic([tenant_id.into(), app_id.into(), role.into(), user_id.into(), at.into()])
        .on_conflict(
            OnConflict::columns([a("app_id"), a("role"), a("user_id")])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Removes a member; false when they were not one.
pub async fn remove_member<C: crate::Writes>(
    c: &C,
    app_id: &str,
    role: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(a("sys_role_members"))
        .and_where(Expr::col(a("app_id")).eq(app_id))
        .and_where(Expr::col(a("role")).eq(role))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// A delegation: `delegate_id` acts for `user_id` between the two times.
#[derive(Debug, Clone)]
pub struct DelegationRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub delegate_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_delegation<C: crate::Writes>(c: &C, d: &DelegationRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_delegations"))
        .columns(
            [
                "id",
                "tenant_id",
                "user_id",
                "delegate_id",
                "starts_at",
                "ends_at",
                "created_at",
            ]
            .map(a),
        )
        .values_panic([
            d.id.clone().into(),
            d.tenant_id.clone().into(),
            d.user_id.clone().into(),
            d.delegate_id.clone().into(),
            d.starts_at.into(),
            d.ends_at.into(),
            d.created_at.into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// The users `delegate_id` acts for at `at`.
pub async fn principals_of<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    delegate_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(a("user_id"))
        .from(a("sys_delegations"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("delegate_id")).eq(delegate_id))
        .and_where(Expr::col(a("starts_at")).lte(at))
        .and_where(Expr::col(a("ends_at")).gt(at))
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "user_id")?))
        .collect()
}

/// A user's delegations (given), newest first.
pub async fn delegations_of<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<DelegationRow>, StoreError> {
    let q = Query::select()
        .columns(
            [
                "id",
                "tenant_id",
                "user_id",
                "delegate_id",
                "starts_at",
                "ends_at",
                "created_at",
            ]
            .map(a),
        )
        .from(a("sys_delegations"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .order_by(a("created_at"), Order::Desc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Ok(DelegationRow {
                id: r.try_get("", "id")?,
                tenant_id: r.try_get("", "tenant_id")?,
                user_id: r.try_get("", "user_id")?,
                delegate_id: r.try_get("", "delegate_id")?,
                starts_at: r.try_get("", "starts_at")?,
                ends_at: r.try_get("", "ends_at")?,
                created_at: r.try_get("", "created_at")?,
            })
        })
        .collect()
}

/// A tenant's business calendar definition (JSON), by name.
pub async fn calendar<C: crate::Writes>(c: &C, tenant_id: &str, name: &str) -> Result<Option<String>, StoreError> {
    let q = Query::select()
        .column(a("definition"))
        .from(a("sys_calendars"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("name")).eq(name))
        .to_owned();
    c.query_one(&q)
        .await?
        .map(|r| Ok(r.try_get::<String>("", "definition")?))
        .transpose()
}

/// The names of a tenant's calendars.
pub async fn calendar_names<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(a("name"))
        .from(a("sys_calendars"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .order_by(a("name"), Order::Asc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "name")?))
        .collect()
}

/// Creates or replaces a calendar.
pub async fn put_calendar<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    name: &str,
    definition: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_calendars"))
        .columns(["tenant_id", "name", "definition", "updated_at"].map(a))
        .values_panic([tenant_id.into(), name.into(), definition.into(), at.into()])
        .on_conflict(
            OnConflict::columns([a("tenant_id"), a("name")])
                .update_columns([a("definition"), a("updated_at")])
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Deletes a calendar; false when there was none.
pub async fn delete_calendar<C: crate::Writes>(c: &C, tenant_id: &str, name: &str) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(a("sys_calendars"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("name")).eq(name))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}
