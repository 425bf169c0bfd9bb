//! Trellis's pure domain: definitions (apps, entities, fields), validated names, typed values,
//! queries, plans of schema changes, error codes and the OpenAPI of an app. No I/O here.

pub mod automation;
pub mod autonumber;
pub mod calendar;
pub mod coerce;
pub mod compile;
pub mod condition;
pub mod dashboard;
pub mod def;
pub mod error;
pub mod form;
pub mod merge;
pub mod names;
pub mod openapi;
pub mod package;
pub mod permissions;
pub mod pipeline;
pub mod plan;
pub mod query;
pub mod rename;
pub mod schema;
pub mod status;
pub mod template;
pub mod validate;
pub mod value;
pub mod view;
pub mod zone;

pub use compile::{CompiledApp, CompiledEntity, CompiledField};
pub use def::{AppDef, EntityDef, FieldDef, FieldType, Label};
pub use error::{Error, ErrorCode, FieldError, Result};
pub use names::{Slug, StorageId};
pub use value::Val;
