//! In-app notification to users, role members, users held by fields, or the record's owner;
//! written in the job's completing transaction (plain addresses are not users and are ignored).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use trellis_core::automation::Recipients;
use trellis_core::permissions::Right;
use trellis_core::{CompiledEntity, Error, Label};
use trellis_store::system;

use crate::TenantCtx;
use crate::automation::template::render;
use crate::automation::{ActionCtx, ActionError};

pub async fn run<C: trellis_store::Writes>(
    conn: &C,
    ctx: &ActionCtx<'_>,
    to: &Recipients,
    title: &Label,
    body: Option<&str>,
) -> Result<Value, ActionError> {
    let (app, input, tenant_id) = (ctx.app, ctx.input, ctx.tenant_id);
    let users = super::recipients::user_ids(&super::recipients::resolve_in(conn, ctx, to).await?);
    if users.is_empty() {
        return Err(ActionError::fatal("no recipient"));
    }
    // Each recipient's texts are rendered from the record as they may see it: fields hidden
    // from them (all of them without the read right) render empty. Recipients who see the same
    // fields share one rendering.
    let entity = input["entity"].as_str().and_then(|n| app.entity(n));
    let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for u in &users {
        let hidden = match entity {
            Some(e) => hidden_for(conn, ctx, e, u).await?,
            None => Vec::new(),
        };
        groups.entry(hidden).or_default().push(u.clone());
    }
    for (hidden, group) in &groups {
        let seen = match entity {
            Some(e) if !hidden.is_empty() => redacted(input, e, hidden),
            _ => input.clone(),
        };
        let title = Label {
            zh: title.zh.as_deref().map(|t| render(t, &seen)),
            en: title.en.as_deref().map(|t| render(t, &seen)),
        };
        let data = json!({
            "app": app.def.name,
            "entity": input["entity"],
            "record": input["record"]["id"],
            "rule": input["rule"],
            "body": body.map(|b| render(b, &seen)),
        });
        crate::notifications::notify(
            conn,
            tenant_id,
            group,
            trellis_core::status::NotificationKind::Rule,
            &title,
            data,
        )
        .await
        .map_err(ActionError::from)?;
    }
    Ok(json!({"notified": users}))
}

/// The fields of the entity hidden from a user (sorted).
async fn hidden_for<C: trellis_store::Reads>(
    conn: &C,
    ctx: &ActionCtx<'_>,
    entity: &Arc<CompiledEntity>,
    user: &str,
) -> Result<Vec<String>, ActionError> {
    let admin = system::user_by_id(conn, ctx.tenant_id, user)
        .await
        .map_err(|e| ActionError::from(Error::from(e)))?
        .is_some_and(|u| u.is_admin);
    let as_user = TenantCtx::new(ctx.tenant_id.to_string(), user.to_string(), admin, None);
    let access = ctx.engine.access(conn, &as_user, ctx.app, entity).await?;
    if access.is_full() {
        return Ok(Vec::new());
    }
    let mut hidden: Vec<String> = if access.grant.reach(Right::Read).is_none() {
        entity.fields().map(|f| f.name.clone()).collect()
    } else {
        access.grant.hidden.iter().cloned().collect()
    };
    hidden.sort();
    Ok(hidden)
}

/// The action's input without the hidden fields: in `record`, `old` and the event's `changes`
/// (kept by storage id).
fn redacted(input: &Value, entity: &CompiledEntity, hidden: &[String]) -> Value {
    let mut out = input.clone();
    for key in ["record", "old"] {
        if let Some(Value::Object(m)) = out.get_mut(key) {
            m.retain(|k, _| !hidden.contains(k));
        }
    }
    let ids: Vec<String> = entity
        .def
        .fields
        .iter()
        .filter(|f| hidden.iter().any(|h| h == f.name.as_str()))
        .map(|f| f.storage_id().to_string())
        .collect();
    if let Some(Value::Object(ch)) = out.get_mut("event").and_then(|e| e.get_mut("changes")) {
        ch.retain(|k, _| !ids.contains(k) && !hidden.contains(k));
    }
    out
}

/// What `notify` tells and whom.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyOptions {
    pub to: Recipients,
    /// The title (templates), in Chinese and English.
    pub title: Label,
    /// The body (a template).
    #[serde(default)]
    #[schema(nullable = false)]
    pub body: Option<String>,
}

/// The in-app notification action.
pub struct Notify;

#[async_trait::async_trait]
impl super::Action for Notify {
    const KIND: &'static str = "notify";
    type Options = NotifyOptions;

    fn texts(&self, o: &NotifyOptions) -> Vec<(String, String)> {
        let mut out = super::address_texts(&o.to);
        out.extend(o.title.zh.iter().map(|t| ("title.zh".to_string(), t.clone())));
        out.extend(o.title.en.iter().map(|t| ("title.en".to_string(), t.clone())));
        out.extend(o.body.iter().map(|b| ("body".to_string(), b.clone())));
        out
    }

    fn recipients<'o>(&self, o: &'o NotifyOptions) -> Option<(&'o Recipients, super::Channel)> {
        Some((&o.to, super::Channel::InApp))
    }

    async fn dry_run(&self, o: &NotifyOptions, run: &super::DryRun<'_>) -> Result<Value, Error> {
        let input = run.input;
        Ok(json!({
            "title": {"zh": o.title.zh.as_deref().map(|t| render(t, input)), "en": o.title.en.as_deref().map(|t| render(t, input))},
            "body": o.body.as_deref().map(|b| render(b, input)),
        }))
    }

    async fn run_in(&self, o: &NotifyOptions, run: &super::InTx<'_>) -> Result<Value, ActionError> {
        self::run(run.tx, run.action, &o.to, &o.title, o.body.as_deref()).await
    }
}
