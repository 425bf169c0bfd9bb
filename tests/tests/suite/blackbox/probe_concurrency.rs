//! Concurrency, as an outside probe found it wanting: the failed-login limit under a flood of
//! simultaneous attempts, and concurrent writes that move records between rollup parents (no
//! deadlock, no 412 without `If-Match`, rollups equal to a recount afterwards), on SQLite and
//! PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Method;
use tokio::task::JoinSet;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

on_both!(
    concurrent_wrong_passwords_cannot_pass_the_account_limit,
    concurrent_failures_from_one_address_cannot_pass_its_limit,
    concurrent_moves_between_rollup_parents_keep_rollups_exact,
);

// ---------------------------------------------------------------------------------------------
// Login limits
// ---------------------------------------------------------------------------------------------

async fn login(app: &TestApp, email: &str, password: &str) -> Resp {
    app.call_as(
        None,
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// Sends a login for each e-mail at once; answers the statuses, asserting that each refusal
/// is a `rate_limited` with `Retry-After`.
async fn login_flood(app: &Arc<TestApp>, emails: Vec<String>) -> HashMap<u16, usize> {
    let mut set = JoinSet::new();
    for email in emails {
        let app = app.clone();
        set.spawn(async move { login(&app, &email, "not-the-password").await });
    }
    let mut statuses = HashMap::new();
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        let status = r.status.as_u16();
        match status {
            401 => {
                r.expect_problem(401, "unauthenticated");
            }
            429 => {
                let r = r.expect_problem(429, "rate_limited");
                let wait: i64 = r.headers["retry-after"]
                    .to_str()
                    .expect("ascii")
                    .parse()
                    .expect("seconds");
                assert!((1..=900).contains(&wait), "{wait}");
            }
            s => panic!("unexpected answer {s}: {}", r.text),
        }
        *statuses.entry(status).or_default() += 1;
    }
    statuses
}

async fn concurrent_wrong_passwords_cannot_pass_the_account_limit(b: Backend) {
    let app = spawn(b).await;
    app.post(
        "/api/v1/users",
        json!({"email": "victim@example.com", "name": "victim", "password": "password-123"}),
    )
    .await
    .expect(201);
    let app = Arc::new(app);
    let statuses = login_flood(&app, vec!["victim@example.com".to_string(); 60]).await;
    // The limit is 10 failures per account: the password was checked at most 10 times.
    assert_eq!(statuses.get(&401).copied().unwrap_or(0), 10, "{statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 50, "{statuses:?}");
    // Locked: the right password is refused too, without a check.
    login(&app, "victim@example.com", "password-123")
        .await
        .expect_problem(429, "rate_limited");
    // The address is not locked by one account's failures.
    app.login(trellis_tests::ADMIN_EMAIL, trellis_tests::ADMIN_PASSWORD)
        .await;
}

async fn concurrent_failures_from_one_address_cannot_pass_its_limit(b: Backend) {
    let app = Arc::new(spawn(b).await);
    // 70 different e-mails (none over its own limit) from one address, all at once.
    let emails = (0..70).map(|i| format!("nobody{i}@example.com")).collect();
    let statuses = login_flood(&app, emails).await;
    assert_eq!(statuses.get(&401).copied().unwrap_or(0), 50, "{statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 20, "{statuses:?}");
    // The address is locked now, also for a right password.
    login(&app, trellis_tests::ADMIN_EMAIL, trellis_tests::ADMIN_PASSWORD)
        .await
        .expect_problem(429, "rate_limited");
}

// ---------------------------------------------------------------------------------------------
// Concurrent writes under rollups
// ---------------------------------------------------------------------------------------------

const ORGS: &str = "/api/v1/data/hr/org";
const ITEMS: &str = "/api/v1/data/hr/item";

/// Organisations with rollups over the items that point at them: a count, a sum and a
/// filtered count.
fn rollup_app() -> Value {
    json!({"name": "hr", "label": {"en": "HR"}, "entities": [
        {"name": "org", "label": {"en": "Org"}, "fields": [
            {"name": "name", "label": {"en": "Name"}, "type": "text"},
            {"name": "n", "label": {"en": "Items"}, "type": "integer",
             "rollup": {"from": "item", "via": "org", "fn": "count"}},
            {"name": "total", "label": {"en": "Total"}, "type": "integer",
             "rollup": {"from": "item", "via": "org", "fn": "sum", "field": "amount"}},
            {"name": "big", "label": {"en": "Big items"}, "type": "integer",
             "rollup": {"from": "item", "via": "org", "fn": "count",
                        "filter": {"field": "amount", "op": "gte", "value": 50}}}
        ]},
        {"name": "item", "label": {"en": "Item"}, "fields": [
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer"},
            {"name": "org", "label": {"en": "Org"}, "type": "relation", "target": "org"}
        ]}
    ]})
}

/// A small deterministic generator (no shared state between tasks).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// What one writer did: the answers that were not the expected success.
async fn writer(app: Arc<TestApp>, seed: u64, orgs: Vec<String>, items: Vec<String>, ops: usize) -> Vec<String> {
    let mut rng = Lcg(seed);
    let mut bad = Vec::new();
    let mut own: Vec<String> = Vec::new();
    for _ in 0..ops {
        let org = &orgs[rng.below(orgs.len())];
        let amount = rng.below(100);
        let r = match rng.below(10) {
            // Creates and deletes of the writer's own items.
            0 => {
                let r = app.post(ITEMS, json!({"amount": amount, "org": org})).await;
                if r.status == 201 {
                    own.push(id(&r.body));
                }
                (r, 201)
            }
            1 if !own.is_empty() => {
                let gone = own.swap_remove(rng.below(own.len()));
                (app.delete(&format!("{ITEMS}/{gone}")).await, 204)
            }
            // Moves of shared items, without If-Match: never a 412.
            _ => {
                let item = &items[rng.below(items.len())];
                let body = if rng.below(3) == 0 {
                    json!({"org": org})
                } else {
                    json!({"org": org, "amount": amount})
                };
                (app.patch(&format!("{ITEMS}/{item}"), body).await, 200)
            }
        };
        let (r, want) = r;
        if r.status.as_u16() != want {
            bad.push(format!("{} {}", r.status, r.text));
        }
    }
    bad
}

async fn concurrent_moves_between_rollup_parents_keep_rollups_exact(b: Backend) {
    let app = spawn(b).await;
    app.create_app(rollup_app()).await;
    let mut orgs = Vec::new();
    for name in ["a", "b", "c"] {
        orgs.push(id(&app.create("hr", "org", json!({"name": name})).await));
    }
    let mut items = Vec::new();
    for i in 0..40 {
        let org = &orgs[i % orgs.len()];
        items.push(id(&app.create("hr", "item", json!({"amount": i, "org": org})).await));
    }
    let app = Arc::new(app);
    let mut set = JoinSet::new();
    for seed in 0..8u64 {
        set.spawn(writer(app.clone(), seed + 1, orgs.clone(), items.clone(), 40));
    }
    let mut bad = Vec::new();
    while let Some(r) = set.join_next().await {
        bad.extend(r.expect("writer"));
    }
    assert!(bad.is_empty(), "{} unexpected answers: {bad:#?}", bad.len());
    // Every rollup equals its aggregate recounted from the items.
    let all = app.get(&format!("{ITEMS}?limit=500")).await.expect(200).body;
    let mut want: HashMap<String, (i64, i64, i64)> = orgs.iter().map(|o| (o.clone(), (0, 0, 0))).collect();
    for it in all["data"].as_array().expect("items") {
        let e = want.get_mut(it["org"].as_str().expect("org")).expect("a known org");
        let amount = it["amount"].as_i64().expect("amount");
        e.0 += 1;
        e.1 += amount;
        e.2 += i64::from(amount >= 50);
    }
    for o in &orgs {
        let got = app.get(&format!("{ORGS}/{o}")).await.expect(200).body;
        let got = (
            got["n"].as_i64().expect("n"),
            got["total"].as_i64().expect("total"),
            got["big"].as_i64().expect("big"),
        );
        assert_eq!(got, want[o], "rollups of org {o} (count, sum, filtered count)");
    }
}

on_both!(concurrent_bulks_locking_parents_in_opposite_orders_all_succeed);

/// Bulks that each change one item of org `a` and one of org `b`, half of them in the order
/// (a, b) and half (b, a): their rollup parents are locked in opposite orders, which deadlocks
/// on PostgreSQL; the engine runs the aborted transaction again, and the client never sees it.
async fn concurrent_bulks_locking_parents_in_opposite_orders_all_succeed(b: Backend) {
    let app = spawn(b).await;
    app.create_app(rollup_app()).await;
    let a = id(&app.create("hr", "org", json!({"name": "a"})).await);
    let bo = id(&app.create("hr", "org", json!({"name": "b"})).await);
    let mut pairs = Vec::new();
    for i in 0..6 {
        let x = id(&app.create("hr", "item", json!({"amount": i, "org": a})).await);
        let y = id(&app.create("hr", "item", json!({"amount": i, "org": bo})).await);
        pairs.push((x, y));
    }
    let app = Arc::new(app);
    let mut set = JoinSet::new();
    for (t, (x, y)) in pairs.into_iter().enumerate() {
        let app = app.clone();
        set.spawn(async move {
            let mut bad = Vec::new();
            for round in 0..6 {
                let (first, second) = if t % 2 == 0 { (&x, &y) } else { (&y, &x) };
                let body = json!({"update": [
                    {"id": first, "amount": round * 10 + t},
                    {"id": second, "amount": round * 10 + t + 1}
                ]});
                let r = app.post(&format!("{ITEMS}/bulk"), body).await;
                if r.status != 200 {
                    bad.push(format!("{} {}", r.status, r.text));
                }
            }
            bad
        });
    }
    let mut bad = Vec::new();
    while let Some(r) = set.join_next().await {
        bad.extend(r.expect("bulk writer"));
    }
    assert!(bad.is_empty(), "{} unexpected answers: {bad:#?}", bad.len());
    let all = app.get(&format!("{ITEMS}?limit=500")).await.expect(200).body;
    for o in [&a, &bo] {
        let total: i64 = all["data"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|it| it["org"].as_str() == Some(o.as_str()))
            .map(|it| it["amount"].as_i64().expect("amount"))
            .sum();
        let got = app.get(&format!("{ORGS}/{o}")).await.expect(200).body;
        assert_eq!(
            (got["n"].as_i64(), got["total"].as_i64()),
            (Some(6), Some(total)),
            "org {o}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrent team moves
// ---------------------------------------------------------------------------------------------

on_both!(concurrent_opposite_team_moves_cannot_make_a_cycle);

/// Pairs of top teams a and b, each pair moved at once a below b and b below a: each move
/// alone is fine, both together make a cycle. The moves of a tenant's teams run one after the
/// other, so one of each pair is refused like a direct cycle (409) and the tree, as GET /teams
/// answers it, has no team below itself.
async fn concurrent_opposite_team_moves_cannot_make_a_cycle(b: Backend) {
    let app = Arc::new(spawn(b).await);
    let mut answers = Vec::new();
    for batch in 0..8 {
        let mut set = JoinSet::new();
        for pair in 0..5 {
            let mut ids = Vec::new();
            for side in ["a", "b"] {
                let t = app
                    .post("/api/v1/teams", json!({"name": format!("{side}{batch}-{pair}")}))
                    .await
                    .expect(201)
                    .body;
                ids.push(id(&t));
            }
            let (x, y) = (ids[0].clone(), ids[1].clone());
            for (team, parent) in [(x.clone(), y.clone()), (y, x)] {
                let app = app.clone();
                set.spawn(async move {
                    let r = app
                        .patch(&format!("/api/v1/teams/{team}"), json!({"parent": parent}))
                        .await;
                    (team, r)
                });
            }
        }
        while let Some(r) = set.join_next().await {
            answers.push(r.expect("move"));
        }
    }
    // No team is below itself.
    let list = app.get("/api/v1/teams").await.expect(200).body;
    let parents: HashMap<String, Option<String>> = list["data"]
        .as_array()
        .expect("teams")
        .iter()
        .map(|t| (id(t), t["parent"].as_str().map(str::to_string)))
        .collect();
    let cycles: Vec<&String> = parents
        .keys()
        .filter(|start| {
            let mut at = parents[*start].clone();
            for _ in 0..=parents.len() {
                match at {
                    None => return false,
                    Some(p) if p == **start => return true,
                    Some(p) => at = parents.get(&p).cloned().flatten(),
                }
            }
            true
        })
        .collect();
    assert!(cycles.is_empty(), "teams below themselves: {cycles:?}");
    // Of each pair one move passed and the other was refused as a cycle.
    let passed = answers.iter().filter(|(_, r)| r.status == 200).count();
    for (team, r) in &answers {
        match r.status.as_u16() {
            200 => {}
            409 => assert_eq!(r.code(), "conflict", "{team}: {}", r.text),
            s => panic!("{team}: unexpected answer {s}: {}", r.text),
        }
    }
    assert_eq!(passed, answers.len() / 2, "one move of each pair passes");
}
