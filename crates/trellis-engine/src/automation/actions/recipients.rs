//! Who a message goes to: a rule's [`Recipients`] resolved to users (with their e-mail) and
//! plain addresses (e-mail or phone, from templates such as `{{record.phone}}`).

use serde::Serialize;
use serde_json::Value;
use trellis_core::automation::Recipients;
use trellis_store::{directory, system};

use super::super::template;
use crate::automation::{ActionCtx, ActionError};

/// One recipient. A user has an id and their e-mail (users have no phone in Trellis); a plain
/// address has an e-mail or a phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Target {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The recipients, read on the node's read pool. Each user and each address once, users first
/// (in the order named: `users`, `roles`' members, `fields`, `owner`), then `addresses`.
/// Unknown and disabled users are left out. None at all is a fatal `no recipient`.
pub async fn resolve(ctx: &ActionCtx<'_>, to: &Recipients) -> Result<Vec<Target>, ActionError> {
    resolve_in(&ctx.engine.db.read, ctx, to).await
}

/// [`resolve`] on the caller's connection (inside a job's transaction).
pub async fn resolve_in<C: trellis_store::Reads>(
    conn: &C,
    ctx: &ActionCtx<'_>,
    to: &Recipients,
) -> Result<Vec<Target>, ActionError> {
    let found = resolve_all(conn, ctx.tenant_id, &ctx.app.id, ctx.input, to)
        .await
        .map_err(|e| ActionError::retry(format!("reading recipients: {e}")))?;
    if found.to.is_empty() {
        return Err(ActionError::fatal("no recipient"));
    }
    Ok(found.to)
}

/// Recipients as resolved, with each named part that gave nobody and why (a dry run shows both).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Resolved {
    /// Who it goes to, each once, in the order named.
    pub to: Vec<Target>,
    /// Each part of the action's `to` that gave no recipient.
    pub unresolved: Vec<Unresolved>,
}

/// A part of `to` that gave no recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Unresolved {
    /// Which part: `users[0]`, `roles.sales`, `fields.rep`, `owner`, `addresses[1]`.
    pub source: String,
    /// Why it gave nobody, in words.
    pub reason: String,
}

/// Resolves `to` against the run input (`input.record` for fields, owner and templates):
/// every recipient once, and each part that gave nobody.
pub async fn resolve_all<C: trellis_store::Reads>(
    conn: &C,
    tenant_id: &str,
    app_id: &str,
    input: &Value,
    to: &Recipients,
) -> Result<Resolved, trellis_store::StoreError> {
    let mut unresolved = Vec::new();
    let mut miss = |source: String, reason: &str| {
        unresolved.push(Unresolved {
            source,
            reason: reason.to_string(),
        })
    };
    // Each user id with the part that named it.
    let mut ids: Vec<(String, String)> = to
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.clone(), format!("users[{i}]")))
        .collect();
    for role in &to.roles {
        let members = directory::members_of(conn, app_id, role.as_str()).await?;
        if members.is_empty() {
            miss(format!("roles.{role}"), "the role has no members");
        }
        ids.extend(members.into_iter().map(|m| (m, format!("roles.{role}"))));
    }
    let record = &input["record"];
    for field in &to.fields {
        let found = user_ids_in(&record[field.as_str()]);
        if found.is_empty() {
            miss(format!("fields.{field}"), "the field is empty");
        }
        ids.extend(found.into_iter().map(|u| (u, format!("fields.{field}"))));
    }
    if to.owner {
        let found = user_ids_in(&record["owner"]);
        if found.is_empty() {
            miss("owner".into(), "the record has no owner");
        }
        ids.extend(found.into_iter().map(|u| (u, "owner".to_string())));
    }
    let mut out = Collector::default();
    let mut seen = std::collections::HashSet::new();
    for (id, source) in ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        match system::user_by_id(conn, tenant_id, &id).await? {
            None => miss(source, "no such user"),
            Some(u) if u.disabled_at.is_some() => miss(source, "the user is disabled"),
            Some(u) => out.push(Target {
                user_id: Some(u.id),
                email: (!u.email.is_empty()).then_some(u.email),
                phone: None,
            }),
        }
    }
    for (i, a) in to.addresses.iter().enumerate() {
        let rendered = template::render(a, input);
        let mut any = false;
        for part in rendered.split([',', ';', '\n']) {
            if let Some(t) = address(part) {
                out.push(t);
                any = true;
            }
        }
        if !any {
            let reason = if rendered.trim().is_empty() {
                "renders empty"
            } else {
                "is not an e-mail address or a phone number"
            };
            miss(format!("addresses[{i}]"), reason);
        }
    }
    Ok(Resolved {
        to: out.targets,
        unresolved,
    })
}

/// The user ids of recipients that are users (for in-app notifications).
pub fn user_ids(targets: &[Target]) -> Vec<String> {
    targets.iter().filter_map(|t| t.user_id.clone()).collect()
}

/// A user field's value: an id, or (for safety) a list of ids.
fn user_ids_in(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// A plain address: an e-mail when it has an `@`, else a phone number (digits with an optional
/// leading `+`; spaces, dashes, dots and brackets dropped). Anything else is no address.
pub fn address(raw: &str) -> Option<Target> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if s.contains('@') {
        return Some(Target {
            user_id: None,
            email: Some(s.to_string()),
            phone: None,
        });
    }
    normalize_phone(s).map(|p| Target {
        user_id: None,
        email: None,
        phone: Some(p),
    })
}

/// `+86 138-0000 (0000)` → `+8613800000000`; `None` when it is not a phone number.
pub fn normalize_phone(s: &str) -> Option<String> {
    let kept: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or(&kept);
    (digits.len() >= 3 && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(kept)
}

/// Targets without repeats: the same user, e-mail (any case) or phone counts once.
#[derive(Default)]
struct Collector {
    targets: Vec<Target>,
    keys: std::collections::HashSet<String>,
}

impl Collector {
    fn push(&mut self, t: Target) {
        let keys: Vec<String> = [
            t.user_id.as_ref().map(|u| format!("u:{u}")),
            t.email.as_ref().map(|e| format!("e:{}", e.to_lowercase())),
            t.phone.as_ref().map(|p| format!("p:{p}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if keys.iter().any(|k| self.keys.contains(k)) {
            return;
        }
        self.keys.extend(keys);
        self.targets.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_are_e_mails_or_phone_numbers() {
        assert_eq!(
            address(" li@example.com ").unwrap().email.as_deref(),
            Some("li@example.com")
        );
        assert_eq!(
            address("+86 138-0000 (0000)").unwrap().phone.as_deref(),
            Some("+8613800000000")
        );
        assert_eq!(address("010.1234.5678").unwrap().phone.as_deref(), Some("01012345678"));
        assert_eq!(address(""), None);
        assert_eq!(address("   "), None);
        assert_eq!(address("call me"), None);
        assert_eq!(address("12"), None);
        assert_eq!(address("++123"), None);
    }

    #[test]
    fn each_user_e_mail_and_phone_counts_once() {
        let mut c = Collector::default();
        let user = |id: &str, email: &str| Target {
            user_id: Some(id.into()),
            email: Some(email.into()),
            phone: None,
        };
        c.push(user("u1", "li@example.com"));
        c.push(user("u1", "li@example.com"));
        c.push(user("u2", "wang@example.com"));
        c.push(address("LI@example.com").unwrap());
        c.push(address("+86 1380").unwrap());
        c.push(address("+861380").unwrap());
        c.push(address("zhao@example.com").unwrap());
        let got: Vec<String> = c
            .targets
            .iter()
            .map(|t| {
                t.user_id
                    .clone()
                    .or(t.email.clone())
                    .or(t.phone.clone())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(got, ["u1", "u2", "+861380", "zhao@example.com"]);
        assert_eq!(user_ids(&c.targets), ["u1", "u2"]);
    }

    #[test]
    fn user_fields_hold_an_id_or_a_list() {
        assert_eq!(user_ids_in(&json!("u1")), ["u1"]);
        assert_eq!(user_ids_in(&json!(["u1", "u2", 3])), ["u1", "u2"]);
        assert!(user_ids_in(&json!(null)).is_empty());
        assert!(user_ids_in(&json!("")).is_empty());
    }
}
