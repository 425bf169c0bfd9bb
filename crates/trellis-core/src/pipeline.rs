//! Pipelines: the ordered stages of an entity (with SOP actions, entry and exit requirements and
//! SLAs), the transitions between them, who may make each one and which need approval. Part of
//! the entity's definition, so a pipeline is versioned with its app.

use crate::error::FieldCode;
use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::def::{AppDef, EntityDef, FieldType, Label};
use crate::error::FieldError;
use crate::names::Slug;

/// Most stages a pipeline may have.
pub const MAX_STAGES: usize = 50;
/// Longest SLA: a year.
pub const MAX_SLA_SECONDS: i64 = 366 * 24 * 3600;

/// The stage engine of one entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineDef {
    /// The stage a new record enters (default: the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub initial: Option<Slug>,
    #[schema(min_items = 1, max_items = 50)]
    pub stages: Vec<StageDef>,
    #[serde(default)]
    #[schema(max_items = 500)]
    pub transitions: Vec<TransitionDef>,
}

/// What a stage means for the forecast.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    #[default]
    Open,
    Won,
    Lost,
}

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Open => "open",
            StageKind::Won => "won",
            StageKind::Lost => "lost",
        }
    }
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    pub key: Slug,
    pub label: Label,
    #[serde(default)]
    pub kind: StageKind,
    /// Configured win probability, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0, maximum = 100)]
    pub probability: Option<f64>,
    /// Weight in the weighted pipeline, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0, maximum = 100)]
    pub weight: Option<f64>,
    /// The standard actions (SOP) shown to the user in this stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub sop: Vec<SopAction>,
    /// What must hold to enter the stage.
    #[serde(default, skip_serializing_if = "Requirements::is_empty")]
    pub entry: Requirements,
    /// What must hold to leave the stage.
    #[serde(default, skip_serializing_if = "Requirements::is_empty")]
    pub exit: Requirements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sla: Option<SlaDef>,
}

/// A standard action of a stage's SOP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SopAction {
    pub key: Slug,
    pub label: Label,
}

/// Conditions a transition must meet: filled fields, attachments, guards (Rhai).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub fields: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 20)]
    pub attachments: Vec<AttachmentReq>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub conditions: Vec<Guard>,
}

impl Requirements {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.attachments.is_empty() && self.conditions.is_empty()
    }
}

/// Evidence a transition needs: at least `min` files of the allowed types, given with the
/// transition (as `{file, kind: key}`) or held by the record's attachment `field`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentReq {
    pub key: Slug,
    pub label: Label,
    /// Allowed content types, e.g. `application/pdf` or `image/*` (none: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 20)]
    #[schema(schema_with = content_types)]
    pub types: Vec<String>,
    /// Fewest files (default 1).
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 100)]
    pub min: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<Slug>,
}

fn string_array(min_len: usize, max_len: usize, max_items: usize) -> utoipa::openapi::schema::ArrayBuilder {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length((min_len > 0).then_some(min_len))
                .max_length(Some(max_len)),
        )
        .max_items(Some(max_items))
}

/// Content types such as `application/pdf` or `image/*`.
fn content_types() -> utoipa::openapi::schema::Array {
    string_array(0, 100, 20).build()
}

/// User ids.
fn user_ids() -> utoipa::openapi::schema::Array {
    string_array(1, 64, 100).build()
}

/// Stage keys, or `*` for any stage.
fn from_stages() -> utoipa::openapi::schema::Array {
    string_array(0, 63, 50).min_items(Some(1)).build()
}

fn one() -> u32 {
    1
}

/// A named Rhai condition with the message shown when it does not hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    pub name: Slug,
    /// Rhai condition, 1 to 4000 characters when written; a member whose roles hide a field it
    /// names reads it empty.
    #[schema(max_length = 4000)]
    pub assert: String,
    pub message: Label,
}

/// How long a record may stay in a stage, on which calendar, who owns it and who is told when
/// it overstays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaDef {
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schema(maximum = 366)]
    pub days: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schema(maximum = 8784)]
    pub hours: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schema(maximum = 527040)]
    pub minutes: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schema(maximum = 31622400)]
    pub seconds: u32,
    /// A tenant business calendar; none counts wall-clock time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub calendar: Option<Slug>,
    /// The role responsible for the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub owner_role: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub escalate_to: Option<UserRef>,
}

impl SlaDef {
    /// The limit in seconds (working seconds on a calendar).
    pub fn seconds_total(&self) -> i64 {
        i64::from(self.days) * 86_400
            + i64::from(self.hours) * 3600
            + i64::from(self.minutes) * 60
            + i64::from(self.seconds)
    }
}

/// Users named in a definition: members of a role, one user, or the user held by a field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub role: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<Slug>,
}

/// A move between stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionDef {
    /// Stages it leaves from; `*` for any.
    #[schema(schema_with = from_stages)]
    pub from: Vec<String>,
    pub to: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    /// Who may make it (none: anyone who may update the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub allow: Option<Allow>,
    #[serde(default, skip_serializing_if = "Requirements::is_empty")]
    pub requires: Requirements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub approval: Option<ApprovalPolicy>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub comment_required: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Who may make a transition: any of these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub roles: Vec<Slug>,
    /// The record's owner.
    #[serde(default, skip_serializing_if = "is_false")]
    pub owner: bool,
    /// The users held by these user fields of the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 20)]
    pub user_fields: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = user_ids)]
    pub users: Vec<String>,
}

/// How many approvers must agree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// One approval decides.
    #[default]
    Any,
    /// Every named user, and one member of every named role.
    All,
    /// `n` approvals from the eligible users.
    NOfM,
}

/// Who approves a transition and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 20)]
    pub roles: Vec<Slug>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(schema_with = user_ids)]
    pub users: Vec<String>,
    #[serde(default)]
    pub mode: ApprovalMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1, maximum = 50)]
    pub n: Option<u32>,
    /// Whether the user who asked may approve.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_self: bool,
}

impl PipelineDef {
    pub fn stage(&self, key: &str) -> Option<&StageDef> {
        self.stages.iter().find(|s| s.key.as_str() == key)
    }
    /// The stage new records enter.
    pub fn initial_stage(&self) -> &StageDef {
        self.initial
            .as_ref()
            .and_then(|k| self.stage(k.as_str()))
            .unwrap_or(&self.stages[0])
    }
    /// The transition from `from` to `to`, the most specific (named `from`) first.
    pub fn transition(&self, from: &str, to: &str) -> Option<&TransitionDef> {
        let leaves = |t: &&TransitionDef, any: bool| {
            t.to.as_str() == to && t.from.iter().any(|f| if any { f == "*" } else { f == from })
        };
        self.transitions
            .iter()
            .find(|t| leaves(t, false))
            .or_else(|| self.transitions.iter().find(|t| leaves(t, true)))
    }
    /// Stages reachable in one step from `from`, in stage order.
    pub fn next_stages(&self, from: &str) -> Vec<&StageDef> {
        self.stages
            .iter()
            .filter(|s| s.key.as_str() != from && self.transition(from, s.key.as_str()).is_some())
            .collect()
    }
}

/// Semantic checks of a pipeline (its guards are compiled by the engine, which owns scripts).
pub fn validate_pipeline(app: &AppDef, e: &EntityDef, p: &PipelineDef, at: &str, errors: &mut Vec<FieldError>) {
    let at = format!("{at}.pipeline");
    if p.stages.is_empty() {
        errors.push(FieldError::new(
            &at,
            FieldCode::Required,
            "a pipeline needs at least one stage",
        ));
        return;
    }
    if p.stages.len() > MAX_STAGES {
        errors.push(FieldError::new(
            format!("{at}.stages"),
            FieldCode::TooMany,
            format!("a pipeline has at most {MAX_STAGES} stages"),
        ));
    }
    let mut keys = HashSet::new();
    for (i, s) in p.stages.iter().enumerate() {
        let sat = format!("{at}.stages[{i}]");
        if !keys.insert(s.key.as_str()) {
            errors.push(FieldError::new(
                format!("{sat}.key"),
                FieldCode::Duplicate,
                format!("stage '{}' is defined twice", s.key),
            ));
        }
        for (name, v) in [("probability", s.probability), ("weight", s.weight)] {
            if let Some(v) = v
                && !(0.0..=100.0).contains(&v)
            {
                errors.push(FieldError::new(
                    format!("{sat}.{name}"),
                    FieldCode::OutOfRange,
                    "must be a percentage from 0 to 100",
                ));
            }
        }
        let mut sop = HashSet::new();
        for (j, a) in s.sop.iter().enumerate() {
            if !sop.insert(a.key.as_str()) {
                errors.push(FieldError::new(
                    format!("{sat}.sop[{j}].key"),
                    FieldCode::Duplicate,
                    format!("SOP action '{}' is listed twice", a.key),
                ));
            }
        }
        check_requirements(e, &s.entry, &format!("{sat}.entry"), errors);
        check_requirements(e, &s.exit, &format!("{sat}.exit"), errors);
        if let Some(sla) = &s.sla {
            let slat = format!("{sat}.sla");
            let secs = sla.seconds_total();
            if secs <= 0 || secs > MAX_SLA_SECONDS {
                errors.push(FieldError::new(
                    &slat,
                    FieldCode::OutOfRange,
                    "an SLA is more than zero and at most 366 days",
                ));
            }
            if let Some(r) = &sla.owner_role {
                check_role(app, r, &format!("{slat}.owner_role"), errors);
            }
            if let Some(u) = &sla.escalate_to {
                check_user_ref(app, e, u, &format!("{slat}.escalate_to"), errors);
            }
        }
    }
    if let Some(i) = &p.initial
        && !keys.contains(i.as_str())
    {
        errors.push(FieldError::new(
            format!("{at}.initial"),
            FieldCode::UnknownStage,
            format!("initial stage '{i}' is not a stage of this pipeline"),
        ));
    }
    let mut pairs = HashSet::new();
    for (i, t) in p.transitions.iter().enumerate() {
        let tat = format!("{at}.transitions[{i}]");
        if !keys.contains(t.to.as_str()) {
            errors.push(FieldError::new(
                format!("{tat}.to"),
                FieldCode::UnknownStage,
                format!("transition to '{}', which is not a stage of this pipeline", t.to),
            ));
        }
        if t.from.is_empty() {
            errors.push(FieldError::new(
                format!("{tat}.from"),
                FieldCode::Required,
                "name the stages it leaves from, or \"*\"",
            ));
        }
        for f in &t.from {
            if f != "*" && !keys.contains(f.as_str()) {
                errors.push(FieldError::new(
                    format!("{tat}.from"),
                    FieldCode::UnknownStage,
                    format!(
                        "transition from '{}', which is not a stage of this pipeline",
                        crate::names::truncate(f, 64)
                    ),
                ));
            }
            if f == t.to.as_str() {
                errors.push(FieldError::new(
                    format!("{tat}.from"),
                    FieldCode::Invalid,
                    format!("a transition cannot lead from '{f}' to itself"),
                ));
            }
            if !pairs.insert((f.clone(), t.to.to_string())) {
                errors.push(FieldError::new(
                    &tat,
                    FieldCode::Duplicate,
                    format!("the transition from '{}' to '{}' is defined twice", f, t.to),
                ));
            }
        }
        if let Some(a) = &t.allow {
            for r in &a.roles {
                check_role(app, r, &format!("{tat}.allow.roles"), errors);
            }
            for f in &a.user_fields {
                check_user_field(e, f, &format!("{tat}.allow.user_fields"), errors);
            }
            for u in &a.users {
                check_user_id(u, &format!("{tat}.allow.users"), errors);
            }
        }
        check_requirements(e, &t.requires, &format!("{tat}.requires"), errors);
        if let Some(ap) = &t.approval {
            let aat = format!("{tat}.approval");
            for r in &ap.roles {
                check_role(app, r, &format!("{aat}.roles"), errors);
            }
            for u in &ap.users {
                check_user_id(u, &format!("{aat}.users"), errors);
            }
            let m = ap.roles.len() + ap.users.len();
            if m == 0 {
                errors.push(FieldError::new(
                    &aat,
                    FieldCode::Required,
                    "name the roles or users who approve",
                ));
            }
            match (ap.mode, ap.n) {
                (ApprovalMode::NOfM, None) => errors.push(FieldError::new(
                    format!("{aat}.n"),
                    FieldCode::Required,
                    "n_of_m needs n, the number of approvals",
                )),
                (ApprovalMode::NOfM, Some(n)) if n == 0 || n > 50 => errors.push(FieldError::new(
                    format!("{aat}.n"),
                    FieldCode::OutOfRange,
                    "n is from 1 to 50",
                )),
                (ApprovalMode::NOfM, Some(n)) if ap.roles.is_empty() && n as usize > ap.users.len() => {
                    errors.push(FieldError::new(
                        format!("{aat}.n"),
                        FieldCode::OutOfRange,
                        format!("{n} approvals are needed but only {} users are named", ap.users.len()),
                    ))
                }
                (ApprovalMode::Any | ApprovalMode::All, Some(_)) => errors.push(FieldError::new(
                    format!("{aat}.n"),
                    FieldCode::NotApplicable,
                    "n applies to the n_of_m mode only",
                )),
                _ => {}
            }
        }
    }
    // Every stage must be reachable from the initial one, or records could never get there.
    let initial = p.initial_stage().key.as_str();
    let mut seen: HashSet<&str> = HashSet::from([initial]);
    let mut queue = VecDeque::from([initial]);
    while let Some(s) = queue.pop_front() {
        for n in p.next_stages(s) {
            if seen.insert(n.key.as_str()) {
                queue.push_back(n.key.as_str());
            }
        }
    }
    let by_key: HashMap<&str, usize> = p.stages.iter().enumerate().map(|(i, s)| (s.key.as_str(), i)).collect();
    for s in &p.stages {
        if !seen.contains(s.key.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.stages[{}]", by_key[s.key.as_str()]),
                FieldCode::Unreachable,
                format!("stage '{}' cannot be reached from the initial stage '{initial}'", s.key),
            ));
        }
    }
}

fn check_requirements(e: &EntityDef, r: &Requirements, at: &str, errors: &mut Vec<FieldError>) {
    for f in &r.fields {
        if e.field(f.as_str()).is_none() {
            errors.push(FieldError::new(
                format!("{at}.fields"),
                FieldCode::UnknownField,
                format!("required field '{f}' is not a field of '{}'", e.name),
            ));
        }
    }
    let mut keys = HashSet::new();
    for (i, a) in r.attachments.iter().enumerate() {
        let aat = format!("{at}.attachments[{i}]");
        if !keys.insert(a.key.as_str()) {
            errors.push(FieldError::new(
                format!("{aat}.key"),
                FieldCode::Duplicate,
                format!("attachment '{}' is required twice", a.key),
            ));
        }
        if a.min == 0 || a.min > 100 {
            errors.push(FieldError::new(
                format!("{aat}.min"),
                FieldCode::OutOfRange,
                "min is from 1 to 100",
            ));
        }
        for t in &a.types {
            if !valid_media_range(t) {
                errors.push(FieldError::new(
                    format!("{aat}.types"),
                    FieldCode::Invalid,
                    format!(
                        "'{}' is not a content type such as application/pdf or image/*",
                        crate::names::truncate(t, 64)
                    ),
                ));
            }
        }
        if let Some(f) = &a.field {
            match e.field(f.as_str()) {
                None => errors.push(FieldError::new(
                    format!("{aat}.field"),
                    FieldCode::UnknownField,
                    format!("field '{f}' is not a field of '{}'", e.name),
                )),
                Some(fd) if fd.field_type.as_str() != "attachment" => errors.push(FieldError::new(
                    format!("{aat}.field"),
                    FieldCode::Invalid,
                    format!("field '{f}' does not hold files"),
                )),
                _ => {}
            }
        }
    }
    let mut names = HashSet::new();
    for (i, g) in r.conditions.iter().enumerate() {
        if !names.insert(g.name.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.conditions[{i}].name"),
                FieldCode::Duplicate,
                format!("condition '{}' is defined twice", g.name),
            ));
        }
    }
}

/// `type/subtype` or `type/*`.
pub fn valid_media_range(t: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_'))
    };
    match t.split_once('/') {
        Some((a, "*")) => ok(a),
        Some((a, b)) => ok(a) && ok(b),
        None => false,
    }
}

/// Whether a content type falls in one of the ranges (none: any).
pub fn media_type_allowed(ranges: &[String], content_type: &str) -> bool {
    if ranges.is_empty() {
        return true;
    }
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ranges.iter().any(|r| {
        let r = r.to_ascii_lowercase();
        match r.strip_suffix("/*") {
            Some(major) => ct.split('/').next() == Some(major),
            None => r == ct,
        }
    })
}

fn check_role(app: &AppDef, r: &Slug, at: &str, errors: &mut Vec<FieldError>) {
    if app.role(r.as_str()).is_none() {
        errors.push(FieldError::new(
            at,
            FieldCode::UnknownRole,
            format!("role '{r}' is not a role of app '{}'", app.name),
        ));
    }
}

fn check_user_field(e: &EntityDef, f: &Slug, at: &str, errors: &mut Vec<FieldError>) {
    match e.field(f.as_str()) {
        None if f.as_str() == "owner" || f.as_str() == "created_by" => {}
        None => errors.push(FieldError::new(
            at,
            FieldCode::UnknownField,
            format!("field '{f}' is not a field of '{}'", e.name),
        )),
        Some(fd) if fd.field_type != FieldType::User => errors.push(FieldError::new(
            at,
            FieldCode::Invalid,
            format!("field '{f}' does not hold a user"),
        )),
        _ => {}
    }
}

fn check_user_id(u: &str, at: &str, errors: &mut Vec<FieldError>) {
    if uuid::Uuid::parse_str(u).is_err() {
        errors.push(FieldError::new(
            at,
            FieldCode::Invalid,
            format!("'{}' is not a user id", crate::names::truncate(u, 64)),
        ));
    }
}

fn check_user_ref(app: &AppDef, e: &EntityDef, u: &UserRef, at: &str, errors: &mut Vec<FieldError>) {
    let n = [u.role.is_some(), u.user.is_some(), u.field.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if n != 1 {
        errors.push(FieldError::new(
            at,
            FieldCode::Invalid,
            "name exactly one of role, user or field",
        ));
    }
    if let Some(r) = &u.role {
        check_role(app, r, &format!("{at}.role"), errors);
    }
    if let Some(id) = &u.user {
        check_user_id(id, &format!("{at}.user"), errors);
    }
    if let Some(f) = &u.field {
        check_user_field(e, f, &format!("{at}.field"), errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ranges_match_major_types_and_exact_types() {
        let r = vec!["image/*".to_string(), "application/pdf".to_string()];
        assert!(media_type_allowed(&r, "image/png"));
        assert!(media_type_allowed(&r, "application/pdf; charset=binary"));
        assert!(!media_type_allowed(&r, "application/zip"));
        assert!(media_type_allowed(&[], "application/zip"));
        assert!(valid_media_range("image/*"));
        assert!(!valid_media_range("image"));
        assert!(!valid_media_range("*/x y"));
    }
}
