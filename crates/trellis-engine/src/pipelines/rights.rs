//! What the caller may do in each app of the tenant (`apps` of `GET /me`), from the code every
//! request goes through: per entity the rights and the rows they reach, the fields hidden from
//! the caller and those they may not change ([`Engine::access`]), and per transition of the
//! entity's pipeline whether the caller may make it (the transition right into its stage and its
//! `allow`, as a move checks them). Rights that depend on a record (a row scope, a transition
//! the owner may make) say so; the record's own answer (`rights=true`, `…/transitions`) decides.

use std::collections::BTreeMap;

use serde::Serialize;
use trellis_core::Error;
use trellis_core::permissions::{EntityGrant, Reach, Right};
use trellis_store::system;

use super::{MayMove, may_move};
use crate::Engine;
use crate::context::TenantCtx;

/// The rows a right reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RightReach {
    /// Every record.
    All,
    /// The records of the caller's row scope (own, team, a filter): each record says
    /// (`rights=true`).
    Scoped,
    /// None: the right is not given.
    None,
}

/// What the caller may do with an entity's records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntityRights {
    pub create: RightReach,
    pub read: RightReach,
    pub update: RightReach,
    pub delete: RightReach,
    pub export: RightReach,
    /// Moving records through the pipeline (each transition also says whether it is allowed).
    pub transition: RightReach,
}

/// Whether the caller may make a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveRight {
    /// Yes (by their roles or by name), on any record they may move.
    Yes,
    /// On the records it names them on (as owner, in a user field): `…/transitions` says.
    Record,
    /// No.
    No,
}

/// A transition of the entity's pipeline and whether the caller may make it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MoveAccess {
    /// Stages it leaves from (`*`: any).
    pub from: Vec<String>,
    pub to: String,
    pub allowed: MoveRight,
}

/// What the caller may do with one entity of an app.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntityAccess {
    pub rights: EntityRights,
    /// Fields hidden from the caller (absent from every answer and unknown to every query);
    /// empty for an entity they may not read.
    pub hidden: Vec<String>,
    /// Fields the caller sees but may not change (`owner` among them when it is one).
    pub read_only: Vec<String>,
    /// The transitions of the entity's pipeline (none without one, or without the read right).
    pub transitions: Vec<MoveAccess>,
}

/// What the caller may do in one app.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppAccess {
    /// Per entity name.
    pub entities: BTreeMap<String, EntityAccess>,
}

fn reach(g: &EntityGrant, right: Right) -> RightReach {
    match g.reach(right) {
        None => RightReach::None,
        Some(Reach::All) => RightReach::All,
        Some(Reach::Any(_)) => RightReach::Scoped,
    }
}

fn sorted(set: &std::collections::HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort();
    v
}

impl Engine {
    /// What the caller may do in every app of the tenant, per app name.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn my_apps_access(&self, ctx: &TenantCtx) -> Result<BTreeMap<String, AppAccess>, Error> {
        let mut out = BTreeMap::new();
        for row in system::apps_of(&self.db.read, ctx.tenant_id()).await? {
            // An app whose definition no longer loads is left out, not the caller's whole answer.
            let app = match self.compiled_app(ctx, &row.name).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(app = %row.name, error = %e.chain(), "an app left out of the caller's rights");
                    continue;
                }
            };
            // The roles a move is checked against (`roles_in`), read once per app.
            let mut roles: Option<Vec<String>> = None;
            let mut entities = BTreeMap::new();
            for e in &app.def.entities {
                let Some(entity) = app.compiled.entity(e.name.as_str()) else {
                    continue;
                };
                let access = self.access(&self.db.read, ctx, &app, entity).await?;
                let g = &access.grant;
                let readable = g.reach(Right::Read).is_some();
                let mut transitions = Vec::new();
                if let (Some(p), true) = (&e.pipeline, readable) {
                    let roles = match &roles {
                        Some(r) => r,
                        None => roles.insert(self.roles_in(&self.db.read, ctx, &app).await?),
                    };
                    for t in &p.transitions {
                        let allowed = if !g.may_enter(t.to.as_str()) {
                            MoveRight::No
                        } else {
                            match may_move(t, ctx.user_id(), roles) {
                                MayMove::Yes => MoveRight::Yes,
                                MayMove::ByRecord => MoveRight::Record,
                                MayMove::No => MoveRight::No,
                            }
                        };
                        transitions.push(MoveAccess {
                            from: t.from.clone(),
                            to: t.to.to_string(),
                            allowed,
                        });
                    }
                }
                entities.insert(
                    e.name.to_string(),
                    EntityAccess {
                        rights: EntityRights {
                            create: reach(g, Right::Create),
                            read: reach(g, Right::Read),
                            update: reach(g, Right::Update),
                            delete: reach(g, Right::Delete),
                            export: reach(g, Right::Export),
                            transition: reach(g, Right::Transition),
                        },
                        hidden: if readable { sorted(&g.hidden) } else { Vec::new() },
                        read_only: if readable { sorted(&g.read_only) } else { Vec::new() },
                        transitions,
                    },
                );
            }
            out.insert(row.name.clone(), AppAccess { entities });
        }
        Ok(out)
    }
}
