//! Persistence of Trellis on SQLite or PostgreSQL through sea-orm: system tables and their
//! migrations, the DDL of entity tables, and the record queries of the write and read paths.

pub mod db;
pub mod ddl;
pub mod error;
pub mod files;
pub mod migrate;
pub mod records;
pub mod system;
pub mod values;

pub use db::Db;
pub use error::StoreError;
pub use sea_orm;
