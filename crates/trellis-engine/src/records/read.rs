//! Reading records: one by id, and pages by filter, sort, search, cursor or offset, with
//! chosen fields and expanded relations, always through the caller's row scope.

use std::collections::{HashMap, HashSet};
use trellis_core::error::FieldCode;

use serde_json::Value;
use trellis_core::def::FieldType;
use trellis_core::permissions::Right;
use trellis_core::query::{Filter, SortKey, decode_cursor, encode_cursor, parse_fields, parse_filter, parse_sort};
use trellis_core::{CompiledEntity, Error, Val};
use trellis_store::records::{self, ListQuery};

use crate::Engine;
use crate::access::{Access, get_scoped};
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

use super::*;

/// Query parameters of a list, as strings from the URL.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub fields: Option<String>,
    pub expand: Option<String>,
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    pub offset: Option<u64>,
    pub count: bool,
    /// Also answer what the caller may do with each record of the page (`rights`).
    pub rights: bool,
}

/// A list's statement in the caller's view, with what the answer needs besides the rows.
pub(super) struct ListPlan {
    pub query: ListQuery,
    /// The sort keys, the record id last.
    pub sort: Vec<SortKey>,
    /// The columns `fields` asked for (`None`: all).
    pub answered: Option<Vec<usize>>,
}

pub(super) fn wanted_columns(entity: &CompiledEntity, fields: Option<&str>) -> Result<Option<Vec<usize>>, Error> {
    let Some(f) = fields.filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let names = parse_fields(entity, f)?;
    Ok(Some(
        entity
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| names.contains(&c.name))
            .map(|(i, _)| i)
            .collect(),
    ))
}

pub(super) fn parse_expand(entity: &CompiledEntity, expand: Option<&str>) -> Result<Vec<String>, Error> {
    let Some(e) = expand.filter(|e| !e.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let names = parse_fields(entity, e)
        .map_err(|_| Error::bad_field("expand", FieldCode::UnknownField, "names a field that does not exist"))?;
    for n in &names {
        if entity
            .column(n)
            .is_none_or(|c| c.kind != FieldType::Relation || c.system)
        {
            return Err(Error::bad_field(
                "expand",
                FieldCode::NotRelation,
                format!("'{n}' is not a relation field"),
            ));
        }
    }
    Ok(names)
}

impl Engine {
    /// Reads one record, with `fields` and `expand` as in a list, and with `rights` what the
    /// caller may do with it (`_rights`: [`super::RecordRights`]).
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn get_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        fields: Option<&str>,
        expand: Option<&str>,
        rights: bool,
    ) -> Result<RecordOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let id = check_id(id)?;
        let access = self.access(&self.db.read, ctx, &app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let entity = &access.view;
        let wanted = wanted_columns(entity, fields)?;
        let expand = parse_expand(entity, expand)?;
        let row = get_scoped(&self.db.read, entity, &id, scope.as_ref(), wanted.as_deref())
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        let version = row.version();
        let mut json = vec![record_json(entity, &row)];
        self.expand(ctx, &app, entity, &expand, &mut json).await?;
        let mut json = json.pop().unwrap_or(Value::Null);
        if rights {
            let can = self
                .record_rights(ctx, &access, std::slice::from_ref(&id))
                .await?
                .of(&id);
            if let Value::Object(o) = &mut json {
                o.insert(
                    "_rights".into(),
                    serde_json::json!({"update": can.update, "delete": can.delete}),
                );
            }
        }
        Ok(RecordOut { json, version })
    }

    /// A page of records.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn list_records(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        p: &ListParams,
    ) -> Result<ListOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let access = self.access(&self.db.read, ctx, &app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let limit = p.limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::bad_field(
                "limit",
                FieldCode::Range,
                format!("must be 1 to {MAX_LIMIT}"),
            ));
        }
        let ListPlan {
            query: q,
            sort,
            answered,
        } = self.list_plan(ctx, &access, scope, p, limit + 1).await?;
        let entity = &access.view;
        let expand = parse_expand(entity, p.expand.as_deref())?;
        let mut rows = records::list(&self.db.read, entity, &q).await?;
        let next_cursor = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|last| {
                let vals: Vec<Val> = sort
                    .iter()
                    .map(|k| last.get(entity, &k.field.name).cloned().unwrap_or(Val::Null))
                    .collect();
                encode_cursor(&sort, &vals, last.id())
            })
        } else {
            None
        };
        if let Some(w) = &answered {
            for r in &mut rows {
                for (i, c) in entity.columns.iter().enumerate() {
                    if !c.system && !w.contains(&i) {
                        r.values[i] = None;
                    }
                }
            }
        }
        let rights = if p.rights {
            let ids: Vec<String> = rows.iter().map(|r| r.id().to_string()).collect();
            Some(self.record_rights(ctx, &access, &ids).await?)
        } else {
            None
        };
        let total = if p.count {
            Some(records::count(&self.db.read, entity, &q).await?)
        } else {
            None
        };
        let data = if expand.is_empty() {
            Page::Rows(entity.clone(), rows)
        } else {
            let mut data: Vec<Value> = rows.iter().map(|r| record_json(entity, r)).collect();
            self.expand(ctx, &app, entity, &expand, &mut data).await?;
            Page::Expanded(data)
        };
        Ok(ListOut {
            data,
            next_cursor,
            total,
            rights,
        })
    }

    /// The statement of a list in the caller's view (`access.view`) and row scope (`scope`,
    /// from [`Engine::scope`]): the filter (its `$user.*` standing for the caller:
    /// [`Engine::for_reader`]), sort, search, cursor or offset and columns of `p` checked,
    /// `page` rows at most. Every list of records (a page, an export) is read through it, so
    /// none reads rows or fields another one hides.
    pub(super) async fn list_plan(
        &self,
        ctx: &TenantCtx,
        access: &Access,
        scope: Option<Filter>,
        p: &ListParams,
        page: u64,
    ) -> Result<ListPlan, Error> {
        // Hidden fields are not in the view: filtering, sorting or searching them is unknown.
        let entity = &access.view;
        let filter = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => {
                let v: Value = serde_json::from_str(f).map_err(|e| {
                    Error::bad_field("filter", FieldCode::InvalidJson, format!("is not valid JSON: {e}"))
                })?;
                let v = self.for_reader(&self.db.read, ctx, &v).await?;
                Some(parse_filter(entity, &v)?)
            }
            None => None,
        };
        // An owner scope (own, team) is a selective predicate the planner cannot see as such.
        let scope_owners: Option<Vec<String>> = scope
            .as_ref()
            .and_then(crate::access::scope_owners)
            .map(|o| o.into_iter().map(str::to_string).collect());
        // A scope of owners only goes to the list as such (`ListQuery::owners`); any other
        // joins the filter.
        let (filter, owners) = match scope_owners.clone() {
            Some(owners) => (filter, Some(owners)),
            None => (crate::access::and(scope, filter), None),
        };
        let sort = parse_sort(entity, p.sort.as_deref().unwrap_or(""))?;
        if p.cursor.is_some() && p.offset.is_some() {
            return Err(Error::bad_field(
                "cursor",
                FieldCode::Conflict,
                "use either cursor or offset, not both",
            ));
        }
        if p.offset.is_some_and(|o| o > MAX_OFFSET) {
            return Err(Error::bad_field(
                "offset",
                FieldCode::Range,
                format!("must be at most {MAX_OFFSET}; page with the cursor instead"),
            ));
        }
        let search = p.q.clone().filter(|s| !s.trim().is_empty());
        if search.as_deref().is_some_and(|s| s.contains('\0')) {
            return Err(Error::bad_field(
                "q",
                FieldCode::Type,
                "must not contain NUL characters",
            ));
        }
        if search
            .as_deref()
            .is_some_and(|s| s.split_whitespace().count() > MAX_SEARCH_WORDS)
        {
            return Err(Error::bad_field(
                "q",
                FieldCode::TooMany,
                format!("search for at most {MAX_SEARCH_WORDS} words"),
            ));
        }
        let cursor = p.cursor.as_deref().map(|c| decode_cursor(&sort, c)).transpose()?;
        let answered = wanted_columns(entity, p.fields.as_deref())?;
        // The sort keys are read even when `fields` leaves them out: the next cursor needs them.
        let read = answered.as_ref().map(|w| {
            let mut r = w.clone();
            for k in &sort {
                if let Some(i) = entity.columns.iter().position(|c| c.name == k.field.name)
                    && !r.contains(&i)
                {
                    r.push(i);
                }
            }
            r
        });
        let mut q = ListQuery {
            filter,
            search,
            sort: sort.clone(),
            cursor,
            offset: p.offset,
            limit: page,
            columns: read,
            filter_first: false,
            owners,
        };
        // A scope of a few owners is read in a branch per owner (`ListQuery::owners`): each walks
        // its owner's rows in an owner-keyed index, so it never reads more than the scope, which
        // is what reading the scope first guards against, and usually far less.
        if let Some(owners) = &scope_owners
            && !records::reads_in_branches(entity, &q)
        {
            q.filter_first = self
                .reads_scope_first(&entity.table, owners, page + p.offset.unwrap_or(0))
                .await;
        }
        Ok(ListPlan {
            query: q,
            sort,
            answered,
        })
    }

    /// Replaces relation ids with the related records (one query per expanded field).
    pub(super) async fn expand(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        fields: &[String],
        data: &mut [Value],
    ) -> Result<(), Error> {
        for name in fields {
            let f = entity
                .column(name)
                .ok_or_else(|| Error::internal("expand field vanished"))?;
            let target = f
                .target
                .as_deref()
                .and_then(|t| app.entity(t))
                .ok_or_else(|| Error::internal("relation without target"))?;
            let ids: Vec<String> = data
                .iter()
                .filter_map(|r| r.get(name).and_then(Value::as_str).map(str::to_string))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            // Related records outside the caller's reach of the target expand to null.
            let access = self.access(&self.db.read, ctx, app, target).await?;
            let rows = if access.grant.reach(Right::Read).is_none() {
                Vec::new()
            } else {
                match self.scope(&self.db.read, ctx, &access, Right::Read).await? {
                    None => records::get_many(&self.db.read, &access.view, &ids).await?,
                    Some(scope) => crate::access::get_many_scoped(&self.db.read, &access.view, &ids, &scope).await?,
                }
            };
            let target = &access.view;
            let by_id: HashMap<String, Value> = rows
                .iter()
                .map(|r| (r.id().to_string(), record_json(target, r)))
                .collect();
            for r in data.iter_mut() {
                if let Some(slot) = r.get_mut(name.as_str())
                    && let Some(id) = slot.as_str()
                {
                    *slot = by_id.get(id).cloned().unwrap_or(Value::Null);
                }
            }
        }
        Ok(())
    }
}
