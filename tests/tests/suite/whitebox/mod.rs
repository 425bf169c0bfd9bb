//! White-box suites: tests that reach past HTTP into the node's engine, its store or raw SQL
//! (setup with no route, internals such as actions and timers, what the database holds), one
//! file per area. Anything that HTTP can show belongs in `blackbox`; `layout` keeps it there.

mod access;
mod actions;
mod directory;
mod files;
mod forecast;
mod permissions;
mod pipelines;
mod platform;
mod sessions;
mod timeliness;
mod writes;
