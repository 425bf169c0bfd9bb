pub mod apps;
pub mod auth;
pub mod docs;
pub mod files;
pub mod records;
pub mod ui;
