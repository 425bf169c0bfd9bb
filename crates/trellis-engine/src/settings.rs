//! The tenant's settings: audit retention, the automation run limit, the time zone of reports,
//! and the SMTP and SMS providers (their secrets write-only), read and replaced by administrators.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_core::automation::SECRET_MASK;
use trellis_core::error::FieldCode;
use trellis_core::value::now_micros;
use trellis_core::zone::Zone;
use trellis_core::{Error, FieldError};
use trellis_store::StoreError;

use crate::Engine;
use crate::context::TenantCtx;

use crate::audit::RETENTION_KEY;
use crate::reports::ZONE_KEY;

/// The setting limiting a tenant's automation runs per minute.
pub const RUNS_KEY: &str = "automation_runs_per_minute";

/// The provider settings and their secret member, answered masked.
const PROVIDER_SECRETS: [(&str, &str); 2] = [("smtp", "password"), ("sms", "token")];

/// How SMTP talks to the server: `starttls` (default), `tls` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

/// The tenant's SMTP server, for the e-mail action.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 65535)]
    pub port: Option<u16>,
    /// `Name <address>` or an address.
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Answered as `********`; sent back so, the stored password stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<SmtpTls>,
    /// Per SMTP command, 100 ms to 120 s (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 120_000)]
    pub timeout_ms: Option<u64>,
}

/// The tenant's SMS provider, for the SMS action.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// An http(s) URL.
    #[schema(pattern = "^https?://")]
    pub url: String,
    /// Answered as `********`; sent back so, the stored token stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Per request, 100 ms to 60 s (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 60_000)]
    pub timeout_ms: Option<u64>,
}

/// The tenant's settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Settings {
    /// Days audit events are kept; none: for ever.
    #[schema(required = true)]
    pub audit_retention_days: Option<i64>,
    /// Rule runs the tenant's automation starts per minute at most.
    pub automation_runs_per_minute: i64,
    /// None: the e-mail action has no server.
    #[schema(required = true)]
    pub smtp: Option<SmtpSettings>,
    /// None: the SMS action has no provider.
    #[schema(required = true)]
    pub sms: Option<SmsSettings>,
    /// The IANA time zone reports cut periods in (`UTC` unless set).
    pub time_zone: String,
}

/// A stored provider setting as answered: its secret masked.
fn provider<T: serde::de::DeserializeOwned>(key: &str, stored: Option<String>) -> Result<Option<T>, Error> {
    let Some(text) = stored else { return Ok(None) };
    serde_json::from_str::<Option<T>>(&text)
        .map_err(|e| Error::internal(format!("the stored '{key}' setting cannot be read: {e}")))
}

impl Engine {
    /// The tenant's settings (administrators only); secrets (SMTP password, SMS token) answer
    /// as `"********"`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn settings(&self, ctx: &TenantCtx) -> Result<Settings, Error> {
        ctx.require_admin_to("read settings")?;
        let get = |k: &'static str| trellis_store::settings::get(&self.db.read, ctx.tenant_id(), k);
        let days = get(RETENTION_KEY).await?;
        let runs = get(RUNS_KEY).await?.and_then(|d| d.parse::<i64>().ok());
        let mask = |s: &mut Option<String>| {
            if let Some(s) = s {
                *s = SECRET_MASK.to_string();
            }
        };
        let mut smtp: Option<SmtpSettings> = provider("smtp", get("smtp").await?)?;
        if let Some(s) = &mut smtp {
            mask(&mut s.password);
        }
        let mut sms: Option<SmsSettings> = provider("sms", get("sms").await?)?;
        if let Some(s) = &mut sms {
            mask(&mut s.token);
        }
        Ok(Settings {
            audit_retention_days: days.and_then(|d| d.parse::<i64>().ok()),
            automation_runs_per_minute: runs.unwrap_or(crate::automation::dispatch::DEFAULT_RUNS_PER_MINUTE),
            smtp,
            sms,
            time_zone: self.tenant_zone(ctx).await?.name().to_string(),
        })
    }

    /// Changes settings (administrators only): `audit_retention_days` 1–36500, or null to keep
    /// events for ever; `smtp` `{host, port?, from, username?, password?, tls?}` and `sms`
    /// `{url, token?, from?}` for the e-mail and SMS actions.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn put_settings(&self, ctx: &TenantCtx, body: &Value) -> Result<Settings, Error> {
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
                        FieldCode::Range,
                        "must be a whole number, 1 to 10000000",
                    ));
                    None
                }
            },
        };
        let zone = match obj.get(ZONE_KEY) {
            None => None,
            Some(Value::String(z)) => match Zone::parse(ZONE_KEY, z) {
                Ok(z) => Some(z),
                Err(e) => {
                    errors.extend(e.errors);
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new(
                    ZONE_KEY,
                    FieldCode::Type,
                    "must be an IANA time zone name such as Asia/Shanghai",
                ));
                None
            }
        };
        for k in obj
            .keys()
            .filter(|k| !matches!(k.as_str(), RETENTION_KEY | RUNS_KEY | ZONE_KEY | "smtp" | "sms"))
        {
            errors.push(FieldError::new(
                trellis_core::names::truncate(k, 64),
                FieldCode::UnknownField,
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
                        FieldCode::Range,
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
        if let Some(z) = zone {
            trellis_store::settings::put(&tx, ctx.tenant_id(), ZONE_KEY, z.name(), now_micros()).await?;
        }
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

    /// Checks an `smtp` or `sms` setting the way the actions will read it.
    fn check_provider(key: &str, v: &Value, errors: &mut Vec<FieldError>) {
        use crate::automation::actions::{email, sms};
        if v.is_null() {
            return;
        }
        let parsed = match key {
            "smtp" => serde_json::from_value::<email::SmtpSettings>(v.clone()).map(|_| ()),
            _ => serde_json::from_value::<sms::SmsSettings>(v.clone()).map(|_| ()),
        };
        // What the actions use: 100 ms up to 60 s (SMS) or 120 s (SMTP); refused outside, not clamped.
        let most = if key == "smtp" { 120_000 } else { 60_000 };
        if let Some(t) = v.get("timeout_ms").filter(|t| !t.is_null())
            && !t.as_u64().is_some_and(|t| (100..=most).contains(&t))
        {
            errors.push(FieldError::new(
                format!("{key}.timeout_ms"),
                FieldCode::OutOfRange,
                format!("from 100 to {most} milliseconds"),
            ));
        }
        if let Err(e) = parsed {
            errors.push(FieldError::new(key, FieldCode::Invalid, e.to_string()));
        } else if key == "sms"
            && !v["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
        {
            errors.push(FieldError::new("sms.url", FieldCode::Invalid, "an http(s) URL"));
        }
    }
}
