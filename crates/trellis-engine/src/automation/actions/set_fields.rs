//! The set-fields action: sets fields of the trigger record through the write path (checks,
//! formulas, events), in its job's transaction.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use trellis_core::Error;
use trellis_core::FieldError;
use trellis_core::error::FieldCode;

use super::records::preview_values;
use super::{Action, ActionError, DryRun, InTx, Site, check_values, value_texts_of};

/// What `set_fields` sets.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFieldsOptions {
    /// Field → value: a literal, a template text, or `{"expr": "<rhai>"}`.
    pub values: Map<String, Value>,
}

pub struct SetFields;

#[async_trait]
impl Action for SetFields {
    const KIND: &'static str = "set_fields";
    type Options = SetFieldsOptions;

    fn check(&self, o: &SetFieldsOptions, site: &Site<'_>, errors: &mut Vec<FieldError>) {
        if site.entity.is_none() {
            errors.push(site.problem("", FieldCode::NoRecord, "this trigger has no record to set"));
        }
        check_values(&o.values, site.entity, site, errors);
    }

    fn texts(&self, o: &SetFieldsOptions) -> Vec<(String, String)> {
        value_texts_of(&o.values)
    }

    async fn dry_run(&self, o: &SetFieldsOptions, run: &DryRun<'_>) -> Result<Value, Error> {
        Ok(preview_values(run, &o.values, run.access))
    }

    async fn run_in(&self, o: &SetFieldsOptions, run: &InTx<'_>) -> Result<Value, ActionError> {
        let a = run.action;
        super::records::set_fields(a.engine, run.tx, run.user, a.app, &o.values, a.input).await
    }
}
