//! Handover: when someone leaves, their records go to others, round-robin, in one transaction.

use std::collections::BTreeMap;
use trellis_core::error::FieldCode;

use serde::Serialize;
use serde_json::{Value, json};
use trellis_core::query::{Filter, Op, parse_filter};
use trellis_core::status::EventKind;
use trellis_core::value::now_micros;
use trellis_core::{Error, FieldError, Label, Val};
use trellis_store::records::{self, ListQuery};
use trellis_store::{StoreError, system};

use crate::Engine;
use crate::context::TenantCtx;

/// Most users records may be handed to at once.
pub const MAX_RECIPIENTS: usize = 100;

/// What a handover moved.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HandoverOut {
    /// Records moved in all.
    pub moved: u64,
    /// Records each receiver got, by user id.
    pub by_owner: BTreeMap<String, u64>,
}

impl Engine {
    /// `POST /apps/{app}/handover {from, to: [..], entities?, filter?}` (administrators only):
    /// the records `from` owns (of the given entities, matching the filter) get new owners from
    /// `to` in turn, all or nothing; each change is an `updated` event and every new owner is
    /// told how many records they received. Answers `{moved, by_owner}`.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn handover(&self, ctx: &TenantCtx, app: &str, body: &Value) -> Result<HandoverOut, Error> {
        ctx.require_admin_to("hand records over")?;
        let app = self.compiled_app(ctx, app).await?;
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object"))?;
        let mut errors = Vec::new();
        for k in obj
            .keys()
            .filter(|k| !matches!(k.as_str(), "from" | "to" | "entities" | "filter"))
        {
            errors.push(FieldError::new(
                trellis_core::names::truncate(k, 40),
                FieldCode::UnknownField,
                "handover takes from, to, entities and filter",
            ));
        }
        let from = obj.get("from").and_then(Value::as_str).unwrap_or("").to_string();
        if from.is_empty() {
            errors.push(FieldError::new(
                "from",
                FieldCode::Required,
                "the user whose records are handed over",
            ));
        } else if system::existing_user_ids(&self.db.read, ctx.tenant_id(), std::slice::from_ref(&from))
            .await?
            .is_empty()
        {
            errors.push(FieldError::new(
                "from",
                FieldCode::NotFound,
                "not a user of this tenant",
            ));
        }
        let mut to: Vec<String> = Vec::new();
        match obj.get("to").and_then(Value::as_array) {
            Some(list) if !list.is_empty() && list.len() <= MAX_RECIPIENTS => {
                for (i, u) in list.iter().enumerate() {
                    let active = match u.as_str() {
                        Some(id) => system::user_by_id(&self.db.read, ctx.tenant_id(), id)
                            .await?
                            .filter(|u| u.disabled_at.is_none()),
                        None => None,
                    };
                    match active {
                        Some(u) if !to.contains(&u.id) => to.push(u.id),
                        Some(_) => errors.push(FieldError::new(
                            format!("to[{i}]"),
                            FieldCode::Duplicate,
                            "is listed twice",
                        )),
                        None => errors.push(FieldError::new(
                            format!("to[{i}]"),
                            FieldCode::NotFound,
                            "not an active user of this tenant",
                        )),
                    }
                }
            }
            _ => errors.push(FieldError::new(
                "to",
                FieldCode::Required,
                format!("1 to {MAX_RECIPIENTS} users to hand the records to"),
            )),
        }
        let mut entities = Vec::new();
        match obj.get("entities") {
            None | Some(Value::Null) => entities.extend(
                app.def
                    .entities
                    .iter()
                    .filter_map(|e| app.entity(e.name.as_str()).cloned()),
            ),
            Some(Value::Array(list)) => {
                for (i, n) in list.iter().enumerate() {
                    match n.as_str().and_then(|n| app.entity(n)) {
                        Some(e) => entities.push(e.clone()),
                        None => errors.push(FieldError::new(
                            format!("entities[{i}]"),
                            FieldCode::UnknownEntity,
                            "not an entity of this app",
                        )),
                    }
                }
            }
            Some(_) => errors.push(FieldError::new(
                "entities",
                FieldCode::Type,
                "must be an array of entity names",
            )),
        }
        let mut filters: Vec<Option<Filter>> = Vec::new();
        for e in &entities {
            filters.push(match obj.get("filter") {
                None | Some(Value::Null) => None,
                Some(f) => match parse_filter(e, f) {
                    Ok(f) => Some(f),
                    Err(err) => {
                        for fe in err.errors {
                            errors.push(FieldError::new(
                                format!("filter.{}", e.name()),
                                fe.code,
                                format!("{}: {}", fe.field, fe.message),
                            ));
                        }
                        None
                    }
                },
            });
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let at = now_micros();
        let mut n = 0usize;
        let mut by_owner: Vec<usize> = vec![0; to.len()];
        for (e, filter) in entities.iter().zip(filters) {
            let owner = e.column("owner").expect("every entity has an owner").clone();
            let of_from = Filter::Cond {
                field: Box::new(owner),
                op: Op::Eq,
                values: vec![Val::Text(from.clone())],
                is_null: false,
            };
            let q = ListQuery {
                filter: crate::access::and(Some(of_from), filter),
                limit: 10_000_000,
                columns: Some(Vec::new()),
                ..Default::default()
            };
            for row in records::list(&tx, e, &q).await? {
                let k = n % to.len();
                let new_owner = &to[k];
                if !records::update(
                    &tx,
                    e,
                    row.id(),
                    Some(row.version()),
                    at,
                    Some(Some(new_owner.clone())),
                    &[],
                )
                .await?
                {
                    return Err(Error::conflict(
                        "a record changed during the handover; nothing was handed over, try again",
                    ));
                }
                crate::events::record_event(
                    &tx,
                    crate::events::EventDraft {
                        tenant_id: ctx.tenant_id(),
                        app: &app,
                        entity: e,
                        record_id: row.id(),
                        kind: EventKind::Updated,
                        actor: Some(ctx.user_id()),
                        via: ctx.via(),
                        depth: ctx.depth(),
                        data: json!({"changes": {"owner": [from, new_owner]}, "handover": true}),
                    },
                )
                .await?;
                by_owner[k] += 1;
                n += 1;
            }
        }
        for (u, count) in to.iter().zip(&by_owner).filter(|(_, c)| **c > 0) {
            crate::notifications::notify(
                &tx,
                ctx.tenant_id(),
                std::slice::from_ref(u),
                trellis_core::status::NotificationKind::Handover,
                &Label::new(
                    &format!("{count} 条记录已移交给您"),
                    &format!("{count} records were handed over to you"),
                ),
                json!({"app": app.def.name, "from": from, "count": count}),
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(HandoverOut {
            moved: n as u64,
            by_owner: to.iter().zip(&by_owner).map(|(u, c)| (u.clone(), *c as u64)).collect(),
        })
    }
}
