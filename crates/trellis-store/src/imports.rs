//! Imports of records from files: one row per import with its options, phase, checkpoint and
//! counts (`sys_imports`), and the rows it refused (`sys_import_errors`). A worker holds an
//! import by a lease; the rows it writes commit in the same transaction as the checkpoint that
//! counts them, so an import taken again after a crash starts after the last committed row.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// One import.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ImportRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    /// The entity's name in the app.
    pub entity: String,
    /// The user it runs as.
    pub user_id: String,
    /// The uploaded file (`sys_files`).
    pub file_id: String,
    /// JSON: the options as asked.
    pub options: String,
    /// JSON: what the scan decided (column mapping, date orders), once scanned.
    pub plan: Option<String>,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// `scan`, `check` or `write`.
    pub phase: String,
    pub dry_run: bool,
    /// Data rows in the file, once scanned.
    pub total: Option<i64>,
    /// Rows of the phase finished (the checkpoint).
    pub done: i64,
    pub inserted: i64,
    pub updated: i64,
    /// Rows refused (not written).
    pub failed: i64,
    /// Why the whole import stopped: a stable code and a message.
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    /// Who holds it: a token of the worker's claim.
    pub lease: Option<String>,
}

/// `sys_imports` and its columns.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum SysImports {
    Table,
    Id,
    TenantId,
    AppId,
    Entity,
    UserId,
    FileId,
    Options,
    Plan,
    Status,
    Phase,
    DryRun,
    Total,
    Done,
    Inserted,
    Updated,
    Failed,
    ErrorCode,
    ErrorDetail,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
    LockedUntil,
    Lease,
}

const COLS: [SysImports; 23] = [
    SysImports::Id,
    SysImports::TenantId,
    SysImports::AppId,
    SysImports::Entity,
    SysImports::UserId,
    SysImports::FileId,
    SysImports::Options,
    SysImports::Plan,
    SysImports::Status,
    SysImports::Phase,
    SysImports::DryRun,
    SysImports::Total,
    SysImports::Done,
    SysImports::Inserted,
    SysImports::Updated,
    SysImports::Failed,
    SysImports::ErrorCode,
    SysImports::ErrorDetail,
    SysImports::CreatedAt,
    SysImports::UpdatedAt,
    SysImports::FinishedAt,
    SysImports::LockedUntil,
    SysImports::Lease,
];

/// A refused row of an import.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ImportErrorRow {
    /// UUID v7, in the order the rows were checked.
    pub id: String,
    pub import_id: String,
    /// The row's line in the file, counting the header as 1.
    pub row_no: i64,
    /// The header of the column, empty for the whole row.
    pub column_name: String,
    pub value: String,
    pub code: String,
    pub message: String,
}

/// `sys_import_errors` and its columns.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum SysImportErrors {
    Table,
    Id,
    ImportId,
    RowNo,
    ColumnName,
    Value,
    Code,
    Message,
}

pub async fn insert<C: crate::Writes>(c: &C, r: &ImportRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysImports::Table)
        .columns(COLS)
        .values_panic([
            r.id.clone().into(),
            r.tenant_id.clone().into(),
            r.app_id.clone().into(),
            r.entity.clone().into(),
            r.user_id.clone().into(),
            r.file_id.clone().into(),
            r.options.clone().into(),
            r.plan.clone().into(),
            r.status.clone().into(),
            r.phase.clone().into(),
            r.dry_run.into(),
            r.total.into(),
            r.done.into(),
            r.inserted.into(),
            r.updated.into(),
            r.failed.into(),
            r.error_code.clone().into(),
            r.error_detail.clone().into(),
            r.created_at.into(),
            r.updated_at.into(),
            r.finished_at.into(),
            r.locked_until.into(),
            r.lease.clone().into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// One import of the tenant.
pub async fn get<C: crate::Reads>(c: &C, tenant_id: &str, id: &str) -> Result<Option<ImportRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysImports::Table)
        .and_where(Expr::col(SysImports::Id).eq(id))
        .and_where(Expr::col(SysImports::TenantId).eq(tenant_id))
        .to_owned();
    rows::one(c, &q).await
}

/// The tenant's imports into an entity, newest first (all users' when `user` is none).
pub async fn list<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    entity: &str,
    user: Option<&str>,
    limit: u64,
) -> Result<Vec<ImportRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysImports::Table)
        .and_where(Expr::col(SysImports::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysImports::AppId).eq(app_id))
        .and_where(Expr::col(SysImports::Entity).eq(entity))
        .order_by(SysImports::Id, Order::Desc)
        .limit(limit);
    if let Some(u) = user {
        q.and_where(Expr::col(SysImports::UserId).eq(u));
    }
    rows::all(c, &q).await
}

/// Takes the oldest import that is queued, or running with a lapsed lease (its worker died),
/// until `lease_until`. Answers it as taken, or none.
/// With `only`, that import alone.
pub async fn claim<C: crate::Writes>(
    c: &C,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    only: Option<&str>,
) -> Result<Option<ImportRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysImports::Table)
        .cond_where(
            Expr::col(SysImports::Status)
                .eq("queued")
                .or(Expr::col(SysImports::Status)
                    .eq("running")
                    .and(Expr::col(SysImports::LockedUntil).lt(now))),
        )
        .order_by(SysImports::Id, Order::Asc)
        .limit(1);
    if let Some(id) = only {
        q.and_where(Expr::col(SysImports::Id).eq(id));
    }
    let Some(mut row) = rows::one::<ImportRow, C>(c, &q).await? else {
        return Ok(None);
    };
    // Taken only if nobody took it since it was read.
    let lease = uuid::Uuid::now_v7().to_string();
    let mut take = Query::update();
    take.table(SysImports::Table)
        .value(SysImports::Status, "running")
        .value(SysImports::LockedUntil, lease_until)
        .value(SysImports::Lease, lease.as_str())
        .value(SysImports::UpdatedAt, now)
        .and_where(Expr::col(SysImports::Id).eq(row.id.as_str()))
        .and_where(Expr::col(SysImports::Status).eq(row.status.as_str()));
    match &row.lease {
        Some(l) => take.and_where(Expr::col(SysImports::Lease).eq(l.as_str())),
        None => take.and_where(Expr::col(SysImports::Lease).is_null()),
    };
    if c.execute(&take).await?.rows_affected() != 1 {
        return Ok(None);
    }
    row.status = "running".into();
    row.locked_until = Some(lease_until);
    row.lease = Some(lease);
    Ok(Some(row))
}

/// Whether any import waits for a worker (queued, or running with a lapsed lease).
pub async fn any_due<C: crate::Reads>(c: &C, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let q = Query::select()
        .column(SysImports::Id)
        .from(SysImports::Table)
        .cond_where(
            Expr::col(SysImports::Status)
                .eq("queued")
                .or(Expr::col(SysImports::Status)
                    .eq("running")
                    .and(Expr::col(SysImports::LockedUntil).lt(now))),
        )
        .limit(1)
        .to_owned();
    Ok(c.query_one(&q).await?.is_some())
}

/// The progress of a held import: its phase, checkpoint and counts, with a renewed lease.
/// Answers false when the import is no longer held by this lease (cancelled, or taken by
/// another worker after the lease lapsed): the caller then rolls back and stops.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub id: &'a str,
    /// The claim's token.
    pub lease: &'a str,
    pub phase: &'a str,
    pub plan: Option<&'a str>,
    pub total: Option<i64>,
    pub done: i64,
    pub inserted: i64,
    pub updated: i64,
    pub failed: i64,
}

pub async fn checkpoint<C: crate::Writes>(
    c: &C,
    p: &Progress<'_>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut q = Query::update();
    q.table(SysImports::Table)
        .value(SysImports::Phase, p.phase)
        .value(SysImports::Total, p.total)
        .value(SysImports::Done, p.done)
        .value(SysImports::Inserted, p.inserted)
        .value(SysImports::Updated, p.updated)
        .value(SysImports::Failed, p.failed)
        .value(SysImports::LockedUntil, lease_until)
        .value(SysImports::UpdatedAt, now)
        .and_where(Expr::col(SysImports::Id).eq(p.id))
        .and_where(Expr::col(SysImports::Status).eq("running"))
        .and_where(Expr::col(SysImports::Lease).eq(p.lease));
    if let Some(plan) = p.plan {
        q.value(SysImports::Plan, plan);
    }
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Ends a held import: `done`, `failed` (with a code and message) or as it is when cancelled.
pub async fn finish<C: crate::Writes>(
    c: &C,
    id: &str,
    lease: &str,
    status: &str,
    error: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(SysImports::Table)
        .value(SysImports::Status, status)
        .value(SysImports::ErrorCode, error.map(|e| e.0.to_string()))
        .value(SysImports::ErrorDetail, error.map(|e| e.1.to_string()))
        .value(SysImports::FinishedAt, now)
        .value(SysImports::UpdatedAt, now)
        .value(SysImports::LockedUntil, Option::<DateTime<Utc>>::None)
        .and_where(Expr::col(SysImports::Id).eq(id))
        .and_where(Expr::col(SysImports::Status).eq("running"))
        .and_where(Expr::col(SysImports::Lease).eq(lease))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Lets go of a held import so that any worker takes it again at once (a node stopping).
pub async fn release<C: crate::Writes>(c: &C, id: &str, lease: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let q = Query::update()
        .table(SysImports::Table)
        .value(SysImports::LockedUntil, now)
        .and_where(Expr::col(SysImports::Id).eq(id))
        .and_where(Expr::col(SysImports::Status).eq("running"))
        .and_where(Expr::col(SysImports::Lease).eq(lease))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Cancels an import that has not ended; answers whether it did.
pub async fn cancel<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(SysImports::Table)
        .value(SysImports::Status, "cancelled")
        .value(SysImports::FinishedAt, now)
        .value(SysImports::UpdatedAt, now)
        .value(SysImports::LockedUntil, Option::<DateTime<Utc>>::None)
        .and_where(Expr::col(SysImports::Id).eq(id))
        .and_where(Expr::col(SysImports::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysImports::Status).is_in(["queued", "running"]))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Records refused rows of an import (nothing reads the outcome).
pub async fn add_errors<C: crate::Writes>(c: &C, errors: &[ImportErrorRow]) -> Result<(), StoreError> {
    for chunk in errors.chunks(200) {
        let mut q = Query::insert();
        q.into_table(SysImportErrors::Table).columns([
            SysImportErrors::Id,
            SysImportErrors::ImportId,
            SysImportErrors::RowNo,
            SysImportErrors::ColumnName,
            SysImportErrors::Value,
            SysImportErrors::Code,
            SysImportErrors::Message,
        ]);
        for e in chunk {
            q.values_panic([
                e.id.clone().into(),
                e.import_id.clone().into(),
                e.row_no.into(),
                e.column_name.clone().into(),
                e.value.clone().into(),
                e.code.clone().into(),
                e.message.clone().into(),
            ]);
        }
        c.execute_later(c.get_database_backend().build(&q)).await?;
    }
    Ok(())
}

/// Forgets the refused rows of an import past a row (a phase starting again from there).
pub async fn drop_errors_from<C: crate::Writes>(c: &C, import_id: &str, from_row: i64) -> Result<(), StoreError> {
    let q = Query::delete()
        .from_table(SysImportErrors::Table)
        .and_where(Expr::col(SysImportErrors::ImportId).eq(import_id))
        .and_where(Expr::col(SysImportErrors::RowNo).gte(from_row))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// An import's refused rows in file order, after the one with id `after`.
pub async fn errors<C: crate::Reads>(
    c: &C,
    import_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<ImportErrorRow>, StoreError> {
    let mut q = Query::select();
    q.columns([
        SysImportErrors::Id,
        SysImportErrors::ImportId,
        SysImportErrors::RowNo,
        SysImportErrors::ColumnName,
        SysImportErrors::Value,
        SysImportErrors::Code,
        SysImportErrors::Message,
    ])
    .from(SysImportErrors::Table)
    .and_where(Expr::col(SysImportErrors::ImportId).eq(import_id))
    .order_by(SysImportErrors::Id, Order::Asc)
    .limit(limit);
    if let Some(a) = after {
        q.and_where(Expr::col(SysImportErrors::Id).gt(a));
    }
    rows::all(c, &q).await
}
