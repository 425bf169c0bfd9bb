//! Calibration exercises: N open records drawn at random from the caller's row scope, the
//! probability the system gave each (its stage's calibrated probability when drawn) beside the
//! team's estimate, reported against how the records turned out. The records listed are those
//! the reader may read now (id, stage, and title when the title field is visible to them).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_core::error::FieldCode;
use trellis_core::pipeline::StageKind;
use trellis_core::query::parse_filter;
use trellis_core::{Error, FieldError, Val};
use trellis_store::StoreError;
use trellis_store::forecast::{self as store, Sample};
use trellis_store::records::{self, ListQuery};

use super::forecast::{Base, rates_before, round, rounded, whole};
use crate::Engine;
use crate::context::TenantCtx;

/// Records drawn when the request names no count; the most one exercise draws.
pub const DEFAULT_CALIBRATION_COUNT: u64 = 20;
pub const MAX_CALIBRATION_COUNT: u64 = 100;

/// A new calibration exercise: how many open records to draw, and from which.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationRequest {
    /// Open records drawn (1 to 100, 20 by default); fewer when fewer are open.
    #[serde(default, deserialize_with = "whole")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub count: Option<u64>,
    /// A filter of the record list's language on the records.
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    /// Only records owned by a member of this team.
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
    /// The Beta prior's strength of the system's probabilities (as a forecast's).
    #[serde(default)]
    #[schema(nullable = false, minimum = 0, maximum = 1000)]
    pub prior_strength: Option<f64>,
}

/// The team's estimates of drawn records.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationEstimates {
    #[schema(min_items = 1, max_items = 100)]
    pub estimates: Vec<CalibrationEstimate>,
}

/// The team's estimate of one drawn record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationEstimate {
    /// A record of the exercise.
    pub record: String,
    /// The probability the team gives it, percent (0 to 100).
    #[schema(minimum = 0, maximum = 100)]
    pub estimate: f64,
}

/// How a drawn record stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationOutcome {
    Won,
    Lost,
    Open,
}

/// A drawn record: the system's probability, the team's, and the outcome so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalibrationRecord {
    pub id: String,
    /// The record's title, when its title field is visible to the reader.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub title: Option<String>,
    /// The stage it was in when drawn, and now.
    pub stage: String,
    pub stage_now: String,
    /// Fractions of 1: the stage's configured and calibrated probabilities when drawn, and the
    /// team's estimate once recorded.
    #[schema(required = true)]
    #[serde(serialize_with = "rounded")]
    pub configured_probability: Option<f64>,
    #[schema(required = true)]
    #[serde(serialize_with = "rounded")]
    pub system_probability: Option<f64>,
    #[schema(required = true)]
    pub team_probability: Option<f64>,
    pub outcome: CalibrationOutcome,
}

/// A calibration exercise and its scores so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CalibrationExercise {
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub created_by: String,
    /// Records drawn, and of those not listed: outside the reader's row scope now, or deleted.
    pub drawn: i64,
    pub left_out: i64,
    pub records: Vec<CalibrationRecord>,
    /// Listed records closed now (won or lost) with a team estimate: the records scored.
    pub scored: i64,
    /// Brier scores (mean of (p − outcome)²) over the scored records; none before any.
    #[schema(required = true)]
    pub brier_team: Option<f64>,
    #[schema(required = true)]
    pub brier_system: Option<f64>,
    #[schema(required = true)]
    pub brier_configured: Option<f64>,
}

fn bad(at: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Error {
    Error::validation(vec![FieldError::new(at, code, message)])
}

/// The records of `ids` the base's filter keeps: (id, stage, title).
async fn visible(engine: &Engine, base: &Base, ids: &[String]) -> Result<Vec<(String, String, Option<String>)>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let view = &base.view;
    let only = parse_filter(view, &json!({"field": "id", "op": "in", "value": ids}))?;
    let q = ListQuery {
        filter: crate::access::and(Some(only), base.records.clone()),
        limit: ids.len() as u64,
        ..Default::default()
    };
    let title = view
        .def
        .title_field
        .as_ref()
        .and_then(|t| view.column(t.as_str()))
        .cloned();
    let initial = base.pipeline.initial_stage().key.to_string();
    let rows = records::list(&engine.db.read, view, &q).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let stage = match r.get(view, "stage") {
                Some(Val::Text(s)) => s.clone(),
                _ => initial.clone(),
            };
            let title = title.as_ref().and_then(|f| match r.get(view, &f.name) {
                None | Some(Val::Null) => None,
                Some(Val::Text(s)) => Some(s.clone()),
                Some(v) => Some(match v.to_json(f) {
                    Value::String(s) => s,
                    other => other.to_string(),
                }),
            });
            (r.id().to_string(), stage, title)
        })
        .collect())
}

fn brier(pairs: &[(f64, f64)]) -> Option<f64> {
    (!pairs.is_empty()).then(|| round(pairs.iter().map(|(p, o)| (p - o).powi(2)).sum::<f64>() / pairs.len() as f64))
}

impl Engine {
    async fn calibration_base(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: Option<&CalibrationRequest>,
    ) -> Result<Base, Error> {
        self.forecast_base(
            ctx,
            app,
            entity,
            None,
            r.and_then(|r| r.filter.as_ref()),
            r.and_then(|r| r.team.as_deref()),
            r.and_then(|r| r.prior_strength),
            None,
        )
        .await
    }

    /// The exercise as the caller may read it.
    async fn calibration_report(&self, ctx: &TenantCtx, base: &Base, id: &str) -> Result<CalibrationExercise, Error> {
        let samples = store::samples(
            &self.db.read,
            ctx.tenant_id(),
            base.entity.def.storage_id().as_str(),
            id,
        )
        .await?;
        let Some(first) = samples.first() else {
            return Err(Error::not_found("no such calibration exercise"));
        };
        let ids: Vec<String> = samples.iter().map(|s| s.record_id.clone()).collect();
        let seen = visible(self, base, &ids).await?;
        let mut records = Vec::with_capacity(seen.len());
        let (mut team, mut system, mut configured) = (Vec::new(), Vec::new(), Vec::new());
        for s in &samples {
            let Some((_, now, title)) = seen.iter().find(|(i, _, _)| *i == s.record_id) else {
                continue;
            };
            let outcome = match base.kind_of(now) {
                Some(StageKind::Won) => CalibrationOutcome::Won,
                Some(StageKind::Lost) => CalibrationOutcome::Lost,
                _ => CalibrationOutcome::Open,
            };
            if outcome != CalibrationOutcome::Open
                && let Some(t) = s.team_estimate
            {
                let o = if outcome == CalibrationOutcome::Won { 1.0 } else { 0.0 };
                team.push((t, o));
                if let Some(p) = s.system_probability {
                    system.push((p, o));
                }
                if let Some(p) = s.configured_probability {
                    configured.push((p, o));
                }
            }
            records.push(CalibrationRecord {
                id: s.record_id.clone(),
                title: title.clone(),
                stage: s.stage.clone(),
                stage_now: now.clone(),
                configured_probability: s.configured_probability,
                system_probability: s.system_probability,
                team_probability: s.team_estimate,
                outcome,
            });
        }
        Ok(CalibrationExercise {
            id: id.to_string(),
            created_at: first.created_at,
            created_by: first.created_by.clone(),
            drawn: samples.len() as i64,
            left_out: (samples.len() - records.len()) as i64,
            scored: team.len() as i64,
            brier_team: brier(&team),
            brier_system: brier(&system),
            brier_configured: brier(&configured),
            records,
        })
    }

    /// Draws open records at random from the caller's row scope (under the request's filter and
    /// team) and keeps them with the system's probability of each: a new calibration exercise.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn calibration_create(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &CalibrationRequest,
    ) -> Result<CalibrationExercise, Error> {
        let count = r.count.unwrap_or(DEFAULT_CALIBRATION_COUNT);
        if !(1..=MAX_CALIBRATION_COUNT).contains(&count) {
            return Err(bad(
                "count",
                FieldCode::Range,
                format!("must be 1 to {MAX_CALIBRATION_COUNT}"),
            ));
        }
        let base = self.calibration_base(ctx, app, entity, Some(r)).await?;
        let open = base.keys(StageKind::Open);
        let mut in_open = vec![json!({"field": "stage", "op": "in", "value": open})];
        if base.pipeline.initial_stage().kind == StageKind::Open {
            // Records from before the pipeline have no stage: they sit in the initial one.
            in_open.push(json!({"field": "stage", "op": "is_null", "value": true}));
        }
        let open_filter = parse_filter(&base.view, &json!({ "or": in_open }))?;
        let filter = crate::access::and(base.records.clone(), Some(open_filter));
        let ids = store::random_ids(&self.db.read, &base.entity.table, filter.as_ref(), count).await?;
        let drawn = visible(self, &base, &ids).await?;
        let rates = rates_before(
            self,
            ctx,
            &base,
            trellis_core::value::now_micros() + chrono::Duration::seconds(1),
        )
        .await?;
        let exercise = uuid::Uuid::now_v7().to_string();
        let now = trellis_core::value::now_micros();
        let samples: Vec<Sample> = ids
            .iter()
            .filter_map(|id| drawn.iter().find(|(i, _, _)| i == id))
            .enumerate()
            .map(|(i, (id, stage, _))| {
                let rate = rates.iter().find(|r| r.stage == *stage);
                Sample {
                    tenant_id: ctx.tenant_id().to_string(),
                    exercise_id: exercise.clone(),
                    position: i as i64,
                    app_id: base.app_id.clone(),
                    entity_id: base.entity.def.storage_id().to_string(),
                    record_id: id.clone(),
                    stage: stage.clone(),
                    configured_probability: rate.and_then(|r| r.configured_probability),
                    system_probability: rate.and_then(|r| r.calibrated_probability),
                    team_estimate: None,
                    created_by: ctx.user_id().to_string(),
                    created_at: now,
                    estimated_by: None,
                    estimated_at: None,
                }
            })
            .collect();
        if samples.is_empty() {
            return Err(bad("count", FieldCode::Empty, "no open record to draw"));
        }
        let samples_ref = &samples;
        self.retry_contended(|| async move {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            store::insert_samples(&tx, samples_ref).await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        self.calibration_report(ctx, &base, &exercise).await
    }

    /// A calibration exercise: the records the caller may read now, each with the system's
    /// probability, the team's estimate and the outcome, and the Brier scores of both.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn calibration_get(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
    ) -> Result<CalibrationExercise, Error> {
        let base = self.calibration_base(ctx, app, entity, None).await?;
        self.calibration_report(ctx, &base, id).await
    }

    /// Records the team's estimates of an exercise's records (percent; the caller must read
    /// each record now).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn calibration_estimate(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        r: &CalibrationEstimates,
    ) -> Result<CalibrationExercise, Error> {
        let base = self.calibration_base(ctx, app, entity, None).await?;
        let samples = store::samples(
            &self.db.read,
            ctx.tenant_id(),
            base.entity.def.storage_id().as_str(),
            id,
        )
        .await?;
        if samples.is_empty() {
            return Err(Error::not_found("no such calibration exercise"));
        }
        if r.estimates.is_empty() || r.estimates.len() > MAX_CALIBRATION_COUNT as usize {
            return Err(bad(
                "estimates",
                FieldCode::Count,
                format!("give 1 to {MAX_CALIBRATION_COUNT} estimates"),
            ));
        }
        let ids: Vec<String> = samples.iter().map(|s| s.record_id.clone()).collect();
        let seen = visible(self, &base, &ids).await?;
        let mut errors = Vec::new();
        for (i, e) in r.estimates.iter().enumerate() {
            // A record outside the caller's scope is answered as one not drawn.
            if !seen.iter().any(|(id, _, _)| *id == e.record) {
                errors.push(FieldError::new(
                    format!("estimates[{i}].record"),
                    FieldCode::NotFound,
                    "not a record of this exercise",
                ));
            }
            if !e.estimate.is_finite() || !(0.0..=100.0).contains(&e.estimate) {
                errors.push(FieldError::new(
                    format!("estimates[{i}].estimate"),
                    FieldCode::Range,
                    "must be a percentage from 0 to 100",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        let now = trellis_core::value::now_micros();
        let (estimates, exercise) = (&r.estimates, id);
        self.retry_contended(|| async move {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            for e in estimates {
                store::set_estimate(
                    &tx,
                    ctx.tenant_id(),
                    exercise,
                    &e.record,
                    round(e.estimate / 100.0),
                    ctx.user_id(),
                    now,
                )
                .await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        self.calibration_report(ctx, &base, id).await
    }
}
