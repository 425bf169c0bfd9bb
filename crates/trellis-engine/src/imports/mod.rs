//! Imports of records from CSV and Excel files. An import is asked for with an uploaded file and
//! its options; its columns are matched to fields at once (by name or label in either language,
//! or as the caller maps them), and the rest runs as a durable background job in three phases:
//! **scan** (count the rows, decide each date column's order), **check** (every row read and
//! checked as a write would check it, nothing written: all of a dry run, and the first half of an
//! all-or-nothing import) and **write** (every row through the normal write path: validation,
//! formulas, rollups, events, rules). Rows and the checkpoint that counts them commit together,
//! so an import taken again after a crash goes on after its last committed row and writes no row
//! twice. The caller's rights, row scope and hidden fields apply to every row and every lookup.

mod columns;
mod ready;
mod run;
pub use run::lease;
pub mod source;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trellis_core::coerce::DateOrder;
use trellis_core::error::FieldCode;
use trellis_core::{Error, FieldError};
use trellis_store::StoreError;
use trellis_store::imports::{self as store, ImportRow};

pub use self::columns::ImportColumn;
use self::source::SourceSpec;
pub use self::source::TextEncoding;
use crate::Engine;
use crate::context::TenantCtx;
use crate::records::entity_of;

/// Whether a refused row stops everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Every row is checked first; one refused row and nothing is written. The rows are then
    /// written in one transaction (on SQLite other writers wait for it).
    #[default]
    AllOrNothing,
    /// Refused rows are reported and skipped; the others are written in batches.
    SkipInvalid,
}

/// What each row does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportAction {
    /// Creates a record per row.
    #[default]
    Insert,
    /// Updates the record whose `key` field has the row's value (a row matching none is refused).
    Update,
    /// Updates the record whose `key` matches, else creates one.
    Upsert,
}

/// An import request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The id of the uploaded file (`POST /api/v1/files`): CSV (UTF-8, UTF-16 or GB18030/GBK),
    /// XLSX or XLS.
    #[schema(min_length = 1, max_length = 64)]
    pub file: String,
    /// Only check: count what would be inserted and updated and report every refused row;
    /// write nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub mode: ImportMode,
    #[serde(default)]
    pub action: ImportAction,
    /// The field that finds a row's record for `update` and `upsert`: `id` or a unique field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 63)]
    pub key: Option<String>,
    /// Columns by their header: the field each fills, or null to ignore it. Headers not named
    /// here are matched to a field by its name or its Chinese or English label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub columns: Option<BTreeMap<String, Option<String>>>,
    /// The order of dates written with the year last (`05/03/2026`), for columns whose values
    /// do not decide it; without it such a column is refused (`ambiguous_date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub date_order: Option<DateOrder>,
    /// For relation fields: the field of the related entity whose value the column holds (a
    /// unique field or the title field, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub relations: Option<BTreeMap<String, String>>,
    /// The sheet of a workbook (default the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    pub sheet: Option<String>,
    /// A CSV's encoding, when its byte order mark and content do not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub encoding: Option<TextEncoding>,
    /// A CSV's delimiter (one character; default: the most frequent of `,` tab `;` `|` in the
    /// header line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 1)]
    pub delimiter: Option<String>,
}

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What an import does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportPhase {
    /// Counting the rows and deciding date orders.
    Scan,
    /// Checking every row, writing nothing.
    Check,
    /// Writing the rows.
    Write,
}

/// Why an import stopped as a whole.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportProblem {
    /// A stable code: `ambiguous_date`, `invalid_rows` (all-or-nothing with refused rows),
    /// `unreadable`, `permission_denied`, `not_found`.
    pub code: String,
    pub detail: String,
}

/// An import and its progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportOut {
    pub id: String,
    pub entity: String,
    pub file: String,
    pub status: ImportStatus,
    pub phase: ImportPhase,
    pub dry_run: bool,
    pub mode: ImportMode,
    pub action: ImportAction,
    #[schema(required = true)]
    pub key: Option<String>,
    /// The file's columns and the field each fills.
    pub columns: Vec<ImportColumn>,
    /// The date order decided for each date column (by field), once scanned.
    pub date_orders: BTreeMap<String, DateOrder>,
    /// The data rows of the file (blank ones included), once scanned.
    #[schema(required = true)]
    pub total: Option<i64>,
    /// Rows of the current phase finished.
    pub done: i64,
    /// Records created (a dry run: that would be).
    pub inserted: i64,
    /// Records updated (a dry run: that would be).
    pub updated: i64,
    /// Rows refused; each problem is in `…/imports/{id}/errors`.
    pub failed: i64,
    #[schema(required = true)]
    pub error: Option<ImportProblem>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// A refused row's problem.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportRowError {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: i64,
    /// The column's header; empty for a problem of the whole row.
    pub column: String,
    /// The cell's text (at most 200 characters).
    pub value: String,
    pub code: String,
    /// In English.
    pub message: String,
    /// In Chinese.
    pub message_zh: String,
}

/// A page of an import's refused rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportErrorPage {
    pub items: Vec<ImportRowError>,
    /// Pass as `cursor` for the next page; none after the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What the import decided once and keeps: how to read the file and what each column fills.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub source: SourceSpec,
    pub columns: Vec<ImportColumn>,
    #[serde(default)]
    pub date_orders: BTreeMap<String, DateOrder>,
    /// The role of the API token the import was started with: it runs with only that role.
    #[serde(default)]
    pub token_role: Option<String>,
}

/// Stored options: the request as asked.
pub(crate) fn options_of(row: &ImportRow) -> Result<ImportRequest, Error> {
    serde_json::from_str(&row.options).map_err(|e| Error::internal(format!("import {} options: {e}", row.id)))
}

pub(crate) fn plan_of(row: &ImportRow) -> Result<Plan, Error> {
    let text = row
        .plan
        .as_deref()
        .ok_or_else(|| Error::internal(format!("import {} has no plan", row.id)))?;
    serde_json::from_str(text).map_err(|e| Error::internal(format!("import {} plan: {e}", row.id)))
}

fn status_of(s: &str) -> ImportStatus {
    match s {
        "queued" => ImportStatus::Queued,
        "running" => ImportStatus::Running,
        "done" => ImportStatus::Done,
        "cancelled" => ImportStatus::Cancelled,
        _ => ImportStatus::Failed,
    }
}

fn phase_of(s: &str) -> ImportPhase {
    match s {
        "scan" => ImportPhase::Scan,
        "check" => ImportPhase::Check,
        _ => ImportPhase::Write,
    }
}

fn out_of(row: &ImportRow) -> Result<ImportOut, Error> {
    let options = options_of(row)?;
    let plan = row.plan.as_ref().map(|_| plan_of(row)).transpose()?;
    Ok(ImportOut {
        id: row.id.clone(),
        entity: row.entity.clone(),
        file: row.file_id.clone(),
        status: status_of(&row.status),
        phase: phase_of(&row.phase),
        dry_run: row.dry_run,
        mode: options.mode,
        action: options.action,
        key: options.key,
        columns: plan.as_ref().map(|p| p.columns.clone()).unwrap_or_default(),
        date_orders: plan.map(|p| p.date_orders).unwrap_or_default(),
        total: row.total,
        done: row.done,
        inserted: row.inserted,
        updated: row.updated,
        failed: row.failed,
        error: row.error_code.as_ref().map(|c| ImportProblem {
            code: c.clone(),
            detail: row.error_detail.clone().unwrap_or_default(),
        }),
        created_by: row.user_id.clone(),
        created_at: row.created_at,
        finished_at: row.finished_at,
    })
}

/// The Chinese message of a problem code (the English one comes with the problem).
pub fn message_zh(code: &str) -> &'static str {
    match code {
        "type" => "值的格式不对",
        "required" => "必填项为空",
        "option" => "不是该字段的选项",
        "unique" | "conflict" => "与已有记录重复",
        "duplicate" => "文件中重复",
        "ambiguous_date" => "日期可按日/月或月/日两种方式理解，请指定日期顺序",
        "no_match" => "找不到对应的记录或用户",
        "ambiguous_match" => "对应多条记录，请改用唯一字段匹配",
        "read_only" => "该字段不能修改",
        "out_of_range" | "range" | "minimum" | "maximum" => "超出允许范围",
        "too_long" | "max_length" => "内容过长",
        "too_short" | "min_length" => "内容过短",
        "format" | "pattern" | "invalid_format" => "格式不符合要求",
        "currency" | "currency_required" => "币种无效或缺失",
        "out_of_scope" => "超出您的数据权限范围",
        "not_found" => "找不到要更新的记录",
        "permission_denied" => "没有权限",
        "unknown_field" => "未知字段",
        "unknown_user" => "找不到该用户",
        "unknown_relation" | "no_record" => "关联的记录不存在",
        "version_mismatch" => "记录已被他人修改",
        "script_error" => "计算公式出错",
        _ => "该行无法导入",
    }
}

impl Engine {
    /// Starts an import: checks the rights the action needs (403), opens the file (404), matches
    /// its columns to fields (422 naming what does not fit) and queues the job. Answers it
    /// queued; `GET …/imports/{id}` follows it.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn start_import(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &ImportRequest,
    ) -> Result<ImportOut, Error> {
        let loaded = self.compiled_app(ctx, app).await?;
        let ent = entity_of(&loaded, entity)?.clone();
        let (insert, update) = match r.action {
            ImportAction::Insert => (true, false),
            ImportAction::Update => (false, true),
            ImportAction::Upsert => (true, true),
        };
        let writer = self.rows_writer(ctx, app, entity, insert, update).await?;
        let access = self.access(&self.db.read, ctx, &loaded, &ent).await?;
        let delimiter = match r.delimiter.as_deref() {
            None => None,
            Some(d) if d.len() == 1 && d.is_ascii() && d != "\"" => Some(d.as_bytes()[0]),
            Some(_) => {
                return Err(Error::validation(vec![FieldError::new(
                    "delimiter",
                    FieldCode::Invalid,
                    "must be one ASCII character other than a quote",
                )]));
            }
        };
        let content = self.open_file(ctx, &r.file).await.map_err(|e| {
            if e.code == trellis_core::ErrorCode::NotFound {
                Error::validation(vec![FieldError::new(
                    "file",
                    FieldCode::NotFound,
                    "no such file: upload it to /api/v1/files first",
                )])
            } else {
                e
            }
        })?;
        let mut file = content.file.into_std().await;
        let (encoding, sheet) = (r.encoding, r.sheet.clone());
        let (spec, headers) = tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let spec = source::sniff(&mut file, encoding, delimiter, sheet)?;
            let mut headers = None;
            source::read(file, &spec, |item| {
                if let source::Item::Header(h) = item {
                    headers = Some(h);
                }
                false
            })?;
            Ok((spec, headers.unwrap_or_default()))
        })
        .await
        .map_err(|e| Error::internal(format!("reading an import's header: {e}")))??;
        let columns = columns::map_columns(&access.view, &writer.entity, &headers, r)?;
        columns::check_relations(self, ctx, &loaded, &access.view, &columns, r).await?;
        let plan = Plan {
            source: spec,
            columns,
            date_orders: BTreeMap::new(),
            token_role: ctx.token_role().map(str::to_string),
        };
        let now = trellis_core::value::now_micros();
        let row = ImportRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: loaded.id.clone(),
            entity: ent.name().to_string(),
            user_id: ctx.user_id().to_string(),
            file_id: content.meta.id.clone(),
            options: serde_json::to_string(r).map_err(|e| Error::internal(e.to_string()))?,
            plan: Some(serde_json::to_string(&plan).map_err(|e| Error::internal(e.to_string()))?),
            status: "queued".into(),
            phase: "scan".into(),
            dry_run: r.dry_run,
            total: None,
            done: 0,
            inserted: 0,
            updated: 0,
            failed: 0,
            error_code: None,
            error_detail: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            locked_until: None,
            lease: None,
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        store::insert(&tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake.imports.notify_one();
        out_of(&row)
    }

    /// An import the caller may follow: their own, or any when they administer the tenant.
    async fn import_row(&self, ctx: &TenantCtx, app: &str, entity: &str, id: &str) -> Result<ImportRow, Error> {
        let loaded = self.compiled_app(ctx, app).await?;
        let ent = entity_of(&loaded, entity)?;
        let missing = || Error::not_found("no such import");
        uuid::Uuid::parse_str(id).map_err(|_| missing())?;
        let row = store::get(&self.db.read, ctx.tenant_id(), id)
            .await?
            .ok_or_else(missing)?;
        if row.app_id != loaded.id || row.entity != ent.name() || (row.user_id != ctx.user_id() && !ctx.is_admin()) {
            return Err(missing());
        }
        Ok(row)
    }

    /// An import and its progress.
    pub async fn get_import(&self, ctx: &TenantCtx, app: &str, entity: &str, id: &str) -> Result<ImportOut, Error> {
        out_of(&self.import_row(ctx, app, entity, id).await?)
    }

    /// The caller's imports into an entity (everyone's for an administrator), newest first.
    pub async fn list_imports(&self, ctx: &TenantCtx, app: &str, entity: &str) -> Result<Vec<ImportOut>, Error> {
        let loaded = self.compiled_app(ctx, app).await?;
        let ent = entity_of(&loaded, entity)?;
        let user = (!ctx.is_admin()).then(|| ctx.user_id());
        store::list(&self.db.read, ctx.tenant_id(), &loaded.id, ent.name(), user, 100)
            .await?
            .iter()
            .map(out_of)
            .collect()
    }

    /// Cancels an import that has not ended (its committed rows stay); 409 when it has.
    pub async fn cancel_import(&self, ctx: &TenantCtx, app: &str, entity: &str, id: &str) -> Result<ImportOut, Error> {
        let row = self.import_row(ctx, app, entity, id).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let cancelled = store::cancel(&tx, ctx.tenant_id(), &row.id, trellis_core::value::now_micros()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        if !cancelled {
            return Err(Error::conflict(format!("the import has ended ({})", row.status)));
        }
        self.get_import(ctx, app, entity, id).await
    }

    /// A page of an import's refused rows, in file order.
    pub async fn import_errors(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<ImportErrorPage, Error> {
        let row = self.import_row(ctx, app, entity, id).await?;
        if let Some(c) = cursor
            && uuid::Uuid::parse_str(c).is_err()
        {
            return Err(Error::bad_field(
                "cursor",
                FieldCode::InvalidCursor,
                "is not a cursor of this list",
            ));
        }
        let limit = limit.clamp(1, 10_000);
        let rows = store::errors(&self.db.read, &row.id, cursor, limit + 1).await?;
        let more = rows.len() as u64 > limit;
        let items: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_cursor = if more { items.last().map(|e| e.id.clone()) } else { None };
        Ok(ImportErrorPage {
            items: items
                .into_iter()
                .map(|e| ImportRowError {
                    row: e.row_no,
                    message_zh: message_zh(&e.code).to_string(),
                    column: e.column_name,
                    value: e.value,
                    code: e.code,
                    message: e.message,
                })
                .collect(),
            next_cursor,
        })
    }
}

/// Text of a cell kept with a refused row: at most 200 characters.
pub(crate) fn kept_value(v: &str) -> String {
    trellis_core::names::truncate(v, 200).to_string()
}
