//! Evaluations per second of a three-clause condition over a 20-field record, with the record's
//! conversion to script values (`record_map_for`, the fields the script reads) included in every evaluation, against a native
//! Rust closure doing the same check on the same typed values.
//!
//! `cargo bench -p trellis-rules --bench rules -- --noplot`; it runs on one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group};
use serde_json::json;
use trellis_core::{CompiledField, Val};
use trellis_rules::{RuleEngine, ScriptContext, UserInfo, record_map_for};

const CONDITION: &str = r#"record.amount > 5000 && record.phase == "won" && "vip" in record.tags"#;

fn field(name: &str, kind: &str, extra: serde_json::Value) -> CompiledField {
    let mut def = json!({"id": "abcdef123456", "name": name, "label": {"en": name}, "type": kind});
    if let (Some(d), serde_json::Value::Object(extra)) = (def.as_object_mut(), extra) {
        d.extend(extra);
    }
    CompiledField::compile(&serde_json::from_value(def).expect("field definition"))
}

/// A 20-field deal of mixed types, with values that make the condition true.
fn deal() -> Vec<(CompiledField, Val)> {
    let at = |s: &str| s.parse::<DateTime<Utc>>().expect("datetime");
    let day = |s: &str| s.parse().expect("date");
    vec![
        (field("title", "text", json!({})), Val::Text("Acme renewal 2026".into())),
        (
            field("description", "long_text", json!({})),
            Val::Text("Three-year renewal with the support add-on.".into()),
        ),
        (
            field("amount", "currency", json!({"scale": 2})),
            Val::Currency(1_250_000, "CNY".into()),
        ),
        (field("probability", "percent", json!({"scale": 1})), Val::Fixed(750)),
        (field("discount", "decimal", json!({"scale": 2})), Val::Fixed(1250)),
        (field("seats", "integer", json!({})), Val::Int(120)),
        (field("phase", "single_select", json!({})), Val::Text("won".into())),
        (
            field("tags", "multi_select", json!({})),
            Val::Json(json!(["renewal", "vip"])),
        ),
        (field("strategic", "boolean", json!({})), Val::Bool(true)),
        (field("close_date", "date", json!({})), Val::Date(day("2026-03-31"))),
        (field("first_contact", "date", json!({})), Val::Date(day("2025-11-02"))),
        (
            field("last_activity", "datetime", json!({})),
            Val::DateTime(at("2026-01-29T16:45:00Z")),
        ),
        (
            field("contact_email", "email", json!({})),
            Val::Text("buyer@acme.example".into()),
        ),
        (
            field("contact_phone", "phone", json!({})),
            Val::Text("+86 21 5555 0100".into()),
        ),
        (
            field("website", "url", json!({})),
            Val::Text("https://acme.example".into()),
        ),
        (
            field("account", "relation", json!({"target": "account"})),
            Val::Text("01890a5d-ac96-774b-bcce-b302099a8057".into()),
        ),
        (field("owner", "user", json!({})), Val::Text("u-42".into())),
        (
            field("number", "auto_number", json!({"format": "DL-{YYYY}-{00000}"})),
            Val::Text("DL-2026-00042".into()),
        ),
        (
            field("meta", "json", json!({})),
            Val::Json(json!({"source": "referral", "score": 8.5})),
        ),
        (field("lost_reason", "text", json!({})), Val::Null),
    ]
}

/// The same check written in Rust on the typed values (amount in minor units at scale 2).
fn native(amount: usize, phase: usize, tags: usize) -> impl Fn(&[(&CompiledField, &Val)]) -> bool {
    move |record| {
        matches!(record[amount].1, Val::Currency(minor, _) if *minor > 500_000)
            && matches!(record[phase].1, Val::Text(s) if s == "won")
            && matches!(record[tags].1, Val::Json(serde_json::Value::Array(a)) if a.iter().any(|t| t == "vip"))
    }
}

struct Setup {
    engine: RuleEngine,
    script: trellis_rules::CompiledScript,
    values: Vec<(CompiledField, Val)>,
    user: UserInfo,
    now: DateTime<Utc>,
}

impl Setup {
    fn new() -> Setup {
        let engine = RuleEngine::new();
        let script = engine.compile(CONDITION).expect("the condition compiles");
        Setup {
            engine,
            script,
            values: deal(),
            user: UserInfo {
                id: "u-42".into(),
                roles: vec!["member".into()],
                team: None,
            },
            now: "2026-01-30T09:30:00Z".parse().expect("now"),
        }
    }

    fn refs(&self) -> Vec<(&CompiledField, &Val)> {
        self.values.iter().map(|(f, v)| (f, v)).collect()
    }

    fn index(&self, name: &str) -> usize {
        self.values.iter().position(|(f, _)| f.name == name).expect("field")
    }

    /// One evaluation as the write path does it: convert the fields the script reads, then run it.
    fn eval(&self, record: &[(&CompiledField, &Val)]) -> bool {
        let ctx = ScriptContext::new(
            record_map_for(self.script.record_fields(), record),
            self.user.clone(),
            self.now,
        );
        self.engine.eval_bool(&self.script, &ctx).expect("the condition runs")
    }
}

fn bench(c: &mut Criterion) {
    let s = Setup::new();
    let record = s.refs();
    let check = native(s.index("amount"), s.index("phase"), s.index("tags"));
    assert!(
        s.eval(&record) && check(&record),
        "the sample record meets the condition"
    );

    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(1));
    group.bench_function("condition_20_fields_incl_conversion", |b| {
        b.iter(|| s.eval(black_box(&record)))
    });
    group.bench_function("native_closure", |b| b.iter(|| check(black_box(&record))));
    group.finish();
}

/// Evaluations per second of `f` over about `budget`.
fn rate(budget: Duration, mut f: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..256 {
            black_box(f());
        }
        n += 256;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn summary() {
    let s = Setup::new();
    let record = s.refs();
    let check = native(s.index("amount"), s.index("phase"), s.index("tags"));
    let budget = Duration::from_secs(1);
    let script = rate(budget, || s.eval(black_box(&record)));
    let native = rate(budget, || check(black_box(&record)));
    println!(
        "rules: condition over {} fields incl. conversion: {:.0} evals/s (native closure: {:.0} evals/s)",
        record.len(),
        script,
        native
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .sample_size(50);
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
