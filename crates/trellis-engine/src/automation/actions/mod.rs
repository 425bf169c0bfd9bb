//! One module per action, each the whole of it: an [`Action`] with its options type, its
//! checks when the rule is saved, the templates it holds, what a dry run shows, and how it runs.
//! [`ALL`] lists them; adding an action is a module here and its `type` in `rule.schema.json`.
//! A run answers a JSON summary of what it did (shown in the rule's runs) or an [`ActionError`].
//!
//! Actions that reach the world ([`email`], [`sms`], [`webhook`]) run after their job's event
//! is committed and may run more than once (at least once): each carries the job's idempotency
//! key so that the receiver can drop repeats. Their settings are the tenant's (`smtp`, `sms` in
//! `sys_settings`).

pub mod assign;
pub mod assign_owner;
pub mod create_record;
pub mod email;
pub mod email_dashboard;
pub mod notify;
pub mod outbound;
pub mod recipients;
pub mod records;
pub mod render_document;
pub mod set_fields;
pub mod sms;
pub mod transition;
pub mod update_related;
pub mod webhook;

use std::sync::OnceLock;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use trellis_core::automation::{ActionDef, Recipients};
use trellis_core::def::{AppDef, EntityDef};
use trellis_core::error::FieldCode;
use trellis_core::{CompiledEntity, Error, FieldError};
use trellis_rules::RuleEngine;
use trellis_store::WriteTx;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use super::{ActionCtx, ActionError};
use crate::access::Access;
use crate::compiled::scripts::LoadedApp;
use crate::{Engine, TenantCtx};

/// Every action there is. A rule's action of another `type` is refused when the rule is saved.
pub static ALL: &[&dyn Registered] = &[
    &set_fields::SetFields,
    &create_record::CreateRecord,
    &update_related::UpdateRelated,
    &assign_owner::AssignOwner,
    &notify::Notify,
    &email::Email,
    &email_dashboard::EmailDashboard,
    &sms::Sms,
    &webhook::Webhook,
    &render_document::RenderDocument,
    &transition::Transition,
];

/// The action of a `type`.
pub fn find(kind: &str) -> Option<&'static dyn Registered> {
    ALL.iter().copied().find(|a| a.kind() == kind)
}

/// Where an action does its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// In the database, inside the transaction that completes its job: it happens once.
    Database,
    /// Outside (mail, SMS, HTTP), after its job's event committed: at least once, carrying the
    /// job's idempotency key.
    World,
}

/// How a message reaches its recipients (what a dry run says it needs of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    InApp,
    Email,
    Sms,
}

/// Where an action is checked when its rule is saved.
pub struct Site<'a> {
    pub app: &'a AppDef,
    /// The entity of the rule's trigger (none for cron and webhook rules).
    pub entity: Option<&'a EntityDef>,
    /// The action's place (`rules[0].actions[1]`); its problems are named below it.
    pub at: String,
    /// The script engine, to compile `{"expr"}` values.
    pub scripts: &'a RuleEngine,
}

impl Site<'_> {
    /// A problem with the option at `place` (`values.amount`; empty: the whole action).
    pub fn problem(&self, place: &str, code: FieldCode, message: impl Into<String>) -> FieldError {
        let at = if place.is_empty() {
            self.at.clone()
        } else {
            format!("{}.{place}", self.at)
        };
        FieldError::new(at, code.as_str(), message)
    }
}

/// What a dry run of an action has at hand: the caller, and the trigger as they may see it.
pub struct DryRun<'a> {
    pub engine: &'a Engine,
    pub ctx: &'a TenantCtx,
    pub app: &'a LoadedApp,
    /// The trigger's entity as the caller sees it (hidden fields left out).
    pub entity: Option<&'a CompiledEntity>,
    /// The trigger's entity as defined.
    pub declared: Option<&'a CompiledEntity>,
    /// The caller's access to the trigger's entity.
    pub access: Option<&'a Access>,
    /// The run's input (`record`, `old`, `event`, `payload`, `rule`).
    pub input: &'a Value,
}

/// What an action running in the database has at hand.
pub struct InTx<'a> {
    pub tx: &'a WriteTx,
    /// The user the rule acts for.
    pub user: &'a TenantCtx,
    pub action: &'a ActionCtx<'a>,
    /// The action's place among its rule's actions.
    pub index: usize,
}

/// One kind of action, whole: its `type`, its options, its checks when the rule is saved, the
/// templates its options hold, what a dry run shows, and how it runs.
#[async_trait::async_trait]
pub trait Action: Send + Sync + 'static {
    /// Its `type` in a rule.
    const KIND: &'static str;
    /// Where it does its work.
    const REACH: Reach = Reach::Database;
    /// Its options: the rest of the action's object (unknown options refused).
    type Options: DeserializeOwned + utoipa::ToSchema + Send + Sync + 'static;

    /// Checks against the app when the rule is saved (fields, relations, stages, roles,
    /// scripts), each problem named by [`Site::problem`]. Template paths are checked for every
    /// action from [`Action::texts`].
    fn check(&self, _options: &Self::Options, _site: &Site<'_>, _errors: &mut Vec<FieldError>) {}

    /// The templates its options hold, by place (`subject`, `to.addresses[0]`).
    fn texts(&self, _options: &Self::Options) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whom it addresses, and how.
    fn recipients<'o>(&self, _options: &'o Self::Options) -> Option<(&'o Recipients, Channel)> {
        None
    }

    /// What it would do, rendered over the input, as the caller may read it; nothing written
    /// or sent.
    async fn dry_run(&self, options: &Self::Options, run: &DryRun<'_>) -> Result<Value, Error>;

    /// Runs inside the transaction that completes its job ([`Reach::Database`]).
    async fn run_in(&self, _options: &Self::Options, _run: &InTx<'_>) -> Result<Value, ActionError> {
        Err(ActionError::fatal(
            "an action that reaches the world cannot run in a transaction",
        ))
    }

    /// Runs after its job's event committed ([`Reach::World`]).
    async fn run_out(&self, _options: &Self::Options, _run: &ActionCtx<'_>) -> Result<Value, ActionError> {
        Err(ActionError::fatal("this action runs in the database"))
    }
}

/// An [`Action`] taking its options from a rule's [`ActionDef`]: what [`ALL`] holds.
#[async_trait::async_trait]
pub trait Registered: Send + Sync {
    fn kind(&self) -> &'static str;
    fn reach(&self) -> Reach;
    /// The schema of the action's object, `type` included, and the schemas it refers to.
    fn schema(&self) -> (RefOr<Schema>, Vec<(String, RefOr<Schema>)>);
    fn check(&self, action: &ActionDef, site: &Site<'_>, errors: &mut Vec<FieldError>);
    fn texts(&self, action: &ActionDef) -> Vec<(String, String)>;
    fn recipients(&self, action: &ActionDef) -> Option<(Recipients, Channel)>;
    async fn dry_run(&self, action: &ActionDef, run: &DryRun<'_>) -> Result<Value, Error>;
    async fn run_in(&self, action: &ActionDef, run: &InTx<'_>) -> Result<Value, ActionError>;
    async fn run_out(&self, action: &ActionDef, run: &ActionCtx<'_>) -> Result<Value, ActionError>;
}

/// The options of an action of type `A`, or why they are not: parsed on first use and kept in
/// the action ([`ActionDef::parsed`]), so a compiled app's actions are parsed once per node.
fn options_of<A: Action>(action: &ActionDef) -> Result<&A::Options, String> {
    let slot = action.parsed.get_or_init(|| {
        let parsed: Result<A::Options, String> =
            serde_json::from_value(Value::Object(action.options.clone())).map_err(|e| e.to_string());
        std::sync::Arc::new(parsed)
    });
    match slot.downcast_ref::<Result<A::Options, String>>() {
        Some(Ok(o)) => Ok(o),
        Some(Err(e)) => Err(e.clone()),
        None => Err(format!(
            "the options of '{}' were read as another action's",
            action.kind()
        )),
    }
}

#[async_trait::async_trait]
impl<A: Action> Registered for A {
    fn kind(&self) -> &'static str {
        A::KIND
    }

    fn reach(&self) -> Reach {
        A::REACH
    }

    fn schema(&self) -> (RefOr<Schema>, Vec<(String, RefOr<Schema>)>) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let mut refs = Vec::new();
        <A::Options as utoipa::ToSchema>::schemas(&mut refs);
        let tag = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some([A::KIND]))
            .into();
        let schema = match <A::Options as utoipa::PartialSchema>::schema() {
            RefOr::T(Schema::Object(mut o)) => {
                o.properties.insert("type".to_string(), tag);
                o.required.insert(0, "type".to_string());
                RefOr::T(Schema::Object(o))
            }
            other => other,
        };
        (schema, refs)
    }

    fn check(&self, action: &ActionDef, site: &Site<'_>, errors: &mut Vec<FieldError>) {
        let options = match options_of::<A>(action) {
            Ok(o) => o,
            Err(e) => return errors.push(site.problem("", FieldCode::Invalid, e)),
        };
        if let Some((to, _)) = self.recipients(options) {
            for r in &to.roles {
                if site.app.role(r.as_str()).is_none() {
                    errors.push(site.problem(
                        "",
                        FieldCode::UnknownRole,
                        format!("role '{r}' is not a role of this app"),
                    ));
                }
            }
        }
        Action::check(self, options, site, errors);
    }

    fn texts(&self, action: &ActionDef) -> Vec<(String, String)> {
        options_of::<A>(action)
            .map(|o| Action::texts(self, o))
            .unwrap_or_default()
    }

    fn recipients(&self, action: &ActionDef) -> Option<(Recipients, Channel)> {
        let o = options_of::<A>(action).ok()?;
        Action::recipients(self, o).map(|(r, c)| (r.clone(), c))
    }

    async fn dry_run(&self, action: &ActionDef, run: &DryRun<'_>) -> Result<Value, Error> {
        let o = options_of::<A>(action).map_err(|e| Error::bad_field("actions", FieldCode::Invalid, e))?;
        Action::dry_run(self, o, run).await
    }

    async fn run_in(&self, action: &ActionDef, run: &InTx<'_>) -> Result<Value, ActionError> {
        let o = options_of::<A>(action).map_err(ActionError::fatal)?;
        Action::run_in(self, o, run).await
    }

    async fn run_out(&self, action: &ActionDef, run: &ActionCtx<'_>) -> Result<Value, ActionError> {
        let o = options_of::<A>(action).map_err(ActionError::fatal)?;
        Action::run_out(self, o, run).await
    }
}

/// The templates of an action, by place (none for an unknown `type`).
pub fn texts(action: &ActionDef) -> Vec<(String, String)> {
    find(action.kind()).map(|a| a.texts(action)).unwrap_or_default()
}

/// Checks every action of an app's rules when the definition is saved: a known `type`, options
/// its action accepts, and every template path ([`trellis_core::template`]). 422 listing all.
pub fn check_rules(app: &AppDef, scripts: &RuleEngine) -> Result<(), Error> {
    let mut errors = Vec::new();
    for (i, r) in app.rules.iter().enumerate() {
        let entity = r.trigger.entity().and_then(|e| app.entity(e.as_str()));
        for (j, a) in r.actions.iter().enumerate() {
            let site = Site {
                app,
                entity,
                at: format!("rules[{i}].actions[{j}]"),
                scripts,
            };
            match find(a.kind()) {
                Some(action) => action.check(a, &site, &mut errors),
                None => {
                    errors.push(site.problem("type", FieldCode::Invalid, format!("'{}' is not an action", a.kind())))
                }
            }
        }
    }
    trellis_core::template::validate_templates(app, &texts, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

/// The problems of a rule's `values` (set, create, update): each names a field of `target` (or
/// `owner`), and each `{"expr"}` compiles.
pub(crate) fn check_values(
    values: &serde_json::Map<String, Value>,
    target: Option<&EntityDef>,
    site: &Site<'_>,
    errors: &mut Vec<FieldError>,
) {
    for (k, v) in values {
        if let Some(target) = target
            && target.field(k).is_none()
            && k != "owner"
        {
            errors.push(site.problem(
                &format!("values.{k}"),
                FieldCode::UnknownField,
                format!("'{k}' is not a field of '{}'", target.name),
            ));
        }
        if let Some(src) = v.get("expr").and_then(Value::as_str)
            && let Err(e) = site.scripts.compile(src)
        {
            errors.push(site.problem(&format!("values.{k}.expr"), FieldCode::ScriptSyntax, e.to_string()));
        }
    }
}

/// The templates of `values`, by place (`{"expr"}` values are scripts, not templates).
pub(crate) fn value_texts_of(values: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in values {
        trellis_core::template::walk(format!("values.{k}"), v, &mut out);
    }
    out.into_iter().map(|(a, t)| (a, t.to_string())).collect()
}

/// The templates of recipients' addresses.
pub(crate) fn address_texts(to: &Recipients) -> Vec<(String, String)> {
    to.addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("to.addresses[{i}]"), a.clone()))
        .collect()
}

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
    use serde_json::json;

    fn app_with(actions: Value) -> AppDef {
        serde_json::from_value(json!({
            "name": "sales", "label": {"en": "Sales"},
            "roles": [{"name": "sales", "label": {"en": "Sales"}}],
            "entities": [
                {"name": "customer", "label": {"en": "Customer"}, "fields": [
                    {"name": "name", "label": {"en": "Name"}, "type": "text"}]},
                {"name": "deal", "label": {"en": "Deal"}, "fields": [
                    {"name": "title", "label": {"en": "Title"}, "type": "text"},
                    {"name": "files", "label": {"en": "Files"}, "type": "attachment"},
                    {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}],
                 "pipeline": {"stages": [
                    {"key": "new", "label": {"en": "New"}, "kind": "open"},
                    {"key": "won", "label": {"en": "Won"}, "kind": "won"}],
                  "transitions": [{"from": ["new"], "to": "won"}]}}
            ],
            "rules": [
                {"name": "on_deal", "trigger": {"type": "record_created", "entity": "deal"}, "actions": actions},
                {"name": "nightly", "trigger": {"type": "cron", "schedule": "0 2 * * *"},
                 "actions": [{"type": "set_fields", "values": {"title": "x"}}]}
            ]
        }))
        .expect("an app")
    }

    fn problems(actions: Value) -> Vec<(String, String)> {
        match check_rules(&app_with(actions), &RuleEngine::new()) {
            Ok(()) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|f| (f.field, f.code)).collect(),
        }
    }

    #[test]
    fn every_action_checks_its_options_against_the_app_when_saved() {
        let good = json!([
            {"type": "set_fields", "values": {"title": {"expr": "record.title + \"!\""}, "owner": "u1"}},
            {"type": "create_record", "entity": "customer", "values": {"name": "{{record.title}}"},
             "assign": {"strategy": "round_robin", "role": "sales"}},
            {"type": "update_related", "relation": "customer", "values": {"name": "n"}},
            {"type": "assign_owner", "assign": {"strategy": "least_loaded", "role": "sales"}},
            {"type": "notify", "to": {"roles": ["sales"]}, "title": {"en": "{{record.title}}"}},
            {"type": "email", "to": {"owner": true}, "subject": "s", "body": "b"},
            {"type": "sms", "to": {"addresses": ["{{record.title}}"]}, "text": "t"},
            {"type": "webhook", "url": "https://example.com/{{record.id}}", "body": {"t": "{{record.title}}"}},
            {"type": "render_document", "template": "# {{record.title}}", "field": "files", "name": "d.md"},
            {"type": "transition", "to": "won", "comment": "by rule"}
        ]);
        assert_eq!(
            problems(good).len(),
            1,
            "only the cron rule's set_fields has no record to set"
        );
        let bad = json!([
            {"type": "set_fields", "values": {"titel": 1, "title": {"expr": "record.title +"}}},
            {"type": "create_record", "entity": "invoice", "values": {}},
            {"type": "update_related", "relation": "title", "values": {}},
            {"type": "assign_owner", "assign": {"strategy": "round_robin", "role": "finance"}},
            {"type": "notify", "to": {"roles": ["finance"]}, "title": {"en": "{{record.nope}}"}},
            {"type": "webhook", "url": "ftp://example.com"},
            {"type": "render_document", "template": "t", "field": "title", "name": "d.md"},
            {"type": "transition", "to": "lost"},
            {"type": "email", "to": {}, "subject": "s"},
            {"type": "telegram", "text": "hi"}
        ]);
        let found = problems(bad);
        let expect = [
            ("rules[0].actions[0].values.titel", "unknown_field"),
            ("rules[0].actions[0].values.title.expr", "script_syntax"),
            ("rules[0].actions[1].entity", "unknown_entity"),
            ("rules[0].actions[2].relation", "unknown_relation"),
            ("rules[0].actions[3]", "unknown_role"),
            ("rules[0].actions[4]", "unknown_role"),
            ("rules[0].actions[5].url", "invalid"),
            ("rules[0].actions[6].field", "invalid"),
            ("rules[0].actions[7].to", "unknown_stage"),
            ("rules[0].actions[8]", "invalid"),
            ("rules[0].actions[9].type", "invalid"),
            ("rules[0].actions[4].title.en", "unknown_field"),
            ("rules[1].actions[0]", "no_record"),
        ];
        for (at, code) in expect {
            assert!(
                found.contains(&(at.to_string(), code.to_string())),
                "{at} {code} missing from {found:?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:?}");
    }

    #[test]
    fn the_rule_schema_lists_every_action_and_no_other() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/rule.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("the rule schema")).unwrap();
        let mut listed: Vec<&str> = schema["properties"]["actions"]["items"]["properties"]["type"]["enum"]
            .as_array()
            .expect("the action types")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut registered: Vec<&str> = ALL.iter().map(|a| a.kind()).collect();
        listed.sort_unstable();
        registered.sort_unstable();
        assert_eq!(listed, registered);
    }

    #[test]
    fn each_action_documents_its_type_and_options() {
        for a in ALL {
            let (schema, _) = a.schema();
            let json = serde_json::to_value(&schema).unwrap();
            assert_eq!(json["properties"]["type"]["enum"], json!([a.kind()]), "{}", a.kind());
            assert_eq!(json["required"][0], "type", "{}", a.kind());
            assert!(json["properties"].as_object().unwrap().len() > 1, "{}", a.kind());
        }
    }

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
