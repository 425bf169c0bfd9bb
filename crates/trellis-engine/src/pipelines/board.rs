//! The board: a pipeline's stages as columns with counts, sums and the first page of each,
//! through the caller's row scope.

use serde_json::{Map, Value, json};
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::pipeline::StageKind;
use trellis_core::{CompiledField, Error, FieldError, Label, Val};
use trellis_store::records::{self};

use crate::Engine;
use crate::context::TenantCtx;

use super::*;

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

/// A board column's sum of a number field as answered: exact in 128 bits, answered while it
/// fits the 64 bits of stored units (a sum of integers as an exact integer). A sum past that
/// answers 422 naming `sum` and the field, rather than a rounded or wrapped number.
pub(super) fn board_sum(f: &CompiledField, stage: &str, raw: i128) -> Result<Value, Error> {
    let Ok(raw) = i64::try_from(raw) else {
        return Err(Error::validation(vec![FieldError::new(
            "sum",
            FieldCode::OutOfRange,
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

impl Engine {
    /// The board of a pipeline: per stage (in order) the count, sums of numeric fields and the
    /// first records, under one filter and search; plus the stages the caller may move to from
    /// each (for drag and drop).
    #[tracing::instrument(level = "debug", skip_all)]
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
        let filter_json: Option<Value> =
            match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
                Some(f) => Some(serde_json::from_str(f).map_err(|e| {
                    Error::bad_field("filter", FieldCode::InvalidJson, format!("is not valid JSON: {e}"))
                })?),
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
                    FieldCode::Type,
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
}
