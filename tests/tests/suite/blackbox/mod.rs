//! Black-box suites: a real node on a fresh database, driven over HTTP.

mod automation;
mod directory;
mod files;
mod parts;
mod permissions;
mod pipelines;
mod platform;
mod probe_access;
mod probe_concurrency;
mod probe_hidden;
mod probe_http;
mod probe_numbers;
mod probe_platform;
mod probe_relations;
mod probe_sessions;
mod records;
mod request_ids;
mod rules;
mod scaleout;
mod smoke;
mod templates;
