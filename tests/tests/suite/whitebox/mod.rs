//! White-box suites: the engine's internals and the stored rows, for what HTTP cannot show.

mod actions;
mod writes;
