//! Comments on a record and the record's timeline. A comment is read and written by whoever
//! may read the record (its row scope: out of reach answers 404, as the record does); it is
//! stored with its `comment_created` event in one transaction, and the users it mentions
//! (`@[user id]`) are told in their inbox only when they may read the record themselves.

mod timeline;

pub use timeline::{Timeline, TimelineEntry, TimelineFieldChange};

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use trellis_core::def::Label;
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::status::{EventKind, NotificationKind};
use trellis_core::{CompiledEntity, Error, FieldError};
use trellis_store::StoreError;
use trellis_store::comments::{self, CommentRow};
use trellis_store::system::{self, UserRow};
use utoipa::ToSchema;

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

/// Longest comment, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Most distinct users one comment may mention.
pub const MAX_MENTIONS: usize = 50;
/// Comments answered when the client names no limit.
pub const DEFAULT_LIMIT: u64 = 50;
/// Most comments answered at once.
pub const MAX_LIMIT: u64 = 500;
/// Characters of the body a mention's notification carries.
const EXCERPT_CHARS: usize = 200;
/// Users offered for a mention when the client names no limit.
pub const DEFAULT_MENTIONABLE: u64 = 20;
/// Most users offered for a mention at once.
pub const MAX_MENTIONABLE: u64 = 100;
/// Longest search text for users to mention, in characters.
pub const MAX_MENTION_QUERY_CHARS: usize = 100;

/// A user a comment mentions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MentionedUser {
    /// The user's id (as written in the body: `@[id]`).
    pub id: String,
    /// The user's display name.
    pub name: String,
}

/// A comment on a record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comment {
    pub id: String,
    /// The author's user id.
    pub author: String,
    /// The author's display name (none once the user is gone).
    #[schema(required = true)]
    pub author_name: Option<String>,
    /// Plain text as written; a mention is `@[user id]`, shown with the name from `mentions`.
    pub body: String,
    /// The users the body mentions, in order of first mention (ids naming no user are left
    /// out: they stay plain text).
    pub mentions: Vec<MentionedUser>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether the caller may delete it (its author, or a tenant administrator).
    pub can_delete: bool,
}

/// A page of a record's comments, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommentPage {
    pub data: Vec<Comment>,
    /// The `cursor` of the next page; none on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Why a mentioned user was not notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MentionSkip {
    /// The id names no user of the tenant (the mention stays plain text).
    NoSuchUser,
    /// The user may not read the record (no read right, or the record is outside their row
    /// scope): telling them would show them a record they may not see.
    CannotRead,
    /// The user is disabled.
    Disabled,
    /// The author mentioned themselves.
    Author,
}

/// What became of one mention of a posted comment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MentionOutcome {
    /// The id as written (`@[id]`).
    pub user: String,
    /// The user's display name; none when the id names no user.
    #[schema(required = true)]
    pub name: Option<String>,
    /// Whether a `mention` notification was put in their inbox.
    pub notified: bool,
    /// Why not, when not notified.
    #[schema(required = true)]
    pub reason: Option<MentionSkip>,
}

/// A comment as posted, with what became of each mention.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PostedComment {
    pub comment: Comment,
    /// Each distinct `@[id]` of the body, in order: notified, or why not.
    pub mentions: Vec<MentionOutcome>,
}

/// The distinct ids the body mentions (`@[id]`, an id being a UUID), in order of first mention.
pub fn mentioned_ids(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("@[") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(']') else { break };
        if let Ok(u) = uuid::Uuid::parse_str(&rest[..end]) {
            let id = u.hyphenated().to_string();
            if !out.contains(&id) {
                out.push(id);
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// Checks a comment's body: not blank, at most [`MAX_BODY_CHARS`] characters, at most
/// [`MAX_MENTIONS`] users mentioned (422 naming `body`).
fn check_body(body: &str) -> Result<Vec<String>, Error> {
    if body.trim().is_empty() {
        return Err(Error::validation(vec![FieldError::new(
            "body",
            FieldCode::Empty,
            "a comment must not be empty",
        )]));
    }
    if body.contains('\0') {
        return Err(Error::validation(vec![FieldError::new(
            "body",
            FieldCode::Invalid,
            "a comment must not contain NUL characters",
        )]));
    }
    let n = body.chars().count();
    if n > MAX_BODY_CHARS {
        return Err(Error::validation(vec![FieldError::new(
            "body",
            FieldCode::TooLong,
            format!("a comment has at most {MAX_BODY_CHARS} characters ({n} sent)"),
        )]));
    }
    let ids = mentioned_ids(body);
    if ids.len() > MAX_MENTIONS {
        return Err(Error::validation(vec![FieldError::new(
            "body",
            FieldCode::Count,
            format!("a comment mentions at most {MAX_MENTIONS} users"),
        )]));
    }
    Ok(ids)
}

/// A paging cursor this list gave (an id), or 400 `invalid_cursor`.
pub(crate) fn check_cursor(cursor: Option<&str>) -> Result<Option<String>, Error> {
    cursor
        .map(|c| {
            uuid::Uuid::parse_str(c)
                .map(|u| u.hyphenated().to_string())
                .map_err(|_| Error::bad_field("cursor", FieldCode::InvalidCursor, "not a cursor this list gave"))
        })
        .transpose()
}

fn comment_of(row: &CommentRow, users: &HashMap<String, UserRow>, ctx: &TenantCtx) -> Comment {
    let ids: Vec<String> = serde_json::from_str(&row.mentions).unwrap_or_default();
    Comment {
        id: row.id.clone(),
        author: row.author.clone(),
        author_name: users.get(&row.author).map(|u| u.name.clone()),
        body: row.body.clone(),
        mentions: ids
            .iter()
            .filter_map(|id| {
                users.get(id).map(|u| MentionedUser {
                    id: id.clone(),
                    name: u.name.clone(),
                })
            })
            .collect(),
        created_at: trellis_core::value::format_datetime(&row.created_at),
        can_delete: row.author == ctx.user_id() || ctx.is_admin(),
    }
}

/// The authors and mentioned users of comments, by id.
async fn people<C: trellis_store::Reads>(
    conn: &C,
    tenant: &str,
    rows: &[CommentRow],
) -> Result<HashMap<String, UserRow>, Error> {
    let mut ids: Vec<String> = Vec::new();
    for r in rows {
        ids.push(r.author.clone());
        ids.extend(serde_json::from_str::<Vec<String>>(&r.mentions).unwrap_or_default());
    }
    ids.sort();
    ids.dedup();
    Ok(system::users_by_ids(conn, tenant, &ids)
        .await?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect())
}

/// A record the caller may read: its app, entity and id (404 for one out of reach or gone).
pub(crate) struct Readable {
    pub app: Arc<LoadedApp>,
    pub entity: Arc<CompiledEntity>,
    pub id: String,
    pub access: crate::access::Access,
}

impl Engine {
    /// The record as the caller may read it, or 404 exactly as `GET` of the record answers.
    pub(crate) async fn readable(&self, ctx: &TenantCtx, app: &str, entity: &str, id: &str) -> Result<Readable, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = crate::records::entity_of(&app, entity)?.clone();
        let id = crate::records::check_id(id)?;
        let access = self.access(&self.db.read, ctx, &app, &entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        crate::access::get_scoped(&self.db.read, &entity, &id, scope.as_ref(), Some(&[]))
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        Ok(Readable {
            app,
            entity,
            id,
            access,
        })
    }

    /// Whether a user of the tenant may read a record (the read right and its row scope).
    async fn user_may_read(&self, user: &UserRow, r: &Readable) -> Result<bool, Error> {
        let as_user = TenantCtx::new(user.tenant_id.clone(), user.id.clone(), user.is_admin, None);
        let access = self.access(&self.db.read, &as_user, &r.app, &r.entity).await?;
        if access.grant.reach(Right::Read).is_none() {
            return Ok(false);
        }
        let scope = self.scope(&self.db.read, &as_user, &access, Right::Read).await?;
        Ok(
            crate::access::get_scoped(&self.db.read, &r.entity, &r.id, scope.as_ref(), Some(&[]))
                .await?
                .is_some(),
        )
    }

    /// A page of a record's comments, oldest first, for a caller who may read the record.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn list_comments(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<CommentPage, Error> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::bad_field(
                "limit",
                FieldCode::Range,
                format!("must be 1 to {MAX_LIMIT}"),
            ));
        }
        let after = check_cursor(cursor)?;
        let r = self.readable(ctx, app, entity, id).await?;
        let rows = comments::of_record(&self.db.read, ctx.tenant_id(), &r.id, after.as_deref(), limit).await?;
        let users = people(&self.db.read, ctx.tenant_id(), &rows).await?;
        let next_cursor = if rows.len() as u64 == limit {
            rows.last().map(|c| c.id.clone())
        } else {
            None
        };
        Ok(CommentPage {
            data: rows.iter().map(|c| comment_of(c, &users, ctx)).collect(),
            next_cursor,
        })
    }

    /// Adds a comment to a record the caller may read, with its `comment_created` event, and
    /// tells each mentioned user who may read the record (`mention` in their inbox), all in
    /// one transaction. The answer says, per mention, whether it was notified and why not.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn post_comment(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        body: &str,
    ) -> Result<PostedComment, Error> {
        let r = self.readable(ctx, app, entity, id).await?;
        let ids = check_body(body)?;
        let users: HashMap<String, UserRow> = system::users_by_ids(&self.db.read, ctx.tenant_id(), &ids)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let mut outcomes = Vec::with_capacity(ids.len());
        for uid in &ids {
            let user = users.get(uid);
            let reason = match user {
                None => Some(MentionSkip::NoSuchUser),
                Some(u) if u.disabled_at.is_some() => Some(MentionSkip::Disabled),
                Some(u) if u.id == ctx.user_id() => Some(MentionSkip::Author),
                Some(u) if !self.user_may_read(u, &r).await? => Some(MentionSkip::CannotRead),
                Some(_) => None,
            };
            outcomes.push(MentionOutcome {
                user: uid.clone(),
                name: user.map(|u| u.name.clone()),
                notified: reason.is_none(),
                reason,
            });
        }
        let mentioned: Vec<String> = ids.iter().filter(|i| users.contains_key(*i)).cloned().collect();
        let row = CommentRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: r.app.id.clone(),
            entity_id: r.entity.def.storage_id().to_string(),
            record_id: r.id.clone(),
            author: ctx.user_id().to_string(),
            body: body.to_string(),
            mentions: json!(mentioned).to_string(),
            created_at: trellis_core::value::now_micros(),
        };
        let notify: Vec<String> = outcomes.iter().filter(|o| o.notified).map(|o| o.user.clone()).collect();
        let author = system::user_by_id(&self.db.read, ctx.tenant_id(), ctx.user_id()).await?;
        let author_name = author.as_ref().map_or("", |u| u.name.as_str());
        let title = Label::new(
            &format!("{author_name} 在评论中提到了您"),
            &format!("{author_name} mentioned you in a comment"),
        );
        let excerpt: String = body.chars().take(EXCERPT_CHARS).collect();
        let (row_ref, notify_ref, title_ref, excerpt_ref, r_ref) = (&row, &notify, &title, &excerpt, &r);
        self.retry_contended(|| async move {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            comments::insert(&tx, row_ref).await?;
            crate::events::record_event(
                &tx,
                crate::events::EventDraft {
                    tenant_id: ctx.tenant_id(),
                    app: &r_ref.app,
                    entity: &r_ref.entity,
                    record_id: &r_ref.id,
                    kind: EventKind::CommentCreated,
                    actor: Some(ctx.user_id()),
                    via: ctx.via(),
                    depth: ctx.depth(),
                    data: json!({"comment": row_ref.id, "body": row_ref.body, "mentions": serde_json::from_str::<serde_json::Value>(&row_ref.mentions).unwrap_or_default()}),
                },
            )
            .await?;
            crate::notifications::notify(
                &tx,
                ctx.tenant_id(),
                notify_ref,
                NotificationKind::Mention,
                title_ref,
                json!({
                    "app": r_ref.app.def.name,
                    "entity": r_ref.entity.name(),
                    "record": r_ref.id,
                    "comment": row_ref.id,
                    "by": ctx.user_id(),
                    "excerpt": excerpt_ref,
                }),
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        self.wake_dispatcher_for(&r.app);
        let mut people_of = users;
        if let Some(a) = author {
            people_of.insert(a.id.clone(), a);
        }
        Ok(PostedComment {
            comment: comment_of(&row, &people_of, ctx),
            mentions: outcomes,
        })
    }

    /// The users a caller may mention on a record they may read: the tenant's enabled users,
    /// other than the caller, who may read the record themselves (read right and row scope, as
    /// a mention's notification is judged), whose name or e-mail contains `q` (any case), by
    /// name, at most `limit` (1 to [`MAX_MENTIONABLE`]). Only ids and names are answered.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn mentionable_users(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        q: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<MentionedUser>, Error> {
        let limit = limit.unwrap_or(DEFAULT_MENTIONABLE);
        if !(1..=MAX_MENTIONABLE).contains(&limit) {
            return Err(Error::bad_field(
                "limit",
                FieldCode::Range,
                format!("must be 1 to {MAX_MENTIONABLE}"),
            ));
        }
        let q = q.unwrap_or("").trim().to_lowercase();
        if q.chars().count() > MAX_MENTION_QUERY_CHARS {
            return Err(Error::bad_field(
                "q",
                FieldCode::TooLong,
                format!("at most {MAX_MENTION_QUERY_CHARS} characters"),
            ));
        }
        let r = self.readable(ctx, app, entity, id).await?;
        let mut users: Vec<UserRow> = system::users_of(&self.db.read, ctx.tenant_id())
            .await?
            .into_iter()
            .filter(|u| u.disabled_at.is_none() && u.id != ctx.user_id())
            .filter(|u| q.is_empty() || u.name.to_lowercase().contains(&q) || u.email.contains(&q))
            .collect();
        users.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut out = Vec::new();
        for u in users {
            if out.len() as u64 == limit {
                break;
            }
            if self.user_may_read(&u, &r).await? {
                out.push(MentionedUser { id: u.id, name: u.name });
            }
        }
        Ok(out)
    }

    /// Deletes a comment of a record the caller may read: its author may, and tenant
    /// administrators (403 for anyone else); with its `comment_deleted` event.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn delete_comment(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        comment: &str,
    ) -> Result<(), Error> {
        let r = self.readable(ctx, app, entity, id).await?;
        let missing = || Error::not_found("no such comment");
        let comment = uuid::Uuid::parse_str(comment)
            .map_err(|_| missing())?
            .hyphenated()
            .to_string();
        let row = comments::get(&self.db.read, ctx.tenant_id(), &comment)
            .await?
            .filter(|c| c.record_id == r.id)
            .ok_or_else(missing)?;
        if row.author != ctx.user_id() && !ctx.is_admin() {
            return Err(Error::permission_denied(
                "only its author or a tenant administrator may delete a comment",
            ));
        }
        let (row_ref, r_ref) = (&row, &r);
        self.retry_contended(|| async move {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            if !comments::delete(&tx, ctx.tenant_id(), &row_ref.id).await? {
                return Err(missing());
            }
            crate::events::record_event(
                &tx,
                crate::events::EventDraft {
                    tenant_id: ctx.tenant_id(),
                    app: &r_ref.app,
                    entity: &r_ref.entity,
                    record_id: &r_ref.id,
                    kind: EventKind::CommentDeleted,
                    actor: Some(ctx.user_id()),
                    via: ctx.via(),
                    depth: ctx.depth(),
                    data: json!({"comment": row_ref.id}),
                },
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        self.wake_dispatcher_for(&r.app);
        Ok(())
    }
}
