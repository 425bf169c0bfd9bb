//! The import worker: takes a queued import (or one whose worker died: its lease lapsed) and
//! runs its phases from the checkpoint. Each batch of rows commits with the checkpoint that
//! counts it and the problems of its refused rows, so a crash anywhere loses no committed row
//! and repeats none.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::TimeDelta;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use trellis_core::coerce::{self, ColumnOrder, DateShape};
use trellis_core::def::FieldType;
use trellis_core::error::FieldCode;
use trellis_core::{Error, ErrorCode, FieldError};
use trellis_store::imports::{self as store, ImportErrorRow, ImportRow, Progress};
use trellis_store::{StoreError, system};

use super::columns::{Reading, readings};
use super::ready::{coerce_batch, column_of};
use super::source::{self, Item};
use super::{ImportAction, ImportMode, ImportRequest, Plan, kept_value, options_of, plan_of};
use crate::Engine;
use crate::context::TenantCtx;
use crate::records::{PreparedRows, RowWrite, RowsWriter};

/// How long a taken import is its worker's before another may take it again
/// (`TRELLIS_IMPORT_LEASE_SECS`, default 60): a worker that died is replaced after it.
pub fn lease() -> TimeDelta {
    let secs = std::env::var("TRELLIS_IMPORT_LEASE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s: &i64| *s > 0)
        .unwrap_or(60);
    TimeDelta::seconds(secs)
}
/// Rows per batch (one transaction each when refused rows are skipped).
pub const CHUNK: usize = 500;

/// Rows per batch: `TRELLIS_IMPORT_BATCH` (50–5,000), else [`CHUNK`].
fn chunk() -> usize {
    std::env::var("TRELLIS_IMPORT_BATCH")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(CHUNK, |n| n.clamp(50, 5000))
}

/// An import held by this worker, with its counts so far.
pub(super) struct Held {
    pub row: ImportRow,
    pub lease: String,
    pub options: ImportRequest,
    pub plan: Plan,
}

/// How a phase ended.
enum Flow {
    /// Go on with the next phase (or finish).
    Next,
    /// The import is no longer ours (cancelled, or taken by another worker): stop quietly.
    Lost,
}

/// A row's line, cells, coerced values and problems so far.
pub(super) type Coerced = (u64, Vec<String>, Map<String, Value>, Vec<ImportErrorRow>);

/// A batch received and made ready ahead of its write.
struct Next<'w> {
    n: i64,
    ready: Vec<Ready>,
    /// Its rows to write, checked and prepared when they are inserts only.
    prepared: Option<Result<PreparedRows<'w>, Error>>,
}

/// A row made ready to write, or its problems.
pub(super) type Ready = (u64, Vec<String>, Result<Option<RowWrite>, Vec<ImportErrorRow>>);

pub(super) fn problem(import: &str, row: u64, column: &str, value: &str, e: &FieldError) -> ImportErrorRow {
    ImportErrorRow {
        id: uuid::Uuid::now_v7().to_string(),
        import_id: import.to_string(),
        row_no: row as i64,
        column_name: column.to_string(),
        value: kept_value(value),
        code: e.code.clone(),
        message: if column.is_empty() || e.field.is_empty() {
            e.message.clone()
        } else {
            format!("{}: {}", e.field, e.message)
        },
    }
}

fn hash_of(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

impl Engine {
    /// Runs due imports one after the other until none is due; answers how many ran.
    pub async fn run_imports(&self) -> Result<usize, Error> {
        let mut n = 0;
        while !self.is_stopping() {
            let now = trellis_core::value::now_micros();
            if !store::any_due(&self.db.read, now).await? {
                break;
            }
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            let claimed = store::claim(&tx, now, now + lease(), None).await?;
            tx.commit().await.map_err(StoreError::from)?;
            let Some(row) = claimed else { break };
            self.run_import(row).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Runs one import if it is due (queued, or its worker's lease lapsed): answers whether it
    /// ran. The CLI runs its own import so.
    pub async fn run_import_by_id(&self, id: &str) -> Result<bool, Error> {
        let now = trellis_core::value::now_micros();
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let claimed = store::claim(&tx, now, now + lease(), Some(id)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        match claimed {
            Some(row) => self.run_import(row).await.map(|_| true),
            None => Ok(false),
        }
    }

    /// Runs one taken import to its end, or until it is no longer ours.
    async fn run_import(&self, row: ImportRow) -> Result<(), Error> {
        let lease = row.lease.clone().unwrap_or_default();
        let (id, tenant) = (row.id.clone(), row.tenant_id.clone());
        let outcome = async {
            let options = options_of(&row)?;
            let plan = plan_of(&row)?;
            let ctx = self.import_user(&row, &plan).await?;
            let mut held = Held {
                row,
                lease: lease.clone(),
                options,
                plan,
            };
            self.import_phases(&ctx, &mut held).await
        }
        .await;
        let now = trellis_core::value::now_micros();
        let failure = match outcome {
            Ok(_) => return Ok(()),
            Err(e) if e.code == ErrorCode::Internal => {
                // Not the file's fault: leave it held; it is taken again when the lease lapses.
                tracing::warn!(import = %id, tenant = %tenant, error = %e.detail, "import interrupted");
                return Err(e);
            }
            Err(e) => e,
        };
        let code = match failure.errors.first() {
            Some(f) if failure.errors.len() == 1 => f.code.clone(),
            _ => failure.code.as_str().to_string(),
        };
        let detail = match failure.errors.first() {
            Some(f) => format!("{}: {}", f.field, f.message),
            None => failure.detail.clone(),
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        store::finish(&tx, &id, &lease, "failed", Some((&code, &detail)), now).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// The user an import runs as: its starter while enabled (with only the role of the API
    /// token they used), else it fails.
    async fn import_user(&self, row: &ImportRow, plan: &Plan) -> Result<TenantCtx, Error> {
        let u = system::user_by_id(&self.db.read, &row.tenant_id, &row.user_id)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| {
                Error::new(
                    trellis_core::ErrorCode::PermissionDenied,
                    "the user who started the import is disabled",
                )
            })?;
        Ok(TenantCtx::new(row.tenant_id.clone(), u.id, u.is_admin, None).with_token_role(plan.token_role.clone()))
    }

    async fn import_phases(&self, ctx: &TenantCtx, h: &mut Held) -> Result<(), Error> {
        if h.row.phase == "scan" && matches!(self.import_scan(ctx, h).await?, Flow::Lost) {
            return Ok(());
        }
        if h.row.phase == "check" {
            if let Flow::Lost = self.import_rows(ctx, h, false).await? {
                return Ok(());
            }
            if h.row.dry_run {
                return self.import_finish(h, None).await;
            }
            if h.row.failed > 0 {
                return Err(Error::bad_field(
                    "file",
                    FieldCode::InvalidRows,
                    format!("{} rows are refused: nothing was written", h.row.failed),
                ));
            }
            h.row.phase = "write".into();
            h.row.done = 0;
            h.row.inserted = 0;
            h.row.updated = 0;
            if let Flow::Lost = self.import_checkpoint_alone(h).await? {
                return Ok(());
            }
        }
        if let Flow::Lost = self.import_rows(ctx, h, true).await? {
            return Ok(());
        }
        self.import_finish(h, None).await
    }

    /// Saves the progress in a transaction of its own.
    async fn import_checkpoint_alone(&self, h: &Held) -> Result<Flow, Error> {
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let ok = self.import_checkpoint(&tx, h).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(if ok { Flow::Next } else { Flow::Lost })
    }

    async fn import_checkpoint<C: trellis_store::Writes>(&self, c: &C, h: &Held) -> Result<bool, Error> {
        let now = trellis_core::value::now_micros();
        let plan = serde_json::to_string(&h.plan).map_err(|e| Error::internal(e.to_string()))?;
        Ok(store::checkpoint(
            c,
            &Progress {
                id: &h.row.id,
                lease: &h.lease,
                phase: &h.row.phase,
                plan: Some(&plan),
                total: h.row.total,
                done: h.row.done,
                inserted: h.row.inserted,
                updated: h.row.updated,
                failed: h.row.failed,
            },
            now,
            now + lease(),
        )
        .await?)
    }

    async fn import_finish(&self, h: &Held, error: Option<(&str, &str)>) -> Result<(), Error> {
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if self.import_checkpoint(&tx, h).await? {
            let now = trellis_core::value::now_micros();
            store::finish(
                &tx,
                &h.row.id,
                &h.lease,
                if error.is_some() { "failed" } else { "done" },
                error,
                now,
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// The file's rows after the first `skip` data rows, in batches, read on a blocking thread
    /// and shaped there by `shape` (so an import's cells are coerced while the batch before is
    /// written).
    async fn import_stream<T: Send + 'static>(
        &self,
        h: &Held,
        skip: u64,
        mut shape: impl FnMut(Vec<(u64, Vec<String>)>) -> T + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T, Error>>, Error> {
        let ctx = TenantCtx::new(h.row.tenant_id.clone(), h.row.user_id.clone(), false, None);
        let file = self.open_file(&ctx, &h.row.file_id).await?.file.into_std().await;
        let spec = h.plan.source.clone();
        let (tx, rx) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            let size = chunk();
            let mut batch = Vec::with_capacity(size);
            let mut seen = 0u64;
            let read = source::read(file, &spec, |item| {
                let Item::Row(line, cells) = item else { return true };
                seen += 1;
                if seen <= skip {
                    return true;
                }
                batch.push((line, cells));
                if batch.len() == size {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(size));
                    return tx.blocking_send(Ok(shape(full))).is_ok();
                }
                true
            });
            let last = match read {
                Ok(()) => Ok(shape(batch)),
                Err(e) => Err(e),
            };
            let _ = tx.blocking_send(last);
        });
        Ok(rx)
    }

    /// Counts the rows and decides the order of each date column (the caller's `date_order`
    /// when the cells do not decide it; `ambiguous_date` without).
    async fn import_scan(&self, ctx: &TenantCtx, h: &mut Held) -> Result<Flow, Error> {
        let app = self.compiled_app(ctx, &self.app_name_of(&h.row).await?).await?;
        let entity = crate::records::entity_of(&app, &h.row.entity)?.clone();
        let dated: Vec<(usize, String, String)> = h
            .plan
            .columns
            .iter()
            .filter_map(|c| {
                let f = entity.column(c.field.as_deref()?)?;
                matches!(f.kind, FieldType::Date | FieldType::Datetime)
                    .then(|| (c.index, f.name.clone(), c.header.clone()))
            })
            .collect();
        let mut rx = self.import_stream(h, 0, |b| b).await?;
        let mut total = 0i64;
        let mut shapes: Vec<[u64; 3]> = vec![[0; 3]; dated.len()];
        while let Some(batch) = rx.recv().await {
            let batch = batch?;
            total += batch.len() as i64;
            for (_, cells) in &batch {
                for (i, (index, _, _)) in dated.iter().enumerate() {
                    match cells.get(*index).and_then(|t| coerce::date_shape(t)) {
                        Some(DateShape::DayFirst) => shapes[i][0] += 1,
                        Some(DateShape::MonthFirst) => shapes[i][1] += 1,
                        Some(DateShape::Either) => shapes[i][2] += 1,
                        _ => {}
                    }
                }
            }
        }
        let mut unsure = Vec::new();
        for (i, (_, field, header)) in dated.iter().enumerate() {
            let [d, m, e] = shapes[i];
            match (coerce::column_order(d, m, e), h.options.date_order) {
                (ColumnOrder::Decided(o), _) | (ColumnOrder::Unsure, Some(o)) => {
                    h.plan.date_orders.insert(field.clone(), o);
                }
                (ColumnOrder::Any, _) => {}
                (ColumnOrder::Unsure, None) => unsure.push(format!("'{header}'")),
            }
        }
        if !unsure.is_empty() {
            return Err(Error::bad_field(
                "date_order",
                FieldCode::AmbiguousDate,
                format!(
                    "the dates of column {} read two ways (like 05/03/2026): send date_order dmy or mdy",
                    unsure.join(", ")
                ),
            ));
        }
        h.row.total = Some(total);
        h.row.phase = if h.row.dry_run || h.options.mode == ImportMode::AllOrNothing {
            "check".into()
        } else {
            "write".into()
        };
        h.row.done = 0;
        self.import_checkpoint_alone(h).await
    }

    /// The name of an import's app (imports keep its id).
    async fn app_name_of(&self, row: &ImportRow) -> Result<String, Error> {
        match self.app_by_id(&self.db.read, &row.app_id).await? {
            Some(app) => Ok(app.def.name.to_string()),
            None => Err(Error::not_found("the app of the import was deleted")),
        }
    }

    /// Checks (`write` false) or writes the rows from the checkpoint on. Skipping refused rows,
    /// each batch commits with its checkpoint; all or nothing, one transaction holds every row.
    async fn import_rows(&self, ctx: &TenantCtx, h: &mut Held, write: bool) -> Result<Flow, Error> {
        let app_name = self.app_name_of(&h.row).await?;
        let (insert, update) = match h.options.action {
            ImportAction::Insert => (true, false),
            ImportAction::Update => (false, true),
            ImportAction::Upsert => (true, true),
        };
        let writer = self.rows_writer(ctx, &app_name, &h.row.entity, insert, update).await?;
        let access = self.access(&self.db.read, ctx, &writer.app, &writer.entity).await?;
        let relations = h.options.relations.clone().unwrap_or_default();
        let reads = Arc::new(readings(
            &access.view,
            &h.plan.columns,
            &relations,
            &writer.app,
            &h.plan.date_orders,
        ));
        let zone = self.tenant_zone(ctx).await?;
        let users = self.import_users(ctx).await?;
        let one_tx = write && h.options.mode == ImportMode::AllOrNothing;
        let big = match one_tx {
            true => Some(self.db.begin_write().await.map_err(StoreError::from)?),
            false => None,
        };
        // Unique values seen in the file so far (a check only: the write path checks its own).
        let mut seen: HashMap<String, HashSet<u64>> = HashMap::new();
        let coerce = {
            let (reads, import) = (reads.clone(), h.row.id.clone());
            move |batch| coerce_batch(&import, &reads, zone, batch)
        };
        let mut rx = self.import_stream(h, h.row.done as u64, coerce).await?;
        let mut ahead = self
            .import_next(&mut rx, ctx, &app_name, &writer, &reads, &users, h, write)
            .await;
        while let Some(next) = ahead.take() {
            if self.is_stopping() {
                // The node stops: what is committed stays; the rest is taken again at once.
                drop(big);
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                store::release(&tx, &h.row.id, &h.lease, trellis_core::value::now_micros()).await?;
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(Flow::Lost);
            }
            let Next { n, ready, prepared } = next?;
            let mut problems: Vec<ImportErrorRow> = Vec::new();
            let mut writes = Vec::new();
            for (line, cells, r) in ready {
                match r {
                    Ok(None) => {}
                    Ok(Some(w)) if write => writes.push((line, cells, w)),
                    Ok(Some(w)) => {
                        let es = self.check_row(&writer, &w);
                        if es.is_empty() {
                            let dup = self.import_unique_in_file(&writer, &reads, &w, &mut seen);
                            match dup {
                                Some(e) => {
                                    h.row.failed += 1;
                                    problems.push(problem(&h.row.id, line, &e.0, &e.1, &e.2));
                                }
                                None => match w {
                                    RowWrite::Insert(_) => h.row.inserted += 1,
                                    RowWrite::Update { .. } => h.row.updated += 1,
                                },
                            }
                        } else {
                            h.row.failed += 1;
                            problems.extend(es.iter().map(|e| {
                                let (col, val) = column_of(&reads, &cells, &e.field);
                                problem(&h.row.id, line, &col, &val, e)
                            }));
                        }
                    }
                    Err(es) => {
                        h.row.failed += 1;
                        problems.extend(es);
                    }
                }
            }
            let mut own = match big {
                Some(_) => None,
                None => Some(self.db.begin_write().await.map_err(StoreError::from)?),
            };
            if !writes.is_empty() {
                let (lines, rows): (Vec<(u64, Vec<String>)>, Vec<RowWrite>) =
                    writes.into_iter().map(|(l, c, w)| ((l, c), w)).unzip();
                let no_tx = || Error::internal("no transaction");
                let writing = std::time::Instant::now();
                // The batch whole, without a savepoint per row.
                let (w, all) = (&writer, &rows);
                let whole = |tx| async move {
                    match prepared {
                        Some(Ok(p)) => self.write_prepared(tx, ctx, w, p).await,
                        Some(Err(e)) => Err(e),
                        None => self.write_rows(tx, ctx, w, all, false).await,
                    }
                };
                let outcomes = match (&big, own.as_ref()) {
                    (Some(tx), _) => match whole(tx).await {
                        Ok(o) => o,
                        Err(e) if e.code == ErrorCode::Internal => return Err(e),
                        Err(e) => {
                            // All or nothing: the first refused row ends the import, nothing written.
                            drop(big);
                            return Err(Error::bad_field(
                                "file",
                                FieldCode::InvalidRows,
                                format!("a row was refused while writing, nothing was written: {}", e.detail),
                            ));
                        }
                    },
                    // Skipping refused rows: the batch first goes whole, without a savepoint per
                    // row; when a row is refused it is rolled back and sent again row by row.
                    (None, Some(tx)) => match whole(tx).await {
                        Ok(o) => o,
                        Err(e) if e.code == ErrorCode::Internal => return Err(e),
                        Err(_) => {
                            if let Some(t) = own.take() {
                                t.rollback().await.map_err(StoreError::from)?;
                            }
                            own = Some(self.db.begin_write().await.map_err(StoreError::from)?);
                            let tx = own.as_ref().ok_or_else(no_tx)?;
                            self.write_rows(tx, ctx, &writer, &rows, true).await?
                        }
                    },
                    (None, None) => return Err(no_tx()),
                };
                tracing::debug!(
                    import = %h.row.id,
                    rows = n,
                    write_ms = writing.elapsed().as_secs_f64() * 1e3,
                    "import batch written"
                );
                for ((line, cells), o) in lines.into_iter().zip(outcomes) {
                    match o {
                        Ok(true) => h.row.inserted += 1,
                        Ok(false) => h.row.updated += 1,
                        Err(es) => {
                            h.row.failed += 1;
                            problems.extend(es.iter().map(|e| {
                                let (col, val) = column_of(&reads, &cells, &e.field);
                                problem(&h.row.id, line, &col, &val, e)
                            }));
                        }
                    }
                }
            }
            h.row.done += n;
            if let Some(own) = own {
                // The batch commits (on SQLite its deferred statements run now, on the writer's
                // thread) while the next one is received and made ready.
                let h: &Held = h;
                let finish = async {
                    let committing = std::time::Instant::now();
                    store::add_errors(&own, &problems).await?;
                    if !self.import_checkpoint(&own, h).await? {
                        return Ok(false);
                    }
                    own.commit().await.map_err(StoreError::from)?;
                    tracing::debug!(import = %h.row.id, commit_ms = committing.elapsed().as_secs_f64() * 1e3, "import batch committed");
                    Ok::<bool, Error>(true)
                };
                let next = self.import_next(&mut rx, ctx, &app_name, &writer, &reads, &users, h, write);
                let (finished, next) = tokio::join!(finish, next);
                if !finished? {
                    return Ok(Flow::Lost);
                }
                ahead = next;
            } else if let Some(big) = &big {
                store::add_errors(big, &problems).await?;
                if !self.import_still_ours(h).await? {
                    return Ok(Flow::Lost);
                }
                ahead = self
                    .import_next(&mut rx, ctx, &app_name, &writer, &reads, &users, h, write)
                    .await;
            }
        }
        if let Some(big) = big {
            if !self.import_checkpoint(&big, h).await? {
                return Ok(Flow::Lost);
            }
            big.commit().await.map_err(StoreError::from)?;
        }
        self.wake_dispatcher_for(&writer.app);
        if h.row.inserted + h.row.updated >= crate::records::stats::LARGE_WRITE as i64 {
            self.stats.refresh_soon(&self.db, &writer.entity.table);
        }
        Ok(Flow::Next)
    }

    /// The next batch of the file, its references looked up, its rows made ready and those to
    /// write prepared (`None` after the last).
    #[allow(clippy::too_many_arguments)]
    async fn import_next<'w>(
        &self,
        rx: &mut mpsc::Receiver<Result<super::ready::CoercedBatch, Error>>,
        ctx: &TenantCtx,
        app_name: &str,
        writer: &'w RowsWriter,
        reads: &[Reading],
        users: &HashMap<String, Option<String>>,
        h: &Held,
        write: bool,
    ) -> Option<Result<Next<'w>, Error>> {
        let batch = match rx.recv().await? {
            Ok(batch) => batch,
            Err(e) => return Some(Err(e)),
        };
        let n = batch.rows.len() as i64;
        let started = std::time::Instant::now();
        let ready = match self.import_ready(ctx, app_name, writer, reads, users, h, batch).await {
            Ok(ready) => ready,
            Err(e) => return Some(Err(e)),
        };
        // The rows to write, checked and prepared (the part of their write that needs no
        // transaction).
        let prepared = match write {
            true => {
                let rows: Vec<&RowWrite> = ready
                    .iter()
                    .filter_map(|(_, _, r)| r.as_ref().ok().and_then(Option::as_ref))
                    .collect();
                self.prepare_inserts(writer, &rows)
            }
            false => None,
        };
        tracing::debug!(import = %h.row.id, rows = n, ready_ms = started.elapsed().as_secs_f64() * 1e3, "import batch ready");
        Some(Ok(Next { n, ready, prepared }))
    }

    /// Whether an import running in one long transaction is still ours (not cancelled); on
    /// PostgreSQL its lease is renewed meanwhile (SQLite has one writer: nobody else takes it).
    async fn import_still_ours(&self, h: &Held) -> Result<bool, Error> {
        let now = store::get(&self.db.read, &h.row.tenant_id, &h.row.id).await?;
        let ours = now.is_some_and(|r| r.status == "running" && r.lease.as_deref() == Some(h.lease.as_str()));
        if ours && !self.db.is_sqlite() {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            let mut renewed = Held {
                row: h.row.clone(),
                lease: h.lease.clone(),
                options: h.options.clone(),
                plan: h.plan.clone(),
            };
            // Only the lease: the counts stay as committed until the rows are.
            if let Some(r) = store::get(&self.db.read, &h.row.tenant_id, &h.row.id).await? {
                renewed.row = r;
            }
            let ok = self.import_checkpoint(&tx, &renewed).await?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(ok);
        }
        Ok(ours)
    }

    /// A unique value a row repeats from an earlier row of the file.
    fn import_unique_in_file(
        &self,
        w: &RowsWriter,
        reads: &[Reading],
        row: &RowWrite,
        seen: &mut HashMap<String, HashSet<u64>>,
    ) -> Option<(String, String, FieldError)> {
        let RowWrite::Insert(body) = row else { return None };
        for r in reads.iter().filter(|r| r.field.unique && !r.field.system) {
            let Some(v) = body.get(&r.field.name).filter(|v| !v.is_null()) else {
                continue;
            };
            if !seen.entry(r.field.name.clone()).or_default().insert(hash_of(v)) {
                let _ = w;
                return Some((
                    r.header.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    FieldError::new(
                        r.field.name.clone(),
                        FieldCode::Duplicate,
                        "repeats the value of an earlier row of the file",
                    ),
                ));
            }
        }
        None
    }
}
