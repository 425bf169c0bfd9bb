pub mod apps;
pub mod auth;
pub mod directory;
pub mod docs;
pub mod files;
pub mod pipelines;
pub mod records;
pub mod ui;
