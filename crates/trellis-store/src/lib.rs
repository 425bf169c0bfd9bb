//! Persistence of Trellis on SQLite or PostgreSQL through sea-orm: system tables and their
//! migrations, the DDL of entity tables, and the record queries of the write and read paths.

pub mod aggregate;
pub mod approvals;
pub mod audit;
pub mod comments;
pub mod db;
pub mod ddl;
pub mod directory;
pub mod error;
pub mod events;
pub mod files;
pub mod forecast;
pub mod funnel;
pub mod imports;
pub mod jobs;
mod json_rows;
pub mod migrate;
pub mod notifications;
pub mod packages;
pub mod personal_views;
pub mod preferences;
pub mod records;
mod rows;
pub mod security;
pub mod settings;
pub mod stages;
pub mod system;
pub mod teams;
pub mod timeliness;
pub mod timers;
pub mod values;
pub mod writer;

pub use db::Db;
pub use error::StoreError;
pub use sea_orm;
pub use writer::{Reads, WriteTx, Writes};
