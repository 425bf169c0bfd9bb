//! In-app notification to users, role members, users held by fields, or the record's owner;
//! written in the job's completing transaction (plain addresses are not users and are ignored).

use serde_json::{Value, json};
use trellis_core::Label;
use trellis_core::automation::Recipients;
use trellis_store::sea_orm::ConnectionTrait;

use crate::automation::template::render;
use crate::automation::{ActionCtx, ActionError};

pub async fn run<C: ConnectionTrait>(
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
