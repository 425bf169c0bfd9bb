//! What concepts above records add to a record's creation, in its transaction, without records
//! calling up into them: pipelines put a new record in its pipeline's first stage and start that
//! stage's SLA timer. The engine holds the hooks, registered when it opens ([`crate::Engine::open`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use trellis_core::{CompiledEntity, CompiledField, Error, Val};
use trellis_store::WriteTx;

use crate::compiled::scripts::LoadedApp;

/// A part of creating a record that belongs to another concept. Both steps run in the
/// creating transaction: an error rolls the whole creation back.
#[async_trait::async_trait]
pub trait OnCreate: Send + Sync {
    /// Values the new record starts with, added to those written (after numbering and rollups).
    async fn initial_values<'e>(
        &self,
        tx: &WriteTx,
        tenant_id: &str,
        entity: &'e CompiledEntity,
        at: DateTime<Utc>,
    ) -> Result<Vec<(&'e CompiledField, Val)>, Error>;

    /// After the row is written and found in the creator's scope: what else the creation
    /// starts. Answers what to add to the record's `created` event.
    async fn created(
        &self,
        tx: &WriteTx,
        tenant_id: &str,
        app: &LoadedApp,
        entity: &CompiledEntity,
        record_id: &str,
        values: &[(&CompiledField, Val)],
    ) -> Result<Map<String, Value>, Error>;
}

/// The hooks of one engine, in the order they run.
#[derive(Clone, Default)]
pub struct Hooks {
    pub on_create: Vec<std::sync::Arc<dyn OnCreate>>,
}
