//! The digest action: e-mails a dashboard of the app to users (a role's members, named users),
//! each reading it through their own view (row scope, hidden fields) and in their own language
//! (their saved preference, else English), as HTML tables with a plain-text alternative. Put in
//! a cron rule, it is the dashboard's scheduled digest, run by the durable jobs like every
//! other action (retried; a retry sends only to whom the failed attempt did not reach).
//!
//! The period is the dashboard's period filter default (a digest has no reader to pick one);
//! plain addresses are refused when the rule is saved, since nobody's view would apply.

use lettre::AsyncTransport;
use lettre::message::{Mailbox, Message, MultiPart};
use serde_json::{Value, json};
use trellis_core::automation::Recipients;
use trellis_core::error::FieldCode;
use trellis_core::{Error, FieldError, Slug};
use trellis_store::system;

use super::email::{IdempotencyKey, SmtpSettings, message_id, one_line, smtp_error, transport};
use super::recipients;
use crate::automation::{ActionCtx, ActionError};
use crate::context::TenantCtx;
use crate::records::Lang;
use crate::reports::{DashboardFilters, digest};

/// Which dashboard goes to whom.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailDashboardOptions {
    /// A dashboard of the rule's app.
    pub dashboard: Slug,
    /// Users and roles (each reads the dashboard as they may); no plain addresses.
    pub to: Recipients,
}

/// The digest action.
pub struct EmailDashboard;

/// The language a user reads mail in: their saved preference, else English.
async fn language(ctx: &ActionCtx<'_>, user: &str) -> Result<Lang, ActionError> {
    let row = trellis_store::preferences::get(&ctx.engine.db.read, ctx.tenant_id, user)
        .await
        .map_err(|e| ActionError::retry(format!("reading preferences: {e}")))?;
    Ok(match row.language.as_deref() {
        Some("zh-CN") => Lang::Zh,
        _ => Lang::En,
    })
}

#[async_trait::async_trait]
impl super::Action for EmailDashboard {
    const KIND: &'static str = "email_dashboard";
    const REACH: super::Reach = super::Reach::World;
    type Options = EmailDashboardOptions;

    fn check(&self, o: &EmailDashboardOptions, site: &super::Site<'_>, errors: &mut Vec<FieldError>) {
        if !site.app.dashboards.iter().any(|d| d.name == o.dashboard) {
            errors.push(site.problem(
                "dashboard",
                FieldCode::NotFound,
                format!("the app has no dashboard '{}'", o.dashboard),
            ));
        }
        if !o.to.addresses.is_empty() {
            errors.push(site.problem(
                "to.addresses",
                FieldCode::NotApplicable,
                "a dashboard goes to users, each through their own view; not to plain addresses",
            ));
        }
    }

    fn recipients<'o>(&self, o: &'o EmailDashboardOptions) -> Option<(&'o Recipients, super::Channel)> {
        Some((&o.to, super::Channel::Email))
    }

    async fn dry_run(&self, o: &EmailDashboardOptions, run: &super::DryRun<'_>) -> Result<Value, Error> {
        // What the caller would receive: their own view of it.
        let data = run
            .engine
            .dashboard_data(
                run.ctx,
                run.app.def.name.as_str(),
                o.dashboard.as_str(),
                &DashboardFilters::default(),
            )
            .await?;
        let app_label = Lang::En.pick(&run.app.def.label, run.app.def.name.as_str()).to_string();
        let d = digest(&data, &run.app.compiled, &app_label, Lang::En);
        Ok(json!({"dashboard": o.dashboard, "subject": d.subject, "widgets": data.widgets.len()}))
    }

    async fn run_out(&self, o: &EmailDashboardOptions, ctx: &ActionCtx<'_>) -> Result<Value, ActionError> {
        let targets = recipients::resolve(ctx, &o.to).await?;
        let readers: Vec<(String, String)> = targets
            .iter()
            .filter_map(|t| Some((t.user_id.clone()?, t.email.clone()?)))
            .collect();
        if readers.is_empty() {
            return Err(ActionError::fatal("no recipient is a user with an e-mail address"));
        }
        let cfg: SmtpSettings = super::setting(ctx, "smtp").await?;
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| ActionError::fatal(format!("smtp 'from' is not an address: {e}")))?;
        let transport = transport(&cfg, ctx.engine.allows_private_outbound()).await?;
        let earlier = super::delivered(ctx.progress);
        let mut delivered: Vec<String> = Vec::new();
        let mut unseen: Vec<String> = Vec::new();
        let app = ctx.app.def.name.as_str();
        for (user, address) in readers {
            if earlier.contains(&address) {
                delivered.push(address);
                continue;
            }
            let to: Mailbox = address
                .parse()
                .map_err(|e| ActionError::fatal(format!("'{address}' is not an e-mail address: {e}")))?;
            let admin = system::user_by_id(&ctx.engine.db.read, ctx.tenant_id, &user)
                .await
                .map_err(|e| ActionError::from(Error::from(e)))?
                .is_some_and(|u| u.is_admin);
            let reader = TenantCtx::new(ctx.tenant_id.to_string(), user.clone(), admin, None);
            let data = match ctx
                .engine
                .dashboard_data(&reader, app, o.dashboard.as_str(), &DashboardFilters::default())
                .await
            {
                Ok(d) => d,
                // Nothing of it is theirs to read.
                Err(e) if e.code.status() == 404 || e.code.status() == 403 => {
                    unseen.push(address);
                    continue;
                }
                Err(e) => {
                    return Err(ActionError::retry(format!("computing the dashboard: {}", e.detail))
                        .with_progress(json!({"delivered": delivered})));
                }
            };
            let lang = language(ctx, &user).await?;
            let app_label = lang.pick(&ctx.app.def.label, app).to_string();
            let d = digest(&data, &ctx.app.compiled, &app_label, lang);
            let message = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(one_line(&d.subject))
                .message_id(Some(message_id(ctx.idempotency_key, &address, from.email.domain())))
                .header(IdempotencyKey(ctx.idempotency_key.to_string()))
                .multipart(MultiPart::alternative_plain_html(d.text, d.html))
                .map_err(|e| ActionError::fatal(format!("cannot build the message: {e}")))?;
            if let Err(e) = transport.send(message).await {
                return Err(smtp_error(&e, &address).with_progress(json!({"delivered": delivered})));
            }
            delivered.push(address);
        }
        Ok(json!({"sent": delivered.len(), "to": delivered, "not_readable_by": unseen}))
    }
}
