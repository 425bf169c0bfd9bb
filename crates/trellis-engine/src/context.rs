//! Who is asking, within which tenant. Every use case that touches tenant data takes a
//! `TenantCtx`, and only authentication (or the admin CLI) can make one.

/// The authenticated caller: tenant, user and rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCtx {
    tenant_id: String,
    user_id: String,
    is_admin: bool,
    /// Set when the caller used an API token (its id), for audit and last-use tracking.
    token_id: Option<String>,
    /// Set when an automation rule acts: its name and how deep in a chain of rules it runs.
    rule: Option<(String, i32)>,
    /// The app role an API token was made for: the caller then acts with only that role's
    /// permissions (`crate::access`).
    token_role: Option<String>,
    /// Set when the caller used a login session (its id), so it can log out or be told which
    /// of its sessions is the current one.
    session_id: Option<String>,
}

impl TenantCtx {
    pub(crate) fn new(tenant_id: String, user_id: String, is_admin: bool, token_id: Option<String>) -> TenantCtx {
        TenantCtx {
            tenant_id,
            user_id,
            is_admin,
            token_id,
            rule: None,
            token_role: None,
            session_id: None,
        }
    }

    /// The same caller, known to use the login session `id`.
    pub(crate) fn with_session(mut self, id: Option<String>) -> TenantCtx {
        self.session_id = id;
        self
    }

    /// The login session the caller used, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The same caller limited to one app role (an API token made for that role).
    pub(crate) fn with_token_role(mut self, role: Option<String>) -> TenantCtx {
        self.token_role = role;
        self
    }

    /// The app role the caller's API token is limited to, if any.
    pub fn token_role(&self) -> Option<&str> {
        self.token_role.as_deref()
    }

    /// The same caller as an automation rule acting on their behalf, `depth` rules deep.
    pub fn as_rule(&self, rule: &str, depth: i32) -> TenantCtx {
        TenantCtx {
            rule: Some((rule.to_string(), depth)),
            ..self.clone()
        }
    }

    /// What made the change, for the event log: `rule:<name>`, `token:<id>` or nothing (a session).
    pub fn via(&self) -> Option<String> {
        match (&self.rule, &self.token_id) {
            (Some((r, _)), _) => Some(format!("rule:{r}")),
            (None, Some(t)) => Some(format!("token:{t}")),
            _ => None,
        }
    }

    /// How many rules deep the change is (0: a person or an integration).
    pub fn depth(&self) -> i32 {
        self.rule.as_ref().map_or(0, |(_, d)| *d)
    }

    /// The rule acting, if any.
    pub fn rule(&self) -> Option<&str> {
        self.rule.as_ref().map(|(r, _)| r.as_str())
    }
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    /// Whether the caller acts as a tenant administrator: an administrator's session or token
    /// without a role. A token made for a role never does, whoever made it: it carries no more
    /// than its role. Every administrator check asks here (or [`TenantCtx::require_admin_to`]).
    pub fn is_admin(&self) -> bool {
        self.is_admin && self.token_role.is_none()
    }

    /// Whether the user behind the caller is a tenant administrator, even when a token limits
    /// them to a role (that administrator's role token acts as the role without its membership).
    pub fn user_is_admin(&self) -> bool {
        self.is_admin
    }
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }

    /// Refuses callers that are not tenant administrators (metadata changes, for now).
    pub fn require_admin(&self) -> Result<(), trellis_core::Error> {
        self.require_admin_to("change an app's definition")
    }

    /// Refuses callers that are not tenant administrators, saying what they tried (`"add users"`).
    pub fn require_admin_to(&self, what: &str) -> Result<(), trellis_core::Error> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(trellis_core::Error::permission_denied(format!(
                "only tenant administrators may {what}"
            )))
        }
    }
}
