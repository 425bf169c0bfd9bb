pub mod apps;
pub mod audit;
pub mod auth;
pub mod automation;
pub mod comments;
pub mod dashboards;
pub mod directory;
pub mod docs;
pub mod export;
pub mod files;
pub mod imports;
pub mod packages;
pub mod parts;
pub mod pipelines;
pub mod records;
pub mod reports;
pub mod teams;
pub mod ui;

use serde::Serialize;
use utoipa::ToSchema;

/// A list answer: `{"data": [...]}` (room for paging fields beside `data` later).
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
}

impl<T: ToSchema> List<T> {
    pub fn of(data: Vec<T>) -> List<T> {
        List { data }
    }
}
