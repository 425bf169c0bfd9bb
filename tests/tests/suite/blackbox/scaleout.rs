//! Two nodes on one PostgreSQL: SLA timers and cron ticks fire once, and every event's
//! actions run exactly once, whichever node takes them.

use std::time::Duration;

use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, spawn};

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
