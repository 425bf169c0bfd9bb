//! Pipelines at run time: a record enters its first stage when created and moves only through
//! transitions, each checked (who may, fields, evidence, conditions), recorded in the event log
//! with the time spent in the stage left, and, where the pipeline says so, held for approval.
//! Entering a stage with an SLA starts a durable timer; the sweep marks records that overstay.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use trellis_core::calendar::{Calendar, CalendarDef};
use trellis_core::permissions::Right;
use trellis_core::pipeline::{
    ApprovalMode, ApprovalPolicy, PipelineDef, Requirements, StageDef, TransitionDef, UserRef, media_type_allowed,
};
use trellis_core::pipeline::{SopAction, StageKind};
use trellis_core::status::{ApprovalStatus, EventKind, TimerKind, TimerStatus, VoteDecision};
use trellis_core::{CompiledEntity, CompiledField, Error, ErrorCode, FieldError, Label, Val};
use trellis_rules::{ScriptContext, UserInfo, record_map};
use trellis_store::records::{self, Row};
use trellis_store::{StoreError, approvals, directory, events, system, timers};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;
use crate::records::history::{EventDraft, record_event};
use crate::records::{RecordOut, record_json};

/// Longest transition comment.
pub const MAX_COMMENT: usize = 4000;
/// Most files given with one transition.
pub const MAX_EVIDENCE: usize = 50;

/// What a transition's evidence keeps of a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileMeta {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
}

impl From<trellis_store::files::FileRow> for FileMeta {
    fn from(f: trellis_store::files::FileRow) -> FileMeta {
        FileMeta {
            id: f.id,
            name: f.name,
            size: f.size,
            content_type: f.content_type,
            sha256: f.sha256,
        }
    }
}

/// A file given with a transition, and the requirement it answers.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub file: FileMeta,
    pub kind: Option<String>,
}

impl Evidence {
    fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.file).unwrap_or(Value::Null);
        if let (Some(k), Value::Object(o)) = (&self.kind, &mut v) {
            o.insert("kind".into(), json!(k));
        }
        v
    }
}

/// What a transition request asked for.
struct Request {
    to: String,
    comment: Option<String>,
    attachments: Vec<(String, Option<String>)>,
}

fn parse_request(body: &Value) -> Result<Request, Error> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::bad_request("the body must be a JSON object {to, comment?, attachments?}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "to" | "comment" | "attachments"))
    {
        return Err(Error::bad_field(
            trellis_core::names::truncate(k, 40),
            "unknown_key",
            "a transition takes to, comment and attachments",
        ));
    }
    let to = match obj.get("to") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(Error::bad_field("to", "required", "name the stage to move to")),
    };
    let comment = match obj.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_COMMENT => {
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(Value::String(_)) => {
            return Err(Error::bad_field(
                "comment",
                "too_long",
                format!("at most {MAX_COMMENT} characters"),
            ));
        }
        Some(_) => return Err(Error::bad_field("comment", "type", "must be a string")),
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
                        let id = o
                            .get("file")
                            .and_then(Value::as_str)
                            .ok_or_else(|| Error::bad_field(format!("{at}.file"), "required", "give the file's id"))?;
                        let kind = match o.get("kind") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(k)) => Some(k.clone()),
                            Some(_) => {
                                return Err(Error::bad_field(format!("{at}.kind"), "type", "must be a string"));
                            }
                        };
                        attachments.push((id.to_string(), kind));
                    }
                    _ => {
                        return Err(Error::bad_field(at, "type", "a file id or {file, kind}"));
                    }
                }
            }
        }
        Some(Value::Array(_)) => {
            return Err(Error::bad_field(
                "attachments",
                "too_many",
                format!("at most {MAX_EVIDENCE} files"),
            ));
        }
        Some(_) => return Err(Error::bad_field("attachments", "type", "must be an array")),
    }
    Ok(Request {
        to,
        comment,
        attachments,
    })
}

fn pipeline_of(entity: &CompiledEntity) -> Result<&PipelineDef, Error> {
    entity
        .def
        .pipeline
        .as_ref()
        .ok_or_else(|| Error::not_found(format!("entity '{}' has no pipeline", entity.name())))
}

fn text_of<'a>(entity: &CompiledEntity, row: &'a Row, name: &str) -> Option<&'a str> {
    match row.get(entity, name) {
        Some(Val::Text(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// The stage a record is in (records from before the pipeline count as in the initial stage).
fn current_stage<'p>(p: &'p PipelineDef, entity: &CompiledEntity, row: &Row) -> &'p StageDef {
    text_of(entity, row, "stage")
        .and_then(|k| p.stage(k))
        .unwrap_or_else(|| p.initial_stage())
}

fn is_empty(v: Option<&Val>) -> bool {
    match v {
        None | Some(Val::Null) => true,
        Some(Val::Text(s)) => s.trim().is_empty(),
        Some(Val::Json(Value::Array(a))) => a.is_empty(),
        _ => false,
    }
}

/// Whether the user may make the transition: anyone when it names nobody, else a named role,
/// the owner, a named user or a user held by a named field.
fn may_make(t: &TransitionDef, entity: &CompiledEntity, row: &Row, user: &str, roles: &[String]) -> bool {
    let Some(a) = &t.allow else {
        return true;
    };
    a.roles.iter().any(|r| roles.iter().any(|x| x == r.as_str()))
        || (a.owner && text_of(entity, row, "owner") == Some(user))
        || a.users.iter().any(|u| u == user)
        || a.user_fields
            .iter()
            .any(|f| text_of(entity, row, f.as_str()) == Some(user))
}

fn label_of(entity: &CompiledEntity, field: &str) -> Label {
    entity
        .def
        .field(field)
        .map(|f| f.label.clone())
        .unwrap_or_else(|| Label::new(field, field))
}

/// Files of the record's attachment field (stored as an array of file objects).
fn record_files(row: &Row, entity: &CompiledEntity, field: &str) -> Vec<String> {
    match row.get(entity, field) {
        Some(Val::Json(Value::Array(items))) => items
            .iter()
            .filter_map(|i| i.get("content_type").and_then(Value::as_str).map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
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
fn unmet(
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
                        "required",
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
                        "attachment_required",
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
                        "condition_failed",
                        g.message.display(g.name.as_str()),
                    )
                    .with_messages(g.message.clone()),
                ),
                Err(e) => out.push(FieldError::new(
                    format!("conditions.{}", g.name),
                    "script_error",
                    format!("condition '{}' failed to run: {e}", g.name),
                )),
            }
        }
    }
    if t.comment_required && comment.is_none() {
        out.push(
            FieldError::new("comment", "required", "this transition needs a comment")
                .with_messages(Label::new("此流转需要填写说明", "this transition needs a comment")),
        );
    }
    if veiled {
        out.push(hidden_requirement());
    }
    out
}

fn blocked(errors: Vec<FieldError>) -> Error {
    let n = errors.len();
    Error::new(
        ErrorCode::TransitionBlocked,
        format!("the transition is blocked by {n} unmet condition(s)"),
    )
    .with_errors(errors)
}

/// The due time of a stage's SLA entered at `at`: working time on the stage's calendar, or
/// wall-clock time without one (or when the calendar is gone).
pub async fn sla_due<C: trellis_store::Reads>(
    conn: &C,
    tenant_id: &str,
    stage: &StageDef,
    at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(sla) = &stage.sla else {
        return Ok(None);
    };
    let limit = chrono::TimeDelta::seconds(sla.seconds_total());
    let calendar = match &sla.calendar {
        None => Calendar::always(),
        Some(name) => match directory::calendar(conn, tenant_id, name.as_str()).await? {
            None => {
                tracing::warn!(calendar = %name, stage = %stage.key, "SLA calendar missing; counting wall-clock time");
                Calendar::always()
            }
            Some(text) => serde_json::from_str::<CalendarDef>(&text)
                .ok()
                .and_then(|d| Calendar::compile(&d).ok())
                .unwrap_or_else(Calendar::always),
        },
    };
    Ok(Some(calendar.add(at, limit)))
}

fn col<'e>(entity: &'e CompiledEntity, name: &str) -> Result<&'e CompiledField, Error> {
    entity
        .column(name)
        .ok_or_else(|| Error::internal(format!("pipeline column {name} missing")))
}

fn opt_time(t: Option<DateTime<Utc>>) -> Val {
    t.map(Val::DateTime).unwrap_or(Val::Null)
}

/// The values a record takes on entering a stage.
pub fn entry_values<'e>(
    entity: &'e CompiledEntity,
    stage: &str,
    at: DateTime<Utc>,
    due: Option<DateTime<Utc>>,
) -> Result<Vec<(&'e CompiledField, Val)>, Error> {
    Ok(vec![
        (col(entity, "stage")?, Val::Text(stage.to_string())),
        (col(entity, "stage_entered_at")?, Val::DateTime(at)),
        (col(entity, "stage_due_at")?, opt_time(due)),
        (col(entity, "stage_breached_at")?, Val::Null),
        (col(entity, "pending_stage")?, Val::Null),
    ])
}

/// Starts the SLA timer of a stage just entered.
pub async fn start_timer<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    app: &LoadedApp,
    entity: &CompiledEntity,
    record_id: &str,
    stage: &str,
    due: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    if let Some(due) = due {
        timers::insert(
            conn,
            &timers::TimerRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.to_string(),
                app_id: app.id.clone(),
                entity_id: entity.def.storage_id().to_string(),
                record_id: Some(record_id.to_string()),
                kind: TimerKind::Sla.to_string(),
                key: stage.to_string(),
                due_at: due,
                status: TimerStatus::Pending.to_string(),
                data: "{}".into(),
            },
        )
        .await?;
    }
    Ok(())
}

/// The read scope of each (app id, entity id) of approvals: `None` without the read right.
type ReadReach =
    HashMap<(String, String), Option<(std::sync::Arc<CompiledEntity>, Option<trellis_core::query::Filter>)>>;

/// The answer to a transition request.
#[derive(Debug)]
pub enum TransitionOut {
    /// The record moved.
    Done(RecordOut),
    /// The record waits for approval.
    Pending { record: RecordOut, approval: Box<Approval> },
}

/// A request to approve a move, with its votes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Approval {
    pub id: String,
    /// The record's id.
    pub record: String,
    /// The stage the record is in.
    pub from: String,
    /// The stage it moves to when approved.
    pub to: String,
    pub status: ApprovalStatus,
    pub requested_by: String,
    #[schema(format = DateTime)]
    pub requested_at: String,
    /// The comment of the transition request.
    pub comment: Option<String>,
    /// The files attached to the request (their metadata and kind).
    pub evidence: Value,
    /// Who must approve, and how many (`pipeline.schema.json`).
    pub policy: Value,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub votes: Vec<Vote>,
}

/// One approver's vote.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Vote {
    pub user: String,
    /// The user the voter stood in for by delegation.
    pub on_behalf_of: Option<String>,
    pub decision: VoteDecision,
    pub comment: Option<String>,
    #[schema(format = DateTime)]
    pub at: String,
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

/// The board of an entity's pipeline.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Board {
    /// Per stage, in order.
    pub stages: Vec<BoardColumn>,
}

/// A column of the board: one stage.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BoardColumn {
    pub key: String,
    pub label: Label,
    pub kind: StageKind,
    /// The stage's win probability, percent.
    pub probability: Option<f64>,
    /// Records of the stage under the filter.
    pub count: i64,
    /// Per summed field, its sum over the column (`sum`).
    pub sums: Map<String, Value>,
    /// The first records (their schema is in the app's document).
    #[schema(value_type = Vec<Object>)]
    pub records: crate::records::Page,
    /// The `cursor` of the column's next records (the list route, with the stage in the
    /// filter); none on the last.
    pub next_cursor: Option<String>,
    /// The stages the caller may move these records to.
    pub may_move_to: Vec<String>,
}

impl Engine {
    /// The roles the caller holds in an app, plus `admin` for tenant administrators.
    pub(crate) async fn roles_in<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
    ) -> Result<Vec<String>, Error> {
        let mut roles = directory::roles_of(conn, &app.id, ctx.user_id()).await?;
        if ctx.is_admin() {
            roles.push("admin".into());
        }
        Ok(roles)
    }

    async fn evidence<C: trellis_store::Reads>(
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
                    "not_found",
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
                "pending_approval",
                format!("the record waits for approval of its move to '{pending}'"),
            )]));
        }
        let Some(to) = p.stage(&req.to) else {
            return Err(Error::bad_field(
                "to",
                "unknown_stage",
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
                "no_transition",
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

    async fn related_for_guards<C: trellis_store::Reads>(
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
    async fn apply_transition(
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
        let due = sla_due(tx, tenant_id, to, now).await?;
        let values = entry_values(entity, to.key.as_str(), now, due)?;
        let id = row.id().to_string();
        if !records::update(tx, entity, &id, Some(row.version()), now, None, &values).await? {
            return Err(crate::records::stale(row.version()));
        }
        timers::cancel_for_record(tx, &id, TimerKind::Sla).await?;
        start_timer(tx, tenant_id, app, entity, &id, to.key.as_str(), due).await?;
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

    #[allow(clippy::too_many_arguments)]
    async fn request_approval(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        mut row: Row,
        from: &StageDef,
        to: &StageDef,
        policy: &ApprovalPolicy,
        req: &Request,
        evidence: &[Evidence],
    ) -> Result<(RecordOut, Approval), Error> {
        let now = trellis_core::value::now_micros();
        let id = row.id().to_string();
        let pending = col(entity, "pending_stage")?;
        let values = vec![(pending, Val::Text(to.key.to_string()))];
        if !records::update(tx, entity, &id, Some(row.version()), now, None, &values).await? {
            return Err(crate::records::stale(row.version()));
        }
        let approval = approvals::ApprovalRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: app.id.clone(),
            entity_id: entity.def.storage_id().to_string(),
            record_id: id.clone(),
            from_stage: from.key.to_string(),
            to_stage: to.key.to_string(),
            requested_by: ctx.user_id().to_string(),
            requested_at: now,
            comment: req.comment.clone(),
            evidence: Value::Array(evidence.iter().map(Evidence::to_json).collect()).to_string(),
            policy: serde_json::to_string(policy).map_err(|e| Error::internal(e.to_string()))?,
            status: ApprovalStatus::Pending.to_string(),
            decided_at: None,
            reason: None,
        };
        approvals::insert(tx, &approval).await?;
        record_event(
            tx,
            EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: &id,
                kind: EventKind::ApprovalRequested,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: json!({"approval": approval.id, "from": from.key, "to": to.key, "comment": req.comment}),
            },
        )
        .await?;
        let approvers = self.approvers(tx, app, policy).await?;
        crate::notifications::notify(
            tx,
            ctx.tenant_id(),
            &approvers
                .into_iter()
                .filter(|u| policy.allow_self || u != ctx.user_id())
                .collect::<Vec<_>>(),
            "approval_requested",
            &Label::new(
                &format!(
                    "待审批：{} → {}",
                    from.label.display(from.key.as_str()),
                    to.label.display(to.key.as_str())
                ),
                &format!(
                    "Approval needed: {} → {}",
                    from.label.display(from.key.as_str()),
                    to.label.display(to.key.as_str())
                ),
            ),
            json!({"app": app.def.name, "entity": entity.name(), "record": id, "approval": approval.id}),
        )
        .await?;
        if let Some(i) = entity.columns.iter().position(|c| c.name == "pending_stage") {
            row.values[i] = Some(Val::Text(to.key.to_string()));
        }
        bump(entity, &mut row, now);
        let approval = self.approval_out(tx, &approval).await?;
        Ok((
            RecordOut {
                json: record_json(entity, &row),
                version: row.version(),
            },
            approval,
        ))
    }

    /// Users named by an approval policy (members of its roles and its users).
    async fn approvers<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app: &LoadedApp,
        policy: &ApprovalPolicy,
    ) -> Result<Vec<String>, Error> {
        let mut out: Vec<String> = policy.users.clone();
        for r in &policy.roles {
            for u in directory::members_of(conn, &app.id, r.as_str()).await? {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    async fn approval_out<C: trellis_store::Reads>(
        &self,
        conn: &C,
        a: &approvals::ApprovalRow,
    ) -> Result<Approval, Error> {
        let stored = |what: &str, word: &str| Error::internal(format!("unknown {what} '{word}' stored"));
        let votes = approvals::votes(conn, &a.id)
            .await?
            .into_iter()
            .map(|v| {
                Ok(Vote {
                    decision: VoteDecision::parse(&v.decision).ok_or_else(|| stored("vote", &v.decision))?,
                    user: v.user_id,
                    on_behalf_of: v.on_behalf_of,
                    comment: v.comment,
                    at: trellis_core::value::format_datetime(&v.at),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Approval {
            id: a.id.clone(),
            record: a.record_id.clone(),
            from: a.from_stage.clone(),
            to: a.to_stage.clone(),
            status: ApprovalStatus::parse(&a.status).ok_or_else(|| stored("approval status", &a.status))?,
            requested_by: a.requested_by.clone(),
            requested_at: trellis_core::value::format_datetime(&a.requested_at),
            comment: a.comment.clone(),
            evidence: serde_json::from_str::<Value>(&a.evidence).unwrap_or(Value::Null),
            policy: serde_json::from_str::<Value>(&a.policy).unwrap_or(Value::Null),
            decided_at: a.decided_at.as_ref().map(trellis_core::value::format_datetime),
            reason: a.reason.clone(),
            votes,
        })
    }

    /// Approvals of the tenant with a status; `mine` keeps those the caller may decide.
    pub async fn list_approvals(
        &self,
        ctx: &TenantCtx,
        status: ApprovalStatus,
        mine: bool,
    ) -> Result<Vec<Approval>, Error> {
        let rows = approvals::with_status(&self.db.read, ctx.tenant_id(), None, status.as_str(), 500).await?;
        let mut out = Vec::new();
        let mut reach = ReadReach::default();
        for a in rows {
            if !self.reads_approval(&self.db.read, ctx, &a, &mut reach).await? {
                continue;
            }
            if mine {
                let policy: ApprovalPolicy =
                    serde_json::from_str(&a.policy).map_err(|e| Error::internal(e.to_string()))?;
                if self
                    .standing(&self.db.read, ctx, &a, &policy, trellis_core::value::now_micros())
                    .await?
                    .is_none()
                {
                    continue;
                }
            }
            out.push(self.approval_out(&self.db.read, &a).await?);
        }
        Ok(out)
    }

    /// One approval, for a user who may read its record (otherwise it does not exist for them).
    pub async fn get_approval(&self, ctx: &TenantCtx, id: &str) -> Result<Approval, Error> {
        let a = approvals::get(&self.db.read, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("no such approval"))?;
        if !self
            .reads_approval(&self.db.read, ctx, &a, &mut ReadReach::default())
            .await?
        {
            return Err(Error::not_found("no such approval"));
        }
        self.approval_out(&self.db.read, &a).await
    }

    /// Whether the caller may read the record of an approval: the read right on its entity and
    /// the record in its scope. Approvals carry no field values (evidence is file metadata), so
    /// hidden fields need nothing more. `reach` keeps each (app, entity)'s scope for a list.
    async fn reads_approval<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        a: &approvals::ApprovalRow,
        reach: &mut ReadReach,
    ) -> Result<bool, Error> {
        if ctx.is_admin() {
            return Ok(true);
        }
        let key = (a.app_id.clone(), a.entity_id.clone());
        if !reach.contains_key(&key) {
            let found = match self.approval_app_row(conn, ctx, a).await {
                Ok((app, entity)) => {
                    let access = self.access(conn, ctx, &app, &entity).await?;
                    if access.grant.reach(Right::Read).is_none() {
                        None
                    } else {
                        let scope = self.scope(conn, ctx, &access, Right::Read).await?;
                        Some((entity, scope))
                    }
                }
                Err(e) if e.code == ErrorCode::NotFound => None,
                Err(e) => return Err(e),
            };
            reach.insert(key.clone(), found);
        }
        Ok(match &reach[&key] {
            None => false,
            Some((_, None)) => true,
            Some((entity, Some(scope))) => crate::access::get_scoped(conn, entity, &a.record_id, Some(scope), None)
                .await?
                .is_some(),
        })
    }

    /// Whom the caller stands for on an approval: themselves, or a user they are delegated by.
    /// None when they may not decide it.
    async fn standing<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        a: &approvals::ApprovalRow,
        policy: &ApprovalPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Error> {
        let mut candidates = vec![ctx.user_id().to_string()];
        candidates.extend(directory::principals_of(conn, ctx.tenant_id(), ctx.user_id(), now).await?);
        for who in candidates {
            if who == a.requested_by && !policy.allow_self {
                continue;
            }
            if policy.users.contains(&who) {
                return Ok(Some(who));
            }
            let roles = directory::roles_of(conn, &a.app_id, &who).await?;
            if policy.roles.iter().any(|r| roles.iter().any(|x| x == r.as_str())) {
                return Ok(Some(who));
            }
        }
        Ok(None)
    }

    /// Approves or rejects (`decision` = true approves). The last approval the policy needs
    /// moves the record, re-checking the transition's conditions; a rejection (a reason is
    /// required) returns it to its stage. Every vote and decision lands in the history.
    pub async fn decide_approval(
        &self,
        ctx: &TenantCtx,
        id: &str,
        approve: bool,
        comment: Option<&str>,
    ) -> Result<Approval, Error> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
            return Err(Error::bad_field(
                "comment",
                "too_long",
                format!("at most {MAX_COMMENT} characters"),
            ));
        }
        if !approve && comment.is_none() {
            return Err(Error::validation(vec![FieldError::new(
                "comment",
                "required",
                "a rejection needs a reason",
            )]));
        }
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let a = approvals::get(&tx, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("no such approval"))?;
        if !self.reads_approval(&tx, ctx, &a, &mut ReadReach::default()).await? {
            return Err(Error::not_found("no such approval"));
        }
        if a.status != ApprovalStatus::Pending.as_str() {
            return Err(Error::conflict(format!("the approval is already {}", a.status)));
        }
        let policy: ApprovalPolicy = serde_json::from_str(&a.policy).map_err(|e| Error::internal(e.to_string()))?;
        let now = trellis_core::value::now_micros();
        let Some(stands_for) = self.standing(&tx, ctx, &a, &policy, now).await? else {
            return Err(Error::permission_denied(if ctx.user_id() == a.requested_by {
                "you asked for this approval and may not approve it yourself"
            } else {
                "you are not an approver of this request"
            }));
        };
        let vote = approvals::VoteRow {
            approval_id: a.id.clone(),
            user_id: ctx.user_id().to_string(),
            on_behalf_of: (stands_for != ctx.user_id()).then(|| stands_for.clone()),
            decision: if approve {
                VoteDecision::Approve
            } else {
                VoteDecision::Reject
            }
            .as_str()
            .into(),
            comment: comment.map(str::to_string),
            at: now,
        };
        approvals::insert_vote(&tx, &vote).await.map_err(|e| {
            if e.is_unique_violation() {
                Error::conflict("you have already decided this approval")
            } else {
                e.into()
            }
        })?;
        let row = self.approval_app_row(&tx, ctx, &a).await?;
        let (app, entity) = (&row.0, &row.1);
        let record = records::get(&tx, entity, &a.record_id, None)
            .await?
            .ok_or_else(|| Error::not_found("the record of this approval is gone"))?;
        let outcome = if !approve {
            ApprovalStatus::Rejected
        } else if self.policy_met(&tx, &a, &policy).await? {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Pending
        };
        record_event(
            &tx,
            EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: &a.record_id,
                kind: if approve {
                    EventKind::ApprovalApprovedVote
                } else {
                    EventKind::ApprovalRejectedVote
                },
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: json!({"approval": a.id, "on_behalf_of": vote.on_behalf_of, "comment": comment}),
            },
        )
        .await?;
        match outcome {
            ApprovalStatus::Rejected => {
                approvals::decide(&tx, &a.id, ApprovalStatus::Rejected.as_str(), now, comment).await?;
                let pending = col(entity, "pending_stage")?;
                records::update(&tx, entity, &a.record_id, None, now, None, &[(pending, Val::Null)]).await?;
                record_event(
                    &tx,
                    EventDraft {
                        tenant_id: ctx.tenant_id(),
                        app,
                        entity,
                        record_id: &a.record_id,
                        kind: EventKind::ApprovalRejected,
                        actor: Some(ctx.user_id()),
                        via: ctx.via(),
                        depth: ctx.depth(),
                        data: json!({"approval": a.id, "from": a.from_stage, "to": a.to_stage, "reason": comment}),
                    },
                )
                .await?;
                crate::notifications::notify(
                    &tx,
                    ctx.tenant_id(),
                    std::slice::from_ref(&a.requested_by),
                    "approval_rejected",
                    &Label::new("审批被驳回", "Approval rejected"),
                    json!({"app": app.def.name, "entity": entity.name(), "record": a.record_id, "approval": a.id, "reason": comment}),
                )
                .await?;
            }
            ApprovalStatus::Approved => {
                let p = pipeline_of(entity)?;
                let from = current_stage(p, entity, &record);
                let to = p
                    .stage(&a.to_stage)
                    .ok_or_else(|| Error::conflict("the stage this approval leads to no longer exists"))?;
                let t = p.transition(from.key.as_str(), to.key.as_str()).ok_or_else(|| {
                    Error::conflict("the pipeline no longer has this transition; the approval cannot complete")
                })?;
                let evidence: Vec<Evidence> = serde_json::from_str::<Vec<Value>>(&a.evidence)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| {
                        Some(Evidence {
                            file: FileMeta {
                                id: v.get("id")?.as_str()?.to_string(),
                                name: v.get("name")?.as_str()?.to_string(),
                                size: v.get("size")?.as_i64()?,
                                content_type: v.get("content_type")?.as_str()?.to_string(),
                                sha256: v.get("sha256")?.as_str()?.to_string(),
                            },
                            kind: v.get("kind").and_then(Value::as_str).map(str::to_string),
                        })
                    })
                    .collect();
                let requester = UserInfo {
                    id: a.requested_by.clone(),
                    roles: directory::roles_of(&tx, &app.id, &a.requested_by).await?,
                    team: crate::access::first_team(&tx, ctx.tenant_id(), &a.requested_by).await?,
                };
                let related = self.related_for_guards(&tx, app, entity, &record).await?;
                // Told to the approver: through the approver's view.
                let hidden = self.hidden_fields(&tx, ctx, app).await?;
                // The record may have changed while it waited: its conditions must still hold.
                let problems = unmet(
                    self,
                    app,
                    entity,
                    p,
                    from,
                    t,
                    &record,
                    &evidence,
                    a.comment.as_deref(),
                    &requester,
                    &related,
                    &hidden,
                );
                if !problems.is_empty() {
                    return Err(blocked(problems));
                }
                approvals::decide(&tx, &a.id, ApprovalStatus::Approved.as_str(), now, None).await?;
                record_event(
                    &tx,
                    EventDraft {
                        tenant_id: ctx.tenant_id(),
                        app,
                        entity,
                        record_id: &a.record_id,
                        kind: EventKind::ApprovalApproved,
                        actor: Some(ctx.user_id()),
                        via: ctx.via(),
                        depth: ctx.depth(),
                        data: json!({"approval": a.id, "from": a.from_stage, "to": a.to_stage}),
                    },
                )
                .await?;
                self.apply_transition(
                    &tx,
                    ctx.tenant_id(),
                    Some(&a.requested_by),
                    (ctx.via(), ctx.depth()),
                    app,
                    entity,
                    record,
                    to,
                    a.comment.as_deref(),
                    &evidence,
                    Some(&a.id),
                )
                .await?;
                crate::notifications::notify(
                    &tx,
                    ctx.tenant_id(),
                    std::slice::from_ref(&a.requested_by),
                    "approval_approved",
                    &Label::new("审批已通过", "Approval granted"),
                    json!({"app": app.def.name, "entity": entity.name(), "record": a.record_id, "approval": a.id}),
                )
                .await?;
            }
            _ => {}
        }
        let a = approvals::get(&tx, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::internal("approval vanished"))?;
        let out = self.approval_out(&tx, &a).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_dispatcher();
        Ok(out)
    }

    async fn approval_app_row<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        a: &approvals::ApprovalRow,
    ) -> Result<(std::sync::Arc<LoadedApp>, std::sync::Arc<CompiledEntity>), Error> {
        let row = system::app_by_id(conn, &a.app_id)
            .await?
            .filter(|r| r.tenant_id == ctx.tenant_id())
            .ok_or_else(|| Error::not_found("the app of this approval is gone"))?;
        let app = self.compiled_app(ctx, &row.name).await?;
        let entity = crate::automation::dispatch::entity_by_id(&app, &a.entity_id)
            .ok_or_else(|| Error::not_found("the entity of this approval is gone"))?;
        Ok((app, entity))
    }

    /// Whether the approvals so far satisfy the policy.
    async fn policy_met<C: trellis_store::Reads>(
        &self,
        conn: &C,
        a: &approvals::ApprovalRow,
        policy: &ApprovalPolicy,
    ) -> Result<bool, Error> {
        let votes = approvals::votes(conn, &a.id).await?;
        let approvers: Vec<String> = votes
            .iter()
            .filter(|v| v.decision == VoteDecision::Approve)
            .map(|v| v.on_behalf_of.clone().unwrap_or_else(|| v.user_id.clone()))
            .collect();
        Ok(match policy.mode {
            ApprovalMode::Any => !approvers.is_empty(),
            ApprovalMode::NOfM => approvers.len() as u32 >= policy.n.unwrap_or(1),
            ApprovalMode::All => {
                let users_ok = policy.users.iter().all(|u| approvers.contains(u));
                let mut roles_ok = true;
                for r in &policy.roles {
                    let mut any = false;
                    for who in &approvers {
                        if directory::roles_of(conn, &a.app_id, who)
                            .await?
                            .iter()
                            .any(|x| x == r.as_str())
                        {
                            any = true;
                            break;
                        }
                    }
                    roles_ok &= any;
                }
                users_ok && roles_ok
            }
        })
    }

    /// The transitions the caller could make from the record's stage, each with what blocks
    /// it now (nothing: it can be made), whether it needs approval, and whether the caller is
    /// allowed at all.
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
                        "pending_approval",
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

    /// The board of a pipeline: per stage (in order) the count, sums of numeric fields and the
    /// first records, under one filter and search; plus the stages the caller may move to from
    /// each (for drag and drop).
    pub async fn board(
        &self,
        ctx: &TenantCtx,
        app_name: &str,
        entity_name: &str,
        p: &crate::records::ListParams,
        sums: Option<&str>,
    ) -> Result<Board, Error> {
        let app = self.compiled_app(ctx, app_name).await?;
        let entity = crate::records::entity_of(&app, entity_name)?.clone();
        let pipeline = pipeline_of(&entity)?;
        let access = self.access(&self.db.read, ctx, &app, &entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        // Hidden fields are unknown to the caller's filters and sums.
        let entity = access.view.clone();
        let filter_json: Option<Value> = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(
                serde_json::from_str(f)
                    .map_err(|e| Error::bad_field("filter", "invalid_json", format!("is not valid JSON: {e}")))?,
            ),
            None => None,
        };
        let filter = filter_json
            .as_ref()
            .map(|v| trellis_core::query::parse_filter(&entity, v))
            .transpose()?;
        let filter = crate::access::and(scope, filter);
        let mut sum_fields: Vec<&CompiledField> = Vec::new();
        for name in sums.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let f = entity
                .column(name)
                .filter(|f| !f.system)
                .ok_or_else(|| trellis_core::query::unknown_field(&entity, "sum", name))?;
            if !(f.kind.is_fixed_point() || f.kind == trellis_core::FieldType::Integer) {
                return Err(Error::bad_field(
                    "sum",
                    "type",
                    format!("'{name}' is not a number field"),
                ));
            }
            sum_fields.push(f);
        }
        let search = p.q.as_deref().filter(|s| !s.trim().is_empty());
        let stage_col = col(&entity, "stage")?;
        let totals =
            records::group_totals(&self.db.read, &entity, stage_col, filter.as_ref(), search, &sum_fields).await?;
        let roles = self.roles_in(&self.db.read, ctx, &app).await?;
        let initial = pipeline.initial_stage().key.to_string();
        let mut stages = Vec::new();
        for s in &pipeline.stages {
            let mut count = 0;
            let mut sums_raw = vec![0i128; sum_fields.len()];
            for (g, n, ss) in &totals {
                // Records from before the pipeline have no stage: they sit in the initial one.
                if g.as_deref().unwrap_or(&initial) == s.key.as_str() {
                    count += n;
                    for (acc, v) in sums_raw.iter_mut().zip(ss) {
                        *acc = acc.saturating_add(v.unwrap_or(0));
                    }
                }
            }
            let mut sums_out = Map::new();
            for (f, raw) in sum_fields.iter().zip(sums_raw) {
                sums_out.insert(f.name.clone(), board_sum(f, s.key.as_str(), raw)?);
            }
            let stage_filter = json!({"field": "stage", "op": "eq", "value": s.key});
            let combined = match &filter_json {
                Some(f) => json!({"and": [f, stage_filter]}),
                None => stage_filter,
            };
            let params = crate::records::ListParams {
                filter: Some(combined.to_string()),
                limit: p.limit.or(Some(20)),
                ..p.clone()
            };
            let page = self.list_records(ctx, app_name, entity_name, &params).await?;
            let may: Vec<String> = pipeline
                .next_stages(s.key.as_str())
                .into_iter()
                .filter(|n| {
                    access.grant.may_enter(n.key.as_str())
                        && pipeline.transition(s.key.as_str(), n.key.as_str()).is_some_and(|t| {
                            t.allow.as_ref().is_none_or(|a| {
                                a.owner
                                    || !a.user_fields.is_empty()
                                    || a.users.iter().any(|u| u == ctx.user_id())
                                    || a.roles.iter().any(|r| roles.iter().any(|x| x == r.as_str()))
                            })
                        })
                })
                .map(|n| n.key.to_string())
                .collect();
            stages.push(BoardColumn {
                key: s.key.to_string(),
                label: s.label.clone(),
                kind: s.kind,
                probability: s.probability,
                count,
                sums: sums_out,
                records: page.data,
                next_cursor: page.next_cursor,
                may_move_to: may,
            });
        }
        Ok(Board { stages })
    }

    /// Fires SLA timers that are due: marks each record overdue once, writes an `sla_breached`
    /// event and tells the record's owner and the escalation target. Returns how many fired.
    /// Safe to run on several nodes at once: each timer fires in exactly one transaction.
    pub async fn sweep_timers(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        // The read pool answers "anything due?" through the partial index without taking the
        // SQLite writer.
        if timers::due(&self.db.read, now, 1).await?.is_empty() {
            return Ok(0);
        }
        let mut fired = 0;
        loop {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            let due = timers::due(&tx, now, 200).await?;
            let n = due.len();
            for t in due {
                if !timers::mark_fired(&tx, &t.id, now).await? {
                    continue;
                }
                fired += 1;
                let done = match TimerKind::parse(&t.kind) {
                    Some(TimerKind::Sla) => self.breach(&tx, &t, now).await,
                    Some(TimerKind::Rule | TimerKind::Cron) => {
                        let app = self.app_by_id(&tx, &t.app_id).await?;
                        crate::automation::schedule::fire(&tx, &t, app.as_ref().map(|a| &a.def), now).await
                    }
                    None => Ok(()),
                };
                if let Err(e) = done {
                    tracing::error!(timer = %t.id, error = %e.detail, "timer could not be processed");
                }
            }
            tx.commit().await.map_err(StoreError::from)?;
            self.wake_dispatcher();
            if n < 200 {
                return Ok(fired);
            }
        }
    }

    async fn breach(&self, tx: &trellis_store::WriteTx, t: &timers::TimerRow, now: DateTime<Utc>) -> Result<(), Error> {
        let Some(app) = self.app_by_id(tx, &t.app_id).await? else {
            return Ok(());
        };
        let Some(entity) = crate::automation::dispatch::entity_by_id(&app, &t.entity_id) else {
            return Ok(());
        };
        let Some(record_id) = &t.record_id else {
            return Ok(());
        };
        let Some(row) = records::get(tx, &entity, record_id, None).await? else {
            return Ok(());
        };
        if text_of(&entity, &row, "stage") != Some(t.key.as_str()) {
            return Ok(());
        }
        let p = pipeline_of(&entity)?;
        let stage = p.stage(&t.key);
        // The stage lost its SLA after the timer was read (a definition change cancels them).
        if stage.is_none_or(|s| s.sla.is_none()) {
            return Ok(());
        }
        let breached = col(&entity, "stage_breached_at")?;
        records::update(
            tx,
            &entity,
            record_id,
            None,
            now,
            None,
            &[(breached, Val::DateTime(now))],
        )
        .await?;
        let escalate: Vec<String> = match stage.and_then(|s| s.sla.as_ref()).and_then(|s| s.escalate_to.as_ref()) {
            Some(r) => self.resolve_users(tx, &app, &entity, &row, r).await?,
            None => Vec::new(),
        };
        let owner: Vec<String> = text_of(&entity, &row, "owner")
            .map(str::to_string)
            .into_iter()
            .collect();
        record_event(
            tx,
            EventDraft {
                tenant_id: &t.tenant_id,
                app: &app,
                entity: &entity,
                record_id,
                kind: EventKind::SlaBreached,
                actor: None,
                via: Some(format!("timer:{}", t.id)),
                depth: 0,
                data: json!({"stage": t.key, "due_at": trellis_core::value::format_datetime(&t.due_at), "escalated_to": escalate}),
            },
        )
        .await?;
        let mut users = owner;
        for u in escalate {
            if !users.contains(&u) {
                users.push(u);
            }
        }
        let stage_label = stage.map(|s| s.label.clone()).unwrap_or_default();
        crate::notifications::notify(
            tx,
            &t.tenant_id,
            &users,
            "sla_breached",
            &Label::new(
                &format!("超时：{}", stage_label.zh.as_deref().unwrap_or(&t.key)),
                &format!("Overdue: {}", stage_label.en.as_deref().unwrap_or(&t.key)),
            ),
            json!({"app": app.def.name, "entity": entity.name(), "record": record_id, "stage": t.key}),
        )
        .await?;
        Ok(())
    }

    async fn resolve_users<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app: &LoadedApp,
        entity: &CompiledEntity,
        row: &Row,
        r: &UserRef,
    ) -> Result<Vec<String>, Error> {
        Ok(if let Some(role) = &r.role {
            directory::members_of(conn, &app.id, role.as_str()).await?
        } else if let Some(u) = &r.user {
            vec![u.clone()]
        } else if let Some(f) = &r.field {
            text_of(entity, row, f.as_str())
                .map(str::to_string)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        })
    }

    /// A record's history: every event oldest first (field changes, stage moves with time in
    /// stage, approvals, SLA breaches), paged by event id.
    pub async fn record_history(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        after: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Value, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = crate::records::entity_of(&app, entity)?.clone();
        let id = crate::records::check_id(id)?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::bad_field("limit", "range", "must be 1 to 1000"));
        }
        let access = self.access(&self.db.read, ctx, &app, &entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        // A caller limited to some rows reads the history of those that exist and are in reach.
        if scope.is_some()
            && crate::access::get_scoped(&self.db.read, &entity, &id, scope.as_ref(), Some(&[]))
                .await?
                .is_none()
        {
            return Err(Error::not_found("no such record"));
        }
        // A deleted record's history stays readable; a record never seen answers 404.
        let rows = events::of_record(&self.db.read, ctx.tenant_id(), &id, after, limit).await?;
        if rows.is_empty() && after.is_none() && records::get(&self.db.read, &entity, &id, Some(&[])).await?.is_none() {
            return Err(Error::not_found("no such record"));
        }
        let hidden = access.hidden_ids();
        let names: std::collections::HashMap<String, String> = entity
            .def
            .fields
            .iter()
            .map(|f| (f.storage_id().to_string(), f.name.to_string()))
            .collect();
        let data: Vec<Value> = rows
            .iter()
            .filter(|e| e.entity_id == entity.def.storage_id().as_str())
            .map(|e| {
                let mut j = crate::records::history::event_json_without(e, &names, &hidden);
                if let Some(r) = j.get_mut("record") {
                    access.redact(r);
                }
                j
            })
            .collect();
        let next = if rows.len() as u64 == limit {
            rows.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(json!({ "data": data, "next_cursor": next }))
    }
}

/// The row after a write of ours: new version and update time.
fn bump(entity: &CompiledEntity, row: &mut Row, at: DateTime<Utc>) {
    let v = row.version() + 1;
    for (i, c) in entity.columns.iter().enumerate() {
        match c.name.as_str() {
            "version" => row.values[i] = Some(Val::Int(v)),
            "updated_at" => row.values[i] = Some(Val::DateTime(at)),
            _ => {}
        }
    }
}

/// Keeps records consistent with a changed pipeline, inside the definition change: records
/// without a stage (the pipeline is new) enter the initial one, with its SLA timer when it has
/// one; a stage that still holds records cannot be removed.
pub async fn reconcile<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    old: &trellis_core::AppDef,
    app: &LoadedApp,
) -> Result<(), Error> {
    use trellis_store::stages;
    let now = trellis_core::value::now_micros();
    let new = &app.compiled;
    for entity in new.entities.values() {
        let Some(p) = &entity.def.pipeline else {
            continue;
        };
        let table = entity.table.as_str();
        let old_p = old
            .entities
            .iter()
            .find(|e| e.id == entity.def.id)
            .and_then(|e| e.pipeline.as_ref());
        if let Some(old_p) = old_p {
            let gone: Vec<String> = old_p
                .stages
                .iter()
                .filter(|s| p.stage(s.key.as_str()).is_none())
                .map(|s| s.key.to_string())
                .collect();
            if !gone.is_empty() {
                let n = stages::count_in_stages(conn, table, &gone).await?;
                if n > 0 {
                    return Err(Error::conflict(format!(
                        "{n} '{}' record(s) are in (or waiting for) stage(s) {}; move them before removing the stage",
                        entity.name(),
                        gone.join(", ")
                    )));
                }
            }
        }
        let initial = p.initial_stage();
        let due = sla_due(conn, tenant_id, initial, now).await?;
        // The records entering now, for their SLA timers.
        let entering: Vec<String> = match due {
            None => Vec::new(),
            Some(_) => stages::ids_without_stage(conn, table).await?,
        };
        stages::enter_initial(conn, table, initial.key.as_str(), now, due).await?;
        for id in &entering {
            start_timer(conn, tenant_id, app, entity, id, initial.key.as_str(), due).await?;
        }
        // A stage given an SLA: its records have none running; they get one counted from now
        // (they entered when no time limit was set). A stage whose SLA is gone: its running
        // timers stop. A changed SLA applies from the next entry; running timers keep their due.
        for stage in &p.stages {
            if stage.sla.is_none() {
                let had_sla = old_p
                    .and_then(|o| o.stage(stage.key.as_str()))
                    .is_some_and(|s| s.sla.is_some());
                if !had_sla {
                    continue;
                }
                timers::cancel_for_key(
                    conn,
                    entity.def.storage_id().as_str(),
                    TimerKind::Sla,
                    stage.key.as_str(),
                )
                .await?;
                stages::clear_due(conn, table, stage.key.as_str()).await?;
                continue;
            }
            let ids = stages::ids_without_due(conn, table, stage.key.as_str()).await?;
            if ids.is_empty() {
                continue;
            }
            // Due from now, on the stage's calendar (read only when some record needs it).
            let Some(due) = sla_due(conn, tenant_id, stage, now).await? else {
                continue;
            };
            stages::set_missing_due(conn, table, stage.key.as_str(), due).await?;
            for id in &ids {
                start_timer(conn, tenant_id, app, entity, id, stage.key.as_str(), Some(due)).await?;
            }
        }
    }
    Ok(())
}

/// A board column's sum of a number field as answered: exact in 128 bits, answered while it
/// fits the 64 bits of stored units (a sum of integers as an exact integer). A sum past that
/// answers 422 naming `sum` and the field, rather than a rounded or wrapped number.
fn board_sum(f: &CompiledField, stage: &str, raw: i128) -> Result<Value, Error> {
    let Ok(raw) = i64::try_from(raw) else {
        return Err(Error::validation(vec![FieldError::new(
            "sum",
            "out_of_range",
            format!(
                "the sum of '{}' in stage '{stage}' is past 64 bits; filter the board to fewer records",
                f.name
            ),
        )]));
    };
    let v = if f.kind.is_fixed_point() {
        Val::Fixed(raw)
    } else {
        Val::Int(raw)
    };
    let mut plain = f.clone();
    if plain.kind == trellis_core::FieldType::Currency {
        plain.kind = trellis_core::FieldType::Decimal;
    }
    Ok(v.to_json(&plain))
}
