//! The audit trail beyond record changes: definition changes (with their plan), role membership
//! and API tokens, written as events; an app's trail newest first; the retention setting and the
//! housekeeping that applies it.
//!
//! Audit events use `entity_id` `$app` (record id: the app id), `$roles` (record id: the app id)
//! and `$tokens` (app id `$tenant`, record id: the token id). They are written already dispatched,
//! so automation never sees them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use trellis_core::automation::SECRET_MASK;
use trellis_core::value::now_micros;
use trellis_core::{Error, FieldError, Slug};
use trellis_store::events::EventRow;
use trellis_store::{StoreError, audit, system};

use crate::Engine;
use crate::context::TenantCtx;

/// The app id of audit events that belong to no app (tokens).
pub const TENANT_SCOPE: &str = "$tenant";
/// The setting holding a tenant's retention in days.
pub const RETENTION_KEY: &str = "audit_retention_days";
/// The setting limiting a tenant's automation runs per minute.
pub const RUNS_KEY: &str = "automation_runs_per_minute";
/// Undispatched events are kept this many days past the retention (the automation outbox).
pub const OUTBOX_GRACE_DAYS: i64 = 7;

/// Writes one audit event in the caller's transaction (or on its own).
pub async fn write<C: trellis_store::Writes>(
    conn: &C,
    ctx: &TenantCtx,
    app_id: &str,
    entity_id: &str,
    record_id: &str,
    kind: trellis_core::status::EventKind,
    data: Value,
) -> Result<(), Error> {
    let e = EventRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: ctx.tenant_id().to_string(),
        app_id: app_id.to_string(),
        entity_id: entity_id.to_string(),
        record_id: record_id.to_string(),
        kind: kind.as_str().to_string(),
        actor: Some(ctx.user_id().to_string()),
        via: ctx.via(),
        at: now_micros(),
        data: data.to_string(),
        depth: ctx.depth(),
    };
    audit::insert(conn, &e).await?;
    Ok(())
}

/// The provider settings and their secret member, answered masked.
const PROVIDER_SECRETS: [(&str, &str); 2] = [("smtp", "password"), ("sms", "token")];

impl Engine {
    /// An app's audit trail (administrators only): record events and metadata events, newest
    /// first, paged by `cursor` (the last event id of the page before).
    pub async fn app_audit(
        &self,
        ctx: &TenantCtx,
        app: &str,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Value, Error> {
        ctx.require_admin_to("read the audit trail")?;
        let name = Slug::from_path("app", app)?;
        let row = system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| Error::not_found(format!("app '{name}' does not exist")))?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::bad_field("limit", "range", "must be 1 to 1000"));
        }
        let def = crate::apps::parse_stored(&row)?;
        let mut fields: HashMap<String, String> = HashMap::new();
        let mut entities: HashMap<String, String> = HashMap::new();
        for e in &def.entities {
            entities.insert(e.storage_id().to_string(), e.name.to_string());
            for f in &e.fields {
                fields.insert(f.storage_id().to_string(), f.name.to_string());
            }
        }
        let rows = audit::of_app(&self.db.read, ctx.tenant_id(), &row.id, cursor, limit).await?;
        let data: Vec<Value> = rows
            .iter()
            .map(|e| {
                let mut j = crate::records::history::event_json(e, &fields);
                let entity = entities
                    .get(&e.entity_id)
                    .cloned()
                    .unwrap_or_else(|| e.entity_id.clone());
                j["entity"] = json!(entity);
                j["record_id"] = json!(e.record_id);
                j
            })
            .collect();
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last().map(|e| e.id.clone()))
            .flatten();
        Ok(json!({"data": data, "next_cursor": next}))
    }

    /// The tenant's settings (administrators only); secrets (SMTP password, SMS token) answer
    /// as `"********"`.
    pub async fn settings(&self, ctx: &TenantCtx) -> Result<Value, Error> {
        ctx.require_admin_to("read settings")?;
        let get = |k: &'static str| trellis_store::settings::get(&self.db.read, ctx.tenant_id(), k);
        let days = get(RETENTION_KEY).await?;
        let runs = get(RUNS_KEY).await?.and_then(|d| d.parse::<i64>().ok());
        let mut out = json!({
            RETENTION_KEY: days.and_then(|d| d.parse::<i64>().ok()),
            RUNS_KEY: runs.unwrap_or(crate::automation::dispatch::DEFAULT_RUNS_PER_MINUTE),
        });
        for (key, secret) in PROVIDER_SECRETS {
            let mut v: Value = get(key)
                .await?
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(Value::Null);
            if let Some(s) = v.get_mut(secret).filter(|s| !s.is_null()) {
                *s = json!(SECRET_MASK);
            }
            out[key] = v;
        }
        Ok(out)
    }

    /// Checks an `smtp` or `sms` setting the way the actions will read it.
    fn check_provider(key: &str, v: &Value, errors: &mut Vec<FieldError>) {
        use crate::automation::actions::{email::SmtpSettings, sms::SmsSettings};
        if v.is_null() {
            return;
        }
        let parsed = match key {
            "smtp" => serde_json::from_value::<SmtpSettings>(v.clone()).map(|_| ()),
            _ => serde_json::from_value::<SmsSettings>(v.clone()).map(|_| ()),
        };
        // What the actions use: 100 ms up to 60 s (SMS) or 120 s (SMTP); refused outside, not clamped.
        let most = if key == "smtp" { 120_000 } else { 60_000 };
        if let Some(t) = v.get("timeout_ms").filter(|t| !t.is_null())
            && !t.as_u64().is_some_and(|t| (100..=most).contains(&t))
        {
            errors.push(FieldError::new(
                format!("{key}.timeout_ms"),
                "out_of_range",
                format!("from 100 to {most} milliseconds"),
            ));
        }
        if let Err(e) = parsed {
            errors.push(FieldError::new(key, "invalid", e.to_string()));
        } else if key == "sms"
            && !v["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
        {
            errors.push(FieldError::new("sms.url", "invalid", "an http(s) URL"));
        }
    }

    /// Changes settings (administrators only): `audit_retention_days` 1–36500, or null to keep
    /// events for ever; `smtp` `{host, port?, from, username?, password?, tls?}` and `sms`
    /// `{url, token?, from?}` for the e-mail and SMS actions.
    pub async fn put_settings(&self, ctx: &TenantCtx, body: &Value) -> Result<Value, Error> {
        ctx.require_admin_to("change settings")?;
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object"))?;
        let mut errors = Vec::new();
        for key in ["smtp", "sms"] {
            if let Some(v) = obj.get(key) {
                Self::check_provider(key, v, &mut errors);
            }
        }
        let runs_limit = match obj.get(RUNS_KEY) {
            None => None,
            Some(v) => match v.as_i64().filter(|n| (1..=10_000_000).contains(n)) {
                Some(n) => Some(n),
                None => {
                    errors.push(FieldError::new(
                        RUNS_KEY,
                        "range",
                        "must be a whole number, 1 to 10000000",
                    ));
                    None
                }
            },
        };
        for k in obj
            .keys()
            .filter(|k| !matches!(k.as_str(), RETENTION_KEY | RUNS_KEY | "smtp" | "sms"))
        {
            errors.push(FieldError::new(
                trellis_core::names::truncate(k, 64),
                "unknown_field",
                "not a setting",
            ));
        }
        let days = match obj.get(RETENTION_KEY) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => match v.as_i64().filter(|d| (1..=36_500).contains(d)) {
                Some(d) => Some(Some(d)),
                None => {
                    errors.push(FieldError::new(
                        RETENTION_KEY,
                        "range",
                        "must be a whole number of days, 1 to 36500",
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        // All the settings sent, or none: one transaction.
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if let Some(n) = runs_limit {
            trellis_store::settings::put(&tx, ctx.tenant_id(), RUNS_KEY, &n.to_string(), now_micros()).await?;
        }
        for (key, secret) in PROVIDER_SECRETS {
            if let Some(v) = obj.get(key) {
                let mut v = v.clone();
                // Settings read and sent back carry the mask: the stored secret stays.
                if v.get(secret).and_then(Value::as_str) == Some(SECRET_MASK) {
                    let stored: Value = trellis_store::settings::get(&tx, ctx.tenant_id(), key)
                        .await?
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null);
                    v[secret] = stored.get(secret).cloned().unwrap_or(Value::Null);
                }
                trellis_store::settings::put(&tx, ctx.tenant_id(), key, &v.to_string(), now_micros()).await?;
            }
        }
        if let Some(d) = days {
            let value = d.map(|d| d.to_string()).unwrap_or_default();
            trellis_store::settings::put(&tx, ctx.tenant_id(), RETENTION_KEY, &value, now_micros()).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.settings(ctx).await
    }

    /// Deletes events past each tenant's retention: those automation dispatched, and any more
    /// than [`OUTBOX_GRACE_DAYS`] past it. Answers how many. Housekeeping runs it.
    pub async fn purge_events(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let mut n = 0;
        for (tenant, value) in trellis_store::settings::everywhere(&self.db.read, RETENTION_KEY).await? {
            let Ok(days) = value.parse::<i64>() else { continue };
            let cutoff = now - chrono::Duration::days(days);
            let hard = cutoff - chrono::Duration::days(OUTBOX_GRACE_DAYS);
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            n += audit::purge(&tx, &tenant, cutoff, hard).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(n)
    }
}
