//! The in-app inbox: what pipelines and automation tell users, and each user's reading of it.

use serde::Serialize;
use serde_json::Value;
use trellis_core::Error;
use trellis_core::def::Label;
use trellis_core::error::FieldCode;
use trellis_core::status::NotificationKind;
use trellis_core::value::{format_datetime, now_micros};
use trellis_store::StoreError;
use trellis_store::notifications::{self, NotificationRow};

use crate::Engine;
use crate::context::TenantCtx;

/// Notifications answered when the client names no limit.
pub const DEFAULT_LIMIT: u64 = 50;
/// Most notifications answered at once.
pub const MAX_LIMIT: u64 = 500;

/// Puts a notification in each user's inbox (each user once), on the caller's connection so that
/// it commits or rolls back with the change it tells about.
pub async fn notify<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    users: &[String],
    kind: NotificationKind,
    title: &Label,
    data: Value,
) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    let title = serde_json::to_string(title).map_err(|e| Error::internal(e.to_string()))?;
    let data = serde_json::to_string(&data).map_err(|e| Error::internal(e.to_string()))?;
    let at = now_micros();
    let rows: Vec<NotificationRow> = users
        .iter()
        .filter(|u| seen.insert(u.as_str()))
        .map(|u| NotificationRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_string(),
            user_id: u.clone(),
            kind: kind.to_string(),
            title: title.clone(),
            data: data.clone(),
            at,
            read_at: None,
        })
        .collect();
    Ok(notifications::insert(conn, &rows).await?)
}

/// A notification as its user sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationEntry {
    pub id: String,
    /// Stored as its word; answers only the words of [`NotificationKind`].
    #[schema(value_type = NotificationKind)]
    pub kind: String,
    /// `{zh, en}`.
    pub title: Value,
    /// What the notification is about (the record, the approval, …), as its kind gives it.
    pub data: Value,
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(format = DateTime)]
    pub read_at: Option<String>,
}

impl From<&NotificationRow> for NotificationEntry {
    fn from(n: &NotificationRow) -> Self {
        NotificationEntry {
            id: n.id.clone(),
            kind: n.kind.clone(),
            // Written by `notify` as JSON; a row that is not still shows, without its content.
            title: serde_json::from_str(&n.title).unwrap_or(Value::Null),
            data: serde_json::from_str(&n.data).unwrap_or(Value::Null),
            at: format_datetime(&n.at),
            read_at: n.read_at.as_ref().map(format_datetime),
        }
    }
}

/// A page of the caller's inbox and how many are unread in all.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    pub data: Vec<NotificationEntry>,
    /// Unread notifications in all (not only on this page).
    pub unread: i64,
}

impl Engine {
    /// The caller's notifications, newest first; only unread ones when asked.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_notifications(
        &self,
        ctx: &TenantCtx,
        unread_only: bool,
        limit: Option<u64>,
    ) -> Result<Inbox, Error> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::bad_field(
                "limit",
                FieldCode::Range,
                format!("must be 1 to {MAX_LIMIT}"),
            ));
        }
        let rows = notifications::of_user(&self.db.read, ctx.tenant_id(), ctx.user_id(), unread_only, limit).await?;
        let unread = notifications::count_unread(&self.db.read, ctx.tenant_id(), ctx.user_id()).await?;
        Ok(Inbox {
            data: rows.iter().map(NotificationEntry::from).collect(),
            unread,
        })
    }

    /// Marks one of the caller's notifications read (again is fine); anyone else's answers not found.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn mark_notification_read(&self, ctx: &TenantCtx, id: &str) -> Result<(), Error> {
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if !notifications::mark_read(&tx, ctx.tenant_id(), ctx.user_id(), id, now_micros()).await? {
            return Err(Error::not_found("no such notification"));
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
