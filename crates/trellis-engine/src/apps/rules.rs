//! Rules as parts of the app's definition: listed with their health, read, created, patched
//! and deleted, each change one versioned app change.

use serde_json::Value;
use trellis_core::automation::RuleDef;
use trellis_core::error::FieldCode;
use trellis_core::status::RunStatus;
use trellis_core::validate::parse_rule;
use trellis_core::{Error, FieldError};
use trellis_store::jobs;

use trellis_core::permissions::RunRules;

use crate::apps::{ChangeOptions, ChangeOut, merge_patch};
use crate::{Engine, TenantCtx};

use crate::automation::runs::rule_missing;

/// Runs in a row that failed, from which a rule counts as failing.
pub const FAILING_AFTER: usize = 3;

/// How a rule's recent runs (the last 20) went.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RuleHealth {
    /// Its last runs failed ([`FAILING_AFTER`] in a row, skipped ones aside): flagged, never
    /// silently disabled.
    pub failing: bool,
    /// How the last run ended (none: it never ran).
    pub last_status: Option<RunStatus>,
    /// Failed runs among the recent ones.
    pub recent_failures: usize,
}

/// A rule as listed: its definition and its health.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleEntry {
    #[serde(flatten)]
    pub rule: RuleDef,
    pub health: RuleHealth,
}

/// The schema of [`RuleEntry`]: the properties of [`RuleDef`] and `health` beside them (a
/// flattened `RuleDef` would be an `allOf` whose `additionalProperties: false` refuses it).
impl utoipa::PartialSchema for RuleEntry {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let RefOr::T(Schema::Object(mut o)) = <RuleDef as utoipa::PartialSchema>::schema() else {
            unreachable!("RuleDef derives an object schema")
        };
        o.properties.insert(
            "health".into(),
            RefOr::Ref(utoipa::openapi::Ref::from_schema_name("RuleHealth")),
        );
        o.required.push("health".into());
        o.description = Some("A rule with the health of its recent runs.".into());
        RefOr::T(Schema::Object(o))
    }
}

impl utoipa::ToSchema for RuleEntry {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <RuleDef as utoipa::ToSchema>::schemas(schemas);
        schemas.push(("RuleHealth".into(), <RuleHealth as utoipa::PartialSchema>::schema()));
    }
}

impl Engine {
    /// The app's rules, each with its health: how its recent runs ended and whether it keeps
    /// failing (flagged, never silently disabled).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn list_rules(&self, ctx: &TenantCtx, app: &str) -> Result<Vec<RuleEntry>, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let mut out = Vec::new();
        for r in &def.rules {
            let statuses: Vec<RunStatus> = jobs::runs_of(&self.db.read, &app.id, r.name.as_str(), 20)
                .await?
                .iter()
                .map(|x| {
                    RunStatus::parse(&x.status)
                        .ok_or_else(|| Error::internal(format!("unknown run status '{}' stored", x.status)))
                })
                .collect::<Result<_, Error>>()?;
            let failed = |s: &&RunStatus| matches!(s, RunStatus::Failed | RunStatus::Error);
            let failing = statuses.len() >= FAILING_AFTER
                && statuses
                    .iter()
                    .filter(|s| **s != RunStatus::Skipped)
                    .take(FAILING_AFTER)
                    .all(|s| failed(&s));
            out.push(RuleEntry {
                rule: r.clone(),
                health: RuleHealth {
                    failing,
                    last_status: statuses.first().copied(),
                    recent_failures: statuses.iter().filter(failed).count(),
                },
            });
        }
        Ok(out)
    }

    /// A rule as the caller may read it (secrets masked; a summary for members of a guarded app).
    /// With the app version it was read at.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, rule = %rule))]
    pub async fn get_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
    ) -> Result<crate::apps::parts::Versioned<RuleDef>, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let part = def.rule(rule).cloned().ok_or_else(|| rule_missing(rule))?;
        Ok(crate::apps::parts::Versioned {
            part,
            version: app.compiled.version,
        })
    }

    /// Adds a rule (`rule.schema.json`); its condition must compile.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn create_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: RuleDef,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        self.add_part(ctx, app, "", rule, opts).await.map(|(change, _)| change)
    }

    /// Changes a rule (merge patch); the name stays.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, rule = %rule))]
    pub async fn patch_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let (body, name) = (body.clone(), rule.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let i = def
                .rules
                .iter()
                .position(|r| r.name.as_str() == name)
                .ok_or_else(|| rule_missing(&name))?;
            let mut v = serde_json::to_value(&def.rules[i]).map_err(|e| Error::internal(e.to_string()))?;
            merge_patch(&mut v, &body);
            let patched: RuleDef = parse_rule(&v)?;
            if patched.name.as_str() != name {
                return Err(Error::validation(vec![FieldError::new(
                    "name",
                    FieldCode::ReadOnly,
                    "a rule cannot be renamed; its runs are kept under its name",
                )]));
            }
            def.rules[i] = patched;
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, rule = %rule))]
    pub async fn delete_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let name = rule.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let before = def.rules.len();
            def.rules.retain(|r| r.name.as_str() != name);
            if def.rules.len() == before {
                return Err(rule_missing(&name));
            }
            // Roles that may run it no longer name it.
            for role in &mut def.roles {
                if let RunRules::Only(list) = &mut role.run_rules {
                    list.retain(|r| *r != name);
                }
            }
            Ok(())
        })
        .await
    }
}
