//! Bulk writes: creates, updates and deletes of one entity in one transaction, all or nothing,
//! with each problem named by its operation.

use std::collections::HashSet;
use trellis_core::error::FieldCode;

use serde::Serialize;
use serde_json::Value;
use trellis_core::permissions::Right;
use trellis_core::{Error, ErrorCode, FieldError};
use trellis_store::StoreError;
use trellis_store::records::{self};

use crate::Engine;
use crate::context::TenantCtx;

use super::*;

/// What a bulk request did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkOut {
    /// The created records, in the order sent (their schema is in the app's document).
    #[schema(value_type = Vec<Object>)]
    pub created: Vec<Value>,
    /// The updated records, in the order sent.
    #[schema(value_type = Vec<Object>)]
    pub updated: Vec<Value>,
    /// Ids of the deleted records.
    pub deleted: Vec<String>,
}

impl Engine {
    /// Creates, updates and deletes in one transaction: all or nothing. Errors name the operation
    /// (`create[2].amount`).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn bulk(&self, ctx: &TenantCtx, app: &str, entity: &str, body: &Value) -> Result<BulkOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object with create, update and delete"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "create" | "update" | "delete"))
        {
            return Err(Error::bad_field(
                trellis_core::names::truncate(k, 40),
                FieldCode::UnknownKey,
                "bulk takes create, update and delete",
            ));
        }
        let list = |k: &str| -> Result<Vec<Value>, Error> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(_) => Err(Error::bad_field(k, FieldCode::Type, "must be an array")),
            }
        };
        let (creates, updates, deletes) = (list("create")?, list("update")?, list("delete")?);
        if creates.len() + updates.len() + deletes.len() > MAX_BULK {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("a bulk request holds at most {MAX_BULK} operations"),
            ));
        }
        let create_guard = if creates.is_empty() {
            None
        } else {
            Some(self.guard(ctx, &app, entity, Right::Create).await?)
        };
        let update_guard = if updates.is_empty() {
            None
        } else {
            Some(self.guard(ctx, &app, entity, Right::Update).await?)
        };
        let delete_guard = if deletes.is_empty() {
            None
        } else {
            Some(self.guard(ctx, &app, entity, Right::Delete).await?)
        };
        // Problems of each operation are veiled as those of a single write ([`veil`]).
        let hidden = self.hidden_fields(&self.db.read, ctx, &app).await?;
        let (def, edef) = (&app.def, &entity.def);
        let mut errors: Vec<FieldError> = Vec::new();
        let mut prepared = Vec::with_capacity(creates.len());
        for (i, c) in creates.iter().enumerate() {
            let Some(guard) = &create_guard else { break };
            if let Err(e) = guard.access.check_body(c, None) {
                return Err(prefix_error(e, &format!("create[{i}]")));
            }
            match self.prepare(entity, c, None) {
                Ok(p) => prepared.push(p),
                Err(es) => errors.extend(
                    veil_list(def, edef, &hidden, es)
                        .into_iter()
                        .map(|e| e.prefixed(&format!("create[{i}]"))),
                ),
            }
        }
        let mut update_ops = Vec::with_capacity(updates.len());
        for (i, u) in updates.iter().enumerate() {
            let at = format!("update[{i}]");
            let Some(o) = u.as_object() else {
                errors.push(FieldError::new(at, FieldCode::Type, "must be an object with an id"));
                continue;
            };
            let Some(id) = o.get("id").and_then(Value::as_str).and_then(|s| check_id(s).ok()) else {
                errors.push(FieldError::new(
                    format!("{at}.id"),
                    FieldCode::Required,
                    "needs the id of the record",
                ));
                continue;
            };
            let version = match o.get("version") {
                None => None,
                Some(v) => match whole_number(v) {
                    Some(n) => Some(n),
                    None => {
                        errors.push(FieldError::new(
                            format!("{at}.version"),
                            FieldCode::Type,
                            "must be an integer",
                        ));
                        continue;
                    }
                },
            };
            let mut fields = o.clone();
            fields.remove("id");
            fields.remove("version");
            update_ops.push((i, id, version, Value::Object(fields)));
        }
        let mut delete_ids = Vec::with_capacity(deletes.len());
        for (i, d) in deletes.iter().enumerate() {
            let id = d
                .as_str()
                .or_else(|| d.get("id").and_then(Value::as_str))
                .and_then(|s| check_id(s).ok());
            match id {
                Some(id) => delete_ids.push((i, id, d.get("version").and_then(whole_number))),
                None => errors.push(FieldError::new(
                    format!("delete[{i}]"),
                    FieldCode::Type,
                    "must be a record id",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        let mut seen = HashSet::new();
        for (_, id, _, _) in &update_ops {
            if !seen.insert(id.clone()) {
                return Err(Error::bad_request(format!(
                    "record {id} is updated twice in one bulk request"
                )));
            }
        }

        let hidden = &hidden;
        let (app_ref, prepared, update_ops, delete_ids) = (&app, &prepared, &update_ops, &delete_ids);
        let creates = &creates;
        let (create_guard, update_guard, delete_guard) = (&create_guard, &update_guard, &delete_guard);
        let (created, updated, deleted) = self
            .retry_contended(|| async move {
                let app = app_ref;
                let mut errors: Vec<FieldError> = Vec::new();
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                // The records updated and deleted, locked at once in id order: two bulks over
                // overlapping records wait for each other instead of deadlocking.
                let touched: Vec<String> = update_ops
                    .iter()
                    .map(|(_, id, _, _)| id.clone())
                    .chain(delete_ids.iter().map(|(_, id, _)| id.clone()))
                    .collect();
                records::lock(&tx, &entity.table, &touched).await?;
                if !entity.rollups_over.is_empty() {
                    let current = records::get_many(&tx, entity, &touched).await?;
                    let named: Vec<&Value> = creates
                        .iter()
                        .chain(update_ops.iter().map(|(_, _, _, fields)| fields))
                        .collect();
                    crate::records::rollups::lock_parents_of(&tx, app, entity, &current, &named).await?;
                }
                let mut created = Vec::with_capacity(prepared.len());
                for (i, p) in prepared.iter().cloned().enumerate() {
                    let guard = create_guard
                        .as_ref()
                        .ok_or_else(|| Error::internal("no create guard"))?;
                    match self.insert_in(&tx, ctx, app, entity, guard, p).await {
                        Ok(mut r) => {
                            guard.access.redact(&mut r.json);
                            created.push(r.json)
                        }
                        Err(WriteError::Fields(es)) => errors.extend(
                            veil_list(&app.def, &entity.def, hidden, es)
                                .into_iter()
                                .map(|e| e.prefixed(&format!("create[{i}]"))),
                        ),
                        Err(WriteError::Other(e)) => {
                            return Err(prefix_error(
                                veil(&app.def, &entity.def, hidden, e),
                                &format!("create[{i}]"),
                            ));
                        }
                    }
                }
                let mut updated = Vec::with_capacity(update_ops.len());
                for (i, id, version, fields) in update_ops.iter() {
                    let guard = update_guard
                        .as_ref()
                        .ok_or_else(|| Error::internal("no update guard"))?;
                    match self.update_in(&tx, ctx, app, entity, guard, id, fields, *version).await {
                        Ok(r) => updated.push(r.json),
                        Err(WriteError::Fields(es)) => errors.extend(
                            veil_list(&app.def, &entity.def, hidden, es)
                                .into_iter()
                                .map(|e| e.prefixed(&format!("update[{i}]"))),
                        ),
                        Err(WriteError::Other(e)) => {
                            return Err(prefix_error(
                                veil(&app.def, &entity.def, hidden, e),
                                &format!("update[{i}]"),
                            ));
                        }
                    }
                }
                if !errors.is_empty() {
                    return Err(Error::validation(errors));
                }
                let mut deleted = Vec::with_capacity(delete_ids.len());
                for (i, id, version) in delete_ids.iter() {
                    let guard = delete_guard
                        .as_ref()
                        .ok_or_else(|| Error::internal("no delete guard"))?;
                    self.delete_in(&tx, ctx, app, entity, guard, id, *version)
                        .await
                        .map_err(|e| prefix_error(e, &format!("delete[{i}]")))?;
                    deleted.push(id.clone());
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok((created, updated, deleted))
            })
            .await?;
        self.wake_dispatcher_for(&app);
        if created.len() + updated.len() + deleted.len() >= crate::records::stats::LARGE_WRITE {
            self.stats.refresh_soon(&self.db, &entity.table);
        }
        Ok(BulkOut {
            created,
            updated,
            deleted,
        })
    }
}
