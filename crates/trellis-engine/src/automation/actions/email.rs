//! The e-mail action: one message per recipient over the tenant's SMTP server.
//!
//! Setting `smtp`: `{"host", "port"?, "from", "username"?, "password"?, "tls"?, "timeout_ms"?}`;
//! `tls` is `none`, `starttls` (the default; port 587 unless given) or `tls` (implicit TLS,
//! port 465). Subject and body are templates; the body is plain text (UTF-8). The host must be
//! public unless the node allows private targets, as for webhooks and SMS ([`super::outbound`]).
//!
//! Each message carries `X-Trellis-Idempotency-Key: <job key>` and a `Message-ID` made of the
//! key and the recipient, the same on every attempt, so a repeat after a retry can be told apart
//! from a new message. A retry sends only to the recipients the failed attempt did not reach
//! (its progress). No answer, a timeout or a 4xx answer of the server is retried; no or bad
//! settings (credentials for a server without authentication included), a bad address or a 5xx
//! answer (e.g. no such mailbox) are final.

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use trellis_core::automation::Recipients;

use super::recipients;
use crate::automation::{ActionCtx, ActionError, template};

/// The tenant's SMTP server (setting `smtp`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// `Name <address>` or an address.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub tls: SmtpTls,
    /// Per SMTP command (default 30 s).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    #[default]
    Starttls,
    Tls,
}

/// `X-Trellis-Idempotency-Key`.
#[derive(Debug, Clone)]
pub(super) struct IdempotencyKey(pub(super) String);

impl Header for IdempotencyKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Trellis-Idempotency-Key")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(IdempotencyKey(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Sends the message to each recipient with an e-mail address. Answers
/// `{"sent": n, "to": [addresses], "message_ids": [...]}`.
pub async fn run(ctx: &ActionCtx<'_>, to: &Recipients, subject: &str, body: &str) -> Result<Value, ActionError> {
    let targets = recipients::resolve(ctx, to).await?;
    let addresses: Vec<String> = targets.iter().filter_map(|t| t.email.clone()).collect();
    if addresses.is_empty() {
        return Err(ActionError::fatal("no recipient has an e-mail address"));
    }
    let cfg: SmtpSettings = super::setting(ctx, "smtp").await?;
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| ActionError::fatal(format!("smtp 'from' is not an address: {e}")))?;
    let mailboxes = addresses
        .iter()
        .map(|a| {
            a.parse::<Mailbox>()
                .map_err(|e| ActionError::fatal(format!("'{a}' is not an e-mail address: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let transport = transport(&cfg, ctx.engine.allows_private_outbound()).await?;
    let subject = one_line(&template::render(subject, ctx.input));
    let body = template::render(body, ctx.input);
    let earlier = super::delivered(ctx.progress);
    let mut delivered: Vec<String> = Vec::with_capacity(addresses.len());
    let mut ids = Vec::with_capacity(mailboxes.len());
    for (to, address) in mailboxes.into_iter().zip(&addresses) {
        let id = message_id(ctx.idempotency_key, address, from.email.domain());
        if earlier.contains(address) {
            delivered.push(address.clone());
            ids.push(id);
            continue;
        }
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject.clone())
            .message_id(Some(id.clone()))
            .header(IdempotencyKey(ctx.idempotency_key.to_string()))
            .header(ContentType::TEXT_PLAIN)
            .body(body.clone())
            .map_err(|e| ActionError::fatal(format!("cannot build the message: {e}")))?;
        if let Err(e) = transport.send(message).await {
            return Err(smtp_error(&e, address).with_progress(json!({"delivered": delivered})));
        }
        delivered.push(address.clone());
        ids.push(id);
    }
    let mut out = json!({"sent": ids.len(), "to": addresses, "message_ids": ids});
    if !earlier.is_empty() {
        out["sent_earlier"] = json!(earlier.len());
    }
    Ok(out)
}

/// The transport to the tenant's server. The host obeys the outbound address policy of webhooks
/// and SMS ([`super::outbound`]): the connection goes to the public address checked there,
/// while TLS still verifies the certificate against the host's name.
pub(super) async fn transport(
    cfg: &SmtpSettings,
    allow_private: bool,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, ActionError> {
    if cfg.host.trim().is_empty() {
        return Err(ActionError::fatal("smtp 'host' is empty"));
    }
    let server = super::outbound::connect_address(&cfg.host, allow_private, "smtp").await?;
    let tls_params = || {
        // A served node installs it at start; tests and tools may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let name = cfg
            .host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        TlsParameters::new(name).map_err(|e| ActionError::fatal(format!("smtp tls: {e}")))
    };
    let (tls, port) = match cfg.tls {
        SmtpTls::None => (Tls::None, 25),
        SmtpTls::Starttls => (Tls::Required(tls_params()?), 587),
        SmtpTls::Tls => (Tls::Wrapper(tls_params()?), 465),
    };
    let timeout = Duration::from_millis(cfg.timeout_ms.unwrap_or(30_000).clamp(100, 120_000));
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
        .port(cfg.port.unwrap_or(port))
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(user) = &cfg.username {
        b = b.credentials(Credentials::new(user.clone(), cfg.password.clone().unwrap_or_default()));
    }
    Ok(b.build())
}

/// 5xx answers are final, and so are client errors (settings the server cannot serve, e.g.
/// credentials for a server that offers no authentication); the rest (4xx, no connection,
/// timeouts, TLS trouble) is retried. The server's own answers are shown as they are; failures
/// below SMTP (no connection, a timeout, TLS) say only that, since the run log is the tenant's
/// and an address, a port or an operating-system error would make it a port scanner. The
/// whole error goes to the server log.
pub(super) fn smtp_error(e: &lettre::transport::smtp::Error, to: &str) -> ActionError {
    let answered = e.is_permanent() || e.is_transient() || e.is_response() || e.is_client();
    let message = if answered {
        format!("smtp, sending to {to}: {e}")
    } else {
        tracing::warn!(target: "trellis::outbound", error = %super::error_chain(e), "smtp delivery failed");
        if e.is_tls() {
            format!("smtp, sending to {to}: could not agree on TLS with the mail server")
        } else if e.is_timeout() {
            format!("smtp, sending to {to}: the mail server did not answer in time")
        } else {
            format!("smtp, sending to {to}: could not connect to the mail server")
        }
    };
    if e.is_permanent() || e.is_client() {
        ActionError::fatal(message)
    } else {
        ActionError::retry(message)
    }
}

/// A header value on one line.
pub(super) fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<key.recipient-hash@domain>`: the same on every attempt for the same recipient. The key is
/// reduced to the characters a message id allows.
pub fn message_id(key: &str, recipient: &str, domain: &str) -> String {
    let left: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let h = hex::encode(Sha256::digest(recipient.to_lowercase().as_bytes()));
    let domain = if domain.is_empty() { "trellis.invalid" } else { domain };
    format!("<{left}.{}@{domain}>", &h[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_starttls_and_refuse_unknown_keys() {
        let s: SmtpSettings =
            serde_json::from_value(json!({"host": "smtp.example.com", "from": "a@example.com"})).unwrap();
        assert_eq!(s.tls, SmtpTls::Starttls);
        let s: SmtpSettings =
            serde_json::from_value(json!({"host": "h", "port": 2525, "from": "a@b.c", "tls": "none"})).unwrap();
        assert_eq!((s.tls, s.port), (SmtpTls::None, Some(2525)));
        assert!(serde_json::from_value::<SmtpSettings>(json!({"host": "h", "from": "a@b.c", "tls": "ssl"})).is_err());
        assert!(serde_json::from_value::<SmtpSettings>(json!({"host": "h", "from": "a@b.c", "pass": "x"})).is_err());
    }

    #[test]
    fn message_ids_are_stable_per_recipient_and_well_formed() {
        let a = message_id("job:01J/3", "Li@Example.com", "example.com");
        assert_eq!(a, message_id("job:01J/3", "li@example.com", "example.com"));
        assert_ne!(a, message_id("job:01J/3", "wang@example.com", "example.com"));
        assert!(a.starts_with("<job-01J-3.") && a.ends_with("@example.com>"), "{a}");
        assert!(message_id("k", "x@y", "").ends_with("@trellis.invalid>"));
    }

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("Deal\r\nBcc: x@evil\n won"), "Deal Bcc: x@evil won");
    }
}

/// What `email` sends and to whom.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailOptions {
    pub to: Recipients,
    /// The subject (a template).
    pub subject: String,
    /// The body (a template).
    pub body: String,
}

/// The e-mail action.
pub struct Email;

#[async_trait::async_trait]
impl super::Action for Email {
    const KIND: &'static str = "email";
    const REACH: super::Reach = super::Reach::World;
    type Options = EmailOptions;

    fn texts(&self, o: &EmailOptions) -> Vec<(String, String)> {
        let mut out = super::address_texts(&o.to);
        out.push(("subject".to_string(), o.subject.clone()));
        out.push(("body".to_string(), o.body.clone()));
        out
    }

    fn recipients<'o>(&self, o: &'o EmailOptions) -> Option<(&'o Recipients, super::Channel)> {
        Some((&o.to, super::Channel::Email))
    }

    async fn dry_run(&self, o: &EmailOptions, run: &super::DryRun<'_>) -> Result<Value, trellis_core::Error> {
        let render = |t: &str| crate::automation::template::render(t, run.input);
        Ok(serde_json::json!({"subject": render(&o.subject), "body": render(&o.body)}))
    }

    async fn run_out(&self, o: &EmailOptions, run: &ActionCtx<'_>) -> Result<Value, ActionError> {
        self::run(run, &o.to, &o.subject, &o.body).await
    }
}
