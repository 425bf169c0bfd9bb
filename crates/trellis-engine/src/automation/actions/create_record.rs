//! The create-record action: creates a record of an entity of the app, optionally with an owner
//! picked by a strategy ([`super::assign`]), in its job's transaction and within the scope of
//! the user the rule acts for.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use trellis_core::Error;
use trellis_core::FieldError;
use trellis_core::error::FieldCode;

use super::records::preview_values;
use super::{Action, ActionError, DryRun, InTx, Site, check_values, value_texts_of};
use trellis_core::Slug;
use trellis_core::automation::AssignStrategy;

/// What `create_record` creates.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecordOptions {
    pub entity: Slug,
    /// Field → value: a literal, a template text, or `{"expr": "<rhai>"}`.
    pub values: Map<String, Value>,
    /// Assigns the new record's owner.
    #[serde(default)]
    #[schema(nullable = false)]
    pub assign: Option<AssignStrategy>,
}

pub struct CreateRecord;

#[async_trait]
impl Action for CreateRecord {
    const KIND: &'static str = "create_record";
    type Options = CreateRecordOptions;

    fn check(&self, o: &CreateRecordOptions, site: &Site<'_>, errors: &mut Vec<FieldError>) {
        let target = site.app.entity(o.entity.as_str());
        if target.is_none() {
            errors.push(site.problem(
                "entity",
                FieldCode::UnknownEntity,
                format!("'{}' is not an entity of this app", o.entity),
            ));
        }
        check_values(&o.values, target, site, errors);
        if let Some(a) = &o.assign {
            super::assign::check_roles(a, site, errors);
        }
    }

    fn texts(&self, o: &CreateRecordOptions) -> Vec<(String, String)> {
        value_texts_of(&o.values)
    }

    async fn dry_run(&self, o: &CreateRecordOptions, run: &DryRun<'_>) -> Result<Value, Error> {
        let target = run.engine.access_to(run.ctx, run.app, Some(o.entity.as_str())).await?;
        Ok(preview_values(run, &o.values, target.as_ref()))
    }

    async fn run_in(&self, o: &CreateRecordOptions, run: &InTx<'_>) -> Result<Value, ActionError> {
        let a = run.action;
        let owner = match &o.assign {
            Some(strategy) => {
                let target = a
                    .app
                    .entity(o.entity.as_str())
                    .ok_or_else(|| ActionError::fatal(format!("entity '{}' no longer exists", o.entity)))?;
                Some(super::assign::pick_in(run.tx, a, run.index, strategy, target).await?)
            }
            None => None,
        };
        super::records::create_record(
            a.engine,
            run.tx,
            run.user,
            a.app,
            o.entity.as_str(),
            &o.values,
            owner,
            a.input,
        )
        .await
    }
}
