//! The one hardened Rhai engine of Trellis, for validation rules, formulas and conditions.
//!
//! ```
//! use trellis_rules::{RuleEngine, ScriptContext, UserInfo};
//!
//! let engine = RuleEngine::new(); // build once, share everywhere
//! let script = engine.compile("record.amount > 5000 && \"vip\" in record.tags").unwrap();
//! let mut record = rhai::Map::new();
//! record.insert("amount".into(), rhai::Dynamic::from_decimal("5000.01".parse().unwrap()));
//! record.insert("tags".into(), vec![rhai::Dynamic::from("vip")].into());
//! let ctx = ScriptContext::new(record, UserInfo::default(), chrono::Utc::now());
//! assert!(engine.eval_bool(&script, &ctx).unwrap());
//! ```
//!
//! The engine starts from `Engine::new_raw()` with only Rhai's arithmetic, logic, basic string,
//! array, map and math packages, plus the host functions of `FUNCTIONS.md`. Every limit is set
//! ([`Limits`]), `eval`, `import` and `export` are disabled, modules resolve to nothing,
//! `print`/`debug` go nowhere, and nothing can reach files, the network, the environment or
//! processes. Numbers with a decimal point are exact decimals (the crate builds Rhai with
//! `decimal` and `no_float`), so `0.1 + 0.2 == 0.3`.

mod convert;
mod engine;
mod functions;

pub use convert::{CURRENCY_SUFFIX, ScriptContext, UserInfo, json_to_dynamic, record_map, record_map_for, to_dynamic};
pub use engine::{
    CompileError, CompiledScript, Limits, PreparedScope, RuleEngine, RuntimeError, RuntimeErrorKind, SCRIPT_VARIABLES,
};
pub use functions::{MAX_PATTERN_LEN, REGEX_SIZE_LIMIT, add_business_days, business_days_between};
pub use rhai::{Dynamic, Map};

#[cfg(test)]
mod tests;
