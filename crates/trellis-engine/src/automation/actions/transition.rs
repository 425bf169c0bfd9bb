//! The transition action: moves the trigger record through its pipeline, its requirements and
//! approvals applying as to a user's move, in its job's transaction.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use trellis_core::Error;
use trellis_core::FieldError;
use trellis_core::error::FieldCode;

use super::{Action, ActionError, DryRun, InTx, Site};
use trellis_core::Slug;

/// Where `transition` moves the record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionOptions {
    /// A stage of the trigger's entity.
    pub to: Slug,
    /// The move's comment (a template).
    #[serde(default)]
    #[schema(nullable = false)]
    pub comment: Option<String>,
}

pub struct Transition;

#[async_trait]
impl Action for Transition {
    const KIND: &'static str = "transition";
    type Options = TransitionOptions;

    fn check(&self, o: &TransitionOptions, site: &Site<'_>, errors: &mut Vec<FieldError>) {
        let ok = site
            .entity
            .and_then(|e| e.pipeline.as_ref())
            .is_some_and(|p| p.stage(o.to.as_str()).is_some());
        if !ok {
            errors.push(site.problem(
                "to",
                FieldCode::UnknownStage,
                format!("'{}' is not a stage of the trigger's entity", o.to),
            ));
        }
    }

    fn texts(&self, o: &TransitionOptions) -> Vec<(String, String)> {
        o.comment.iter().map(|c| ("comment".to_string(), c.clone())).collect()
    }

    async fn dry_run(&self, o: &TransitionOptions, _run: &DryRun<'_>) -> Result<Value, Error> {
        Ok(serde_json::json!({ "to": o.to }))
    }

    async fn run_in(&self, o: &TransitionOptions, run: &InTx<'_>) -> Result<Value, ActionError> {
        let a = run.action;
        super::records::transition(
            a.engine,
            run.tx,
            run.user,
            a.app,
            o.to.as_str(),
            o.comment.as_deref(),
            a.input,
        )
        .await
    }
}
