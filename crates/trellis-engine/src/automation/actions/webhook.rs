//! The webhook action: an HTTP `POST` of a JSON body to a URL of the rule's.
//!
//! The body is the rule's JSON template rendered over the input (default: the input's
//! `{event, entity, record, old}`). Headers: `Content-Type: application/json`,
//! `Idempotency-Key: <job key>` (the same on every attempt), `X-Trellis-Event: <event kind>`,
//! `X-Trellis-Rule: <rule name>`, and with a secret `X-Trellis-Timestamp: <unix seconds>` and
//! `X-Trellis-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body bytes>")>`; a
//! receiver recomputes it over the raw body and refuses old timestamps to stop replays.
//!
//! Only `http` and `https` URLs; only 307/308 redirects to the same scheme, host and port are
//! followed (another redirect is answered as a final error). The timeout
//! is `timeout_ms` (default 10 s, at most 60 s). 2xx is delivered; 5xx, 408, 429, no answer or a
//! timeout are retried; any other answer (a redirect elsewhere included) is final.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{http_client, http_error, http_outcome, read_some};
use crate::automation::{ActionCtx, ActionError, template};

/// Timeout when the rule names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest timeout a rule may ask for.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// Posts the body. Answers `{"url", "status", "response"}` (the first 500 bytes of the answer).
pub async fn run(
    ctx: &ActionCtx<'_>,
    url: &str,
    body: Option<&Value>,
    secret: Option<&str>,
    timeout_ms: Option<u64>,
) -> Result<Value, ActionError> {
    let target = check_url(url)?;
    let allow_private = ctx.engine.allows_private_outbound();
    super::outbound::check_target(&target, allow_private, "webhook").await?;
    let payload = match body {
        Some(t) => template::render_json(t, ctx.input),
        None => json!({
            "event": ctx.input.get("event").cloned().unwrap_or(Value::Null),
            "entity": ctx.input.get("entity").cloned().unwrap_or(Value::Null),
            "record": ctx.input.get("record").cloned().unwrap_or(Value::Null),
            "old": ctx.input.get("old").cloned().unwrap_or(Value::Null),
        }),
    };
    let bytes = serde_json::to_vec(&payload).map_err(|e| ActionError::fatal(format!("webhook body: {e}")))?;
    let timeout = Duration::from_millis(timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).clamp(1, MAX_TIMEOUT_MS));
    let mut req = http_client(allow_private)?
        .post(target.clone())
        .timeout(timeout)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", ctx.idempotency_key)
        .header("X-Trellis-Event", header_safe(&event_kind(ctx.input)))
        .header("X-Trellis-Rule", header_safe(ctx.rule.name.as_str()));
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        let ts = chrono::Utc::now().timestamp().to_string();
        req = req
            .header("X-Trellis-Timestamp", &ts)
            .header("X-Trellis-Signature", sign(secret, &ts, &bytes));
    }
    let res = req.body(bytes).send().await.map_err(|e| http_error(e, "webhook"))?;
    let status = res.status();
    let answer = read_some(res, 500).await;
    http_outcome(status, "webhook", &answer)?;
    Ok(json!({"url": redact(&target), "status": status.as_u16(), "response": answer}))
}

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// An absolute `http(s)` URL with a host; anything else is a fatal error.
pub fn check_url(url: &str) -> Result<Url, ActionError> {
    let u = Url::parse(url.trim()).map_err(|e| ActionError::fatal(format!("'{url}' is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(ActionError::fatal(format!("'{}' is not an http(s) URL", redact(&u))));
    }
    Ok(u)
}

/// The URL without a password, for summaries and errors.
fn redact(u: &Url) -> String {
    let mut u = u.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    u.to_string()
}

/// The kind of the input's event: its text, or the `kind`/`type` of an event object.
fn event_kind(input: &Value) -> String {
    match input.get("event") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => m
            .get("kind")
            .or_else(|| m.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("event")
            .to_string(),
        _ => "manual".to_string(),
    }
}

/// Visible ASCII only (a header value may hold nothing else).
fn header_safe(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        // Computed independently: HMAC-SHA256 of `1700000000.{"a":1}` with the key `key`.
        let sig = sign("key", "1700000000", br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
        assert_ne!(sig, sign("key", "1700000001", br#"{"a":1}"#));
        assert_ne!(sig, sign("key", "1700000000", br#"{"a":2}"#));
        assert_ne!(sig, sign("other", "1700000000", br#"{"a":1}"#));
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert!(check_url("https://hooks.example.com/x?y=1").is_ok());
        assert!(check_url("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "example.com/x",
            "javascript:alert(1)",
            "http://",
        ] {
            let e = check_url(bad).unwrap_err();
            assert!(!e.retry, "{bad}");
        }
        let e = check_url("gopher://u:secret@example.com/").unwrap_err();
        assert!(!e.message.contains("secret"), "{}", e.message);
    }

    #[test]
    fn event_kinds_come_from_text_or_objects() {
        assert_eq!(event_kind(&json!({"event": "created"})), "created");
        assert_eq!(
            event_kind(&json!({"event": {"kind": "stage_changed"}})),
            "stage_changed"
        );
        assert_eq!(event_kind(&json!({})), "manual");
        assert_eq!(header_safe("a\r\nb"), "ab");
    }
}

/// Where `webhook` posts and what.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookOptions {
    /// An http(s) URL (a template).
    pub url: String,
    /// The JSON body (a template); none: the event, entity, record and rule.
    #[serde(default)]
    #[schema(nullable = false)]
    pub body: Option<Value>,
    /// Signs the body with HMAC-SHA256 (write-only: it answers masked).
    #[serde(default)]
    #[schema(nullable = false)]
    pub secret: Option<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub timeout_ms: Option<u64>,
}

/// The webhook action.
pub struct Webhook;

#[async_trait::async_trait]
impl super::Action for Webhook {
    const KIND: &'static str = "webhook";
    const REACH: super::Reach = super::Reach::World;
    type Options = WebhookOptions;

    fn check(&self, o: &WebhookOptions, site: &super::Site<'_>, errors: &mut Vec<trellis_core::FieldError>) {
        if !(o.url.starts_with("http://") || o.url.starts_with("https://")) {
            errors.push(site.problem("url", trellis_core::error::FieldCode::Invalid, "an http(s) URL"));
        }
    }

    fn texts(&self, o: &WebhookOptions) -> Vec<(String, String)> {
        let mut out = vec![("url".to_string(), o.url.clone())];
        if let Some(b) = &o.body {
            let mut found = Vec::new();
            trellis_core::template::walk("body".into(), b, &mut found);
            out.extend(found.into_iter().map(|(at, t)| (at, t.to_string())));
        }
        out
    }

    async fn dry_run(&self, o: &WebhookOptions, run: &super::DryRun<'_>) -> Result<Value, trellis_core::Error> {
        let body = o
            .body
            .as_ref()
            .map(|b| template::render_json(b, run.input))
            .unwrap_or_else(|| run.input.clone());
        Ok(json!({"url": o.url, "body": body}))
    }

    async fn run_out(&self, o: &WebhookOptions, run: &ActionCtx<'_>) -> Result<Value, ActionError> {
        self::run(run, &o.url, o.body.as_ref(), o.secret.as_deref(), o.timeout_ms).await
    }
}
