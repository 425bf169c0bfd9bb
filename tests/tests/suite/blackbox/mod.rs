//! Black-box suites: a real node on a fresh database, driven over HTTP.

mod aggregate;
mod automation;
mod comments;
pub(crate) mod directory;
mod export;
pub(crate) mod files;
pub(crate) mod forecast;
mod funnel;
mod parts;
pub(crate) mod permissions;
pub(crate) mod pipelines;
mod platform;
pub(crate) mod probe_access;
mod probe_concurrency;
mod probe_hidden;
mod probe_http;
mod probe_numbers;
mod probe_platform;
mod probe_relations;
pub(crate) mod probe_sessions;
mod records;
mod request_ids;
mod rules;
mod scaleout;
mod smoke;
mod templates;
