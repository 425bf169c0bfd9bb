//! What the caller may do with records they read: update and delete each, by the predicate the
//! write path checks (the right, then the record inside the right's row scope, read through
//! [`Engine::scope`] as `update_record` and `delete_record` read it). A write may still be
//! refused for what it changes (a value leaving the scope, a read-only field, a rule), never
//! for a right the answer said the caller has not.

use serde::Serialize;
use trellis_core::Error;
use trellis_core::permissions::{Reach, Right};

use crate::Engine;
use crate::access::Access;
use crate::context::TenantCtx;

/// What the caller may do with one record (`_rights` of a record read with `rights=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordRights {
    /// Whether `PATCH` of the record is allowed (its fields still checked one by one).
    pub update: bool,
    /// Whether `DELETE` of the record is allowed (a record other records point at still is not).
    pub delete: bool,
}

/// What the caller may do with the records of a page (`rights` of a list asked with
/// `rights=true`): for each of update and delete, `true` (every record of the page), `false`
/// (none) or the ids of those records, in page order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageRights {
    pub update: Allowed,
    pub delete: Allowed,
}

/// The records of a page a right reaches: all of them, none, or these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Allowed {
    /// `true`: every record of the page; `false`: none.
    Every(bool),
    /// The ids of the records it reaches.
    Only(Vec<String>),
}

impl Allowed {
    fn has(&self, id: &str) -> bool {
        match self {
            Allowed::Every(b) => *b,
            Allowed::Only(ids) => ids.iter().any(|x| x == id),
        }
    }
}

impl PageRights {
    /// One record's rights.
    pub fn of(&self, id: &str) -> RecordRights {
        RecordRights {
            update: self.update.has(id),
            delete: self.delete.has(id),
        }
    }
}

impl Engine {
    /// The rights of the caller over the records `ids` (records they read; at most a page).
    pub(crate) async fn record_rights(
        &self,
        ctx: &TenantCtx,
        access: &Access,
        ids: &[String],
    ) -> Result<PageRights, Error> {
        Ok(PageRights {
            update: self.ids_within(ctx, access, ids, Right::Update).await?,
            delete: self.ids_within(ctx, access, ids, Right::Delete).await?,
        })
    }

    /// Those of `ids` inside the row scope of `right`, in their order (none without the right).
    async fn ids_within(
        &self,
        ctx: &TenantCtx,
        access: &Access,
        ids: &[String],
        right: Right,
    ) -> Result<Allowed, Error> {
        match access.grant.reach(right) {
            None => return Ok(Allowed::Every(false)),
            Some(Reach::All) => return Ok(Allowed::Every(true)),
            Some(Reach::Any(_)) => {}
        }
        if ids.is_empty() {
            return Ok(Allowed::Only(Vec::new()));
        }
        let Some(scope) = self.scope(&self.db.read, ctx, access, right).await? else {
            return Ok(Allowed::Every(true));
        };
        // The write path reads the record through the whole entity (a scope may name a field
        // hidden from the caller).
        let entity = &access.entity;
        let inside = crate::access::ids_in_scope(&self.db.read, entity, ids, Some(&scope)).await?;
        Ok(Allowed::Only(
            ids.iter().filter(|id| inside.contains(*id)).cloned().collect(),
        ))
    }
}
