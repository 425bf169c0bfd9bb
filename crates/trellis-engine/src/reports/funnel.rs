//! The funnel of an entity's pipeline, from the stage moves pipelines keep: per stage how many
//! records entered it, are still in it, advanced past it or were lost from it, the conversion to
//! the next stage and from the first, and the median and 90th percentile of the time spent in
//! it. A **cohort** funnel follows the records created in a period; a **snapshot** funnel counts
//! the moves made in a period, whatever the records' age.
//!
//! Open stages are ranked in the pipeline's order and won stages share the rank after them; lost
//! stages have no rank. A record that skipped a stage (a transition from the first stage straight
//! to the third) counts as having passed it, unless it was lost: a lost record counts only the
//! stages it really entered.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::pipeline::StageKind;
use trellis_core::query::parse_filter;
use trellis_core::zone::Zone;
use trellis_core::{CompiledEntity, Error, Label};
use trellis_store::funnel::{self as store, FunnelQuery};

use crate::Engine;
use crate::context::TenantCtx;
use crate::records::entity_of;

/// Which records and moves a funnel counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FunnelMode {
    /// The records created in the period, and every move they made.
    #[default]
    Cohort,
    /// The moves made in the period, by any record.
    Snapshot,
}

/// A funnel request.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FunnelRequest {
    #[serde(default)]
    #[schema(nullable = false)]
    pub mode: Option<FunnelMode>,
    /// The period's first day (in the time zone); none: from the beginning.
    #[serde(default)]
    #[schema(nullable = false)]
    pub from: Option<NaiveDate>,
    /// The period's last day, included; none: up to now.
    #[serde(default)]
    #[schema(nullable = false)]
    pub to: Option<NaiveDate>,
    /// Only records owned by a member of this team.
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
    /// A filter of the record list's language on the records (owner, region, product line…).
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    /// The IANA time zone of the period's days; the tenant's when absent.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub time_zone: Option<String>,
}

/// One stage of a funnel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FunnelStage {
    pub stage: String,
    pub label: Label,
    #[schema(value_type = String)]
    pub kind: StageKind,
    /// Records that entered the stage (or passed it by a skip).
    pub entered: i64,
    /// Of those, records in the stage now.
    pub still_in: i64,
    /// Of those, records that went on to a later stage.
    pub advanced: i64,
    /// Records lost from this stage (moved to a lost stage from it).
    pub lost: i64,
    /// `entered` of the next ranked stage ÷ this stage's `entered`; none for the last stage or
    /// when none entered.
    #[schema(required = true)]
    pub conversion_next: Option<f64>,
    /// This stage's `entered` ÷ the first stage's.
    #[schema(required = true)]
    pub conversion_cumulative: Option<f64>,
    /// Records that left the stage with a known time in it, and the median and 90th percentile of
    /// that time, in seconds (nearest rank).
    pub left: i64,
    #[schema(required = true)]
    pub median_seconds: Option<f64>,
    #[schema(required = true)]
    pub p90_seconds: Option<f64>,
}

/// A pipeline's funnel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    pub mode: FunnelMode,
    /// The period as asked (days in `time_zone`).
    #[schema(required = true)]
    pub from: Option<NaiveDate>,
    #[schema(required = true)]
    pub to: Option<NaiveDate>,
    pub time_zone: String,
    /// The records counted: created in the period (cohort) or moved in it (snapshot).
    pub records: i64,
    /// Open and won stages in rank order, then lost stages (with `entered` and `lost` only).
    pub stages: Vec<FunnelStage>,
}

/// The instant a day begins in a zone (the earliest, when a clock change repeats midnight).
pub(super) fn day_start(zone: Zone, d: NaiveDate) -> DateTime<Utc> {
    let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    match zone.tz().from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // Midnight skipped by a clock change: the day starts an hour later.
        None => zone
            .tz()
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local)),
    }
}

/// `a ÷ b`; none when `b` is 0.
pub(super) fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Engine {
    /// The funnel of an entity's pipeline through the caller's row scope (403 without the read
    /// right; hidden fields cannot be filtered).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn funnel(&self, ctx: &TenantCtx, app: &str, entity: &str, r: &FunnelRequest) -> Result<Funnel, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let Some(pipeline) = entity.def.pipeline.as_ref() else {
            return Err(Error::not_found(format!("entity '{}' has no pipeline", entity.name())));
        };
        let access = self.access(&self.db.read, ctx, &app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let view: &CompiledEntity = &access.view;
        let zone = match &r.time_zone {
            Some(z) => Zone::parse("time_zone", z).map_err(|e| Error::validation(e.errors))?,
            None => self.tenant_zone(ctx).await?,
        };
        if let (Some(a), Some(b)) = (r.from, r.to)
            && b < a
        {
            return Err(Error::validation(vec![trellis_core::FieldError::new(
                "to",
                FieldCode::Range,
                "the period ends before it begins",
            )]));
        }
        let mut filter = match &r.filter {
            Some(f) => Some(parse_filter(view, f).map_err(|e| Error::validation(e.errors))?),
            None => None,
        };
        if let Some(team) = &r.team {
            let members: Vec<String> = trellis_store::teams::memberships_of(&self.db.read, ctx.tenant_id())
                .await?
                .into_iter()
                .filter(|(t, _)| t == team)
                .map(|(_, u)| u)
                .collect();
            let known = trellis_store::teams::teams_of(&self.db.read, ctx.tenant_id())
                .await?
                .iter()
                .any(|t| &t.id == team);
            if !known {
                return Err(Error::validation(vec![trellis_core::FieldError::new(
                    "team",
                    FieldCode::NotFound,
                    "no such team",
                )]));
            }
            // A team without members owns nothing: an id no user has keeps no record.
            let owners = if members.is_empty() {
                vec!["-".to_string()]
            } else {
                members
            };
            let f = parse_filter(view, &json!({"field": "owner", "op": "in", "value": owners}))
                .map_err(|e| Error::validation(e.errors))?;
            filter = crate::access::and(Some(f), filter);
        }
        let start = r.from.map(|d| day_start(zone, d));
        let end = r.to.and_then(|d| d.succ_opt()).map(|d| day_start(zone, d));
        let mode = r.mode.unwrap_or_default();
        let mut records = crate::access::and(scope, filter);
        if mode == FunnelMode::Cohort {
            for (op, at) in [("gte", start), ("lt", end)] {
                if let Some(at) = at {
                    let f = parse_filter(
                        view,
                        &json!({"field": "created_at", "op": op, "value": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}),
                    )?;
                    records = crate::access::and(records, Some(f));
                }
            }
        }
        // Ranks: open stages in order, won stages after them.
        let open: Vec<_> = pipeline.stages.iter().filter(|s| s.kind == StageKind::Open).collect();
        let won: Vec<_> = pipeline.stages.iter().filter(|s| s.kind == StageKind::Won).collect();
        let lost: Vec<_> = pipeline.stages.iter().filter(|s| s.kind == StageKind::Lost).collect();
        let top = open.len() as i64 - i64::from(won.is_empty());
        let mut ranks: Vec<(String, i64)> = open
            .iter()
            .enumerate()
            .map(|(i, s)| (s.key.to_string(), i as i64))
            .collect();
        ranks.extend(won.iter().map(|s| (s.key.to_string(), open.len() as i64)));
        let rank_of = |k: &str| ranks.iter().find(|(s, _)| s == k).map(|(_, r)| *r);
        let moved = match mode {
            FunnelMode::Cohort => None,
            FunnelMode::Snapshot => Some((
                start.unwrap_or(DateTime::<Utc>::MIN_UTC),
                end.unwrap_or_else(trellis_core::value::now_micros),
            )),
        };
        let q = FunnelQuery {
            tenant_id: ctx.tenant_id(),
            entity_id: entity.def.storage_id().as_str(),
            table: entity.table.as_str(),
            ranks: ranks.clone(),
            records,
            moved,
        };
        let db = &self.db.read;
        let lost_keys: Vec<String> = lost.iter().map(|s| s.key.to_string()).collect();
        // Per rank: entered, still in, advanced, lost; and per stage the records entering it.
        let levels = (top + 1).max(0) as usize;
        let mut per_rank = vec![store::Crossings::default(); levels];
        let entered_by_stage: Vec<store::Entered>;
        let total;
        match mode {
            FunnelMode::Cohort => {
                let reached = store::reached(db, &q).await?;
                total = reached.iter().map(|r| r.n).sum();
                let is_lost = |s: &Option<String>| s.as_deref().is_some_and(|s| lost_keys.iter().any(|k| k == s));
                for row in &reached {
                    let Some(top_reached) = row.reached else { continue };
                    let now = row.stage.as_deref().and_then(rank_of);
                    if is_lost(&row.stage) {
                        // Lost from the furthest stage it entered; the stages it entered are
                        // counted below.
                        if let Some(c) = per_rank.get_mut(top_reached as usize) {
                            c.lost += row.n;
                        }
                        continue;
                    }
                    for (i, c) in per_rank.iter_mut().enumerate().take(top_reached as usize + 1) {
                        c.entered += row.n;
                        if (i as i64) < top_reached {
                            c.advanced += row.n;
                        }
                        if now == Some(i as i64) {
                            c.still_in += row.n;
                        }
                    }
                }
                // Lost records: only the stages they entered.
                let mut lost_entered = vec![0i64; levels];
                let only_lost = if lost_keys.is_empty() {
                    None
                } else {
                    Some(parse_filter(
                        view,
                        &json!({"field": "stage", "op": "in", "value": lost_keys}),
                    )?)
                };
                if let Some(only) = only_lost {
                    for e in store::entered(db, &q, Some(only)).await? {
                        if let Some(r) = rank_of(&e.to_stage)
                            && won.iter().all(|w| w.key.as_str() != e.to_stage)
                            && let Some(c) = per_rank.get_mut(r as usize)
                        {
                            // Every lost record that entered a stage and was not lost from it
                            // went on past it.
                            c.entered += e.n;
                            lost_entered[r as usize] += e.n;
                        }
                    }
                }
                for (c, n) in per_rank.iter_mut().zip(&lost_entered) {
                    c.advanced += n - c.lost;
                }
                entered_by_stage = store::entered(db, &q, None).await?;
            }
            FunnelMode::Snapshot => {
                per_rank = store::crossings(db, &q, top, &lost_keys).await?;
                per_rank.resize(levels, store::Crossings::default());
                entered_by_stage = store::entered(db, &q, None).await?;
                total = store::entered_records(db, &q).await?;
            }
        }
        let entered_of = |k: &str| {
            entered_by_stage
                .iter()
                .find(|e| e.to_stage == k)
                .map(|e| e.n)
                .unwrap_or(0)
        };
        let first = per_rank.first().map(|c| c.entered).unwrap_or(0);
        let mut stages = Vec::with_capacity(pipeline.stages.len());
        let ordered = open.iter().chain(won.iter()).chain(lost.iter());
        for s in ordered {
            let key = s.key.as_str();
            let (left, times) = store::time_in_stage(db, &q, key, &[0.5, 0.9]).await?;
            let (entered, still_in, advanced, lost_n, next, cumulative) = match (s.kind, rank_of(key)) {
                (StageKind::Open, Some(r)) => {
                    let c = &per_rank[r as usize];
                    let next = per_rank.get(r as usize + 1).map(|n| n.entered);
                    (
                        c.entered,
                        c.still_in,
                        c.advanced,
                        c.lost,
                        next.and_then(|n| ratio(n, c.entered)),
                        ratio(c.entered, first),
                    )
                }
                (StageKind::Won, _) => {
                    // Several won stages share a rank: each counts the records that entered it.
                    let n = if won.len() == 1 {
                        per_rank.last().map(|c| c.entered).unwrap_or(0)
                    } else {
                        entered_of(key)
                    };
                    (n, n, 0, 0, None, ratio(n, first))
                }
                _ => (entered_of(key), entered_of(key), 0, 0, None, None),
            };
            stages.push(FunnelStage {
                stage: key.to_string(),
                label: s.label.clone(),
                kind: s.kind,
                entered,
                still_in,
                advanced,
                lost: lost_n,
                conversion_next: next,
                conversion_cumulative: cumulative,
                left,
                median_seconds: times[0],
                p90_seconds: times[1],
            });
        }
        Ok(Funnel {
            mode,
            from: r.from,
            to: r.to,
            time_zone: zone.name().to_string(),
            records: total,
            stages,
        })
    }
}
