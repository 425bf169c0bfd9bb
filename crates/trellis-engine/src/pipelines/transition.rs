//! Moving a record: the request parsed, every requirement checked (who may, fields, evidence,
//! conditions, with hidden ones veiled), the move applied or held for approval, and the moves a
//! record may make next.

use std::collections::HashSet;
use trellis_core::error::FieldCode;

use serde_json::{Value, json};
use trellis_core::permissions::Right;
use trellis_core::pipeline::{PipelineDef, Requirements, StageDef, TransitionDef, media_type_allowed};
use trellis_core::pipeline::{SopAction, StageKind};
use trellis_core::status::{EventKind, TimerKind};
use trellis_core::{CompiledEntity, CompiledField, Error, ErrorCode, FieldError, Label, Val};
use trellis_rules::{ScriptContext, UserInfo, record_map};
use trellis_store::records::{self, Row};
use trellis_store::{StoreError, timers};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;
use crate::events::{EventDraft, record_event};
use crate::records::{RecordOut, record_json};

use super::*;

/// The answer to a transition request.
#[derive(Debug)]
pub enum TransitionOut {
    /// The record moved.
    Done(RecordOut),
    /// The record waits for approval.
    Pending { record: RecordOut, approval: Box<Approval> },
}

/// What a transition request asked for.
pub(super) struct Request {
    pub(super) to: String,
    pub(super) comment: Option<String>,
    pub(super) attachments: Vec<(String, Option<String>)>,
}

pub(super) fn parse_request(body: &Value) -> Result<Request, Error> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::bad_request("the body must be a JSON object {to, comment?, attachments?}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "to" | "comment" | "attachments"))
    {
        return Err(Error::bad_field(
            trellis_core::names::truncate(k, 40),
            FieldCode::UnknownKey,
            "a transition takes to, comment and attachments",
        ));
    }
    let to = match obj.get("to") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(Error::bad_field("to", FieldCode::Required, "name the stage to move to")),
    };
    let comment = match obj.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_COMMENT => {
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(Value::String(_)) => {
            return Err(Error::bad_field(
                "comment",
                FieldCode::TooLong,
                format!("at most {MAX_COMMENT} characters"),
            ));
        }
        Some(_) => return Err(Error::bad_field("comment", FieldCode::Type, "must be a string")),
    };
    let mut attachments = Vec::new();
    match obj.get("attachments") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() <= MAX_EVIDENCE => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("attachments[{i}]");
                match item {
                    Value::String(id) => attachments.push((id.clone(), None)),
                    Value::Object(o) => {
                        let id = o.get("file").and_then(Value::as_str).ok_or_else(|| {
                            Error::bad_field(format!("{at}.file"), FieldCode::Required, "give the file's id")
                        })?;
                        let kind = match o.get("kind") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(k)) => Some(k.clone()),
                            Some(_) => {
                                return Err(Error::bad_field(
                                    format!("{at}.kind"),
                                    FieldCode::Type,
                                    "must be a string",
                                ));
                            }
                        };
                        attachments.push((id.to_string(), kind));
                    }
                    _ => {
                        return Err(Error::bad_field(at, FieldCode::Type, "a file id or {file, kind}"));
                    }
                }
            }
        }
        Some(Value::Array(_)) => {
            return Err(Error::bad_field(
                "attachments",
                FieldCode::TooMany,
                format!("at most {MAX_EVIDENCE} files"),
            ));
        }
        Some(_) => return Err(Error::bad_field("attachments", FieldCode::Type, "must be an array")),
    }
    Ok(Request {
        to,
        comment,
        attachments,
    })
}

/// What one unmet requirement on a field hidden from the caller answers as: the transition is
/// refused, but neither the field nor its value is named (the requirement's own name and
/// message may name it too). One such entry stands for all of them.
pub fn hidden_requirement() -> FieldError {
    FieldError::new(
        "requirements",
        trellis_core::error::HIDDEN_REQUIREMENT,
        "a condition on a field you cannot see is not met",
    )
    .with_messages(Label::new(
        "一个您无权查看的字段上的条件未满足",
        "a condition on a field you cannot see is not met",
    ))
}

/// Everything that keeps a record from moving: the stage left's exit requirements, the
/// transition's own, and the next stage's entry requirements; a comment where one is required.
/// A required field hidden from the caller, or a condition that reads one (`hidden`, the
/// caller's hidden fields by entity), is answered as one [`hidden_requirement`]. Evidence
/// stays named by its key: the caller can give it with the transition.
#[allow(clippy::too_many_arguments)]
pub(super) fn unmet(
    engine: &Engine,
    app: &LoadedApp,
    entity: &CompiledEntity,
    p: &PipelineDef,
    from: &StageDef,
    t: &TransitionDef,
    row: &Row,
    evidence: &[Evidence],
    comment: Option<&str>,
    user: &UserInfo,
    related: &trellis_rules::Map,
    hidden: &trellis_core::permissions::HiddenFields,
) -> Vec<FieldError> {
    let own_hidden = hidden.get(entity.name());
    let is_hidden = |f: &str| own_hidden.is_some_and(|h| h.contains(f));
    let reads_hidden = |script: &str| {
        !hidden.is_empty() && trellis_core::permissions::script_reads_hidden(&app.def, &entity.def, hidden, script)
    };
    let mut veiled = false;
    let index = p.transitions.iter().position(|x| std::ptr::eq(x, t)).unwrap_or(0);
    let to = p.stage(t.to.as_str()).expect("validated transition target");
    let places: [(String, &Requirements); 3] = [
        (format!("stages.{}.exit", from.key), &from.exit),
        (format!("transitions.{index}"), &t.requires),
        (format!("stages.{}.entry", to.key), &to.entry),
    ];
    let mut out: Vec<FieldError> = Vec::new();
    let mut seen_fields = HashSet::new();
    let fields: Vec<(&CompiledField, &Val)> = entity
        .columns
        .iter()
        .zip(&row.values)
        .filter(|(c, _)| !c.system || matches!(c.name.as_str(), "id" | "owner" | "stage"))
        .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
        .collect();
    let mut ctx = ScriptContext::new(record_map(&fields), user.clone(), trellis_core::value::now_micros());
    ctx.related = related.clone();
    let scripts = app.scripts.get(entity.name());
    for (place, req) in places {
        for f in &req.fields {
            if seen_fields.insert(f.as_str()) && is_empty(row.get(entity, f.as_str())) {
                if is_hidden(f.as_str()) {
                    veiled = true;
                    continue;
                }
                let l = label_of(entity, f.as_str());
                out.push(
                    FieldError::new(
                        f.as_str(),
                        FieldCode::Required,
                        format!("{} must be filled before moving to '{}'", l.display(f.as_str()), to.key),
                    )
                    .with_messages(Label::new(
                        &format!("必须填写：{}", l.zh.as_deref().unwrap_or(f.as_str())),
                        &format!("{} must be filled", l.en.as_deref().unwrap_or(f.as_str())),
                    )),
                );
            }
        }
        for a in &req.attachments {
            let given = evidence
                .iter()
                .filter(|e| match &e.kind {
                    Some(k) => k == a.key.as_str(),
                    None => true,
                })
                .filter(|e| media_type_allowed(&a.types, &e.file.content_type))
                .count();
            let held = a
                .field
                .as_ref()
                .map(|f| {
                    record_files(row, entity, f.as_str())
                        .iter()
                        .filter(|ct| media_type_allowed(&a.types, ct))
                        .count()
                })
                .unwrap_or(0);
            if ((given + held) as u32) < a.min {
                let types = if a.types.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", a.types.join(", "))
                };
                out.push(
                    FieldError::new(
                        format!("attachments.{}", a.key),
                        FieldCode::AttachmentRequired,
                        format!(
                            "{}: at least {} file(s){types} must be attached",
                            a.label.display(a.key.as_str()),
                            a.min
                        ),
                    )
                    .with_messages(Label::new(
                        &format!("需要附件：{}", a.label.zh.as_deref().unwrap_or(a.key.as_str())),
                        &format!(
                            "attachment required: {}",
                            a.label.en.as_deref().unwrap_or(a.key.as_str())
                        ),
                    )),
                );
            }
        }
        for g in &req.conditions {
            let key = format!("{place}.{}", g.name);
            let Some(script) = scripts.and_then(|s| s.guards.get(&key)) else {
                continue;
            };
            match engine.rules.eval_bool(script, &ctx) {
                Ok(true) => {}
                Ok(_) | Err(_) if reads_hidden(&g.assert) => veiled = true,
                Ok(false) => out.push(
                    FieldError::new(
                        format!("conditions.{}", g.name),
                        FieldCode::ConditionFailed,
                        g.message.display(g.name.as_str()),
                    )
                    .with_messages(g.message.clone()),
                ),
                Err(e) => out.push(FieldError::new(
                    format!("conditions.{}", g.name),
                    FieldCode::ScriptError,
                    format!("condition '{}' failed to run: {e}", g.name),
                )),
            }
        }
    }
    if t.comment_required && comment.is_none() {
        out.push(
            FieldError::new("comment", FieldCode::Required, "this transition needs a comment")
                .with_messages(Label::new("此流转需要填写说明", "this transition needs a comment")),
        );
    }
    if veiled {
        out.push(hidden_requirement());
    }
    out
}

pub(super) fn blocked(errors: Vec<FieldError>) -> Error {
    let n = errors.len();
    Error::new(
        ErrorCode::TransitionBlocked,
        format!("the transition is blocked by {n} unmet condition(s)"),
    )
    .with_errors(errors)
}

/// The moves from a record's stage.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NextMoves {
    /// The record's stage.
    pub stage: String,
    /// The stage an approval would move it to, while one is pending.
    pub pending_stage: Option<String>,
    /// The stage's standard operating procedure (`pipeline.schema.json`).
    pub sop: Vec<SopAction>,
    pub transitions: Vec<NextMove>,
}

/// A move the caller could make from the record's stage.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NextMove {
    /// The stage it moves to.
    pub to: String,
    pub label: Label,
    /// The target stage's kind.
    pub kind: StageKind,
    /// Whether the caller's roles allow it.
    pub allowed: bool,
    /// Allowed and nothing blocks it now.
    pub ready: bool,
    /// Each condition that keeps it from being made now (the field, or `stage`, `comment`, a
    /// condition's name, it is about).
    pub blocked_by: Vec<FieldError>,
    pub needs_approval: bool,
    pub comment_required: bool,
}

impl Engine {
    pub(super) async fn evidence<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        given: &[(String, Option<String>)],
    ) -> Result<Vec<Evidence>, Error> {
        let ids: Vec<String> = given.iter().map(|(id, _)| id.clone()).collect();
        let found: Vec<FileMeta> = trellis_store::files::files_by_ids(conn, ctx.tenant_id(), &ids)
            .await?
            .into_iter()
            .map(FileMeta::from)
            .collect();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, (id, kind)) in given.iter().enumerate() {
            match found.iter().find(|f| &f.id == id) {
                Some(f) => out.push(Evidence {
                    file: f.clone(),
                    kind: kind.clone(),
                }),
                None => errors.push(FieldError::new(
                    format!("attachments[{i}]"),
                    FieldCode::NotFound,
                    format!("no file has id {}", trellis_core::names::truncate(id, 64)),
                )),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(Error::validation(errors))
        }
    }

    /// Moves a record to another stage (`POST .../{id}/transition`), or asks for approval when
    /// the transition needs it. Blocked transitions answer every unmet condition at once.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn transition(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<TransitionOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = crate::records::entity_of(&app, entity)?.clone();
        let id = crate::records::check_id(id)?;
        let guard = self.guard(ctx, &app, &entity, Right::Transition).await?;
        let (app_ref, entity_ref, guard_ref, id) = (&app, &entity, &guard, &id);
        let out = self
            .retry_contended(|| async move {
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                let out = self
                    .transition_in(&tx, ctx, app_ref, entity_ref, guard_ref, id, body, if_match)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(out)
            })
            .await?;
        self.wake_dispatcher();
        Ok(match out {
            TransitionOut::Done(mut r) => {
                guard.access.redact(&mut r.json);
                TransitionOut::Done(r)
            }
            TransitionOut::Pending { mut record, approval } => {
                guard.access.redact(&mut record.json);
                TransitionOut::Pending { record, approval }
            }
        })
    }

    /// A transition inside the caller's transaction (automation's `transition` action), within
    /// the caller's rights (`guard`); the answer is not redacted.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn transition_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &crate::records::Guard,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<TransitionOut, Error> {
        let p = pipeline_of(entity)?;
        let req = parse_request(body)?;
        let row = crate::access::get_scoped_for_write(tx, entity, id, guard.scope.as_ref())
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        if let Some(v) = if_match
            && v != row.version()
        {
            return Err(crate::records::stale(row.version()));
        }
        let from = current_stage(p, entity, &row);
        if let Some(pending) = text_of(entity, &row, "pending_stage") {
            return Err(blocked(vec![FieldError::new(
                "stage",
                FieldCode::PendingApproval,
                format!("the record waits for approval of its move to '{pending}'"),
            )]));
        }
        let Some(to) = p.stage(&req.to) else {
            return Err(Error::bad_field(
                "to",
                FieldCode::UnknownStage,
                format!(
                    "'{}' is not a stage of '{}'",
                    trellis_core::names::truncate(&req.to, 64),
                    entity.name()
                ),
            ));
        };
        let Some(t) = p.transition(from.key.as_str(), to.key.as_str()) else {
            return Err(blocked(vec![FieldError::new(
                "to",
                FieldCode::NoTransition,
                format!("there is no transition from '{}' to '{}'", from.key, to.key),
            )]));
        };
        let roles = self.roles_in(tx, ctx, app).await?;
        if !guard.access.grant.may_enter(to.key.as_str()) || !may_make(t, entity, &row, ctx.user_id(), &roles) {
            return Err(Error::permission_denied(format!(
                "you may not move this record from '{}' to '{}'",
                from.key, to.key
            )));
        }
        let evidence = self.evidence(tx, ctx, &req.attachments).await?;
        let user = UserInfo {
            id: ctx.user_id().to_string(),
            roles: roles.clone(),
            team: crate::access::first_team(tx, ctx.tenant_id(), ctx.user_id()).await?,
        };
        let related = self.related_for_guards(tx, app, entity, &row).await?;
        let hidden = self.hidden_fields(tx, ctx, app).await?;
        let problems = unmet(
            self,
            app,
            entity,
            p,
            from,
            t,
            &row,
            &evidence,
            req.comment.as_deref(),
            &user,
            &related,
            &hidden,
        );
        if !problems.is_empty() {
            return Err(blocked(problems));
        }
        let out = match &t.approval {
            Some(policy) => {
                let (record, approval) = self
                    .request_approval(tx, ctx, app, entity, row, from, to, policy, &req, &evidence)
                    .await?;
                TransitionOut::Pending {
                    record,
                    approval: Box::new(approval),
                }
            }
            None => TransitionOut::Done(
                self.apply_transition(
                    tx,
                    ctx.tenant_id(),
                    Some(ctx.user_id()),
                    (ctx.via(), ctx.depth()),
                    app,
                    entity,
                    row,
                    to,
                    req.comment.as_deref(),
                    &evidence,
                    None,
                )
                .await?,
            ),
        };
        Ok(out)
    }

    pub(super) async fn related_for_guards<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app: &LoadedApp,
        entity: &CompiledEntity,
        row: &Row,
    ) -> Result<trellis_rules::Map, Error> {
        match app.scripts.get(entity.name()) {
            Some(s) if !s.related.is_empty() => {
                let fields: Vec<(&CompiledField, &Val)> = entity
                    .columns
                    .iter()
                    .zip(&row.values)
                    .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
                    .collect();
                s.related_records(conn, app, entity, &fields).await
            }
            _ => Ok(trellis_rules::Map::new()),
        }
    }

    /// Moves the record: new stage values, SLA timer of the stage left cancelled and the new
    /// one started, one `stage_changed` event with the time spent in the stage left.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply_transition(
        &self,
        tx: &trellis_store::WriteTx,
        tenant_id: &str,
        actor: Option<&str>,
        via: (Option<String>, i32),
        app: &LoadedApp,
        entity: &CompiledEntity,
        row: Row,
        to: &StageDef,
        comment: Option<&str>,
        evidence: &[Evidence],
        approval: Option<&str>,
    ) -> Result<RecordOut, Error> {
        let p = pipeline_of(entity)?;
        let from = current_stage(p, entity, &row).key.to_string();
        let now = trellis_core::value::now_micros();
        let entered = match row.get(entity, "stage_entered_at") {
            Some(Val::DateTime(t)) => Some(*t),
            _ => None,
        }
        .or(match row.get(entity, "created_at") {
            Some(Val::DateTime(t)) => Some(*t),
            _ => None,
        });
        let seconds = entered.map(|e| (now - e).num_milliseconds() as f64 / 1000.0);
        let from_due = match row.get(entity, "stage_due_at") {
            Some(Val::DateTime(t)) => Some(*t),
            _ => None,
        };
        let due = sla_due(tx, tenant_id, to, now).await?;
        let values = entry_values(entity, to.key.as_str(), now, due)?;
        let id = row.id().to_string();
        if !records::update(tx, entity, &id, Some(row.version()), now, None, &values).await? {
            return Err(crate::records::stale(row.version()));
        }
        timers::cancel_for_record(tx, &id, TimerKind::Sla).await?;
        start_timer(tx, tenant_id, app, entity, &id, to.key.as_str(), due).await?;
        trellis_store::stages::insert_moves(
            tx,
            &[trellis_store::stages::Move {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.to_string(),
                app_id: app.id.clone(),
                entity_id: entity.def.storage_id().to_string(),
                record_id: id.clone(),
                from_stage: Some(from.clone()),
                to_stage: to.key.to_string(),
                at: now,
                seconds_in_from: seconds,
                from_due_at: from_due,
                actor: actor.map(str::to_string),
            }],
        )
        .await?;
        let mut data = json!({
            "from": from,
            "to": to.key,
            "seconds_in_stage": seconds,
        });
        if let Some(c) = comment {
            data["comment"] = json!(c);
        }
        if !evidence.is_empty() {
            data["evidence"] = Value::Array(evidence.iter().map(Evidence::to_json).collect());
        }
        if let Some(a) = approval {
            data["approval"] = json!(a);
        }
        record_event(
            tx,
            EventDraft {
                tenant_id,
                app,
                entity,
                record_id: &id,
                kind: EventKind::StageChanged,
                actor,
                via: via.0,
                depth: via.1,
                data,
            },
        )
        .await?;
        let mut row = row;
        for (f, v) in values {
            if let Some(i) = entity.columns.iter().position(|c| c.name == f.name) {
                row.values[i] = Some(v);
            }
        }
        bump(entity, &mut row, now);
        Ok(RecordOut {
            json: record_json(entity, &row),
            version: row.version(),
        })
    }

    /// The transitions the caller could make from the record's stage, each with what blocks
    /// it now (nothing: it can be made), whether it needs approval, and whether the caller is
    /// allowed at all.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn next_transitions(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
    ) -> Result<NextMoves, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = crate::records::entity_of(&app, entity)?.clone();
        let p = pipeline_of(&entity)?;
        let id = crate::records::check_id(id)?;
        let conn = &self.db.read;
        let access = self.access(conn, ctx, &app, &entity).await?;
        let scope = self.scope(conn, ctx, &access, Right::Read).await?;
        let row = crate::access::get_scoped(conn, &entity, &id, scope.as_ref(), None)
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        let roles = self.roles_in(conn, ctx, &app).await?;
        let user = UserInfo {
            id: ctx.user_id().to_string(),
            roles: roles.clone(),
            team: crate::access::first_team(conn, ctx.tenant_id(), ctx.user_id()).await?,
        };
        let related = self.related_for_guards(conn, &app, &entity, &row).await?;
        let hidden = self.hidden_fields(conn, ctx, &app).await?;
        let from = current_stage(p, &entity, &row);
        let pending = text_of(&entity, &row, "pending_stage");
        let mut out = Vec::new();
        for to in p.next_stages(from.key.as_str()) {
            let t = p
                .transition(from.key.as_str(), to.key.as_str())
                .expect("next stage has a transition");
            let allowed = access.grant.may_enter(to.key.as_str()) && may_make(t, &entity, &row, ctx.user_id(), &roles);
            // Evidence is given with the transition itself, so it is not counted as missing
            // here beyond what the record's own attachment fields hold.
            let mut blockers = unmet(
                self,
                &app,
                &entity,
                p,
                from,
                t,
                &row,
                &[],
                Some("-"),
                &user,
                &related,
                &hidden,
            );
            if let Some(s) = pending {
                blockers.insert(
                    0,
                    FieldError::new(
                        "stage",
                        FieldCode::PendingApproval,
                        format!("the record waits for approval of its move to '{s}'"),
                    ),
                );
            }
            out.push(NextMove {
                to: to.key.to_string(),
                label: t.label.as_ref().unwrap_or(&to.label).clone(),
                kind: to.kind,
                allowed,
                ready: allowed && blockers.is_empty(),
                blocked_by: blockers,
                needs_approval: t.approval.is_some(),
                comment_required: t.comment_required,
            });
        }
        Ok(NextMoves {
            stage: from.key.to_string(),
            pending_stage: pending.map(str::to_string),
            sop: from.sop.clone(),
            transitions: out,
        })
    }
}
