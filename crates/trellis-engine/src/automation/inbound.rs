//! Runs started from outside a record's write: an inbound webhook (signed with the rule's
//! secret) and a manual run of a rule on chosen records.

use serde_json::{Value, json};
use trellis_core::Error;
use trellis_core::automation::Trigger;
use trellis_core::error::FieldCode;
use trellis_core::status::EventKind;
use trellis_store::events::EventRow;
use trellis_store::{StoreError, events, system};

use trellis_core::permissions::Right;

use crate::access::get_scoped;
use crate::{Engine, TenantCtx};

use super::*;

pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Engine {
    /// An inbound webhook: finds the app's rule with this key whose secret matches (compared in
    /// constant time) and writes a `webhook` event for the dispatcher. Answers the event id.
    pub async fn inbound_hook(
        &self,
        app: &str,
        key: &str,
        secret: Option<&str>,
        payload: Value,
    ) -> Result<String, Error> {
        let not_found = || Error::not_found("no such webhook");
        let secret =
            secret.ok_or_else(|| Error::unauthenticated("the webhook secret is missing (X-Trellis-Secret)"))?;
        let name = trellis_core::Slug::from_path("app", app).map_err(|_| not_found())?;
        for row in system::apps_named(&self.db.read, name.as_str()).await? {
            let Some(loaded) = self.app_by_id(&self.db.read, &row.id).await? else {
                continue;
            };
            let Some(rule) = loaded.def.rules.iter().find(|r| {
                matches!(&r.trigger, Trigger::Webhook { key: k, secret: s } if k.as_str() == key && constant_eq(s.as_bytes(), secret.as_bytes()))
            }) else {
                continue;
            };
            if !rule.enabled {
                return Err(Error::conflict("this webhook's rule is disabled"));
            }
            let e = EventRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: row.tenant_id.clone(),
                app_id: row.id.clone(),
                entity_id: String::new(),
                record_id: String::new(),
                kind: EventKind::Webhook.to_string(),
                actor: None,
                via: Some(format!("hook:{key}")),
                at: trellis_core::value::now_micros(),
                data: json!({"rule": rule.name, "payload": payload}).to_string(),
                depth: 0,
            };
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            events::insert(&tx, std::slice::from_ref(&e)).await?;
            tx.commit().await.map_err(StoreError::from)?;
            self.wake_dispatcher();
            return Ok(e.id);
        }
        // The same answer for an unknown key and a wrong secret: nothing to probe.
        Err(Error::unauthenticated("unknown webhook or wrong secret"))
    }

    /// A manual run of a rule on a record (the button in the UI).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id, rule = %rule))]
    pub async fn run_rule_on(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        rule: &str,
    ) -> Result<String, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let ent = crate::records::entity_of(&app, entity)?.clone();
        let r = known_rule(&app, rule, &self.hidden_fields(&self.db.read, ctx, &app).await?)?;
        if !matches!(&r.trigger, Trigger::Manual { entity: e } if e.as_str() == ent.name()) {
            return Err(Error::bad_field(
                "rule",
                FieldCode::NotManual,
                format!("rule '{rule}' is not a manual rule of '{entity}'"),
            ));
        }
        self.require_rule_right(&self.db.read, ctx, &app, rule).await?;
        let id = crate::records::check_id(id)?;
        // The record must be one the caller reads: 404 outside their scope, as everywhere.
        let access = self.access(&self.db.read, ctx, &app, &ent).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        get_scoped(&tx, &ent, &id, scope.as_ref(), None)
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        let e = EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: app.id.clone(),
            entity_id: ent.def.storage_id().to_string(),
            record_id: id,
            kind: EventKind::Manual.to_string(),
            actor: Some(ctx.user_id().to_string()),
            via: ctx.via(),
            at: trellis_core::value::now_micros(),
            data: json!({"rule": rule}).to_string(),
            depth: ctx.depth(),
        };
        events::insert(&tx, std::slice::from_ref(&e)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_dispatcher();
        Ok(e.id)
    }
}
