//! One module per action. Each takes the [`ActionCtx`](super::ActionCtx) and its definition and
//! answers a JSON summary of what it did (shown in the rule's runs) or an [`ActionError`].
//!
//! Actions that reach the world ([`email`], [`sms`], [`webhook`]) run after their job's event
//! is committed and may run more than once (at least once): each carries the job's idempotency
//! key so that the receiver can drop repeats. Their settings are the tenant's (`smtp`, `sms` in
//! `sys_settings`).

pub mod assign;
pub mod email;
pub mod notify;
pub mod outbound;
pub mod recipients;
pub mod records;
pub mod render_document;
pub mod sms;
pub mod webhook;

use std::sync::OnceLock;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{ActionCtx, ActionError};

/// A tenant setting read as `T`: none is a fatal error naming the key (a rule that sends mail
/// in a tenant without SMTP will not start working by being retried), and so is one that does
/// not parse.
pub(crate) async fn setting<T: DeserializeOwned>(ctx: &ActionCtx<'_>, key: &str) -> Result<T, ActionError> {
    let text = trellis_store::settings::get(&ctx.engine.db.read, ctx.tenant_id, key)
        .await
        .map_err(|e| ActionError::retry(format!("reading setting '{key}': {e}")))?
        .ok_or_else(|| ActionError::fatal(format!("the tenant has no '{key}' setting")))?;
    serde_json::from_str(&text).map_err(|e| ActionError::fatal(format!("setting '{key}' is not valid: {e}")))
}

/// The recipients an earlier attempt reached (`{"delivered": [...]}` in its progress).
pub(crate) fn delivered(progress: Option<&serde_json::Value>) -> std::collections::HashSet<String> {
    progress
        .and_then(|p| p.get("delivered"))
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The HTTP client of SMS and webhooks: rustls with the ring provider, no proxy from the
/// environment. Redirects are followed only when they keep the method and body (307, 308) and
/// go to the same scheme, host and port, at most 5 times; any other redirect is answered as is
/// (and so is a final error). Unless `allow_private`, names resolve to public addresses only
/// ([`outbound`]).
pub(crate) fn http_client(allow_private: bool) -> Result<reqwest::Client, ActionError> {
    // Process-wide on purpose: a client holds connection pools and the redirect policy, no
    // tenant data (no cookies, no default headers), so nodes in one process may share it.
    static PUBLIC: OnceLock<reqwest::Client> = OnceLock::new();
    static ANY: OnceLock<reqwest::Client> = OnceLock::new();
    let slot = if allow_private { &ANY } else { &PUBLIC };
    if let Some(c) = slot.get() {
        return Ok(c.clone());
    }
    // A served node installs it at start; tests and tools may not have.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
        let same_origin = attempt.previous().first().is_some_and(|f| {
            f.scheme() == attempt.url().scheme()
                && f.host_str() == attempt.url().host_str()
                && f.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if keeps_body && same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    let mut builder = reqwest::Client::builder()
        .redirect(policy)
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("Trellis/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(outbound::PublicOnly));
    }
    let client = builder
        .build()
        .map_err(|e| ActionError::retry(format!("http client: {e}")))?;
    Ok(slot.get_or_init(|| client).clone())
}

/// What an HTTP answer means for a delivery: 2xx done; 5xx, 408 and 429 worth retrying; any
/// other (4xx, a redirect not followed) final.
pub(crate) fn http_outcome(status: reqwest::StatusCode, what: &str, body: &str) -> Result<(), ActionError> {
    if status.is_success() {
        return Ok(());
    }
    let detail: String = body.chars().take(200).collect();
    let message = format!("{what} answered {status}: {detail}");
    let code = status.as_u16();
    if status.is_server_error() || code == 408 || code == 429 {
        Err(ActionError::retry(message))
    } else {
        Err(ActionError::fatal(message))
    }
}

/// What a failed HTTP request means: no answer (connection refused, timeout, reset) is worth
/// retrying; a request that could not be built is not. The text is shown to the tenant in the
/// rule's runs, so it says what went wrong and no more: no address, port or operating-system
/// error (which would make the run log a port scanner); the whole error goes to the server log.
pub(crate) fn http_error(e: reqwest::Error, what: &str) -> ActionError {
    if e.is_builder() {
        return ActionError::fatal(format!("{what}: the request could not be built"));
    }
    tracing::warn!(target: "trellis::outbound", error = %error_chain(&e), "{what} request failed");
    if e.is_connect() {
        ActionError::retry(format!("{what}: could not connect"))
    } else if e.is_timeout() {
        ActionError::retry(format!("{what}: timed out"))
    } else {
        ActionError::retry(format!("{what}: the connection failed before an answer"))
    }
}

/// An error with its sources (reqwest's own message hides the cause, e.g. "connection refused"),
/// for the server log.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The text of an answer body, at most `max` bytes of it read.
pub(crate) async fn read_some(mut res: reqwest::Response, max: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < max {
        match res.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(max);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn answers_classify_as_done_retry_or_final() {
        assert!(http_outcome(StatusCode::OK, "x", "").is_ok());
        assert!(http_outcome(StatusCode::ACCEPTED, "x", "").is_ok());
        for retry in [500, 502, 503, 408, 429] {
            let e = http_outcome(StatusCode::from_u16(retry).unwrap(), "x", "busy").unwrap_err();
            assert!(e.retry, "{retry}");
        }
        for fatal in [400, 401, 403, 404, 422, 301] {
            let e = http_outcome(StatusCode::from_u16(fatal).unwrap(), "x", "no").unwrap_err();
            assert!(!e.retry, "{fatal}");
            assert!(e.message.contains(&fatal.to_string()), "{}", e.message);
        }
    }
}
