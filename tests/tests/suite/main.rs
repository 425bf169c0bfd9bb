//! Trellis's integration tests, one binary: `blackbox` drives real nodes over HTTP only (on
//! SQLite and PostgreSQL); `whitebox` reaches into the engine or the database itself, for what
//! has no HTTP route (action internals, raw SQL checks of what was stored); `layout` keeps the
//! black-box files to HTTP.

mod blackbox;
mod layout;
mod whitebox;
