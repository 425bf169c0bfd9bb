//! Pipelines at run time: a record enters its first stage when created and moves only through
//! transitions, each checked (who may, fields, evidence, conditions), recorded in the event log
//! with the time spent in the stage left, and, where the pipeline says so, held for approval.
//! Entering a stage with an SLA starts a durable timer; the sweep marks records that overstay.

mod approval;
mod board;
mod history;
mod reconcile;
mod rights;
mod sla;
mod transition;

pub use approval::{Approval, Vote};
pub use board::{Board, BoardColumn};
pub use history::HistoryPage;
pub use reconcile::reconcile;
pub use rights::{AppAccess, EntityAccess, EntityRights, MoveAccess, MoveRight, RightReach};
pub use sla::{StageEntry, entry_values, sla_due, start_timer};
pub use transition::{NextMove, NextMoves, TransitionOut, hidden_requirement};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use trellis_core::pipeline::{PipelineDef, StageDef, TransitionDef, UserRef};
use trellis_core::{CompiledEntity, CompiledField, Error, Label, Val};
use trellis_store::directory;
use trellis_store::records::Row;

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;
// The parts of pipelines, shared among this folder's modules.
use self::{reconcile::*, transition::*};

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
/// Who may make a transition (its `allow`) before a record is looked at: the caller's roles or
/// the caller by name decide it, or only the record can (its owner, a user field), or nothing
/// lets the caller make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MayMove {
    Yes,
    ByRecord,
    No,
}

pub(crate) fn may_move(t: &TransitionDef, user: &str, roles: &[String]) -> MayMove {
    let Some(a) = &t.allow else {
        return MayMove::Yes;
    };
    if a.roles.iter().any(|r| roles.iter().any(|x| x == r.as_str())) || a.users.iter().any(|u| u == user) {
        MayMove::Yes
    } else if a.owner || !a.user_fields.is_empty() {
        MayMove::ByRecord
    } else {
        MayMove::No
    }
}

/// Whether the transition's `allow` lets the caller move this record.
fn may_make(t: &TransitionDef, entity: &CompiledEntity, row: &Row, user: &str, roles: &[String]) -> bool {
    match may_move(t, user, roles) {
        MayMove::Yes => true,
        MayMove::No => false,
        MayMove::ByRecord => {
            let a = t.allow.as_ref().expect("an allow decides by the record");
            (a.owner && text_of(entity, row, "owner") == Some(user))
                || a.user_fields
                    .iter()
                    .any(|f| text_of(entity, row, f.as_str()) == Some(user))
        }
    }
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

fn col<'e>(entity: &'e CompiledEntity, name: &str) -> Result<&'e CompiledField, Error> {
    entity
        .column(name)
        .ok_or_else(|| Error::internal(format!("pipeline column {name} missing")))
}

fn opt_time(t: Option<DateTime<Utc>>) -> Val {
    t.map(Val::DateTime).unwrap_or(Val::Null)
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
}
