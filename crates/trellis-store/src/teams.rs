//! Teams (nested through `parent_id`) and their members; the `team` row scope of permissions
//! reads them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Order, Query};
use sea_orm::{DbBackend, QueryResult};

use crate::error::StoreError;

fn a(s: &str) -> Alias {
    Alias::new(s)
}

/// A team of a tenant.
#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLS: [&str; 5] = ["id", "tenant_id", "name", "parent_id", "created_at"];

fn team(r: &QueryResult) -> Result<TeamRow, StoreError> {
    Ok(TeamRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        name: r.try_get("", "name")?,
        parent_id: r.try_get("", "parent_id")?,
        created_at: r.try_get("", "created_at")?,
    })
}

pub async fn insert_team<C: crate::Writes>(c: &C, t: &TeamRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_teams"))
        .columns(COLS.map(a))
        .values_panic([
            t.id.clone().into(),
            t.tenant_id.clone().into(),
            t.name.clone().into(),
            t.parent_id.clone().into(),
            t.created_at.into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Every team of a tenant, by name.
pub async fn teams_of<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<TeamRow>, StoreError> {
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_teams"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .order_by(a("name"), Order::Asc)
        .to_owned();
    c.query_all(&q).await?.iter().map(team).collect()
}

/// Every team of a tenant, read for a change of the tree: on PostgreSQL the rows are locked
/// (in id order) until the write transaction ends, so two moves of the tenant's teams run one
/// after the other and the second checks the tree the first left; SQLite's one writer holds
/// everything already. Without it, A below B and B below A at once each passed the cycle check
/// on the tree before the other and together made a cycle.
pub async fn lock_teams_of<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<TeamRow>, StoreError> {
    let mut q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_teams"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .order_by(a("id"), Order::Asc)
        .to_owned();
    if c.get_database_backend() == DbBackend::Postgres {
        q.lock(LockType::Update);
    }
    c.query_all(&q).await?.iter().map(team).collect()
}

/// A team of the tenant by id or by name.
pub async fn find_team<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    id_or_name: &str,
) -> Result<Option<TeamRow>, StoreError> {
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_teams"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(
            Expr::col(a("id"))
                .eq(id_or_name)
                .or(Expr::col(a("name")).eq(id_or_name)),
        )
        .to_owned();
    c.query_one(&q).await?.as_ref().map(team).transpose()
}

/// (team id, user id) of every membership of the tenant's teams.
pub async fn memberships_of<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let q = Query::select()
        .column((a("m"), a("team_id")))
        .column((a("m"), a("user_id")))
        .from_as(a("sys_team_members"), a("m"))
        .inner_join(
            a("sys_teams"),
            Expr::col((a("sys_teams"), a("id"))).equals((a("m"), a("team_id"))),
        )
        .and_where(Expr::col((a("sys_teams"), a("tenant_id"))).eq(tenant_id))
        .order_by((a("m"), a("user_id")), Order::Asc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<String>("", "team_id")?, r.try_get::<String>("", "user_id")?)))
        .collect()
}

/// Adds a member (idempotent).
pub async fn add_member<C: crate::Writes>(
    c: &C,
    team_id: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_team_members"))
        .columns(["team_id", "user_id", "created_at"].map(a))
        .values_panic([team_id.into(), user_id.into(), at.into()])
        .on_conflict(
            OnConflict::columns([a("team_id"), a("user_id")])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Removes a member; false when they were not one.
pub async fn remove_member<C: crate::Writes>(c: &C, team_id: &str, user_id: &str) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(a("sys_team_members"))
        .and_where(Expr::col(a("team_id")).eq(team_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// Renames a team and sets the team above it (`None`: the top).
pub async fn update_team<C: crate::Writes>(
    c: &C,
    team_id: &str,
    name: &str,
    parent_id: Option<&str>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(a("sys_teams"))
        .value(a("name"), name.to_string())
        .value(a("parent_id"), parent_id.map(str::to_string))
        .and_where(Expr::col(a("id")).eq(team_id))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
