//! Rows written on behalf of a caller by a long-running job (an import): each row is a create or
//! an update as a client would send it, checked and written through the same path as a single
//! write, its problems answered per row and veiled as the caller would see them.

use std::sync::Arc;

use serde_json::Value;
use trellis_core::permissions::{HiddenFields, Right};
use trellis_core::{CompiledEntity, Error, FieldError};
use trellis_store::StoreError;

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

use super::*;

/// One row to write.
#[derive(Debug, Clone)]
pub enum RowWrite {
    Insert(Value),
    Update { id: String, body: Value },
}

/// What writing rows needs of the caller, looked up once: the app, the entity and the caller's
/// guards for the rights the rows use.
pub struct RowsWriter {
    pub app: Arc<LoadedApp>,
    pub entity: Arc<CompiledEntity>,
    create: Option<Guard>,
    update: Option<Guard>,
    hidden: HiddenFields,
}

/// A batch of inserts checked and prepared by [`Engine::prepare_inserts`], to be written by
/// [`Engine::write_prepared`].
pub struct PreparedRows<'w>(Vec<Prepared<'w>>);

/// A row's problems as field errors: its own, or the one error that refused it.
fn row_problems(e: Error) -> Vec<FieldError> {
    if e.errors.is_empty() {
        vec![FieldError {
            field: String::new(),
            code: e.code.as_str().to_string(),
            message: e.detail,
            messages: None,
        }]
    } else {
        e.errors
    }
}

impl Engine {
    /// The caller's writer for an entity: 403 unless they may create (`insert`) and update
    /// (`update`) its records.
    pub async fn rows_writer(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        insert: bool,
        update: bool,
    ) -> Result<RowsWriter, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?.clone();
        let create = match insert {
            true => Some(self.guard(ctx, &app, &entity, Right::Create).await?),
            false => None,
        };
        let update = match update {
            true => Some(self.guard(ctx, &app, &entity, Right::Update).await?),
            false => None,
        };
        let hidden = self.hidden_fields(&self.db.read, ctx, &app).await?;
        Ok(RowsWriter {
            app,
            entity,
            create,
            update,
            hidden,
        })
    }

    /// What a write would refuse in a row before its transaction: fields the caller may not
    /// write, types, formats, bounds, required values of a create.
    pub fn check_row(&self, w: &RowsWriter, row: &RowWrite) -> Vec<FieldError> {
        let (guard, body) = match row {
            RowWrite::Insert(b) => (w.create.as_ref(), b),
            RowWrite::Update { body, .. } => (w.update.as_ref(), body),
        };
        let Some(guard) = guard else {
            return row_problems(Error::new(
                trellis_core::ErrorCode::PermissionDenied,
                "this import may not write such rows",
            ));
        };
        if let Err(e) = guard.access.check_body(body, None) {
            return row_problems(e);
        }
        match self.prepare(&w.entity, body, None) {
            Ok(_) => Vec::new(),
            Err(mut es) => {
                if let RowWrite::Update { .. } = row {
                    // An update keeps the values it does not send: only what it sends is checked.
                    es.retain(|e| body.get(&e.field).is_some());
                }
                veil_list(&w.app.def, &w.entity.def, &w.hidden, es)
            }
        }
    }

    /// The values of a batch of inserts, checked and prepared as a single create's are before
    /// its transaction, so that this part of a batch, which asks no database, can be done while
    /// the batch before commits. `None` when the batch is not inserts only (it is written row by
    /// row); the first refused row's problems otherwise.
    pub fn prepare_inserts<'w>(
        &self,
        w: &'w RowsWriter,
        rows: &[&RowWrite],
    ) -> Option<Result<PreparedRows<'w>, Error>> {
        let g = w.create.as_ref()?;
        if !rows.iter().all(|r| matches!(r, RowWrite::Insert(_))) {
            return None;
        }
        let mut prepared = Vec::with_capacity(rows.len());
        for row in rows {
            let RowWrite::Insert(body) = *row else { continue };
            let p = g
                .access
                .check_body(body, None)
                .map_err(|e| Error::validation(row_problems(veil(&w.app.def, &w.entity.def, &w.hidden, e))))
                .and_then(|()| {
                    self.prepare(&w.entity, body, None)
                        .map_err(|es| Error::validation(veil_list(&w.app.def, &w.entity.def, &w.hidden, es)))
                });
            match p {
                Ok(p) => prepared.push(p),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(PreparedRows(prepared)))
    }

    /// Writes inserts made ready by [`Engine::prepare_inserts`] in `tx`, all or nothing, with as
    /// few statements as it can: the first refused row ends the call with its error (the caller
    /// rolls back).
    pub async fn write_prepared(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        w: &RowsWriter,
        rows: PreparedRows<'_>,
    ) -> Result<Vec<Result<bool, Vec<FieldError>>>, Error> {
        let Some(g) = &w.create else {
            return Err(Error::new(ErrorCode::PermissionDenied, "no create right"));
        };
        g.refs.clear();
        let n = rows.0.len();
        match self.insert_batch_in(tx, ctx, &w.app, &w.entity, g, rows.0).await {
            Ok(()) => Ok(vec![Ok(true); n]),
            Err(WriteError::Fields(es)) => Err(Error::validation(veil_list(&w.app.def, &w.entity.def, &w.hidden, es))),
            Err(WriteError::Other(e)) if e.code == ErrorCode::Internal => Err(e),
            Err(WriteError::Other(e)) => Err(Error::validation(row_problems(veil(
                &w.app.def,
                &w.entity.def,
                &w.hidden,
                e,
            )))),
        }
    }

    /// Writes rows in `tx` in order. With `isolate`, each row is in its own savepoint and a
    /// refused row is answered with its problems while the others go on; without, the first
    /// refused row ends the call with its error (the caller rolls back). Answers per row whether
    /// it was inserted (`true`) or updated.
    pub async fn write_rows(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        w: &RowsWriter,
        rows: &[RowWrite],
        isolate: bool,
    ) -> Result<Vec<Result<bool, Vec<FieldError>>>, Error> {
        // Inserts only, all or nothing: the batched path, with as few statements as it can.
        if !isolate && let Some(prepared) = self.prepare_inserts(w, &rows.iter().collect::<Vec<_>>()) {
            return self.write_prepared(tx, ctx, w, prepared?).await;
        }
        // References found by an earlier batch are asked again: its transaction is over.
        for g in [&w.create, &w.update].into_iter().flatten() {
            g.refs.clear();
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let sp = match isolate {
                true => Some(tx.begin().await.map_err(StoreError::from)?),
                false => None,
            };
            let on = sp.as_ref().unwrap_or(tx);
            let written = match row {
                RowWrite::Insert(body) => match &w.create {
                    None => Err(WriteError::Other(Error::new(
                        trellis_core::ErrorCode::PermissionDenied,
                        "no create right",
                    ))),
                    Some(g) => match g.access.check_body(body, None) {
                        Err(e) => Err(WriteError::Other(e)),
                        Ok(()) => match self.prepare(&w.entity, body, None) {
                            Err(es) => Err(WriteError::Fields(es)),
                            Ok(p) => self.insert_in(on, ctx, &w.app, &w.entity, g, p).await.map(|_| true),
                        },
                    },
                },
                RowWrite::Update { id, body } => match &w.update {
                    None => Err(WriteError::Other(Error::new(
                        trellis_core::ErrorCode::PermissionDenied,
                        "no update right",
                    ))),
                    Some(g) => self
                        .update_in(on, ctx, &w.app, &w.entity, g, id, body, None)
                        .await
                        .map(|_| false),
                },
            };
            let written = match written {
                Ok(inserted) => Ok(inserted),
                Err(WriteError::Fields(es)) => Err(veil_list(&w.app.def, &w.entity.def, &w.hidden, es)),
                // The database failing is no problem of the row: the whole call fails.
                Err(WriteError::Other(e)) if e.code == ErrorCode::Internal => return Err(e),
                Err(WriteError::Other(e)) => Err(row_problems(veil(&w.app.def, &w.entity.def, &w.hidden, e))),
            };
            match (sp, written) {
                (Some(sp), Ok(inserted)) => {
                    sp.commit().await.map_err(StoreError::from)?;
                    out.push(Ok(inserted));
                }
                (Some(sp), Err(problems)) => {
                    sp.rollback().await.map_err(StoreError::from)?;
                    out.push(Err(problems));
                }
                (None, Ok(inserted)) => out.push(Ok(inserted)),
                (None, Err(problems)) => return Err(Error::validation(problems)),
            }
        }
        Ok(out)
    }
}
