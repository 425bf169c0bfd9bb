//! Two nodes on one PostgreSQL: SLA timers and cron ticks fire once, and every event's
//! actions run exactly once, whichever node takes them. Nodes in one process keep caches of
//! their own: they see each other's changes only through the database, and two nodes on two
//! databases never read each other's cached teams, roles or grants.

use std::time::Duration;

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, spawn, spawn_with};

fn app_def() -> Value {
    json!({
        "name": "ops", "label": {"en": "Ops"},
        "entities": [
            {"name": "ticket", "label": {"en": "Ticket"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true}
            ], "pipeline": {
                "stages": [{"key": "open", "label": {"en": "Open"}, "sla": {"seconds": 1}},
                           {"key": "closed", "label": {"en": "Closed"}}],
                "transitions": [{"from": ["open"], "to": "closed"}]
            }},
            {"name": "log", "label": {"en": "Log"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "ticket", "label": {"en": "Ticket"}, "type": "relation", "target": "ticket"}
            ]}
        ],
        "rules": [
            {"name": "log_each", "trigger": {"type": "record_created", "entity": "ticket"},
             "actions": [{"type": "create_record", "entity": "log", "values": {"title": "new {{record.title}}", "ticket": "{{record.id}}"}}]},
            {"name": "log_breach", "trigger": {"type": "sla_breached", "entity": "ticket"},
             "actions": [{"type": "create_record", "entity": "log", "values": {"title": "late {{record.title}}", "ticket": "{{record.id}}"}}]},
            {"name": "tick", "trigger": {"type": "cron", "schedule": "* * * * * *"},
             "actions": [{"type": "create_record", "entity": "log", "values": {"title": "tick {{event.due_at}}"}}]}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres_do_every_piece_of_work_once() {
    let a = spawn(Backend::Postgres).await;
    a.create_app(app_def()).await;
    let b = a.peer().await;
    // Writes land on both nodes; both dispatch, sweep and run jobs.
    let mut ids = Vec::new();
    for i in 0..200 {
        let node = if i % 2 == 0 { &a } else { &b };
        ids.push(
            node.create("ops", "ticket", json!({"title": format!("T{i}")})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let count = |prefix: &'static str, v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["title"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    for _ in 0..120 {
        let logs = a.get("/api/v1/data/ops/log?limit=1000").await.body;
        if count("new ", &logs) >= 200 && count("late ", &logs) >= 200 && count("tick ", &logs) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Stop the ticks before counting, then count everything once more.
    a.patch("/api/v1/apps/ops/rules/tick", json!({"enabled": false}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let logs = a.get("/api/v1/data/ops/log?limit=1000").await.body;
    assert_eq!(count("new ", &logs), 200, "every creation logged exactly once");
    assert_eq!(count("late ", &logs), 200, "every SLA breach logged exactly once");
    let mut ticks: Vec<&str> = logs["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["title"].as_str().filter(|t| t.starts_with("tick ")))
        .collect();
    let n = ticks.len();
    ticks.sort();
    ticks.dedup();
    assert!(n >= 3, "the cron rule fired {n} times");
    assert_eq!(ticks.len(), n, "a tick fired on both nodes");
    // Each ticket has one breach event in its history.
    let h = b.get(&format!("/api/v1/data/ops/ticket/{}/history", ids[7])).await.body;
    assert_eq!(
        h["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "sla_breached")
            .count(),
        1
    );
    drop(b);
}

// ---------------------------------------------------------------------------------------------
// Caches per node
// ---------------------------------------------------------------------------------------------

/// Cases an agent reads in their team's scope (the members of their teams own them).
fn desk() -> Value {
    json!({
        "name": "desk", "label": {"en": "Desk"},
        "entities": [
            {"name": "case", "label": {"en": "Case"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "note", "label": {"en": "Note"}, "type": "text"}
            ]}
        ],
        "roles": [agent(false)]
    })
}

/// The agent role, with the case's note hidden from it or not.
fn agent(note_hidden: bool) -> Value {
    let mut case = json!({"read": true, "scope": "team"});
    if note_hidden {
        case["fields"] = json!({"note": "hidden"});
    }
    json!({"name": "agent", "label": {"en": "Agent"}, "permissions": {"case": case}})
}

/// An hour: a node keeps what it read for the whole test.
const LONG: Duration = Duration::from_secs(3600);

/// The desk of [`desk_world`].
struct Desk {
    /// Alice's token: an agent in team `t`.
    alice: String,
    /// Bob's id: an agent in no team.
    bob: String,
    /// Carol's id and token: no role.
    carol: (String, String),
    /// Team `t`.
    team: String,
    /// The case alice owns and the case bob owns.
    ca: String,
    cb: String,
}

/// The desk with team `t` = {alice}, agents alice and bob, carol without a role, and a case
/// owned by each of alice and bob.
async fn desk_world(node: &TestApp) -> Desk {
    node.create_app(desk()).await;
    let (alice, alice_token) = node.user("desk", "alice", Some("agent")).await;
    let (bob, _) = node.user("desk", "bob", Some("agent")).await;
    let carol = node.user("desk", "carol", None).await;
    let team = node.post("/api/v1/teams", json!({"name": "t"})).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_string();
    node.post(&format!("/api/v1/teams/{team}/members"), json!({"user": alice}))
        .await
        .expect(200);
    let case = |owner: String| json!({"title": "case", "note": "n", "owner": owner});
    let ca = node.create("desk", "case", case(alice)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cb = node.create("desk", "case", case(bob.clone())).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Desk {
        alice: alice_token,
        bob,
        carol,
        team,
        ca,
        cb,
    }
}

async fn cases(node: &TestApp, token: &str) -> Resp {
    node.call_as(Some(token), Method::GET, "/api/v1/data/desk/case", None)
        .await
}

/// The ids of the cases a user reads, sorted.
async fn case_ids(node: &TestApp, token: &str) -> Vec<String> {
    let r = cases(node, token).await.expect(200);
    let mut ids: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Node A caches alice's team and carol's lack of a role; node B changes both in the
/// database. B answers the change at once, A keeps what it read (the two share no memory: B
/// forgetting its cache does not reach A's), and node C, which keeps teams and roles a short
/// while, answers the change once its entries expire and it reads the database again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_on_one_postgres_see_each_others_team_and_role_changes_only_through_the_database() {
    let a = spawn_with(Backend::Postgres, |s| s.cache_ttl = LONG).await;
    let Desk {
        alice,
        bob,
        carol: (carol_id, carol),
        team,
        ca,
        cb,
    } = desk_world(&a).await;
    let b = a.peer().await;
    let c = a.peer_with(|s| s.cache_ttl = Duration::from_millis(300)).await;
    for node in [&a, &c] {
        assert_eq!(case_ids(node, &alice).await, vec![ca.clone()]);
        cases(node, &carol).await.expect_problem(403, "permission_denied");
    }
    b.post(&format!("/api/v1/teams/{team}/members"), json!({"user": bob}))
        .await
        .expect(200);
    b.post("/api/v1/apps/desk/roles/agent/members", json!({"user": carol_id}))
        .await
        .expect(200);
    let both = sorted(vec![ca.clone(), cb.clone()]);
    assert_eq!(case_ids(&b, &alice).await, both);
    assert_eq!(case_ids(&b, &carol).await, Vec::<String>::new());
    // A read the tree and the roles before, and keeps them for its TTL.
    assert_eq!(
        case_ids(&a, &alice).await,
        vec![ca.clone()],
        "node A read node B's cache"
    );
    cases(&a, &carol).await.expect_problem(403, "permission_denied");
    // C reads the database again once its entries expire.
    let mut seen = false;
    for _ in 0..200 {
        if case_ids(&c, &alice).await == both && cases(&c, &carol).await.status == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "node C never read the change from the database");
}

/// Two nodes on two SQLite databases, the second a copy of the first (a restored backup: the
/// same tenant, app, team and user ids), changed apart. Each answers from its own database,
/// however it was warmed: with caches shared by the process (keyed by those ids), node 1 read
/// node 2's teams, roles and compiled grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_on_two_sqlite_databases_with_the_same_names_keep_their_own_caches() {
    let n1 = spawn_with(Backend::Sqlite, |s| s.cache_ttl = LONG).await;
    let Desk {
        alice,
        bob,
        carol: (carol_id, carol),
        team,
        ca,
        cb,
    } = desk_world(&n1).await;
    assert_eq!(case_ids(&n1, &alice).await, vec![ca.clone()]);
    let n2 = n1.sqlite_copy_with(|s| s.cache_ttl = LONG).await;
    // Node 1 hides the note from agents; node 2 relabels the app. Both are at version 2.
    let v1 = n1
        .patch("/api/v1/apps/desk", json!({"roles": [agent(true)]}))
        .await
        .expect(200)
        .body["version"]
        .clone();
    let v2 = n2
        .patch("/api/v1/apps/desk", json!({"label": {"en": "Help desk"}}))
        .await
        .expect(200)
        .body["version"]
        .clone();
    assert_eq!(v1, v2, "{v1} {v2}");
    // Node 2 puts bob in alice's team and gives carol the agent role.
    n2.post(&format!("/api/v1/teams/{team}/members"), json!({"user": bob}))
        .await
        .expect(200);
    n2.post("/api/v1/apps/desk/roles/agent/members", json!({"user": carol_id}))
        .await
        .expect(200);
    // Node 2 answers from its database first, then node 1 from its own.
    let on2 = cases(&n2, &alice).await.expect(200).body;
    let mut ids: Vec<String> = on2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, sorted(vec![ca.clone(), cb.clone()]));
    assert!(
        on2["data"].as_array().unwrap().iter().all(|c| c["note"] == "n"),
        "{on2}"
    );
    cases(&n2, &carol).await.expect(200);
    let on1 = cases(&n1, &alice).await.expect(200).body;
    let ids: Vec<&str> = on1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![ca.as_str()], "node 1 read node 2's team tree: {on1}");
    assert!(
        on1["data"][0].get("note").is_none(),
        "node 1 used node 2's grant: {on1}"
    );
    cases(&n1, &carol).await.expect_problem(403, "permission_denied");
    // And node 2 still answers from its own.
    assert!(cases(&n2, &alice).await.expect(200).body["data"][0]["note"] == "n");
}
