//! The update-related action: updates the record a relation field of the trigger record points
//! at, in its job's transaction and within the scope of the user the rule acts for.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use trellis_core::Error;
use trellis_core::FieldError;
use trellis_core::error::FieldCode;

use super::records::preview_values;
use super::{Action, ActionError, DryRun, InTx, Site, check_values, value_texts_of};
use trellis_core::Slug;
use trellis_core::def::FieldType;

/// What `update_related` updates.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRelatedOptions {
    /// A relation field of the trigger's entity.
    pub relation: Slug,
    /// Field → value: a literal, a template text, or `{"expr": "<rhai>"}`.
    pub values: Map<String, Value>,
}

pub struct UpdateRelated;

#[async_trait]
impl Action for UpdateRelated {
    const KIND: &'static str = "update_related";
    type Options = UpdateRelatedOptions;

    fn check(&self, o: &UpdateRelatedOptions, site: &Site<'_>, errors: &mut Vec<FieldError>) {
        let target = site
            .entity
            .and_then(|e| e.field(o.relation.as_str()))
            .filter(|f| f.field_type == FieldType::Relation)
            .and_then(|f| f.target.as_ref())
            .and_then(|t| site.app.entity(t.as_str()));
        if target.is_none() {
            errors.push(site.problem(
                "relation",
                FieldCode::UnknownRelation,
                format!("'{}' is not a relation field of the trigger's entity", o.relation),
            ));
        }
        check_values(&o.values, target, site, errors);
    }

    fn texts(&self, o: &UpdateRelatedOptions) -> Vec<(String, String)> {
        value_texts_of(&o.values)
    }

    async fn dry_run(&self, o: &UpdateRelatedOptions, run: &DryRun<'_>) -> Result<Value, Error> {
        let t = run
            .declared
            .and_then(|e| e.def.field(o.relation.as_str()))
            .and_then(|f| f.target.as_ref());
        let target = run.engine.access_to(run.ctx, run.app, t.map(|t| t.as_str())).await?;
        Ok(preview_values(run, &o.values, target.as_ref()))
    }

    async fn run_in(&self, o: &UpdateRelatedOptions, run: &InTx<'_>) -> Result<Value, ActionError> {
        let a = run.action;
        super::records::update_related(
            a.engine,
            run.tx,
            run.user,
            a.app,
            o.relation.as_str(),
            &o.values,
            a.input,
        )
        .await
    }
}
