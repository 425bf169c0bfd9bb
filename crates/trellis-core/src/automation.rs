//! Automation rules as users write them: a trigger, an optional Rhai condition and ordered
//! actions. Part of the app definition, so a rule is versioned with its app.

use crate::error::FieldCode;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::def::{AppDef, FieldType, Label};
use crate::error::FieldError;
use crate::names::Slug;

/// Longest chain of rules triggered by rules; deeper changes run no rules (and say so).
pub const MAX_DEPTH: i32 = 5;

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<crate::Slug>,
    pub name: Slug,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    pub trigger: Trigger,
    /// Rhai condition over `record`, `old`, `event`, `payload`, `now`; none: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 4000)]
    pub condition: Option<String>,
    /// At least one when written (`rule.schema.json`); members who do not build the app read
    /// a summary without condition and actions (an empty list).
    #[schema(max_items = 20)]
    pub actions: Vec<ActionDef>,
    /// Attempts of each action before it is dead-lettered (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1, maximum = 20)]
    pub max_attempts: Option<u32>,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// What starts a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    RecordCreated {
        entity: Slug,
    },
    RecordUpdated {
        entity: Slug,
    },
    /// A field changed, optionally from and/or to given values (answer forms).
    FieldChanged {
        entity: Slug,
        field: Slug,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        from: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        to: Option<Value>,
    },
    RecordDeleted {
        entity: Slug,
    },
    StageEntered {
        entity: Slug,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        stage: Option<Slug>,
    },
    StageLeft {
        entity: Slug,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        stage: Option<Slug>,
    },
    SlaBreached {
        entity: Slug,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        stage: Option<Slug>,
    },
    /// A stage's SLA falls due in `before_seconds` (0: at the due time itself), while the record
    /// is still in the stage.
    SlaDue {
        entity: Slug,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        stage: Option<Slug>,
        #[serde(default)]
        #[schema(minimum = 0)]
        before_seconds: i64,
    },
    /// A time relative to a record: `offset` after its creation, or before/after a date or
    /// datetime field (e.g. 3 days before `expected_close`).
    RelativeTime {
        entity: Slug,
        /// `created_at` or a date/datetime field.
        field: Slug,
        /// Seconds; negative is before.
        offset_seconds: i64,
    },
    /// A cron schedule (`sec min hour day-of-month month day-of-week`, or 5 fields) in a time zone.
    Cron {
        schedule: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        timezone: Option<String>,
    },
    /// `POST /api/v1/hooks/{app}/{key}` with the header `X-Trellis-Secret: <secret>`.
    Webhook {
        key: Slug,
        secret: String,
    },
    /// A button on a record: `POST /api/v1/data/{app}/{entity}/{id}/rules/{rule}/run`.
    Manual {
        entity: Slug,
    },
    /// A comment was added to a record: `event.comment` (its id), `event.body`,
    /// `event.mentions` (the ids of the users it mentions); `actor` wrote it.
    CommentCreated {
        entity: Slug,
    },
}

impl Trigger {
    /// The entity whose records the trigger watches, if any.
    pub fn entity(&self) -> Option<&Slug> {
        match self {
            Trigger::RecordCreated { entity }
            | Trigger::RecordUpdated { entity }
            | Trigger::FieldChanged { entity, .. }
            | Trigger::RecordDeleted { entity }
            | Trigger::StageEntered { entity, .. }
            | Trigger::StageLeft { entity, .. }
            | Trigger::SlaBreached { entity, .. }
            | Trigger::SlaDue { entity, .. }
            | Trigger::RelativeTime { entity, .. }
            | Trigger::Manual { entity }
            | Trigger::CommentCreated { entity } => Some(entity),
            Trigger::Cron { .. } | Trigger::Webhook { .. } => None,
        }
    }
}

/// Who an action addresses: users, role members, the user in a field, the record's owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Slug>,
    /// User fields of the trigger record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Slug>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub owner: bool,
    /// Plain addresses (e-mail or phone), templates allowed (`{{record.phone}}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// How an owner is picked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum AssignStrategy {
    /// In turn among the users (or the role's members).
    RoundRobin {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        role: Option<Slug>,
    },
    /// The one owning the fewest records of the entity matching `filter` (e.g. open ones).
    LeastLoaded {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        role: Option<Slug>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        filter: Option<Value>,
    },
    /// Whoever is on duty: a weekly rota, with per-date overrides (holidays).
    Rota {
        /// Time zone the rota's days are in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        timezone: Option<String>,
        /// `mon`..`sun` → user id.
        week: std::collections::BTreeMap<String, String>,
        /// `YYYY-MM-DD` → user id.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        overrides: std::collections::BTreeMap<String, String>,
    },
}

/// One step of a rule: its `type` and that action's options, written as one object
/// (`{"type": "email", "to": {…}, "subject": "…", "body": "…"}`). Which types exist and what
/// their options are is the engine's (`trellis_engine::automation::actions`, one module per
/// action, each with its options type and checks); the schema lists the types
/// (`rule.schema.json`). An option named `secret` is write-only: it answers as [`SECRET_MASK`].
pub struct ActionDef {
    /// The action's `type` (`set_fields`, `email`, …).
    pub kind: String,
    /// Everything else of the action's object.
    pub options: serde_json::Map<String, Value>,
    /// The options as the engine's action parsed them, on first use: a compiled definition is
    /// not changed, so each action of an app version is parsed once per node. Not part of the
    /// definition (a clone starts empty; equality ignores it); whoever changes `options` after
    /// a use empties it ([`ActionDef::forget_parsed`]).
    pub parsed: std::sync::OnceLock<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for ActionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionDef")
            .field("kind", &self.kind)
            .field("options", &self.options)
            .finish()
    }
}

impl Clone for ActionDef {
    fn clone(&self) -> Self {
        ActionDef::new(self.kind.clone(), self.options.clone())
    }
}

impl PartialEq for ActionDef {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.options == other.options
    }
}

/// The option of an action that is write-only.
pub const SECRET_OPTION: &str = "secret";

impl ActionDef {
    /// The action's `type`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// An action of `kind` with these options.
    pub fn new(kind: impl Into<String>, options: serde_json::Map<String, Value>) -> ActionDef {
        ActionDef {
            kind: kind.into(),
            options,
            parsed: std::sync::OnceLock::new(),
        }
    }

    /// Empties the parsed options after `options` changed.
    pub fn forget_parsed(&mut self) {
        self.parsed = std::sync::OnceLock::new();
    }

    /// The action's write-only secret, if it has one.
    pub fn secret(&self) -> Option<&str> {
        self.options.get(SECRET_OPTION).and_then(Value::as_str)
    }
}

impl Serialize for ActionDef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.options.len() + 1))?;
        m.serialize_entry("type", &self.kind)?;
        for (k, v) in &self.options {
            if k != "type" {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for ActionDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ActionDef, D::Error> {
        let mut options = serde_json::Map::<String, Value>::deserialize(d)?;
        match options.remove("type") {
            Some(Value::String(kind)) => Ok(ActionDef::new(kind, options)),
            Some(_) => Err(serde::de::Error::custom("an action's `type` is a string")),
            None => Err(serde::de::Error::missing_field("type")),
        }
    }
}

impl utoipa::PartialSchema for ActionDef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        // The platform document replaces this with one schema per action the engine has.
        ObjectBuilder::new()
            .property("type", ObjectBuilder::new().schema_type(Type::String))
            .required("type")
            .description(Some("One step of a rule: its `type` and that action's options."))
            .into()
    }
}

impl utoipa::ToSchema for ActionDef {}

/// What a stored secret answers as: secrets are write-only. A definition read and sent back
/// with the mask keeps the stored secret ([`keep_masked_secrets`]); a new secret replaces it.
pub const SECRET_MASK: &str = "********";

impl RuleDef {
    /// The rule as clients read it: the inbound webhook's secret and the signing secrets of
    /// webhook actions masked.
    pub fn masked(&self) -> RuleDef {
        let mut r = self.clone();
        if let Trigger::Webhook { secret, .. } = &mut r.trigger {
            *secret = SECRET_MASK.to_string();
        }
        for a in &mut r.actions {
            if let Some(s) = a.options.get_mut(SECRET_OPTION)
                && s.is_string()
            {
                *s = Value::String(SECRET_MASK.to_string());
                a.forget_parsed();
            }
        }
        r
    }

    /// The rule as members who do not build the app read it: what starts it, not what it does
    /// (conditions and actions may name fields hidden from them, addresses and URLs).
    pub fn summary(&self) -> RuleDef {
        RuleDef {
            condition: None,
            actions: Vec::new(),
            ..self.masked()
        }
    }
}

/// The app's definition with every secret of its rules masked.
pub fn masked_app(app: &AppDef) -> AppDef {
    let mut v = app.clone();
    v.rules = app.rules.iter().map(RuleDef::masked).collect();
    v
}

/// Puts the stored secrets back where a changed definition carries the mask: the same rule's
/// inbound secret, and an action's `secret` (found by place and URL). A mask left over has no stored secret behind it and is refused
/// by [`validate_rules`].
pub fn keep_masked_secrets(old: &[RuleDef], new: &mut [RuleDef]) {
    for r in new.iter_mut() {
        let Some(before) = old.iter().find(|o| o.name == r.name) else {
            continue;
        };
        if let (Trigger::Webhook { secret, .. }, Trigger::Webhook { secret: stored, .. }) =
            (&mut r.trigger, &before.trigger)
            && secret == SECRET_MASK
        {
            *secret = stored.clone();
        }
        // The action at the same place with the same URL, else one with the same URL, else the
        // one at the same place (its URL changed).
        let stored_of = |i: usize, url: &str| -> Option<String> {
            let signing = |a: &ActionDef| {
                let url = a.options.get("url").and_then(Value::as_str).unwrap_or_default();
                a.secret().map(|s| (url.to_string(), s.to_string()))
            };
            let here = before.actions.get(i).and_then(signing);
            here.clone()
                .filter(|(u, _)| u == url)
                .or_else(|| before.actions.iter().filter_map(signing).find(|(u, _)| u == url))
                .or(here)
                .map(|(_, s)| s)
        };
        for (i, a) in r.actions.iter_mut().enumerate() {
            let url = a
                .options
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if a.secret() == Some(SECRET_MASK)
                && let Some(s) = stored_of(i, &url)
            {
                a.options.insert(SECRET_OPTION.into(), Value::String(s));
                a.forget_parsed();
            }
        }
    }
}

/// Semantic checks of an app's rules (their scripts are compiled by the engine).
pub fn validate_rules(app: &AppDef, errors: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    let mut hooks = HashSet::new();
    for (i, r) in app.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if !names.insert(r.name.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                FieldCode::Duplicate,
                format!("rule '{}' is defined twice", r.name),
            ));
        }
        if r.actions.is_empty() {
            errors.push(FieldError::new(
                format!("{at}.actions"),
                FieldCode::Required,
                "a rule needs an action",
            ));
        }
        if r.max_attempts.is_some_and(|n| n == 0 || n > 20) {
            errors.push(FieldError::new(
                format!("{at}.max_attempts"),
                FieldCode::OutOfRange,
                "from 1 to 20",
            ));
        }
        let entity = r.trigger.entity().and_then(|e| app.entity(e.as_str()));
        if let Some(e) = r.trigger.entity()
            && entity.is_none()
        {
            errors.push(FieldError::new(
                format!("{at}.trigger.entity"),
                FieldCode::UnknownEntity,
                format!("'{e}' is not an entity of this app"),
            ));
        }
        match &r.trigger {
            Trigger::FieldChanged { field, .. } => {
                if let Some(e) = entity
                    && e.field(field.as_str()).is_none()
                    && field.as_str() != "owner"
                {
                    errors.push(FieldError::new(
                        format!("{at}.trigger.field"),
                        FieldCode::UnknownField,
                        format!("'{field}' is not a field of '{}'", e.name),
                    ));
                }
            }
            Trigger::StageEntered { stage, .. }
            | Trigger::StageLeft { stage, .. }
            | Trigger::SlaBreached { stage, .. }
            | Trigger::SlaDue { stage, .. } => {
                if let Trigger::SlaDue { before_seconds, .. } = &r.trigger
                    && !(0..=366 * 86_400).contains(before_seconds)
                {
                    errors.push(FieldError::new(
                        format!("{at}.trigger.before_seconds"),
                        FieldCode::OutOfRange,
                        "from 0 to a year before the due time",
                    ));
                }
                if let Some(e) = entity {
                    match &e.pipeline {
                        None => errors.push(FieldError::new(
                            format!("{at}.trigger.entity"),
                            FieldCode::NoPipeline,
                            format!("'{}' has no pipeline", e.name),
                        )),
                        Some(p) => {
                            if let Some(s) = stage
                                && p.stage(s.as_str()).is_none()
                            {
                                errors.push(FieldError::new(
                                    format!("{at}.trigger.stage"),
                                    FieldCode::UnknownStage,
                                    format!("'{s}' is not a stage of '{}'", e.name),
                                ));
                            }
                        }
                    }
                }
            }
            Trigger::RelativeTime {
                field, offset_seconds, ..
            } => {
                if let Some(e) = entity {
                    let ok = field.as_str() == "created_at"
                        || e.field(field.as_str())
                            .is_some_and(|f| matches!(f.field_type, FieldType::Date | FieldType::Datetime));
                    if !ok {
                        errors.push(FieldError::new(
                            format!("{at}.trigger.field"),
                            FieldCode::Invalid,
                            format!("'{field}' is not created_at or a date field of '{}'", e.name),
                        ));
                    }
                }
                if !(-366 * 86_400..=366 * 86_400).contains(offset_seconds) {
                    errors.push(FieldError::new(
                        format!("{at}.trigger.offset_seconds"),
                        FieldCode::OutOfRange,
                        "at most a year before or after",
                    ));
                }
            }
            Trigger::Webhook { key, secret } => {
                if !hooks.insert(key.as_str()) {
                    errors.push(FieldError::new(
                        format!("{at}.trigger.key"),
                        FieldCode::Duplicate,
                        format!("webhook key '{key}' is used twice"),
                    ));
                }
                if secret == SECRET_MASK {
                    errors.push(FieldError::new(
                        format!("{at}.trigger.secret"),
                        FieldCode::Masked,
                        "the mask stands for a stored secret, and this rule has none: send a secret",
                    ));
                } else if secret.len() < 16 {
                    errors.push(FieldError::new(
                        format!("{at}.trigger.secret"),
                        FieldCode::TooShort,
                        "a webhook secret has at least 16 characters",
                    ));
                }
            }
            _ => {}
        }
        // Each action's own options are checked by the engine's action of that type.
        for (j, a) in r.actions.iter().enumerate() {
            if a.secret() == Some(SECRET_MASK) {
                errors.push(FieldError::new(
                    format!("{at}.actions[{j}].{SECRET_OPTION}"),
                    FieldCode::Masked,
                    "the mask stands for a stored secret, and this action has none: send a secret",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> RuleDef {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn masked_secrets_sent_back_keep_the_stored_ones() {
        let stored = vec![rule(
            json!({"name": "r", "trigger": {"type": "webhook", "key": "k", "secret": "inbound-secret-123456"},
            "actions": [{"type": "webhook", "url": "https://a.example/x", "secret": "signing-1"},
                        {"type": "webhook", "url": "https://b.example/y", "secret": "signing-2"}]}),
        )];
        let masked = stored[0].masked();
        assert!(!serde_json::to_string(&masked).unwrap().contains("secret-1"));
        assert!(!serde_json::to_string(&masked).unwrap().contains("signing"));
        let mut back = vec![masked.clone()];
        keep_masked_secrets(&stored, &mut back);
        assert_eq!(back, stored);
        // Actions reordered: found by URL.
        let mut swapped = masked.clone();
        swapped.actions.reverse();
        let mut back = vec![swapped];
        keep_masked_secrets(&stored, &mut back);
        assert_eq!(back[0].actions[0], stored[0].actions[1]);
        // A new secret replaces; a new rule's mask stays (and validation refuses it).
        let mut fresh = masked.clone();
        fresh.trigger = Trigger::Webhook {
            key: Slug::parse("k").unwrap(),
            secret: "rotated-secret-123456".into(),
        };
        let mut back = vec![fresh.clone()];
        keep_masked_secrets(&stored, &mut back);
        assert_eq!(back[0].trigger, fresh.trigger);
        let mut other = masked;
        other.name = Slug::parse("other").unwrap();
        let mut back = vec![other.clone()];
        keep_masked_secrets(&stored, &mut back);
        assert_eq!(back[0], other);
        assert!(other.summary().actions.is_empty() && other.summary().condition.is_none());
    }
}
