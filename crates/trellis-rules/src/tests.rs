use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use rhai::{Dynamic, Map};
use rust_decimal::Decimal;
use serde_json::json;
use trellis_core::{CompiledField, Val};

use crate::{
    CompileError, CompiledScript, Limits, RuleEngine, RuntimeError, RuntimeErrorKind, ScriptContext, UserInfo,
    add_business_days, business_days_between, record_map,
};

static ENGINE: LazyLock<RuleEngine> = LazyLock::new(RuleEngine::new);

fn now() -> DateTime<Utc> {
    "2026-01-30T09:30:00Z".parse().unwrap()
}

fn field(name: &str, kind: &str, extra: serde_json::Value) -> CompiledField {
    let mut def = json!({"id": "abcdef123456", "name": name, "label": {"en": name}, "type": kind});
    if let (Some(d), serde_json::Value::Object(extra)) = (def.as_object_mut(), extra) {
        d.extend(extra);
    }
    CompiledField::compile(&serde_json::from_value(def).unwrap())
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A record with one field of each kind.
fn sample_record() -> Map {
    let amount = field("amount", "currency", json!({"scale": 2}));
    let price = field("price", "decimal", json!({"scale": 2}));
    let rate = field("rate", "percent", json!({"scale": 1}));
    let qty = field("qty", "integer", json!({}));
    let name = field("name", "text", json!({}));
    let active = field("active", "boolean", json!({}));
    let due = field("due", "date", json!({}));
    let sent = field("sent_at", "datetime", json!({}));
    let tags = field("tags", "multi_select", json!({}));
    let meta = field("meta", "json", json!({}));
    let note = field("note", "long_text", json!({}));
    let values = [
        (&amount, Val::Currency(500_001, "CNY".into())),
        (&price, Val::Fixed(1999)),
        (&rate, Val::Fixed(125)),
        (&qty, Val::Int(3)),
        (&name, Val::Text("Ada".into())),
        (&active, Val::Bool(true)),
        (&due, Val::Date(date("2026-01-31"))),
        (&sent, Val::DateTime("2026-01-30T08:00:00Z".parse().unwrap())),
        (&tags, Val::Json(json!(["vip", "new"]))),
        (
            &meta,
            Val::Json(json!({"a": 1.5, "b": [1, 2], "big": 12345678901234567890u64, "c": null})),
        ),
        (&note, Val::Null),
    ];
    let refs: Vec<(&CompiledField, &Val)> = values.iter().map(|(f, v)| (*f, v)).collect();
    record_map(&refs)
}

fn ctx() -> ScriptContext {
    ScriptContext::new(
        sample_record(),
        UserInfo {
            id: "u1".into(),
            roles: vec!["sales".into(), "admin".into()],
            team: None,
        },
        now(),
    )
}

fn compile(src: &str) -> CompiledScript {
    ENGINE.compile(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn check(src: &str) -> bool {
    ENGINE
        .eval_bool(&compile(src), &ctx())
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn run_err(src: &str) -> RuntimeError {
    match ENGINE.eval(&compile(src), &ctx()) {
        Ok(v) => panic!("{src} gave {v}"),
        Err(e) => e,
    }
}

fn compile_err(src: &str) -> CompileError {
    match ENGINE.compile(src) {
        Ok(_) => panic!("{src} compiled"),
        Err(e) => e,
    }
}

// ---- Conversions -------------------------------------------------------------------------------

#[test]
fn an_amount_just_over_a_whole_threshold_compares_exactly() {
    assert!(check("record.amount > 5000"));
    assert!(check("record.amount == 5000.01"));
    assert!(check(
        "!(record.amount > 5000.01) && record.amount >= 5000.01 && 5000 < record.amount"
    ));
    assert!(check("record.amount - 5000 == 0.01"));
}

#[test]
fn decimal_literals_are_exact() {
    assert!(check("0.1 + 0.2 == 0.3"));
    assert!(check("1.10 == 1.1"));
    let v = ENGINE.eval(&compile("record.price * record.qty"), &ctx()).unwrap();
    assert_eq!(v.as_decimal().unwrap(), dec("59.97"));
}

#[test]
fn a_currency_field_is_its_amount_and_a_code_beside_it() {
    assert!(check("record.amount_currency == \"CNY\""));
    let v = ENGINE.eval(&compile("record.amount"), &ctx()).unwrap();
    assert_eq!(v.as_decimal().unwrap(), dec("5000.01"));
}

#[test]
fn a_field_named_like_the_currency_key_wins_over_it() {
    let amount = field("amount", "currency", json!({"scale": 2}));
    let other = field("amount_currency", "text", json!({}));
    let (a, b) = (Val::Currency(100, "EUR".into()), Val::Text("mine".into()));
    let m = record_map(&[(&amount, &a), (&other, &b)]);
    assert_eq!(m["amount_currency"].clone().into_string().unwrap(), "mine");
}

#[test]
fn percent_and_decimal_fields_keep_their_scale() {
    assert!(check("record.rate == 12.5 && record.price == 19.99"));
    assert!(check("record.rate * 2 == 25"));
}

#[test]
fn text_integer_and_boolean_fields_keep_their_types() {
    assert!(check(
        "record.name == \"Ada\" && record.qty == 3 && record.active == true"
    ));
    assert!(check(
        "type_of(record.qty) == \"i64\" && type_of(record.name) == \"string\""
    ));
}

#[test]
fn dates_and_datetimes_compare_and_expose_their_parts() {
    assert!(check("record.due > date(now) && record.due == date(\"2026-01-31\")"));
    assert!(check(
        "record.due.year == 2026 && record.due.month == 1 && record.due.day == 31"
    ));
    assert!(check("record.sent_at < now && record.sent_at.hour == 8"));
    assert!(check("type_of(record.due) == \"Date\" && type_of(now) == \"DateTime\""));
    assert!(check("record.due != () && `${record.due}` == \"2026-01-31\""));
}

#[test]
fn multi_select_values_are_arrays_of_strings() {
    assert!(check(
        "\"vip\" in record.tags && !(\"old\" in record.tags) && len(record.tags) == 2"
    ));
}

#[test]
fn json_fields_keep_exact_numbers_and_structure() {
    assert!(check(
        "record.meta.a == 1.5 && record.meta.b[1] == 2 && record.meta.c == ()"
    ));
    assert!(check("record.meta.big == 12345678901234567890"));
}

#[test]
fn an_empty_field_is_unit() {
    assert!(check("record.note == () && is_empty(record.note)"));
}

#[test]
fn old_is_unit_on_create_and_the_stored_values_on_update() {
    assert!(check("old == ()"));
    let mut c = ctx();
    let mut stored = sample_record();
    stored.insert("qty".into(), Dynamic::from(2_i64));
    c.old = Some(stored);
    assert!(
        ENGINE
            .eval_bool(&compile("old.qty == 2 && record.qty > old.qty"), &c)
            .unwrap()
    );
}

#[test]
fn user_exposes_id_roles_and_team() {
    assert!(check("user.id == \"u1\" && \"admin\" in user.roles && user.team == ()"));
    let mut c = ctx();
    c.user.team = Some("north".into());
    assert!(ENGINE.eval_bool(&compile("user.team == \"north\""), &c).unwrap());
}

#[test]
fn a_json_number_beyond_the_decimal_range_stays_text() {
    let v = crate::json_to_dynamic(&json!(1e300));
    assert!(v.is_string(), "{v:?}");
}

#[test]
fn scripts_cannot_change_record_old_user_or_now() {
    let e = run_err("record.qty = 5; true");
    assert_eq!(e.kind, RuntimeErrorKind::Other);
    assert!(e.message.contains("cannot be changed"), "{e}");
    let e = run_err("record.tags.push(\"x\"); true");
    assert!(e.message.contains("cannot be changed"), "{e}");
    assert!(check("let r = record; r.qty = 5; r.qty == 5 && record.qty == 3"));
}

#[test]
fn runs_on_one_thread_see_only_their_own_context() {
    // `eval` refills the variables of the previous run on the thread in place.
    let script = compile("if old == () { record.qty } else { old.qty * 100 + record.qty }");
    let with = |qty: i64, old: Option<i64>, user: &str| {
        let mut c = ctx();
        c.record.insert("qty".into(), Dynamic::from(qty));
        c.old = old.map(|q| {
            let mut m = sample_record();
            m.insert("qty".into(), Dynamic::from(q));
            m
        });
        c.user.id = user.into();
        c
    };
    for (qty, old, user) in [
        (1, None, "a"),
        (2, Some(7), "a"),
        (3, Some(8), "b"),
        (4, None, "b"),
        (5, None, "a"),
    ] {
        let c = with(qty, old, user);
        let want = old.map_or(qty, |o| o * 100 + qty);
        assert_eq!(ENGINE.eval(&script, &c).unwrap().as_int().unwrap(), want);
        assert!(
            ENGINE
                .eval_bool(&compile(&format!("user.id == \"{user}\"")), &c)
                .unwrap()
        );
    }
    // A script that captures a variable in a closure (making it shared) and one that fails do not
    // leave anything behind for the next run, and constants stay constant after refilling.
    assert!(check("let f = || record.qty + user.roles.len(); f.call() == 5"));
    assert!(check("let f = || record.qty; f.call() == 3"));
    let e = run_err("record.tags.push(\"x\"); true");
    assert!(e.message.contains("cannot be changed"), "{e}");
    let e = run_err("user.roles.push(\"admin\"); true");
    assert!(e.message.contains("cannot be changed"), "{e}");
    assert!(check(
        "record.tags.len() == 2 && user.roles.len() == 2 && related.len() == 0"
    ));
}

// ---- Host functions ----------------------------------------------------------------------------

const FUNCTIONS_MD: &str = include_str!("../FUNCTIONS.md");

fn documented_examples() -> Vec<&'static str> {
    FUNCTIONS_MD
        .split("```rhai\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim())
        .collect()
}

#[test]
fn every_documented_example_is_true() {
    let examples = documented_examples();
    assert!(examples.len() >= 25, "{}", examples.len());
    for src in examples {
        assert!(check(src), "{src}");
    }
}

#[test]
fn every_host_function_has_a_heading_and_one_example() {
    let names = [
        "date",
        "datetime",
        "add_minutes",
        "add_hours",
        "add_days",
        "minutes_between",
        "hours_between",
        "days_between",
        "business_days_between",
        "add_business_days",
        "trim",
        "contains",
        "starts_with",
        "ends_with",
        "lower",
        "upper",
        "len",
        "matches",
        "round",
        "min",
        "max",
        "abs",
        "is_empty",
    ];
    let sections: Vec<&str> = FUNCTIONS_MD.split("\n### ").skip(1).collect();
    for name in names {
        let section = sections
            .iter()
            .find(|s| s.starts_with(&format!("`{name}(")))
            .unwrap_or_else(|| panic!("{name} is not documented"));
        assert_eq!(section.matches("```rhai").count(), 1, "{name}");
    }
}

#[test]
fn business_days_skip_weekends_both_ways() {
    let fri = date("2026-01-30");
    let sat = date("2026-01-31");
    let sun = date("2026-02-01");
    let mon = date("2026-02-02");
    assert_eq!(business_days_between(fri, mon), 1);
    assert_eq!(business_days_between(mon, fri), -1);
    assert_eq!(business_days_between(fri, fri), 0);
    assert_eq!(business_days_between(sat, sun), 0);
    assert_eq!(business_days_between(fri, date("2026-02-13")), 10);
    assert_eq!(add_business_days(fri, 1).unwrap(), mon);
    assert_eq!(add_business_days(sat, 1).unwrap(), mon);
    assert_eq!(add_business_days(sun, -1).unwrap(), fri);
    assert_eq!(add_business_days(mon, -1).unwrap(), fri);
    assert_eq!(add_business_days(sat, 0).unwrap(), sat);
    // Adding then counting gives back n from any weekday, across years.
    let mut d = date("2025-12-29");
    for _ in 0..30 {
        for n in [-260, -7, -5, -1, 1, 4, 5, 6, 23, 261] {
            let t = add_business_days(d, n).unwrap();
            assert_eq!(business_days_between(d, t), n, "{d} {n}");
        }
        d = add_business_days(d, 1).unwrap();
    }
}

#[test]
fn date_arithmetic_out_of_range_is_a_runtime_error() {
    let e = run_err("add_days(now, 9223372036854775807)");
    assert_eq!(e.kind, RuntimeErrorKind::Other);
    assert!(e.message.contains("out of range"), "{e}");
    let e = run_err("add_business_days(date(now), 9223372036854775807)");
    assert!(e.message.contains("out of range"), "{e}");
}

#[test]
fn date_functions_refuse_other_types_with_a_clear_message() {
    let e = run_err("add_hours(\"2026-01-30\", 1)");
    assert_eq!(e.kind, RuntimeErrorKind::TypeMismatch);
    assert!(e.message.contains("Date or DateTime"), "{e}");
    let e = run_err("date(\"31/01/2026\")");
    assert!(e.message.contains("is not a date like 2026-01-31"), "{e}");
    assert_eq!(e.line, Some(1));
}

#[test]
fn mixed_dates_and_datetimes_measure_from_midnight() {
    assert!(check(
        "minutes_between(date(now), now) == 570 && add_days(now, 1) > now"
    ));
}

#[test]
fn a_bad_regex_is_a_runtime_error() {
    let e = run_err("matches(\"x\", \"(\")");
    assert_eq!(e.kind, RuntimeErrorKind::Other);
    assert!(e.message.starts_with("matches: invalid pattern"), "{e}");
}

#[test]
fn a_long_or_huge_regex_is_refused() {
    let long = "a".repeat(201);
    let e = run_err(&format!("matches(\"x\", \"{long}\")"));
    assert!(e.message.contains("longer than 200"), "{e}");
    let e = run_err("matches(\"x\", \"\\\\w{100}\\\\w{100}\")");
    assert!(e.message.contains("too complex"), "{e}");
}

#[test]
fn regexes_are_cached_and_the_cache_stays_bounded() {
    for i in 0..300 {
        assert!(check(&format!("matches(\"a{i}\", \"^a{i}$\")")));
    }
    assert!(check("matches(\"a5\", \"^a5$\")"));
}

#[test]
fn round_rounds_halves_away_from_zero_and_refuses_bad_digits() {
    assert!(check("round(2.5) == 3 && round(2.675, 2) == 2.68 && round(7, 2) == 7"));
    let e = run_err("round(1.5, -1)");
    assert!(e.message.contains("digits"), "{e}");
}

#[test]
fn text_functions_also_work_as_methods() {
    assert!(check("record.name.upper() == \"ADA\" && \"  x \".trim().len() == 1"));
}

// ---- Compile errors ----------------------------------------------------------------------------

#[test]
fn a_compile_error_on_line_two_reports_line_and_column() {
    let e = compile_err("let a = 1;\nlet = 2;\na");
    assert_eq!((e.line, e.column), (2, 5), "{e}");
    let e = compile_err("let total = record.qty *\n    (record.price +);");
    assert_eq!(e.line, 2, "{e}");
    assert!(!e.message.is_empty());
}

#[test]
fn an_unknown_variable_is_a_compile_error_with_its_position() {
    let e = compile_err("let a = 1;\na + amount > 5");
    assert_eq!((e.line, e.column), (2, 5), "{e}");
    assert!(e.message.contains("unknown variable 'amount'"), "{e}");
}

#[test]
fn an_empty_or_too_long_script_is_refused() {
    assert_eq!(compile_err("  \n ").message, "the script is empty");
    let e = compile_err(&"1 + ".repeat(10_000));
    assert!(e.message.contains("too long"), "{e}");
    assert_eq!((e.line, e.column), (0, 0));
}

#[test]
fn a_script_may_declare_variables_and_functions() {
    assert!(check("let x = record.qty * 2;\nfn twice(n) { n * 2 }\ntwice(x) == 12"));
}

#[test]
fn a_non_boolean_result_is_a_type_error_for_eval_bool() {
    let e = ENGINE.eval_bool(&compile("record.amount"), &ctx()).unwrap_err();
    assert_eq!(e.kind, RuntimeErrorKind::TypeMismatch);
    assert_eq!(
        e.message,
        "the script must end with true or false, but it gave a decimal (5000.01)"
    );
    let e = ENGINE.eval_bool(&compile("let x = 1;"), &ctx()).unwrap_err();
    assert!(e.message.contains("an empty value"), "{e}");
}

// ---- Runtime errors ----------------------------------------------------------------------------

#[test]
fn division_by_zero_is_its_own_kind() {
    let e = run_err("record.qty / 0");
    assert_eq!(e.kind, RuntimeErrorKind::DivisionByZero);
    assert_eq!(e.message, "division by zero");
    let e = run_err("let x = 0;\nrecord.amount / x");
    assert_eq!(e.kind, RuntimeErrorKind::DivisionByZero);
    assert_eq!(e.line, Some(2));
}

#[test]
fn comparing_incompatible_types_is_a_type_error() {
    let e = run_err("record.amount > \"5000\"");
    assert_eq!(e.kind, RuntimeErrorKind::TypeMismatch);
    assert_eq!(e.message, "'>' cannot compare a number with a text");
    let e = run_err("record.due < now");
    assert_eq!(e.kind, RuntimeErrorKind::TypeMismatch, "{e}");
    assert_eq!(e.message, "'<' cannot compare a Date with a DateTime");
    let e = run_err("record.due == now");
    assert!(e.message.contains("use date(x)"), "{e}");
    let e = run_err("record.qty <= true");
    assert_eq!(e.kind, RuntimeErrorKind::TypeMismatch, "{e}");
    // An empty field compares false, and numbers of both kinds compare by value.
    assert!(check("!(record.note > 5) && !(record.note < 5) && record.note != 5"));
    assert!(check("record.qty < record.price && 3 == 3.0"));
}

#[test]
fn in_on_an_array_finds_a_text_only_among_texts() {
    assert!(check(
        r#""x" in [(), 1, 2.5, true, "x"] && !("1" in [1, 1.0]) && !("x" in [])"#
    ));
    assert!(check(
        r#""a" in ['a'] && !("ab" in ['a']) && !("a" in [["a"], #{a: 1}])"#
    ));
    assert!(check(r#"let t = ["v"]; let f = || t; "v" in f.call() && "v" in t"#));
    // Other values still go through `==`, strictly.
    assert!(check("2 in [1, 2.0] && !(3 in [1, \"3\"])"));
    let e = run_err("record.due in [now]");
    assert!(e.message.contains("use date(x)"), "{e}");
}

#[test]
fn throw_gives_the_scripts_own_message() {
    let e = run_err("if record.qty > 2 { throw \"at most 2 items\" } true");
    assert_eq!(e.kind, RuntimeErrorKind::Other);
    assert_eq!(e.message, "at most 2 items");
}

#[test]
fn print_and_debug_go_nowhere() {
    assert!(check("print(\"hello\"); debug(record); true"));
}

// ---- Hostile scripts ---------------------------------------------------------------------------

/// Runs a script that must fail, within a generous time bound.
/// The default limits with the wall-clock guard far away, so the limit a hostile script is meant
/// to meet (operations, sizes, depth) is what stops it however busy the machine is. The guard
/// has a test of its own (`the_wall_clock_guard_stops_a_run_without_an_operation_limit`).
static HOSTILE: LazyLock<RuleEngine> = LazyLock::new(|| {
    RuleEngine::with_limits(Limits {
        timeout: Duration::from_secs(120),
        ..Limits::default()
    })
});

fn hostile(src: &str) -> RuntimeError {
    let start = Instant::now();
    let r = HOSTILE.compile(src).map(|s| HOSTILE.eval(&s, &ctx()));
    eprintln!("{:>12?}  {src}", start.elapsed());
    match r {
        Ok(Ok(v)) => panic!("{src} gave {v}"),
        Ok(Err(e)) => e,
        Err(e) => panic!("{src} did not compile: {e}"),
    }
}

fn hostile_compile(src: &str) -> CompileError {
    match ENGINE.compile(src) {
        Ok(_) => panic!("{src} compiled"),
        Err(e) => e,
    }
}

#[test]
fn ranges_loop_and_count() {
    assert!(check("let n = 0; for i in 0..5 { n += i; } n == 10"));
    assert!(check("let n = 0; for i in 1..=record.qty { n += 1; } n == record.qty"));
    assert!(check(
        "let s = []; for i in range(0, 10, 3) { s.push(i); } s == [0, 3, 6, 9]"
    ));
    assert!(check("(0..4).contains(2) && !(0..4).contains(4)"));
}

#[test]
fn a_long_range_stops_at_the_operation_limit() {
    let e = hostile("let n = 0; for i in 0..1000000000 { n += 1; } n");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    assert_eq!(e.message, "the script did too much work (more than 200000 operations)");
}

#[test]
fn an_endless_loop_stops_at_the_operation_limit() {
    for src in ["loop {}", "while true {}", "let i = 0; while i >= 0 { i += 1; }"] {
        let e = hostile(src);
        assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded, "{src}");
        assert_eq!(e.message, "the script did too much work (more than 200000 operations)");
    }
}

#[test]
fn exponential_string_growth_stops_at_the_size_limit() {
    let e = hostile("let s = \"x\"; loop { s += s; }");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    assert_eq!(e.message, "the script built a text longer than 100000 bytes");
}

#[test]
fn endless_recursion_stops_at_the_call_depth_limit() {
    let e = hostile("fn f(n) { f(n + 1) } f(0)");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    assert!(e.message.contains("too deeply"), "{e}");
    let e = hostile("fn f(n) { f(n + 1) + f(n + 1) } f(0)");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
}

#[test]
fn a_growing_array_stops_at_the_size_limit() {
    let e = hostile("let a = []; loop { a.push(1); }");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    assert_eq!(e.message, "the script built a list with more than 10000 items");
    let e = hostile("let a = []; a.pad(1000000000, \"x\"); true");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    let e = hostile("let a = [\"xxxxxxxxxx\"]; loop { a += a; }");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
}

#[test]
fn a_map_with_a_hundred_thousand_keys_stops_at_the_size_limit() {
    let e = hostile("let m = #{}; let i = 0; while i < 100000 { m[`k${i}`] = i; i += 1; } m.len()");
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    // With more operations allowed, the map size limit is what stops it.
    let engine = RuleEngine::with_limits(Limits {
        max_operations: 10_000_000,
        timeout: Duration::from_secs(60),
        ..Limits::default()
    });
    let src = "let m = #{}; let i = 0; while i < 100000 { m[`k${i}`] = i; i += 1; } m.len()";
    let e = engine.eval(&engine.compile(src).unwrap(), &ctx()).unwrap_err();
    assert_eq!(e.message, "the script built a map with more than 10000 keys");
}

#[test]
fn a_deeply_nested_expression_is_refused_at_compile() {
    let src = format!("{}1{}", "(".repeat(1000), ")".repeat(1000));
    let e = hostile_compile(&src);
    assert_eq!(e.message, "the expression is nested too deeply");
    let src = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
    hostile_compile(&src);
}

#[test]
fn import_and_eval_are_refused_at_compile() {
    for (src, word) in [
        ("import \"/etc/passwd\" as p; true", "import"),
        ("eval(\"1+1\")", "eval"),
        ("export const x = 1;", "export"),
    ] {
        let e = hostile_compile(src);
        assert_eq!(e.message, format!("'{word}' is not allowed in rules"), "{src}");
        assert_eq!(e.line, 1);
    }
}

#[test]
fn eval_cannot_be_reached_through_a_function_pointer() {
    let e = hostile("let f = Fn(\"ev\" + \"al\"); f.call(\"1+1\")");
    assert_ne!(e.kind, RuntimeErrorKind::LimitExceeded, "{e}");
    let e = hostile("call(Fn(\"sleep\"), 10)");
    assert_ne!(e.kind, RuntimeErrorKind::LimitExceeded, "{e}");
}

#[test]
fn files_environment_and_processes_are_unknown_functions() {
    for src in [
        "open(\"/etc/passwd\")",
        "read_file(\"/etc/passwd\")",
        "env(\"HOME\")",
        "system(\"ls\")",
        "sleep(10)",
        "\"/etc/passwd\".open()",
    ] {
        let e = hostile(src);
        assert_eq!(e.kind, RuntimeErrorKind::UnknownFunction, "{src}: {e}");
        assert!(e.message.starts_with("there is no function '"), "{e}");
    }
}

#[test]
fn the_wall_clock_guard_stops_a_run_without_an_operation_limit() {
    let engine = RuleEngine::with_limits(Limits {
        max_operations: 0,
        timeout: Duration::from_millis(200),
        ..Limits::default()
    });
    let e = engine.eval(&engine.compile("loop {}").unwrap(), &ctx()).unwrap_err();
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    assert_eq!(e.message, "the script ran too long (more than 200 ms)");
    // The guard is per run: the next one starts with a fresh deadline.
    assert!(engine.eval_bool(&engine.compile("true").unwrap(), &ctx()).unwrap());
}

#[test]
fn too_many_variables_or_functions_are_refused() {
    let lets: String = (0..150).map(|i| format!("let v{i} = {i};\n")).collect();
    let e = hostile(&format!("{lets}true"));
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
    let fns: String = (0..20).map(|i| format!("fn f{i}() {{ {i} }}\n")).collect();
    let e = hostile_compile(&format!("{fns}true"));
    assert!(e.message.contains("too many functions"), "{e}");
}

// ---- Sharing -----------------------------------------------------------------------------------

#[test]
fn the_engine_and_compiled_scripts_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleEngine>();
    assert_send_sync::<CompiledScript>();
    assert_send_sync::<ScriptContext>();
}

#[test]
fn eight_threads_evaluating_at_once_all_get_their_own_results() {
    let engine = Arc::new(RuleEngine::new());
    let script = engine
        .compile("if record.qty > 100 { throw \"too many\" } record.price * record.qty + len(user.id)")
        .unwrap();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (engine, script) = (engine.clone(), script.clone());
            std::thread::spawn(move || {
                for i in 0..=100_i64 {
                    let mut c = ctx();
                    c.record.insert("qty".into(), Dynamic::from(i));
                    c.user.id = "x".repeat(t);
                    let v = engine.eval(&script, &c).unwrap();
                    let want = dec("19.99") * Decimal::from(i) + Decimal::from(t as i64);
                    assert_eq!(v.as_decimal().unwrap(), want);
                    if t == 7 && i % 20 == 0 {
                        // A hostile run on one thread does not disturb the others.
                        let e = engine.eval(&engine.compile("loop {}").unwrap(), &c).unwrap_err();
                        assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn runtime_messages_name_types_plainly_and_do_not_repeat_the_position() {
    let e = run_err("record.qty + 1;\nrecord.amount + \"x\" + now");
    assert_eq!(e.message, "'+' cannot be used on (decimal, text)");
    assert_eq!((e.line, e.column), (Some(2), Some(15)));
    assert_eq!(
        e.to_string(),
        "'+' cannot be used on (decimal, text) (line 2, column 15)"
    );
    let e = run_err("call(Fn(\"sleep\"), 10)");
    assert_eq!(e.message, "there is no function 'sleep' that takes (integer)");
    let e = run_err("9223372036854775807 + 1");
    assert!(e.message.starts_with("arithmetic error: Addition overflow"), "{e}");
    assert!(!e.message.contains("line"), "{e}");
}

#[test]
fn eval_built_at_runtime_is_still_refused() {
    let e = run_err("let f = Fn(\"ev\" + \"al\"); f.call(\"1+1\")");
    assert!(e.message.contains("'eval' is a reserved keyword"), "{e}");
}

#[test]
fn the_deepest_allowed_nesting_fits_half_a_worker_thread_stack() {
    // Every call level as deep as expressions inside functions may nest, on 1 MiB (workers have 2 MiB).
    let nested = |k: usize| {
        format!(
            "fn f(n) {{ if n <= 0 {{ 0 }} else {{ {}1 + f(n - 1){}{} }} }}\nf(100)",
            "[".repeat(k),
            "]".repeat(k),
            "[0]".repeat(k)
        )
    };
    let k = (1..40)
        .take_while(|k| ENGINE.compile(&nested(*k)).is_ok())
        .last()
        .unwrap();
    assert!(k >= 4, "{k}");
    let src = nested(k);
    let top = |k: usize| format!("{}record.qty{} > 0", "(".repeat(k), ")".repeat(k));
    let j = (1..200)
        .take_while(|j| ENGINE.compile(&top(*j)).is_ok())
        .last()
        .unwrap();
    let (deep_calls, deep_expr) = (compile(&src), compile(&top(j)));
    let (e, ok) = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let e = ENGINE.eval(&deep_calls, &ctx()).unwrap_err();
            (e, ENGINE.eval_bool(&deep_expr, &ctx()).unwrap())
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(e.kind, RuntimeErrorKind::LimitExceeded, "{e}");
    assert!(ok);
}

/// Extreme numbers cross into scripts exactly and out of script arithmetic as errors, never a
/// panic: fields at any scale, integers at both ends of 64 bits, JSON numbers past them.
mod number_properties {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;

    static SCRIPTS: LazyLock<Vec<CompiledScript>> = LazyLock::new(|| {
        [
            "record.x * 1000000000000000000",
            "record.x + record.x",
            "record.x * record.x * record.x",
            "round(record.x, 2)",
            "abs(record.x)",
            "-record.x",
            "record.x / 0.0000001",
            "record.q + 1",
            "record.q * record.q",
            "abs(record.q)",
            "-record.q",
            "record.q * record.x",
            "related.n * 10",
        ]
        .iter()
        .map(|s| ENGINE.compile(s).unwrap())
        .collect()
    });

    fn minor_units() -> impl Strategy<Value = i64> {
        prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), any::<i64>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn extreme_values_cross_exactly_and_script_arithmetic_never_panics(
            minor in minor_units(),
            q in minor_units(),
            scale in 0u8..=6,
            huge in prop_oneof![Just("99999999999999999999999999999".to_string()), Just("1e300".to_string()),
                                Just("-9223372036854775809".to_string()), Just("18446744073709551615".to_string()),
                                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| f.to_string())],
        ) {
            let x = field("x", "decimal", json!({"scale": scale}));
            let qf = field("q", "integer", json!({}));
            let (xv, qv) = (Val::Fixed(minor), Val::Int(q));
            let d = crate::to_dynamic(&x, &xv).as_decimal().unwrap();
            prop_assert_eq!(d, Decimal::new(minor, u32::from(scale)));
            let mut ctx = ScriptContext::new(record_map(&[(&x, &xv), (&qf, &qv)]), UserInfo::default(), now());
            let n: serde_json::Value = serde_json::from_str(&huge).unwrap();
            ctx.related.insert("n".into(), crate::json_to_dynamic(&n));
            for script in SCRIPTS.iter() {
                let _ = ENGINE.eval(script, &ctx);
            }
        }
    }
}
