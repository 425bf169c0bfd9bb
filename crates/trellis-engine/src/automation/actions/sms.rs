//! The SMS action: one `POST` per phone number to the tenant's HTTP provider.
//!
//! Setting `sms`: `{"url", "token"?, "from"?, "timeout_ms"?}`. The request is
//! `{"to": "+86…", "text": "…", "from": "…"}` as JSON, with `Authorization: Bearer <token>` when
//! a token is set and `Idempotency-Key: <job key>:<phone>` (the same on every attempt; one per
//! number, since each number is its own message). 2xx is sent; 5xx, 408, 429, no answer or a
//! timeout are retried; any other answer is final.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use trellis_core::automation::Recipients;

use super::{http_client, http_error, http_outcome, read_some, recipients};
use crate::automation::{ActionCtx, ActionError, template};

/// The tenant's SMS provider (setting `sms`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub url: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    /// Per request (default 10 s, at most 60 s).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Sends the text to each recipient with a phone number, but those an earlier attempt reached
/// (its progress). Answers `{"sent": n, "to": [numbers], "statuses": [http status per number,
/// null for those sent earlier]}`, with `sent_earlier` when a retry skipped some.
pub async fn run(ctx: &ActionCtx<'_>, to: &Recipients, text: &str) -> Result<Value, ActionError> {
    let targets = recipients::resolve(ctx, to).await?;
    let phones: Vec<String> = targets.iter().filter_map(|t| t.phone.clone()).collect();
    if phones.is_empty() {
        return Err(ActionError::fatal("no recipient has a phone number"));
    }
    let cfg: SmsSettings = super::setting(ctx, "sms").await?;
    let url = super::webhook::check_url(&cfg.url)?;
    let allow_private = ctx.engine.allows_private_outbound();
    super::outbound::check_target(&url, allow_private, "sms provider").await?;
    let text = template::render(text, ctx.input);
    if text.trim().is_empty() {
        return Err(ActionError::fatal("the text is empty"));
    }
    let client = http_client(allow_private)?;
    let timeout = Duration::from_millis(cfg.timeout_ms.unwrap_or(10_000).clamp(100, 60_000));
    let earlier = super::delivered(ctx.progress);
    let mut delivered: Vec<String> = Vec::with_capacity(phones.len());
    let mut statuses = Vec::with_capacity(phones.len());
    for phone in &phones {
        if earlier.contains(phone) {
            delivered.push(phone.clone());
            statuses.push(None);
            continue;
        }
        let progress = || json!({"delivered": delivered});
        let mut req = client
            .post(url.clone())
            .timeout(timeout)
            .header("Idempotency-Key", format!("{}:{phone}", ctx.idempotency_key))
            .json(&json!({"to": phone, "text": text, "from": cfg.from}));
        if let Some(t) = cfg.token.as_deref().filter(|t| !t.is_empty()) {
            req = req.bearer_auth(t);
        }
        let res = req
            .send()
            .await
            .map_err(|e| http_error(e, "sms provider").with_progress(progress()))?;
        let status = res.status();
        let body = read_some(res, 4096).await;
        http_outcome(status, "sms provider", &body).map_err(|e| e.with_progress(progress()))?;
        delivered.push(phone.clone());
        statuses.push(Some(status.as_u16()));
    }
    let mut out = json!({"sent": phones.len(), "to": phones, "statuses": statuses});
    if !earlier.is_empty() {
        out["sent_earlier"] = json!(earlier.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_a_url() {
        assert!(serde_json::from_value::<SmsSettings>(json!({"token": "t"})).is_err());
        let s: SmsSettings =
            serde_json::from_value(json!({"url": "https://sms.example.com/send", "from": "ACME"})).unwrap();
        assert_eq!(s.from.as_deref(), Some("ACME"));
        assert!(s.token.is_none());
    }
}

/// What `sms` sends and to whom.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsOptions {
    pub to: Recipients,
    /// The text (a template).
    pub text: String,
}

/// The SMS action.
pub struct Sms;

#[async_trait::async_trait]
impl super::Action for Sms {
    const KIND: &'static str = "sms";
    const REACH: super::Reach = super::Reach::World;
    type Options = SmsOptions;

    fn texts(&self, o: &SmsOptions) -> Vec<(String, String)> {
        let mut out = super::address_texts(&o.to);
        out.push(("text".to_string(), o.text.clone()));
        out
    }

    fn recipients<'o>(&self, o: &'o SmsOptions) -> Option<(&'o Recipients, super::Channel)> {
        Some((&o.to, super::Channel::Sms))
    }

    async fn dry_run(&self, o: &SmsOptions, run: &super::DryRun<'_>) -> Result<Value, trellis_core::Error> {
        Ok(serde_json::json!({"text": crate::automation::template::render(&o.text, run.input)}))
    }

    async fn run_out(&self, o: &SmsOptions, run: &ActionCtx<'_>) -> Result<Value, ActionError> {
        self::run(run, &o.to, &o.text).await
    }
}
