//! In-app notification to users, role members, users held by fields, or the record's owner;
//! written in the job's completing transaction.

use serde_json::{Value, json};
use trellis_core::Label;
use trellis_core::automation::Recipients;
use trellis_store::directory;
use trellis_store::sea_orm::ConnectionTrait;

use crate::automation::ActionError;
use crate::automation::template::render;
use crate::scripts::LoadedApp;

/// The user ids a recipient list names (addresses are not users and are ignored here).
pub async fn user_ids<C: ConnectionTrait>(
    conn: &C,
    app: &LoadedApp,
    to: &Recipients,
    input: &Value,
) -> Result<Vec<String>, ActionError> {
    let mut out: Vec<String> = to.users.clone();
    for r in &to.roles {
        out.extend(
            directory::members_of(conn, &app.id, r.as_str())
                .await
                .map_err(|e| ActionError::retry(e.to_string()))?,
        );
    }
    for f in &to.fields {
        if let Some(u) = input["record"][f.as_str()].as_str() {
            out.push(u.to_string());
        }
    }
    if to.owner
        && let Some(u) = input["record"]["owner"].as_str()
    {
        out.push(u.to_string());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub async fn run<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
    app: &LoadedApp,
    to: &Recipients,
    title: &Label,
    body: Option<&str>,
    input: &Value,
) -> Result<Value, ActionError> {
    let users = user_ids(conn, app, to, input).await?;
    if users.is_empty() {
        return Err(ActionError::fatal("no recipient"));
    }
    let title = Label {
        zh: title.zh.as_deref().map(|t| render(t, input)),
        en: title.en.as_deref().map(|t| render(t, input)),
    };
    let data = json!({
        "app": app.def.name,
        "entity": input["entity"],
        "record": input["record"]["id"],
        "rule": input["rule"],
        "body": body.map(|b| render(b, input)),
    });
    crate::notifications::notify(conn, tenant_id, &users, "rule", &title, data)
        .await
        .map_err(ActionError::from)?;
    Ok(json!({"notified": users}))
}
