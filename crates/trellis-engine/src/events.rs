//! Writing and reading the event log: each committed change of a record leaves one event in its
//! own transaction (history, audit trail and automation outbox at once).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value, json};
use trellis_core::status::EventKind;
use trellis_core::{CompiledEntity, CompiledField, Error, Val};
use trellis_store::events::{self, EventRow};
use utoipa::ToSchema;

use crate::compiled::scripts::LoadedApp;

/// An event about to be written.
pub struct EventDraft<'a> {
    pub tenant_id: &'a str,
    pub app: &'a LoadedApp,
    pub entity: &'a CompiledEntity,
    pub record_id: &'a str,
    pub kind: EventKind,
    pub actor: Option<&'a str>,
    pub via: Option<String>,
    /// How many rules deep the change is (the loop guard of automation reads it).
    pub depth: i32,
    pub data: Value,
}

impl EventDraft<'_> {
    pub fn row(self) -> EventRow {
        EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: self.tenant_id.to_string(),
            app_id: self.app.id.clone(),
            entity_id: self.entity.def.storage_id().to_string(),
            record_id: self.record_id.to_string(),
            kind: self.kind.as_str().to_string(),
            actor: self.actor.map(str::to_string),
            via: self.via,
            at: trellis_core::value::now_micros(),
            data: self.data.to_string(),
            depth: self.depth,
        }
    }
}

/// Writes one event in the caller's transaction.
///
/// In an app without enabled rules nothing can match the event, so it is written already
/// dispatched: the dispatcher (and, on SQLite, the single writer it would take) never sees it.
/// Rules apply to changes made after they are saved, so a rule added later misses nothing.
pub async fn record_event<C: trellis_store::Writes>(conn: &C, e: EventDraft<'_>) -> Result<(), Error> {
    let dispatched = !e.app.def.rules.iter().any(|r| r.enabled);
    events::insert_with(conn, &[e.row()], dispatched).await?;
    Ok(())
}

/// Writes events in the caller's transaction, as [`record_event`] does one, in statements of
/// at most 1,000 events.
pub async fn record_events<C: trellis_store::Writes>(
    conn: &C,
    app: &LoadedApp,
    rows: Vec<EventRow>,
) -> Result<(), Error> {
    let dispatched = !app.def.rules.iter().any(|r| r.enabled);
    for chunk in rows.chunks(1000) {
        events::insert_with(conn, chunk, dispatched).await?;
    }
    Ok(())
}

/// The changed fields of an update as `{storage id: [old, new]}` (answer forms): stored by id so
/// a renamed field keeps its history.
pub fn changes(entity: &CompiledEntity, old: &trellis_store::records::Row, new: &[(&CompiledField, Val)]) -> Value {
    let mut m = Map::new();
    for (f, v) in new {
        let before = old.get(entity, &f.name).cloned().unwrap_or(Val::Null);
        let (a, b) = (before.to_json(f), v.to_json(f));
        if a != b {
            let key = if f.system {
                f.name.clone()
            } else {
                entity
                    .def
                    .field(&f.name)
                    .map(|d| d.storage_id().to_string())
                    .unwrap_or_else(|| f.name.clone())
            };
            m.insert(key, json!([a, b]));
        }
    }
    Value::Object(m)
}

/// An event of a record's history or of an app's audit trail: these members, and those of its
/// kind (`changes` as `{field: {from, to}}`, a stage move's `from`/`to`, an approval's, …).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened (`created`, `updated`, `stage_changed`, `app_changed`, …).
    pub kind: EventKind,
    /// The user who acted (none for the system).
    #[schema(required = true)]
    pub actor: Option<String>,
    /// How: `api`, `ui`, `rule:{name}`, `hook:{key}`, …
    #[schema(required = true)]
    pub via: Option<String>,
    /// The members of the event's kind.
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

/// The members every event has, which its kind's members never replace.
const FIXED: [&str; 5] = ["id", "at", "kind", "actor", "via"];

impl Event {
    /// An event as answered: field changes under the fields' current names.
    pub fn of(e: &EventRow, names: &HashMap<String, String>) -> Result<Event, Error> {
        Event::without(e, names, &HashSet::new())
    }

    /// An event as answered, leaving out the changes of fields (storage ids) the reader may not
    /// see.
    pub fn without(e: &EventRow, names: &HashMap<String, String>, hidden: &HashSet<String>) -> Result<Event, Error> {
        let mut data = match serde_json::from_str::<Value>(&e.data) {
            Ok(Value::Object(d)) => d,
            _ => Map::new(),
        };
        if let Some(Value::Object(ch)) = data.get_mut("changes") {
            ch.retain(|k, _| !hidden.contains(k));
            let renamed: Map<String, Value> = std::mem::take(ch)
                .into_iter()
                .map(|(k, v)| {
                    let name = names.get(&k).cloned().unwrap_or(k);
                    let (from, to) = match v {
                        Value::Array(mut pair) if pair.len() == 2 => {
                            let to = pair.pop().unwrap_or(Value::Null);
                            (pair.pop().unwrap_or(Value::Null), to)
                        }
                        other => (Value::Null, other),
                    };
                    (name, json!({"from": from, "to": to}))
                })
                .collect();
            *ch = renamed;
        }
        data.retain(|k, _| !FIXED.contains(&k.as_str()));
        Ok(Event {
            id: e.id.clone(),
            at: trellis_core::value::format_datetime(&e.at),
            kind: EventKind::parse(&e.kind)
                .ok_or_else(|| Error::internal(format!("unknown event kind '{}' stored", e.kind)))?,
            actor: e.actor.clone(),
            via: e.via.clone(),
            data,
        })
    }
}
