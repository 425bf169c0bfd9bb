//! An app's definition as requests use it: parsed, checked, its scripts compiled once per
//! version and kept per node in the registry.

pub mod registry;
pub mod scripts;
