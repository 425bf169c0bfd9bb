//! The assign-owner action: sets the trigger record's owner to whom a strategy picks (round
//! robin, least loaded, a rota; [`super::assign`]), in its job's transaction.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use trellis_core::Error;
use trellis_core::FieldError;

use super::{Action, ActionError, DryRun, InTx, Site};
use trellis_core::automation::AssignStrategy;

/// How `assign_owner` picks.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignOwnerOptions {
    pub assign: AssignStrategy,
}

pub struct AssignOwner;

#[async_trait]
impl Action for AssignOwner {
    const KIND: &'static str = "assign_owner";
    type Options = AssignOwnerOptions;

    fn check(&self, o: &AssignOwnerOptions, site: &Site<'_>, errors: &mut Vec<FieldError>) {
        super::assign::check_roles(&o.assign, site, errors);
    }

    async fn dry_run(&self, o: &AssignOwnerOptions, _run: &DryRun<'_>) -> Result<Value, Error> {
        Ok(serde_json::json!({ "assign": o.assign }))
    }

    async fn run_in(&self, o: &AssignOwnerOptions, run: &InTx<'_>) -> Result<Value, ActionError> {
        let a = run.action;
        let entity = a.input["entity"]
            .as_str()
            .and_then(|e| a.app.entity(e))
            .ok_or_else(|| ActionError::fatal("the trigger has no record to assign"))?;
        let owner = super::assign::pick_in(run.tx, a, run.index, &o.assign, entity).await?;
        let values = Map::from_iter([("owner".to_string(), Value::String(owner))]);
        super::records::set_fields(a.engine, run.tx, run.user, a.app, &values, a.input).await
    }
}
