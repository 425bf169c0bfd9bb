//! Creating, updating and deleting one record, each in one transaction: numbered, checked,
//! written with its event, rollups and stage entry, or nothing at all.

use std::collections::HashMap;

use serde_json::Value;
use trellis_core::autonumber::AutoFormat;
use trellis_core::def::FieldType;
use trellis_core::permissions::Right;
use trellis_core::status::EventKind;
use trellis_core::{CompiledEntity, CompiledField, Error, Val};
use trellis_store::StoreError;
use trellis_store::records::{self, NewMeta, Row};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

use super::*;

impl Engine {
    pub(super) async fn number<'e, C: trellis_store::Writes>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        entity: &'e CompiledEntity,
        at: &chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(&'e CompiledField, Val)>, Error> {
        let mut out = Vec::new();
        for f in entity.fields().filter(|f| f.kind == FieldType::AutoNumber) {
            let fmt = AutoFormat::parse(f.format.as_deref().unwrap_or("{00000}")).map_err(Error::internal)?;
            let scope = format!("{}:{}:{}:{}", ctx.tenant_id(), entity.table, f.column, fmt.period(at));
            let n = records::next_counter(tx, &scope).await?;
            out.push((f, Val::Text(fmt.render(n, at))));
        }
        Ok(out)
    }

    /// A new record's metadata and every value it is written with: the caller's values, the
    /// computed ones, checked references, numbers, initial rollups and what other concepts start
    /// a record with (its pipeline's first stage). A single create and an import's batch share it.
    pub(super) async fn completed<'e>(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &'e CompiledEntity,
        guard: &Guard,
        prepared: Prepared<'e>,
    ) -> Result<(NewMeta, Vec<(&'e CompiledField, Val)>), WriteError> {
        let meta = NewMeta {
            id: uuid::Uuid::now_v7().to_string(),
            at: trellis_core::value::now_micros(),
            created_by: Some(ctx.user_id().to_string()),
            owner: Some(
                prepared
                    .owner
                    .clone()
                    .flatten()
                    .unwrap_or_else(|| ctx.user_id().to_string()),
            ),
        };
        let mut prepared = prepared;
        let computed = {
            let record: Vec<(&CompiledField, &Val)> = prepared.values.iter().map(|(f, v)| (*f, v)).collect();
            self.run_scripts(tx, ctx, app, entity, &record, None, &guard.access.grant.hidden)
                .await?
        };
        prepared.values.extend(computed);
        let owner_check = prepared.owner.as_ref().and_then(|o| o.as_deref());
        let errors = self
            .check_references(
                tx,
                ctx,
                app,
                entity,
                &mut prepared.values,
                owner_check,
                None,
                &guard.refs,
            )
            .await?;
        if !errors.is_empty() {
            return Err(WriteError::Fields(errors));
        }
        let mut values = prepared.values;
        values.extend(self.number(tx, ctx, entity, &meta.at).await?);
        values.extend(crate::records::rollups::initial_values(entity));
        for hook in &self.hooks.on_create {
            values.extend(hook.initial_values(tx, ctx.tenant_id(), entity, meta.at).await?);
        }
        Ok((meta, values))
    }

    pub(crate) async fn insert_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        prepared: Prepared<'_>,
    ) -> Result<RecordOut, WriteError> {
        let (meta, values) = self.completed(tx, ctx, app, entity, guard, prepared).await?;
        records::insert(tx, entity, &meta, &values)
            .await
            .map_err(unique_to_conflict)?;
        // The new record must be one the creator may create (and so read): read it back through
        // the scope inside the transaction; outside, the caller's error rolls everything back.
        ensure_in_scope(tx, entity, guard, Right::Create, &meta.id, None).await?;
        let mut data = serde_json::Map::new();
        for hook in &self.hooks.on_create {
            data.extend(
                hook.created(tx, ctx.tenant_id(), app, entity, &meta.id, &values)
                    .await?,
            );
        }
        let data = Value::Object(data);
        crate::events::record_event(
            tx,
            crate::events::EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: &meta.id,
                kind: EventKind::Created,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data,
            },
        )
        .await?;
        crate::records::rollups::after_write(tx, app, entity, None, Some(&values)).await?;
        let by_name: HashMap<&str, &Val> = values.iter().map(|(f, v)| (f.name.as_str(), v)).collect();
        let row = Row {
            values: entity
                .columns
                .iter()
                .map(|c| {
                    Some(if c.system && !by_name.contains_key(c.name.as_str()) {
                        system_val(&meta, &c.name)
                    } else {
                        by_name.get(c.name.as_str()).map(|v| (*v).clone()).unwrap_or(Val::Null)
                    })
                })
                .collect(),
        };
        Ok(RecordOut {
            json: record_json(entity, &row),
            version: 1,
        })
    }

    /// Creates a record.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn create_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        body: &Value,
    ) -> Result<RecordOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let guard = self.guard(ctx, &app, entity, Right::Create).await?;
        guard.access.check_body(body, None)?;
        let prepared = match self.prepare(entity, body, None) {
            Ok(p) => p,
            Err(errors) => return Err(self.veiled(ctx, &app, entity, Error::validation(errors)).await),
        };
        // The record and its `created` event commit together.
        let (app_ref, guard_ref, prepared) = (&app, &guard, &prepared);
        let written = self
            .retry_contended(|| async move {
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                let out = self
                    .insert_in(&tx, ctx, app_ref, entity, guard_ref, prepared.clone())
                    .await
                    .map_err(Error::from)?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(out)
            })
            .await;
        let mut out = match written {
            Ok(out) => out,
            Err(e) => return Err(self.veiled(ctx, &app, entity, e).await),
        };
        self.wake_dispatcher_for(&app);
        guard.access.redact(&mut out.json);
        Ok(out)
    }

    /// Updates the given fields of a record; `if_match` is the version the client read.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn update_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<RecordOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let id = check_id(id)?;
        let guard = self.guard(ctx, &app, entity, Right::Update).await?;
        let (app_ref, guard_ref, id) = (&app, &guard, &id);
        let written = self
            .retry_contended(|| async move {
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                let out = self
                    .update_in(&tx, ctx, app_ref, entity, guard_ref, id, body, if_match)
                    .await
                    .map_err(Error::from)?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(out)
            })
            .await;
        let out = match written {
            Ok(out) => out,
            Err(e) => return Err(self.veiled(ctx, &app, entity, e).await),
        };
        self.wake_dispatcher_for(&app);
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn update_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<RecordOut, WriteError> {
        let current = crate::access::get_scoped_for_write(tx, entity, id, guard.scope.as_ref())
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        // The body's own checks come before the precondition (RFC 9110, 13.2.1): a malformed
        // body answers 422 whatever `If-Match` says.
        guard.access.check_body(body, Some(&current))?;
        let mut prepared = self.prepare(entity, body, Some(&current)).map_err(WriteError::Fields)?;
        if let Some(v) = if_match
            && v != current.version()
        {
            return Err(stale(current.version()).into());
        }
        let computed = if app.scripts_of(entity.name()).is_some() {
            // `record` is the record as it will be; `old` as it is stored.
            let old: Vec<(&CompiledField, &Val)> = entity
                .columns
                .iter()
                .zip(&current.values)
                .filter(|(c, _)| !c.system)
                .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
                .collect();
            let record: Vec<(&CompiledField, &Val)> = old
                .iter()
                .map(|(c, v)| {
                    (
                        *c,
                        prepared
                            .values
                            .iter()
                            .find(|(f, _)| f.name == c.name)
                            .map_or(*v, |(_, nv)| nv),
                    )
                })
                .collect();
            self.run_scripts(tx, ctx, app, entity, &record, Some(&old), &guard.access.grant.hidden)
                .await?
        } else {
            Vec::new()
        };
        prepared.values.extend(computed);
        let owner_check = prepared.owner.as_ref().and_then(|o| o.as_deref());
        let errors = self
            .check_references(
                tx,
                ctx,
                app,
                entity,
                &mut prepared.values,
                owner_check,
                Some(&current),
                &guard.refs,
            )
            .await?;
        if !errors.is_empty() {
            return Err(WriteError::Fields(errors));
        }
        let at = trellis_core::value::now_micros();
        let updated = records::update(
            tx,
            entity,
            id,
            Some(current.version()),
            at,
            prepared.owner.clone(),
            &prepared.values,
        )
        .await
        .map_err(unique_to_conflict)?;
        if !updated {
            return Err(stale(current.version()).into());
        }
        // A write may not move the record out of the writer's scope (a new owner, a value the
        // scope's filter names): read it back through the scope inside the transaction.
        let sent: Vec<String> = body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        ensure_in_scope(tx, entity, guard, Right::Update, id, Some(&sent)).await?;
        let mut changed = crate::events::changes(entity, &current, &prepared.values);
        if let (Some(o), Value::Object(m)) = (&prepared.owner, &mut changed) {
            let before = current.get(entity, "owner").and_then(|v| match v {
                Val::Text(s) => Some(s.clone()),
                _ => None,
            });
            if &before != o {
                m.insert("owner".into(), serde_json::json!([before, o]));
            }
        }
        crate::events::record_event(
            tx,
            crate::events::EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: id,
                kind: EventKind::Updated,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: serde_json::json!({ "changes": changed }),
            },
        )
        .await?;
        crate::records::rollups::after_write(tx, app, entity, Some(&current), Some(&prepared.values)).await?;
        let mut row = current;
        for (i, c) in entity.columns.iter().enumerate() {
            let new = match c.name.as_str() {
                "updated_at" => Some(Val::DateTime(at)),
                "version" => Some(Val::Int(row.version() + 1)),
                "owner" => prepared.owner.clone().map(|o| o.map(Val::Text).unwrap_or(Val::Null)),
                _ => prepared
                    .values
                    .iter()
                    .find(|(f, _)| f.name == c.name)
                    .map(|(_, v)| v.clone()),
            };
            if let Some(v) = new {
                row.values[i] = Some(v);
            }
        }
        let version = row.version();
        let mut json = record_json(entity, &row);
        guard.access.redact(&mut json);
        Ok(RecordOut { json, version })
    }

    /// Deletes a record; refused while records of a relation point at it.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn delete_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let id = check_id(id)?;
        let guard = self.guard(ctx, &app, entity, Right::Delete).await?;
        let (app_ref, guard_ref, id) = (&app, &guard, &id);
        self.retry_contended(|| async move {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            self.delete_in(&tx, ctx, app_ref, entity, guard_ref, id, if_match)
                .await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        self.wake_dispatcher_for(&app);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn delete_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        // The whole record goes into its `deleted` event (the audit trail keeps what was lost).
        let current = crate::access::get_scoped_for_write(tx, entity, id, guard.scope.as_ref())
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        if let Some(v) = if_match
            && v != current.version()
        {
            return Err(stale(current.version()));
        }
        for (src_entity, src_field) in &entity.incoming {
            let src = entity_of(app, src_entity.as_str())?;
            let col = src
                .column(src_field.as_str())
                .ok_or_else(|| Error::internal("incoming relation field missing"))?;
            let n = records::count_referencing(tx, &src.table, &col.column, id).await?;
            if n > 0 {
                return Err(Error::conflict(format!(
                    "{n} '{src_entity}' record(s) point at this record through '{src_field}'; change or delete them first"
                )));
            }
        }
        if !records::delete(tx, entity, id, Some(current.version())).await? {
            return Err(stale(current.version()));
        }
        trellis_store::timers::cancel_for_record(tx, id, trellis_core::status::TimerKind::Sla).await?;
        // Its comments go with it (their `comment_created` events stay in the history).
        trellis_store::comments::delete_of_record(tx, id).await?;
        crate::events::record_event(
            tx,
            crate::events::EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: id,
                kind: EventKind::Deleted,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: serde_json::json!({ "record": record_json(entity, &current) }),
            },
        )
        .await?;
        crate::records::rollups::after_write(tx, app, entity, Some(&current), None).await
    }
}
