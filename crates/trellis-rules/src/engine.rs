//! The one hardened engine: built once from `Engine::new_raw()` with the chosen packages, every
//! limit set, no eval, no modules, no I/O. Scripts are compiled once and run from their AST.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicIteratorPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage,
    LogicPackage, Package,
};
use rhai::{
    AST, Caches, Dynamic, Engine, EvalAltResult, Map, OptimizationLevel, ParseError, ParseErrorType, Position, Scope,
};

use chrono::{DateTime, Utc};

use crate::convert::{ScriptContext, UserInfo};
use crate::functions::{self, RegexCache, friendly_type};

/// The variables every script has.
pub const SCRIPT_VARIABLES: [&str; 5] = ["record", "old", "user", "now", "related"];

/// What one script run may use. [`Limits::default`] is what Trellis runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Longest source accepted at compile, in bytes.
    pub max_source_len: usize,
    /// Operations (statements, expressions, calls, loop iterations) per run.
    pub max_operations: u64,
    /// Nested calls of functions the script defines.
    pub max_call_levels: usize,
    /// Nesting of expressions at the top level and inside functions.
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    /// Bytes of text in one value (strings inside arrays and maps add up).
    pub max_string_size: usize,
    /// Items in arrays, keys in maps (nested ones add up).
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Variables alive at once, and functions a script may define.
    pub max_variables: usize,
    pub max_functions: usize,
    /// Wall-clock time of one run (a second guard behind `max_operations`), counted from its
    /// 512th operation: shorter runs never read the clock.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_source_len: 20_000,
            max_operations: 200_000,
            max_call_levels: 8,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 100_000,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 100,
            max_functions: 16,
            timeout: Duration::from_secs(1),
        }
    }
}

/// A script that does not compile: where and why. Line and column count from 1; both are 0 when
/// the error concerns the whole script (empty or too long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for CompileError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeErrorKind {
    /// A limit of [`Limits`] was hit (operations, time, call depth, data size, variables).
    LimitExceeded,
    /// A value of the wrong type (for an operator, a function, a property, or as the result).
    TypeMismatch,
    DivisionByZero,
    /// A function that does not exist, or none that takes these argument types.
    UnknownFunction,
    /// Anything else: `throw`, a host function refusing its input, overflow, an index out of bounds.
    Other,
}

/// A script that failed while running. The message is meant for the person who wrote the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeError {
    pub kind: RuntimeErrorKind,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            (Some(l), None) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// A compiled script, cheap to clone and share between threads.
#[derive(Debug, Clone)]
pub struct CompiledScript {
    ast: Arc<AST>,
    /// The fields the script reads as `record.<name>`/`old.<name>`; `None` when it needs them all.
    reads: Option<Arc<[String]>>,
    /// Which function each call of this script resolved to, kept between runs (a run that finds
    /// it in use starts from an empty one). Per script: it depends on the functions the script
    /// defines.
    caches: Arc<Mutex<Caches>>,
    /// Whether the text names the `user` variable (the roles and team of the writer are read
    /// from the database only for scripts that do).
    user: bool,
}

impl CompiledScript {
    /// Whether the script may read `user` (a conservative reading of its text: a mention in a
    /// string or comment counts).
    pub fn reads_user(&self) -> bool {
        self.user
    }

    /// The record fields this script reads (`None`: all of them). Converting only these is what
    /// makes a run cheap on wide records; see [`crate::record_map_for`].
    pub fn record_fields(&self) -> Option<&[String]> {
        self.reads.as_deref()
    }
}

/// The field names a script reads as `record.<name>` or `old.<name>` (both maps are built
/// from the same fields), or `None` when either is used otherwise — as a whole, by index, or
/// with a method call — and every field is needed. A conservative reading of the text: a
/// mention inside a string or comment only adds a name. `old` compared with `()` needs no field.
fn record_reads(source: &str) -> Option<Arc<[String]>> {
    let mut names: Vec<String> = Vec::new();
    let bytes = source.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for var in ["record", "old"] {
        let mut at = 0;
        while let Some(i) = source[at..].find(var) {
            let start = at + i;
            let end = start + var.len();
            at = end;
            if start > 0 && (ident(bytes[start - 1]) || bytes[start - 1] == b'.')
                || bytes.get(end).is_some_and(|b| ident(*b))
            {
                continue; // part of another name (`records`, `x.record`, `older`)
            }
            if bytes.get(end) != Some(&b'.') {
                let rest = source[end..].trim_start();
                if var == "old" && (rest.starts_with("==") || rest.starts_with("!=")) {
                    continue;
                }
                return None;
            }
            let name: String = source[end + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let after = source[end + 1 + name.len()..].trim_start();
            if name.is_empty() || after.starts_with('(') {
                return None;
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Some(names.into())
}

/// Whether `name` occurs in `source` as a whole identifier (not `users`, `x.user`, `_user`).
fn mentions(source: &str, name: &str) -> bool {
    let bytes = source.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    source.match_indices(name).any(|(start, _)| {
        let end = start + name.len();
        !(start > 0 && (ident(bytes[start - 1]) || bytes[start - 1] == b'.'))
            && !bytes.get(end).is_some_and(|b| ident(*b))
    })
}

/// The variables of one write (`record`, `old`, `user`, `now`, `related`), prepared once for
/// running several scripts on them ([`RuleEngine::prepare`]).
pub struct PreparedScope(Scope<'static>);

/// The shared, immutable script engine. Build it once and share it (`Arc` or `&`).
pub struct RuleEngine {
    engine: Engine,
    limits: Limits,
}

impl fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleEngine").field("limits", &self.limits).finish()
    }
}

impl Default for RuleEngine {
    fn default() -> RuleEngine {
        RuleEngine::new()
    }
}

/// The wall-clock guard of the run on this thread.
#[derive(Clone, Copy)]
enum Deadline {
    /// No run (or a run of another engine that set none).
    Off,
    /// A run that has not yet done 512 operations: the clock starts then, so that short runs
    /// (nearly all of them) never read it.
    After(Duration),
    At(Instant),
}

// Per thread, not per engine: the state of the one run a thread does at a time. `REUSED` is a
// scratch buffer, not a cache: every variable is refilled from the run's context (the user
// only when it differs by value), so a run never reads what another engine or tenant left.
thread_local! {
    /// When the run on this thread must stop; checked from the progress callback.
    static DEADLINE: Cell<Deadline> = const { Cell::new(Deadline::Off) };
    /// The variables of the last [`RuleEngine::eval`] on this thread, refilled in place for the
    /// next one instead of being built again.
    static REUSED: RefCell<Option<Reused>> = const { RefCell::new(None) };
}

/// Sets the deadline for the run on this thread and clears it when dropped.
struct DeadlineGuard(Deadline);

impl DeadlineGuard {
    fn set(timeout: Duration) -> DeadlineGuard {
        DeadlineGuard(DEADLINE.with(|d| d.replace(Deadline::After(timeout))))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.0));
    }
}

/// Every 512 operations: whether the run on this thread is past its deadline.
fn past_deadline() -> bool {
    DEADLINE.with(|d| match d.get() {
        Deadline::Off => false,
        Deadline::After(timeout) => {
            d.set(Deadline::At(Instant::now() + timeout));
            false
        }
        Deadline::At(t) => Instant::now() > t,
    })
}

/// A [`PreparedScope`] kept for the next run on the same thread, with the user it was made for.
struct Reused {
    vars: PreparedScope,
    user: UserInfo,
}

impl PreparedScope {
    /// Whether the variables can be refilled in place for `ctx`: the five of them, none shared
    /// (a closure captured it), each of the kind `ctx` gives.
    fn fits(&self, ctx: &ScriptContext) -> bool {
        let s = &self.0;
        s.len() == SCRIPT_VARIABLES.len()
            && s.iter_raw().all(|(_, _, v)| !v.is_shared())
            && ["record", "user", "related"]
                .iter()
                .all(|n| s.get(n).is_some_and(Dynamic::is_map))
            && s.get("now").is_some_and(|v| v.is::<DateTime<Utc>>())
            && s.get("old")
                .is_some_and(|v| if ctx.old.is_some() { v.is_map() } else { v.is_unit() })
    }

    fn map(&mut self, name: &str) -> &mut Map {
        self.0.get_value_mut::<Map>(name).expect("checked by `fits`")
    }

    /// Sets a map variable to a copy of `from`, constant down to its last item as
    /// `push_constant` makes it (so that `record.tags.push(x)` stays refused).
    fn fill(&mut self, name: &str, from: &Map) {
        let m = self.map(name);
        m.clone_from(from);
        for v in m.values_mut() {
            *v = std::mem::take(v).into_read_only();
        }
    }
}

const TIMEOUT_TOKEN: &str = "trellis:timeout";

impl RuleEngine {
    pub fn new() -> RuleEngine {
        RuleEngine::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> RuleEngine {
        let mut engine = Engine::new_raw();
        for package in [
            ArithmeticPackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicStringPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            // Ranges (`0..n`, `range(a, b, step)`) and iterating them; bounded by the operation limit.
            BasicIteratorPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
        ] {
            engine.register_global_module(package);
        }
        functions::register(&mut engine, Arc::new(RegexCache::default()));

        engine
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_levels)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_max_variables(limits.max_variables)
            .set_max_functions(limits.max_functions)
            .set_max_modules(0)
            .set_module_resolver(DummyModuleResolver::new())
            .set_strict_variables(true)
            .set_optimization_level(OptimizationLevel::Simple)
            // Registered operators first, so that comparing a number with a text can be an error.
            .set_fast_operators(false)
            .on_print(|_| {})
            .on_debug(|_, _, _| {})
            .on_progress(|ops| {
                if ops % 512 == 0 && past_deadline() {
                    Some(Dynamic::from(TIMEOUT_TOKEN))
                } else {
                    None
                }
            });
        for symbol in ["eval", "import", "export"] {
            engine.disable_symbol(symbol);
        }
        RuleEngine { engine, limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles a script (an expression or a few statements whose last value is the result).
    /// Only `record`, `old`, `user` and `now` and the script's own `let` variables may be used.
    pub fn compile(&self, source: &str) -> Result<CompiledScript, CompileError> {
        let whole = |message: String| CompileError {
            line: 0,
            column: 0,
            message,
        };
        if source.len() > self.limits.max_source_len {
            return Err(whole(format!(
                "the script is too long (more than {} characters)",
                self.limits.max_source_len
            )));
        }
        if source.trim().is_empty() {
            return Err(whole("the script is empty".to_string()));
        }
        // Plain variables, not constants: the optimizer would fold constants' values into the AST.
        let mut scope = Scope::new();
        for name in SCRIPT_VARIABLES {
            scope.push(name, Dynamic::UNIT);
        }
        let ast = self
            .engine
            .compile_with_scope(&scope, source)
            .map_err(|e| self.compile_error(e))?;
        Ok(CompiledScript {
            ast: Arc::new(ast),
            reads: record_reads(source),
            caches: Arc::new(Mutex::new(Caches::new())),
            user: mentions(source, "user"),
        })
    }

    /// The variables of a context, ready for running several scripts on them.
    pub fn prepare(&self, ctx: &ScriptContext) -> PreparedScope {
        let mut scope = Scope::new();
        scope
            // `from_map`: `Dynamic::from` would rebuild the map key by key.
            .push_constant("record", Dynamic::from_map(ctx.record.clone()))
            .push_constant("old", ctx.old.clone().map_or(Dynamic::UNIT, Dynamic::from_map))
            .push_constant("user", Dynamic::from_map(ctx.user.to_map()))
            .push_constant("now", ctx.now)
            .push_constant("related", Dynamic::from_map(ctx.related.clone()));
        PreparedScope(scope)
    }

    /// Runs a script and returns its value.
    pub fn eval(&self, script: &CompiledScript, ctx: &ScriptContext) -> Result<Dynamic, RuntimeError> {
        REUSED.with(|cell| {
            let Ok(mut reused) = cell.try_borrow_mut() else {
                return self.eval_in(script, &mut self.prepare(ctx));
            };
            let vars = self.refill(&mut reused, ctx);
            let result = self.eval_in(script, vars);
            // Keep no copy of the record's values until the next run.
            if vars.fits(ctx) {
                for name in ["record", "related"] {
                    vars.map(name).clear();
                }
                if ctx.old.is_some() {
                    vars.map("old").clear();
                }
            } else {
                *reused = None;
            }
            result
        })
    }

    /// The variables of the last run on this thread with `ctx`'s values, or new ones.
    fn refill<'a>(&self, reused: &'a mut Option<Reused>, ctx: &ScriptContext) -> &'a mut PreparedScope {
        if !reused.as_ref().is_some_and(|r| r.vars.fits(ctx)) {
            let vars = self.prepare(ctx);
            return &mut reused
                .insert(Reused {
                    vars,
                    user: ctx.user.clone(),
                })
                .vars;
        }
        let r = reused.as_mut().expect("checked above");
        let vars = &mut r.vars;
        vars.fill("record", &ctx.record);
        vars.fill("related", &ctx.related);
        if let Some(old) = &ctx.old {
            vars.fill("old", old);
        }
        *vars.0.get_value_mut::<DateTime<Utc>>("now").expect("checked by `fits`") = ctx.now;
        // The same writer for many runs: its map is built once.
        if r.user != ctx.user {
            vars.fill("user", &ctx.user.to_map());
            r.user.clone_from(&ctx.user);
        }
        vars
    }

    /// Runs a script on prepared variables; what the script declares is dropped after it, so
    /// the next script sees the same variables.
    pub fn eval_in(&self, script: &CompiledScript, scope: &mut PreparedScope) -> Result<Dynamic, RuntimeError> {
        let len = scope.0.len();
        let _deadline = DeadlineGuard::set(self.limits.timeout);
        // What `Engine::eval_ast_with_scope` does (the AST has no source and no modules), with
        // the script's function-resolution cache instead of an empty one.
        let mut global = self.engine.new_global_runtime_state();
        global.lib.push(script.ast.shared_lib().clone());
        let mut fresh = Caches::new();
        let mut kept = script.caches.try_lock();
        let caches = kept.as_deref_mut().unwrap_or(&mut fresh);
        #[allow(deprecated)] // the same call as `eval_ast_with_scope`, kept under `internals`
        let result = self
            .engine
            .eval_statements_raw(&mut global, caches, &mut scope.0, script.ast.statements())
            .map_err(|e| self.runtime_error(*e));
        scope.0.rewind(len);
        result
    }

    /// Runs a script that must end with `true` or `false` (a condition or validation rule).
    pub fn eval_bool(&self, script: &CompiledScript, ctx: &ScriptContext) -> Result<bool, RuntimeError> {
        self.eval(script, ctx).and_then(as_bool)
    }

    /// [`Self::eval_bool`] on prepared variables.
    pub fn eval_bool_in(&self, script: &CompiledScript, scope: &mut PreparedScope) -> Result<bool, RuntimeError> {
        self.eval_in(script, scope).and_then(as_bool)
    }

    fn compile_error(&self, e: ParseError) -> CompileError {
        let ParseError(kind, pos) = e;
        let message = match *kind {
            ParseErrorType::VariableUndefined(name) => format!(
                "unknown variable '{name}' (scripts can use record, old, user, now and variables declared with let)"
            ),
            ParseErrorType::ExprTooDeep => "the expression is nested too deeply".to_string(),
            ParseErrorType::TooManyFunctions => {
                format!(
                    "the script defines too many functions (at most {})",
                    self.limits.max_functions
                )
            }
            ParseErrorType::Reserved(s) if ["eval", "import", "export"].contains(&s.as_str()) => {
                format!("'{s}' is not allowed in rules")
            }
            ParseErrorType::BadInput(rhai::LexError::ImproperSymbol(s, _))
                if ["eval", "import", "export"].contains(&s.as_str()) =>
            {
                format!("'{s}' is not allowed in rules")
            }
            other => other.to_string(),
        };
        CompileError {
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            message,
        }
    }

    fn runtime_error(&self, e: EvalAltResult) -> RuntimeError {
        use EvalAltResult as E;
        use RuntimeErrorKind as K;
        // An error inside a function the script defines: report the innermost cause.
        let mut e = e;
        let mut outer = Position::NONE;
        while let E::ErrorInFunctionCall(_, _, inner, pos) = e {
            if outer.is_none() {
                outer = pos;
            }
            e = *inner;
        }
        let pos = if e.position().is_none() { outer } else { e.position() };
        // The position is reported apart; Rhai's messages would repeat it.
        e.clear_position();
        let l = &self.limits;
        let (kind, message) = match &e {
            E::ErrorTooManyOperations(_) => (
                K::LimitExceeded,
                format!(
                    "the script did too much work (more than {} operations)",
                    l.max_operations
                ),
            ),
            E::ErrorTerminated(token, _) if token.clone().into_string().is_ok_and(|t| t == TIMEOUT_TOKEN) => (
                K::LimitExceeded,
                format!("the script ran too long (more than {} ms)", l.timeout.as_millis()),
            ),
            E::ErrorStackOverflow(_) => (
                K::LimitExceeded,
                format!(
                    "the script's functions call each other too deeply (more than {} levels)",
                    l.max_call_levels
                ),
            ),
            E::ErrorTooManyVariables(_) => (
                K::LimitExceeded,
                format!("the script uses too many variables (more than {})", l.max_variables),
            ),
            E::ErrorDataTooLarge(what, _) => {
                let message = if what.contains("string") {
                    format!("the script built a text longer than {} bytes", l.max_string_size)
                } else if what.contains("array") {
                    format!("the script built a list with more than {} items", l.max_array_size)
                } else {
                    format!("the script built a map with more than {} keys", l.max_map_size)
                };
                (K::LimitExceeded, message)
            }
            E::ErrorArithmetic(msg, _) if msg.to_lowercase().contains("division by zero") => {
                (K::DivisionByZero, "division by zero".to_string())
            }
            E::ErrorArithmetic(msg, _) => (K::Other, format!("arithmetic error: {msg}")),
            E::ErrorFunctionNotFound(sig, _) => function_not_found(sig),
            E::ErrorMismatchDataType(message, actual, _) if actual.is_empty() => (K::TypeMismatch, message.clone()),
            E::ErrorMismatchDataType(..)
            | E::ErrorMismatchOutputType(..)
            | E::ErrorIndexingType(..)
            | E::ErrorFor(..)
            | E::ErrorDotExpr(..)
            | E::ErrorPropertyNotFound(..) => (K::TypeMismatch, friendly_names(&e.to_string())),
            E::ErrorAssignmentToConstant(name, _) | E::ErrorNonPureMethodCallOnConstant(name, _) => (
                K::Other,
                format!("record, old, user and now cannot be changed by a script ({name})"),
            ),
            E::ErrorTooManyModules(_) | E::ErrorModuleNotFound(..) | E::ErrorInModule(..) => {
                (K::Other, "modules cannot be used in rules".to_string())
            }
            E::ErrorRuntime(v, _) => (K::Other, v.to_string()),
            other => (K::Other, friendly_names(&other.to_string())),
        };
        RuntimeError {
            kind,
            message,
            line: pos.line(),
            column: pos.position(),
        }
    }
}

/// The value of a condition or rule: `true` or `false`, anything else is an error.
fn as_bool(v: Dynamic) -> Result<bool, RuntimeError> {
    v.as_bool().map_err(|_| RuntimeError {
        kind: RuntimeErrorKind::TypeMismatch,
        message: format!(
            "the script must end with true or false, but it gave {} ({})",
            a_type(&v),
            preview(&v)
        ),
        line: None,
        column: None,
    })
}

/// Rhai's signature of a missing function, `name (type, type)`, as a message.
fn function_not_found(sig: &str) -> (RuntimeErrorKind, String) {
    let (name, args) = sig.split_once(" (").unwrap_or((sig, ")"));
    let args = friendly_names(args.trim_end_matches(')'));
    if name.chars().any(|c| c.is_alphanumeric() || c == '_') {
        (
            RuntimeErrorKind::UnknownFunction,
            format!("there is no function '{name}' that takes ({args})"),
        )
    } else {
        (
            RuntimeErrorKind::TypeMismatch,
            format!("'{name}' cannot be used on ({args})"),
        )
    }
}

/// Rhai's type names as the messages name types.
fn friendly_names(s: &str) -> String {
    s.replace("&str | ImmutableString | String", "text")
        .replace("ImmutableString", "text")
        .replace("i64", "integer")
        .replace("rust_decimal::Decimal", "decimal")
}

fn a_type(v: &Dynamic) -> String {
    let t = friendly_type(v);
    match t.as_bytes()[0] {
        b'a' | b'e' | b'i' | b'o' => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

fn preview(v: &Dynamic) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod reads_tests {
    use super::record_reads;

    #[test]
    fn record_reads_names_the_fields_or_asks_for_all() {
        let r = record_reads(r#"record.amount > 5 && "vip" in record.tags && records_x == record.amount"#);
        assert_eq!(r.as_deref(), Some(&["amount".to_string(), "tags".to_string()][..]));
        assert_eq!(record_reads("record[\"amount\"] > 1"), None);
        assert_eq!(record_reads("is_empty(record)"), None);
        assert_eq!(
            record_reads("old != () && old.amount > 1").as_deref(),
            Some(&["amount".to_string()][..])
        );
        assert_eq!(
            record_reads("record.title.len() > 1").as_deref(),
            Some(&["title".to_string()][..])
        );
        assert_eq!(record_reads("record.len() > 1"), None);
    }
}
