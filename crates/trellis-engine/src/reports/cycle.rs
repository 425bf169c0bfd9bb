//! The deal cycle of an entity's pipeline (issue 16, point 5): per group (a field such as the
//! industry, or the owner) how many records were won, their amount, and the average and median
//! days from a record's creation to its entry into the won stage it is in; and as an early
//! warning, the open records of the group already older than that average, with up to
//! [`MAX_LISTED`] of them (the oldest first) as the caller sees them.
//!
//! Through the caller's row scope; a hidden field cannot be the group, the amount or filtered.
//! Reads at most [`MAX_ROWS`] won and open records each (422 above: filter the report).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_core::error::FieldCode;
use trellis_core::pipeline::StageKind;
use trellis_core::query::{Filter, parse_filter, unknown_field};
use trellis_core::{CompiledField, Error, Val};
use trellis_store::aggregate as agg;
use trellis_store::records::{ListQuery, list};

use super::forecast::{bad, round, unprocessable};
use super::timeliness::{MAX_ROWS, quantile};
use crate::Engine;
use crate::context::TenantCtx;

/// Most open records a group lists past its average cycle.
pub const MAX_LISTED: usize = 20;

/// A cycle report request.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleRequest {
    /// `owner` or a field that can be grouped (a select field such as the industry); none: one
    /// group of every record.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub group_by: Option<String>,
    /// A number field summed over the won records (integer, decimal, currency).
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub amount: Option<String>,
    /// A filter of the record list's language on the records (won and open).
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    /// Only records owned by a member of this team.
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
}

/// An open record older than its group's average cycle.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CycleRecord {
    pub id: String,
    /// The record's title field as the caller sees it; `null` without one.
    pub title: Value,
    pub stage: Option<String>,
    /// Days since its creation.
    pub age_days: f64,
}

/// A group of the cycle report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CycleGroup {
    /// The group's value as a record answers it; `null` for no value (or no group).
    pub key: Value,
    /// Records in a won stage, and the sum of their amounts (with an amount).
    pub won: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub won_amount: Option<f64>,
    /// Average and median days from creation to the won stage; none without a won record.
    #[schema(required = true)]
    pub average_days: Option<f64>,
    #[schema(required = true)]
    pub median_days: Option<f64>,
    /// Records in an open stage, and of those the ones older than `average_days`.
    pub open: i64,
    pub past_average: i64,
    /// Up to 20 of those, the oldest first.
    pub past_average_records: Vec<CycleRecord>,
}

/// The cycle report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Cycle {
    #[schema(required = true)]
    pub group_by: Option<String>,
    #[schema(required = true)]
    pub amount: Option<String>,
    /// In ascending order of the key (empty first).
    pub groups: Vec<CycleGroup>,
}

fn time(v: Option<&Val>) -> Option<DateTime<Utc>> {
    match v {
        Some(Val::DateTime(t)) => Some(*t),
        _ => None,
    }
}

fn days(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 86_400_000.0
}

/// How a key sorts: empty first, then numbers by value, then text.
fn order_key(v: &Value) -> (u8, i128, String) {
    match v {
        Value::Null => (0, 0, String::new()),
        Value::Number(n) => (1, (n.as_f64().unwrap_or(0.0) * 1e6) as i128, String::new()),
        Value::String(s) => (2, 0, s.clone()),
        other => (2, 0, other.to_string()),
    }
}

#[derive(Default)]
struct Acc {
    key: Value,
    won: Vec<f64>,
    amount: f64,
    /// (age in days, id, title, stage) of the open records.
    open: Vec<(f64, String, Value, Option<String>)>,
}

impl Engine {
    /// The cycle report of an entity's pipeline through the caller's row scope.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn cycle_report(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &CycleRequest,
    ) -> Result<Cycle, Error> {
        let base = self
            .forecast_base(
                ctx,
                app,
                entity,
                r.amount.as_deref(),
                r.filter.as_ref(),
                r.team.as_deref(),
                None,
                None,
            )
            .await?;
        let view = base.view.clone();
        let group: Option<&CompiledField> = match r.group_by.as_deref() {
            None => None,
            Some(name) => {
                let f = view
                    .column(name)
                    .ok_or_else(|| unprocessable(unknown_field(&view, "group_by", name)))?;
                if !agg::groupable(f) || name == "stage" {
                    return Err(bad("group_by", FieldCode::Type, format!("'{name}' cannot be grouped")));
                }
                Some(f)
            }
        };
        let title = view
            .def
            .title_field
            .as_ref()
            .and_then(|t| view.column(t.as_str()))
            .cloned();
        let index = |f: Option<&CompiledField>| f.and_then(|f| view.columns.iter().position(|c| c.name == f.name));
        let in_stages = |kind: StageKind| -> Result<Option<Filter>, Error> {
            let keys = base.keys(kind);
            let f = parse_filter(
                &view,
                &serde_json::json!({"field": "stage", "op": "in", "value": if keys.is_empty() { vec!["-".to_string()] } else { keys }}),
            )?;
            Ok(crate::access::and(base.records.clone(), Some(f)))
        };
        let read = |filter: Option<Filter>, cols: Vec<usize>| {
            let view = view.clone();
            async move {
                let q = ListQuery {
                    filter,
                    limit: MAX_ROWS + 1,
                    columns: Some(cols),
                    ..Default::default()
                };
                let rows = list(&self.db.read, &view, &q).await?;
                if rows.len() as u64 > MAX_ROWS {
                    return Err(bad(
                        "filter",
                        FieldCode::TooMany,
                        format!("more than {MAX_ROWS} records to read; filter the report"),
                    ));
                }
                Ok::<_, Error>(rows)
            }
        };
        let won = read(
            in_stages(StageKind::Won)?,
            [index(group), index(base.amount.as_ref())]
                .into_iter()
                .flatten()
                .collect(),
        )
        .await?;
        let open = read(
            in_stages(StageKind::Open)?,
            [index(group), index(title.as_ref())].into_iter().flatten().collect(),
        )
        .await?;
        let key_of = |row: &trellis_store::records::Row| match group {
            Some(f) => row.get(&view, &f.name).map(|v| v.to_json(f)).unwrap_or(Value::Null),
            None => Value::Null,
        };
        let mut groups: BTreeMap<(u8, i128, String), Acc> = BTreeMap::new();
        fn entry(groups: &mut BTreeMap<(u8, i128, String), Acc>, key: Value) -> &mut Acc {
            groups.entry(order_key(&key)).or_insert_with(|| Acc {
                key,
                ..Default::default()
            })
        }
        for row in &won {
            let (Some(created), Some(entered)) = (
                time(row.get(&view, "created_at")),
                time(row.get(&view, "stage_entered_at")),
            ) else {
                continue;
            };
            let amount = match base.amount.as_ref().and_then(|f| row.get(&view, &f.name)) {
                Some(Val::Int(v) | Val::Fixed(v) | Val::Currency(v, _)) => base.units(i128::from(*v)),
                _ => 0.0,
            };
            let g = entry(&mut groups, key_of(row));
            g.won.push(days(created, entered).max(0.0));
            g.amount += amount;
        }
        let now = trellis_core::value::now_micros();
        for row in &open {
            let Some(created) = time(row.get(&view, "created_at")) else {
                continue;
            };
            let title = match (&title, title.as_ref().and_then(|t| row.get(&view, &t.name))) {
                (Some(f), Some(v)) => v.to_json(f),
                _ => Value::Null,
            };
            let stage = match row.get(&view, "stage") {
                Some(Val::Text(s)) => Some(s.clone()),
                _ => None,
            };
            entry(&mut groups, key_of(row))
                .open
                .push((days(created, now), row.id().to_string(), title, stage));
        }
        let groups = groups
            .into_values()
            .map(|mut g| {
                g.won
                    .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
                let average = (!g.won.is_empty()).then(|| g.won.iter().sum::<f64>() / g.won.len() as f64);
                // The oldest first.
                g.open
                    .sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
                let past: Vec<_> = match average {
                    Some(avg) => g.open.iter().filter(|o| o.0 > avg).collect(),
                    None => Vec::new(),
                };
                CycleGroup {
                    key: g.key.clone(),
                    won: g.won.len() as i64,
                    won_amount: base.amount.as_ref().map(|_| round(g.amount)),
                    average_days: average.map(round),
                    median_days: quantile(&g.won, 0.5).map(round),
                    open: g.open.len() as i64,
                    past_average: past.len() as i64,
                    past_average_records: past
                        .into_iter()
                        .take(MAX_LISTED)
                        .map(|(age, id, title, stage)| CycleRecord {
                            id: id.clone(),
                            title: title.clone(),
                            stage: stage.clone(),
                            age_days: round(*age),
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(Cycle {
            group_by: r.group_by.clone(),
            amount: r.amount.clone(),
            groups,
        })
    }
}
