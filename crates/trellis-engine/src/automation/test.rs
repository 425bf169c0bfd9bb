//! Dry runs: whether a rule's condition matches a record and what each action would do, with
//! every recipient resolved, and nothing sent or written.

use serde_json::{Value, json};
use trellis_core::Error;
use trellis_core::automation::ActionDef;
use trellis_core::error::FieldCode;

use crate::automation::actions::Channel;
use trellis_core::status::EventKind;
use trellis_store::events::EventRow;

use trellis_core::CompiledEntity;
use trellis_core::permissions::Right;

use crate::access::get_scoped;
use crate::automation::actions::recipients::{self, Resolved, Target, Unresolved};
use crate::automation::dispatch::{condition_context, run_input};
use crate::{Engine, TenantCtx};

use super::*;

/// What a dry run of a rule found: whether its condition matches, and what each action would do.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RuleTest {
    pub matched: bool,
    /// Why the condition failed to evaluate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
    /// Each action, when it matched.
    pub actions: Vec<ActionPreview>,
}

/// What one action would do.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionPreview {
    /// The action's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its rendered texts, computed values, URL, … (`{error}` when they cannot be computed).
    #[schema(value_type = Object)]
    pub would: Value,
    /// Messages (notify, email, sms): who it would reach, and each part of `to` that reaches
    /// nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub recipients: Option<RecipientsPreview>,
}

/// Who a message would reach on its channel.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RecipientsPreview {
    /// Each recipient once: users for an in-app notification, those with an e-mail address for
    /// an e-mail, phone numbers for an SMS.
    pub to: Vec<Target>,
    /// Each part of `to` that gives nobody on this channel, and why.
    pub unresolved: Vec<Unresolved>,
    /// Nobody at all: a real run would fail with "no recipient".
    pub empty: bool,
}

impl RecipientsPreview {
    /// `found` narrowed to what `channel` can reach. A user field hidden from the caller reads
    /// as hidden, not as empty (the dry run reads the record through the caller's view).
    pub(crate) fn of(found: Resolved, channel: Channel, view: Option<&CompiledEntity>) -> Self {
        let Resolved { to, mut unresolved } = found;
        if let Some(view) = view {
            for u in &mut unresolved {
                if let Some(f) = u.source.strip_prefix("fields.")
                    && view.def.field(f).is_none()
                {
                    u.reason = "the field is hidden from you".into();
                }
            }
        }
        let mut reach = Vec::with_capacity(to.len());
        for t in to {
            let (ok, why) = match channel {
                Channel::InApp => (t.user_id.is_some(), "in-app notifications reach users only"),
                Channel::Email => (t.email.is_some(), "has no e-mail address"),
                Channel::Sms => (t.phone.is_some(), "has no phone number (users have none in Trellis)"),
            };
            if ok {
                reach.push(t);
            } else {
                let who = t
                    .user_id
                    .clone()
                    .or(t.email.clone())
                    .or(t.phone.clone())
                    .unwrap_or_default();
                unresolved.push(Unresolved {
                    source: who,
                    reason: why.to_string(),
                });
            }
        }
        RecipientsPreview {
            empty: reach.is_empty(),
            to: reach,
            unresolved,
        }
    }
}

/// Whether an action addresses people through a field hidden from the caller: a user field
/// among its recipients, or an address template that reads a hidden value.
pub(crate) fn recipients_read_hidden(
    app: &trellis_core::AppDef,
    entity: Option<&trellis_core::EntityDef>,
    hidden: &trellis_core::permissions::HiddenFields,
    a: &ActionDef,
) -> bool {
    let Some((to, _)) = crate::automation::actions::find(a.kind()).and_then(|k| k.recipients(a)) else {
        return false;
    };
    let Some(e) = entity else {
        return false;
    };
    let own = hidden.get(e.name.as_str());
    to.fields.iter().any(|f| own.is_some_and(|h| h.contains(f.as_str())))
        || to
            .addresses
            .iter()
            .any(|t| trellis_core::permissions::script_reads_hidden(app, e, hidden, t))
}

impl Engine {
    /// A dry run on a record (`{record: id}` or `{record: {values}}`): would the condition
    /// match, and what would each action do (rendered texts, computed values). Nothing is
    /// written or sent.
    #[tracing::instrument(level = "debug", skip_all, fields(rule = %rule))]
    pub async fn test_rule(
        &self,
        ctx: &TenantCtx,
        app_name: &str,
        rule: &str,
        body: &Value,
    ) -> Result<RuleTest, Error> {
        let app = self.compiled_app(ctx, app_name).await?;
        let r = known_rule(&app, rule, &self.hidden_fields(&self.db.read, ctx, &app).await?)?;
        self.require_rule_right(&self.db.read, ctx, &app, rule).await?;
        let declared = r.trigger.entity().and_then(|e| app.entity(e.as_str())).cloned();
        let access = match &declared {
            Some(ent) => Some(self.access(&self.db.read, ctx, &app, ent).await?),
            None => None,
        };
        // The record is read as the caller reads it: within their read scope (404 outside, as
        // everywhere), through their view (hidden fields absent from the condition and previews).
        let entity = access.as_ref().map(|a| a.view.clone());
        let (row, data) = match (&access, body.get("record")) {
            (Some(access), Some(Value::String(id))) => {
                let id = crate::records::check_id(id)?;
                let scope = self.scope(&self.db.read, ctx, access, Right::Read).await?;
                let row = get_scoped(&self.db.read, &access.entity, &id, scope.as_ref(), None)
                    .await?
                    .ok_or_else(|| Error::not_found("no such record"))?;
                (Some(view_row(access, &row)), json!({}))
            }
            (_, Some(Value::Object(o))) => (None, json!({"record": o, "payload": body.get("payload")})),
            (_, None) => (None, json!({"payload": body.get("payload")})),
            _ => {
                return Err(Error::bad_field(
                    "record",
                    FieldCode::Type,
                    "a record id or an object of values",
                ));
            }
        };
        let event = EventRow {
            id: "test".into(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: app.id.clone(),
            entity_id: entity
                .as_ref()
                .map(|e| e.def.storage_id().to_string())
                .unwrap_or_default(),
            record_id: row.as_ref().map(|r| r.id().to_string()).unwrap_or_default(),
            kind: EventKind::Test.to_string(),
            actor: Some(ctx.user_id().to_string()),
            via: None,
            at: trellis_core::value::now_micros(),
            data: data.to_string(),
            depth: 0,
        };
        let mut input = run_input(&event, entity.as_deref(), row.as_ref(), &data, rule);
        self.follow_relations(&self.db.read, &app, r, &mut input, Some(ctx))
            .await?;
        let matched = match app.conditions.get(rule) {
            None => Ok(true),
            Some(s) => self
                .rules
                .eval_bool(s, &condition_context(entity.as_deref(), row.as_ref(), &input))
                .map_err(|e| e.to_string()),
        };
        let mut actions: Vec<ActionPreview> = Vec::with_capacity(r.actions.len());
        let run = crate::automation::actions::DryRun {
            engine: self,
            ctx,
            app: &app,
            entity: entity.as_deref(),
            declared: declared.as_deref(),
            access: access.as_ref(),
            input: &input,
        };
        for a in &r.actions {
            let Some(kind) = crate::automation::actions::find(a.kind()) else {
                continue;
            };
            // Values an action would write to a field hidden from the caller are not shown.
            let preview = kind.dry_run(a, &run).await?;
            let recipients = match kind.recipients(a) {
                Some((to, channel)) => {
                    let found = recipients::resolve_all(&self.db.read, ctx.tenant_id(), &app.id, &input, &to)
                        .await
                        .map_err(Error::from)?;
                    Some(RecipientsPreview::of(found, channel, entity.as_deref()))
                }
                None => None,
            };
            actions.push(ActionPreview {
                kind: a.kind().to_string(),
                would: preview,
                recipients,
            });
        }
        Ok(match matched {
            Ok(m) => RuleTest {
                matched: m,
                error: None,
                actions: if m { actions } else { Vec::new() },
            },
            Err(e) => RuleTest {
                matched: false,
                error: Some(format!("the condition failed: {e}")),
                actions: Vec::new(),
            },
        })
    }
}
