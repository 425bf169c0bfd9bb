//! Automation over HTTP: rules start on committed changes, run their actions as durable jobs,
//! show every run, never retrigger themselves, stop deep chains, fire on time (relative and
//! cron) across restarts, take inbound webhooks and manual runs, and dry-run without effects.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

fn crm(rules: Value) -> Value {
    json!({
        "name": "crm", "label": {"zh": "客户", "en": "CRM"},
        "roles": [{"name": "finance", "label": {"zh": "财务", "en": "Finance"}}],
        "entities": [
            {"name": "contract", "label": {"zh": "合同", "en": "Contract"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "status", "label": {"en": "Status"}, "type": "single_select", "options": [
                    {"value": "draft", "label": {"en": "Draft"}}, {"value": "signed", "label": {"en": "Signed"}}]},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
                {"name": "note", "label": {"en": "Note"}, "type": "text"},
                {"name": "touches", "label": {"en": "Touches"}, "type": "integer"}
            ]},
            {"name": "task", "label": {"zh": "任务", "en": "Task"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "contract", "label": {"en": "Contract"}, "type": "relation", "target": "contract"},
                {"name": "done", "label": {"en": "Done"}, "type": "boolean", "default": false}
            ]}
        ],
        "rules": rules
    })
}

/// What a webhook's `X-Trellis-Signature` must be: `sha256=<hex HMAC-SHA256(secret,
/// "<timestamp>.<body>")>`.
fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn runs_path(rule: &str) -> String {
    format!("/api/v1/apps/crm/rules/{rule}/runs")
}

async fn a_signed_contract_creates_an_invoicing_task_and_notifies_finance(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "invoice_on_signed",
        "trigger": {"type": "field_changed", "entity": "contract", "field": "status", "to": "signed"},
        "condition": "record.amount != () && record.amount > 0",
        "actions": [
            {"type": "create_record", "entity": "task", "values": {
                "title": "Invoice {{record.title}}", "contract": "{{record.id}}"}},
            {"type": "set_fields", "values": {"note": {"expr": "\"invoiced \" + record.title"}}},
            {"type": "notify", "to": {"owner": true}, "title": {"zh": "已开票：{{record.title}}", "en": "Invoiced: {{record.title}}"}}
        ]
    }]))).await;
    let c = app
        .create(
            "crm",
            "contract",
            json!({"title": "ACME", "status": "draft", "amount": "10"}),
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    // A change to something else does not match the field trigger.
    app.patch(&format!("/api/v1/data/crm/contract/{id}"), json!({"title": "ACME Ltd"}))
        .await
        .expect(200);
    app.patch(&format!("/api/v1/data/crm/contract/{id}"), json!({"status": "signed"}))
        .await
        .expect(200);
    let runs = &app
        .eventually(&runs_path("invoice_on_signed"), |b| b["data"][0]["status"] == "done")
        .await;
    let runs = runs["data"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let actions = runs[0]["actions"].as_array().unwrap();
    assert_eq!(
        actions
            .iter()
            .map(|a| a["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["done", "done", "done"]
    );
    assert_eq!(actions[0]["attempts"], 1);
    let tasks = app.get("/api/v1/data/crm/task").await.expect(200).body;
    assert_eq!(tasks["data"].as_array().unwrap().len(), 1);
    assert_eq!(tasks["data"][0]["title"], "Invoice ACME Ltd");
    assert_eq!(tasks["data"][0]["contract"], id.as_str());
    let contract = app
        .get(&format!("/api/v1/data/crm/contract/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(contract["note"], "invoiced ACME Ltd");
    // The rule's own write did not start it again, and its changes are in the history as the rule's.
    let h = app
        .get(&format!("/api/v1/data/crm/contract/{id}/history"))
        .await
        .expect(200)
        .body;
    let by_rule: Vec<&Value> = h["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["via"] == "rule:invoice_on_signed")
        .collect();
    assert_eq!(by_rule.len(), 1);
    // The owner's inbox (the owner is the administrator who made the contract).
    let me = app.get("/api/v1/me").await.expect(200).body;
    assert_eq!(contract["owner"], me["user"]["id"]);
    let inbox = app.get("/api/v1/notifications?limit=10").await.expect(200).body;
    let inbox = inbox["data"].as_array().expect("notifications");
    assert!(
        inbox
            .iter()
            .any(|n| n["title"].to_string().contains("Invoiced: ACME Ltd")),
        "{inbox:?}"
    );
    // A contract without an amount: the condition is false, the run says so, nothing is done.
    let c2 = app
        .create("crm", "contract", json!({"title": "Free", "status": "draft"}))
        .await;
    app.patch(
        &format!("/api/v1/data/crm/contract/{}", c2["id"].as_str().unwrap()),
        json!({"status": "signed"}),
    )
    .await
    .expect(200);
    let runs = &app
        .eventually(&runs_path("invoice_on_signed"), |b| {
            b["data"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    assert_eq!(runs["data"][0]["status"], "skipped");
    assert_eq!(runs["data"][0]["matched"], false);
    assert_eq!(
        app.get("/api/v1/data/crm/task").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn chains_of_rules_stop_at_the_depth_limit_with_a_reason(backend: Backend) {
    let app = spawn(backend).await;
    // Two rules that keep updating each other's trigger: a ping-pong only the depth guard stops.
    app.create_app(crm(json!([
        {"name": "ping", "trigger": {"type": "field_changed", "entity": "contract", "field": "note"},
         "actions": [{"type": "set_fields", "values": {"touches": {"expr": "if record.touches == () { 1 } else { record.touches + 1 }"}}}]},
        {"name": "pong", "trigger": {"type": "field_changed", "entity": "contract", "field": "touches"},
         "actions": [{"type": "set_fields", "values": {"note": "n{{record.touches}}"}}]}
    ])))
    .await;
    let c = app.create("crm", "contract", json!({"title": "T"})).await;
    let id = c["id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/data/crm/contract/{id}"), json!({"note": "go"}))
        .await
        .expect(200);
    // ping runs at depths 0, 2, 4; pong at 1, 3, and at 5 it is stopped.
    let runs = &app
        .eventually(&runs_path("pong"), |b| {
            b["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["status"] == "depth_limit")
        })
        .await;
    let stopped = runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "depth_limit")
        .unwrap();
    assert!(stopped["error"].as_str().unwrap().contains("deep"), "{stopped}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let touches = app.get(&format!("/api/v1/data/crm/contract/{id}")).await.body["touches"].clone();
    assert_eq!(touches, 3);
    let after = app.get(&runs_path("ping")).await.body["data"].as_array().unwrap().len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.get(&runs_path("ping")).await.body["data"].as_array().unwrap().len(),
        after
    );
}

/// Rules and the run log read a change by the field's name, as `{from, to}`, not by its
/// storage id.
async fn a_runs_trigger_names_the_changed_fields(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([
        {"name": "watch", "trigger": {"type": "field_changed", "entity": "contract", "field": "touches"},
         "actions": [{"type": "set_fields", "values": {"note": "was {{event.changes.touches.from}} now {{event.changes.touches.to}}"}}]}
    ])))
    .await;
    let c = app.create("crm", "contract", json!({"title": "T", "touches": 1})).await;
    let path = format!("/api/v1/data/crm/contract/{}", c["id"].as_str().unwrap());
    app.patch(&path, json!({"touches": 2})).await.expect(200);
    let done = app.eventually(&path, |b| b["note"].is_string()).await;
    assert_eq!(done["note"], json!("was 1 now 2"));
    let runs = app.get(&runs_path("watch")).await.expect(200).body;
    let changes = &runs["data"][0]["trigger"]["changes"];
    assert_eq!(changes, &json!({"touches": {"from": 1, "to": 2}}), "{runs}");
}

async fn a_relative_time_rule_fires_after_creation_even_across_a_restart(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "remind",
        "trigger": {"type": "relative_time", "entity": "contract", "field": "created_at", "offset_seconds": 2},
        "actions": [
            {"type": "create_record", "entity": "task", "values": {"title": "Call about {{record.title}}", "contract": "{{record.id}}"}},
            {"type": "notify", "to": {"owner": true}, "title": {"zh": "请致电：{{record.title}}", "en": "Call {{record.title}} now"}}
        ]
    }])))
    .await;
    app.create("crm", "contract", json!({"title": "Lead A"})).await;
    // Down before the reminder is due, up after: the timer is a row and fires once.
    let app = app.restart().await;
    let tasks = &app
        .eventually("/api/v1/data/crm/task", |b| {
            b["data"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(tasks["data"][0]["title"], "Call about Lead A");
    // The owner is reminded in the inbox.
    let inbox = &app
        .eventually("/api/v1/notifications", |b| {
            b["data"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n["kind"] == "rule"))
        })
        .await;
    let n = inbox["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "rule")
        .unwrap();
    assert_eq!(n["title"]["en"], "Call Lead A now");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.get("/api/v1/data/crm/task").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let runs = app.get(&runs_path("remind")).await.body;
    assert_eq!(runs["data"].as_array().unwrap().len(), 1);
}

async fn a_cron_rule_fires_once_per_tick(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "tick",
        "trigger": {"type": "cron", "schedule": "*/2 * * * * *"},
        "actions": [{"type": "create_record", "entity": "task", "values": {"title": "tick {{event.due_at}}"}}]
    }])))
    .await;
    let tasks = &app
        .eventually("/api/v1/data/crm/task?limit=100", |b| {
            b["data"].as_array().is_some_and(|a| a.len() >= 2)
        })
        .await;
    let mut titles: Vec<&str> = tasks["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    let n = titles.len();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), n, "a tick fired twice: {titles:?}");
    // A bad schedule is refused at save.
    let r = app
        .post(
            "/api/v1/apps/crm/rules",
            json!({"name": "bad", "trigger": {"type": "cron", "schedule": "every day"}, "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "x"}}]}),
        )
        .await
        .expect(422);
    assert_eq!(r.body["errors"][0]["code"], "invalid_schedule");
}

async fn an_inbound_webhook_needs_its_secret_and_starts_its_rule(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "from_shop",
        "trigger": {"type": "webhook", "key": "shop", "secret": "s3cret-s3cret-s3cret"},
        "condition": "record.total > 100",
        "actions": [{"type": "create_record", "entity": "contract", "values": {"title": "Order {{payload.order}}", "amount": "{{payload.total}}"}}]
    }])))
    .await;
    let hook = "/api/v1/hooks/crm/shop";
    let r = app
        .call_with(
            None,
            trellis_tests::reqwest::Method::POST,
            hook,
            Some(json!({"order": "A1", "total": 250})),
            &[],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app
        .call_with(
            None,
            trellis_tests::reqwest::Method::POST,
            hook,
            Some(json!({"order": "A1", "total": 250})),
            &[("X-Trellis-Secret", "wrong-wrong-wrong-wrong")],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    for (order, total) in [("A1", 250), ("A2", 50)] {
        let r = app
            .call_with(
                None,
                trellis_tests::reqwest::Method::POST,
                hook,
                Some(json!({"order": order, "total": total})),
                &[("X-Trellis-Secret", "s3cret-s3cret-s3cret")],
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let runs = &app
        .eventually(&runs_path("from_shop"), |b| {
            let a = b["data"].as_array().unwrap();
            a.len() == 2 && a.iter().all(|r| r["status"] != "running")
        })
        .await;
    let statuses: Vec<&str> = runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"done") && statuses.contains(&"skipped"),
        "{statuses:?}"
    );
    let contracts = app.get("/api/v1/data/crm/contract").await.body;
    assert_eq!(contracts["data"].as_array().unwrap().len(), 1);
    assert_eq!(contracts["data"][0]["title"], "Order A1");
    assert_eq!(contracts["data"][0]["amount"], json!(250.0));
}

async fn a_failing_action_is_dead_lettered_visible_and_retried_by_hand(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "close",
        "trigger": {"type": "manual", "entity": "contract"},
        "actions": [
            {"type": "set_fields", "values": {"touches": "not a number"}},
            {"type": "set_fields", "values": {"note": "closed"}}
        ]
    }])))
    .await;
    let c = app.create("crm", "contract", json!({"title": "T"})).await;
    let id = c["id"].as_str().unwrap().to_string();
    // A rule that is not manual, or a record that does not exist, is refused.
    app.post(&format!("/api/v1/data/crm/contract/{id}/rules/nope/run"), json!({}))
        .await
        .expect(404);
    app.post(&format!("/api/v1/data/crm/contract/{id}/rules/close/run"), json!({}))
        .await
        .expect(202);
    let runs = &app
        .eventually(&runs_path("close"), |b| b["data"][0]["status"] == "failed")
        .await;
    let run = &runs["data"][0];
    assert_eq!(run["actions"][0]["status"], "dead");
    assert!(
        run["actions"][0]["error"].as_str().unwrap().contains("touches"),
        "{run}"
    );
    assert_eq!(run["actions"][1]["status"], "skipped");
    let rules = app.get("/api/v1/apps/crm/rules").await.expect(200).body;
    assert_eq!(rules["data"][0]["health"]["last_status"], "failed");
    // Fix the rule, retry the dead job: the run completes, its second action too.
    app.patch(
        "/api/v1/apps/crm/rules/close",
        json!({"actions": [{"type": "set_fields", "values": {"touches": 1}}, {"type": "set_fields", "values": {"note": "closed"}}]}),
    )
    .await
    .expect(200);
    let job = run["actions"][0]["id"].as_str().unwrap();
    app.post(&format!("/api/v1/jobs/{job}/retry"), json!({}))
        .await
        .expect(200);
    app.eventually(&runs_path("close"), |b| b["data"][0]["status"] == "done")
        .await;
    let c = app.get(&format!("/api/v1/data/crm/contract/{id}")).await.body;
    assert_eq!(c["touches"], 1);
    assert_eq!(c["note"], "closed");
    app.post(&format!("/api/v1/jobs/{job}/retry"), json!({}))
        .await
        .expect(409);
}

async fn a_dry_run_says_what_would_happen_and_does_nothing(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "big",
        "trigger": {"type": "record_created", "entity": "contract"},
        "condition": "record.amount > 1000",
        "actions": [{"type": "create_record", "entity": "task", "values": {"title": "Review {{record.title}}"}}]
    }])))
    .await;
    let r = app
        .post(
            "/api/v1/apps/crm/rules/big/test",
            json!({"record": {"title": "X", "amount": 5000}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["matched"], true);
    assert_eq!(r.body["actions"][0]["would"]["values"]["title"], "Review X");
    let r = app
        .post(
            "/api/v1/apps/crm/rules/big/test",
            json!({"record": {"title": "X", "amount": 5}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["matched"], false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        app.get("/api/v1/data/crm/task").await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        app.get(&runs_path("big")).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Rules that do not make sense are refused at save, naming the problem.
    let bad = [
        (
            json!({"name": "a", "trigger": {"type": "record_created", "entity": "nope"}, "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "x"}}]}),
            "unknown_entity",
        ),
        (
            json!({"name": "b", "trigger": {"type": "record_created", "entity": "contract"}, "condition": "record.nope > 1", "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "x"}}]}),
            "unknown_field",
        ),
        (
            json!({"name": "c", "trigger": {"type": "record_created", "entity": "contract"}, "condition": "record.amount >", "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "x"}}]}),
            "script_syntax",
        ),
        (
            json!({"name": "d", "trigger": {"type": "record_created", "entity": "contract"}, "actions": [{"type": "create_record", "entity": "task", "values": {"nope": 1}}]}),
            "unknown_field",
        ),
        (
            json!({"name": "e", "trigger": {"type": "webhook", "key": "k", "secret": "short"}, "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "x"}}]}),
            "too_short",
        ),
    ];
    for (rule, code) in bad {
        let r = app.post("/api/v1/apps/crm/rules", rule.clone()).await;
        assert_eq!(r.status, 422, "{rule}: {}", r.text);
        assert!(
            r.body["errors"].as_array().unwrap().iter().any(|e| e["code"] == code),
            "{rule}: expected {code}: {}",
            r.text
        );
    }
}

async fn a_restart_right_after_a_commit_loses_nothing_and_repeats_nothing(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "task_per_contract",
        "trigger": {"type": "record_created", "entity": "contract"},
        "actions": [{"type": "create_record", "entity": "task", "values": {"title": "Onboard {{record.title}}", "contract": "{{record.id}}"}}]
    }])))
    .await;
    for i in 0..20 {
        app.create("crm", "contract", json!({"title": format!("C{i}")})).await;
    }
    let app = app.restart().await;
    let tasks = &app
        .eventually("/api/v1/data/crm/task?limit=100", |b| {
            b["data"].as_array().is_some_and(|a| a.len() >= 20)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tasks2 = app.get("/api/v1/data/crm/task?limit=100").await.body;
    assert_eq!(tasks2["data"].as_array().unwrap().len(), 20, "{tasks}");
    let mut contracts: Vec<&str> = tasks2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["contract"].as_str().unwrap())
        .collect();
    contracts.sort();
    contracts.dedup();
    assert_eq!(contracts.len(), 20);
}

/// The seed's troubleshooting case (DOMAIN.md): a signed contract creates an invoicing task for
/// the finance rota member on duty and e-mails finance; delivery can list the customers awaiting
/// activation; when the task is done the customer gets an SMS with login instructions. A restart
/// in the middle loses nothing and repeats nothing.
async fn the_activation_workflow_of_the_seed_runs_end_to_end(backend: Backend) {
    let app = spawn(backend).await;
    let smtp = trellis_tests::SmtpSink::start().await;
    let sms = trellis_tests::HttpReceiver::start().await;
    let finance = async |name: &str| -> String {
        let u = app
            .post(
                "/api/v1/users",
                json!({"email": format!("{name}@example.com"), "name": name, "password": "member-password-1"}),
            )
            .await
            .expect(201)
            .body;
        u["id"].as_str().expect("user id").to_string()
    };
    let (f1, f2) = (finance("finance1").await, finance("finance2").await);
    let today = trellis_tests::chrono::Utc::now().date_naive().to_string();
    let week: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), json!(f1)))
        .collect();
    app.create_app(json!({
        "name": "saas", "label": {"zh": "开通", "en": "Activation"},
        "roles": [{"name": "finance", "label": {"zh": "财务", "en": "Finance"}},
                  {"name": "delivery", "label": {"zh": "交付经理", "en": "Delivery manager"}}],
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text", "required": true},
                {"name": "phone", "label": {"en": "Phone"}, "type": "phone"},
                {"name": "status", "label": {"en": "Status"}, "type": "single_select", "default": "prospect", "options": [
                    {"value": "prospect", "label": {"en": "Prospect"}},
                    {"value": "awaiting_activation", "label": {"zh": "待开通", "en": "Awaiting activation"}},
                    {"value": "active", "label": {"en": "Active"}}]}
            ]},
            {"name": "contract", "label": {"en": "Contract"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"},
                {"name": "customer_phone", "label": {"en": "Customer phone"}, "type": "text", "formula": "related.customer.phone"}
            ], "pipeline": {
                "stages": [{"key": "draft", "label": {"en": "Draft"}}, {"key": "signed", "label": {"zh": "已签约", "en": "Signed"}, "kind": "won"}],
                "transitions": [{"from": ["draft"], "to": "signed"}]
            }},
            {"name": "task", "label": {"en": "Task"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "contract", "label": {"en": "Contract"}, "type": "relation", "target": "contract"},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"},
                {"name": "phone", "label": {"en": "Phone"}, "type": "text"},
                {"name": "done", "label": {"en": "Done"}, "type": "boolean", "default": false}
            ]}
        ],
        "rules": [
            {"name": "invoice_on_signature",
             "trigger": {"type": "stage_entered", "entity": "contract", "stage": "signed"},
             "actions": [
                {"type": "create_record", "entity": "task",
                 "values": {"title": "Invoice {{record.title}}", "contract": "{{record.id}}", "customer": "{{record.customer}}", "phone": "{{record.customer_phone}}"},
                 "assign": {"strategy": "rota", "timezone": "UTC", "week": week, "overrides": {today.clone(): f2}}},
                {"type": "update_related", "relation": "customer", "values": {"status": "awaiting_activation"}},
                {"type": "email", "to": {"roles": ["finance"]}, "subject": "Invoice needed: {{record.title}}",
                 "body": "Contract {{record.title}} was signed. Please issue the invoice and the activation voucher."}
             ]},
            {"name": "activate_on_done",
             "trigger": {"type": "field_changed", "entity": "task", "field": "done", "to": true},
             "actions": [
                {"type": "update_related", "relation": "customer", "values": {"status": "active"}},
                {"type": "sms", "to": {"addresses": ["{{record.phone}}"]}, "text": "Your service is ready: log in at https://app.example.com with your e-mail."}
             ]}
        ]
    })).await;
    let r = app
        .put(
            "/api/v1/settings",
            json!({"smtp": smtp.settings("Trellis <robot@trellis.example>"), "sms": {"url": sms.url("/sms"), "token": "t0ken"}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["sms"]["token"], "********", "secrets are not answered");
    app.put("/api/v1/settings", json!({"sms": {"url": "ftp://x"}}))
        .await
        .expect(422);
    for u in [&f1, &f2] {
        app.post("/api/v1/apps/saas/roles/finance/members", json!({"user": u}))
            .await
            .expect(200);
    }
    let customer = app
        .create(
            "saas",
            "customer",
            json!({"name": "ACME", "phone": "+86 138 0000 0000"}),
        )
        .await;
    let contract = app
        .create(
            "saas",
            "contract",
            json!({"title": "ACME annual", "customer": customer["id"]}),
        )
        .await;
    let cid = contract["id"].as_str().unwrap().to_string();
    app.post(
        &format!("/api/v1/data/saas/contract/{cid}/transition"),
        json!({"to": "signed"}),
    )
    .await
    .expect(200);
    // The node restarts right after the signature: the work still happens, once.
    let app = app.restart().await;
    let tasks = &app
        .eventually("/api/v1/data/saas/task", |b| {
            b["data"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let task = tasks["data"][0].clone();
    assert_eq!(task["title"], "Invoice ACME annual");
    // Today is overridden in the rota (a holiday cover): finance2 is on duty.
    assert_eq!(task["owner"], f2.as_str());
    assert_eq!(task["phone"], "+86 138 0000 0000");
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["finance1@example.com", "finance2@example.com"]);
    assert_eq!(mails[0].subject.as_deref(), Some("Invoice needed: ACME annual"));
    assert!(
        mails[0].body().contains("Contract ACME annual was signed"),
        "{}",
        mails[0].body()
    );
    // Delivery lists the customers awaiting activation.
    let waiting = app
        .get("/api/v1/data/saas/customer?filter=%7B%22field%22%3A%22status%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A%22awaiting_activation%22%7D")
        .await
        .expect(200);
    assert_eq!(waiting.body["data"].as_array().unwrap().len(), 1);
    // Finance finishes the task: the customer is active and gets the SMS.
    app.patch(
        &format!("/api/v1/data/saas/task/{}", task["id"].as_str().unwrap()),
        json!({"done": true}),
    )
    .await
    .expect(200);
    let texts = sms.wait_for(1, Duration::from_secs(10)).await;
    let body = texts[0].json();
    assert_eq!(body["to"], "+8613800000000");
    assert!(body["text"].as_str().unwrap().contains("log in"), "{body}");
    assert_eq!(texts[0].header("authorization"), Some("Bearer t0ken"));
    app.eventually(
        &format!("/api/v1/data/saas/customer/{}", customer["id"].as_str().unwrap()),
        |b| b["status"] == "active",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 2);
    assert_eq!(sms.requests().len(), 1);
    assert_eq!(
        app.get("/api/v1/data/saas/task").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A webhook receiver that fails twice gets the third delivery, signed; the run shows the
/// attempts and errors.
async fn a_webhook_is_retried_with_backoff_and_arrives_signed(backend: Backend) {
    let app = spawn(backend).await;
    let hook = trellis_tests::HttpReceiver::start().await;
    hook.fail_next(2, 503);
    app.create_app(crm(json!([{
        "name": "to_erp",
        "trigger": {"type": "record_created", "entity": "contract"},
        "actions": [{"type": "webhook", "url": hook.url("/erp"), "secret": "erp-shared-secret",
                     "body": {"contract": "{{record.id}}", "title": "{{record.title}}"}}]
    }])))
    .await;
    let c = app.create("crm", "contract", json!({"title": "Big deal"})).await;
    let got = hook.wait_for(3, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 3);
    let last = &got[2];
    assert_eq!(last.json(), json!({"contract": c["id"], "title": "Big deal"}));
    let ts = last.header("x-trellis-timestamp").unwrap();
    assert_eq!(
        last.header("x-trellis-signature").unwrap(),
        signature("erp-shared-secret", ts, &last.body)
    );
    // The same idempotency key on every delivery, so the receiver can drop repeats.
    assert_eq!(got[0].header("idempotency-key"), last.header("idempotency-key"));
    let runs = &app
        .eventually(&runs_path("to_erp"), |b| b["data"][0]["status"] == "done")
        .await;
    let job = &runs["data"][0]["actions"][0];
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["status"], "done");
}

async fn an_sla_due_rule_warns_before_the_deadline_only_while_in_the_stage(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm(json!([{
        "name": "warn",
        "trigger": {"type": "sla_due", "entity": "contract", "stage": "review", "before_seconds": 1},
        "actions": [{"type": "create_record", "entity": "task", "values": {"title": "Hurry {{record.title}}"}}]
    }]));
    def["entities"][0]["pipeline"] = json!({
        "stages": [{"key": "review", "label": {"en": "Review"}, "sla": {"seconds": 2}}, {"key": "done", "label": {"en": "Done"}}],
        "transitions": [{"from": ["review"], "to": "done"}]
    });
    app.create_app(def).await;
    app.create("crm", "contract", json!({"title": "Slow"})).await;
    let fast = app.create("crm", "contract", json!({"title": "Fast"})).await;
    // The fast one leaves the stage before its warning: no warning for it.
    app.post(
        &format!("/api/v1/data/crm/contract/{}/transition", fast["id"].as_str().unwrap()),
        json!({"to": "done"}),
    )
    .await
    .expect(200);
    let tasks = &app
        .eventually("/api/v1/data/crm/task", |b| {
            b["data"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(tasks["data"][0]["title"], "Hurry Slow");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let tasks = app.get("/api/v1/data/crm/task").await.body;
    assert_eq!(tasks["data"].as_array().unwrap().len(), 1, "{tasks}");
}

async fn a_tenant_over_its_runs_per_minute_waits_and_loses_nothing(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([{
        "name": "count",
        "trigger": {"type": "record_created", "entity": "contract"},
        "actions": [{"type": "create_record", "entity": "task", "values": {"title": "for {{record.title}}"}}]
    }])))
    .await;
    app.put("/api/v1/settings", json!({"automation_runs_per_minute": 3}))
        .await
        .expect(200);
    app.put("/api/v1/settings", json!({"automation_runs_per_minute": 0}))
        .await
        .expect(422);
    for i in 0..6 {
        app.create("crm", "contract", json!({"title": format!("C{i}")})).await;
    }
    app.eventually(&runs_path("count"), |b| {
        b["data"].as_array().is_some_and(|a| a.len() >= 3)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.get(&runs_path("count")).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The others wait in the outbox; raising the limit lets them through.
    app.put("/api/v1/settings", json!({"automation_runs_per_minute": 1000}))
        .await
        .expect(200);
    app.eventually("/api/v1/data/crm/task", |b| {
        b["data"].as_array().is_some_and(|a| a.len() == 6)
    })
    .await;
}

/// An e-mail to several recipients that fails on one of them is retried for that one only:
/// those it reached do not get it twice.
async fn a_retried_e_mail_goes_only_to_the_recipients_it_missed(backend: Backend) {
    let app = spawn(backend).await;
    let smtp = trellis_tests::SmtpSink::start().await;
    app.create_app(json!({
        "name": "mail", "label": {"en": "Mail"},
        "entities": [{"name": "note", "label": {"en": "Note"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true}]}],
        "rules": [{"name": "tell", "trigger": {"type": "record_created", "entity": "note"},
                   "actions": [{"type": "email", "to": {"addresses": ["a@example.com", "b@example.com", "c@example.com"]},
                                "subject": "New note {{record.title}}", "body": "{{record.title}}"}]}]
    }))
    .await;
    app.put(
        "/api/v1/settings",
        json!({"smtp": smtp.settings("Robot <robot@example.com>")}),
    )
    .await
    .expect(200);
    smtp.reply_to_recipient("b@example.com", Some("450 mailbox busy"));
    app.create("mail", "note", json!({"title": "one"})).await;
    let runs = "/api/v1/apps/mail/rules/tell/runs";
    let failed = &app
        .eventually(runs, |b| b["data"][0]["actions"][0]["status"] == "retrying")
        .await;
    let action = &failed["data"][0]["actions"][0];
    assert!(action["error"].to_string().contains("b@example.com"), "{failed}");
    // What the failed attempt reached is its output, handed to the next attempt.
    assert_eq!(action["output"], json!({"delivered": ["a@example.com"]}));
    let to = |mails: &[trellis_tests::ReceivedMail]| -> Vec<String> {
        let mut v: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(to(&smtp.messages()), ["a@example.com"]);

    smtp.reply_to_recipient("b@example.com", None);
    let done = &app
        .eventually(runs, |b| b["data"][0]["actions"][0]["status"] == "done")
        .await;
    let action = &done["data"][0]["actions"][0];
    assert!(action["attempts"].as_i64().unwrap() >= 2, "{done}");
    assert_eq!(action["output"]["sent"], 3, "{done}");
    assert_eq!(action["output"]["sent_earlier"], 1, "{done}");
    assert_eq!(
        to(&smtp.messages()),
        ["a@example.com", "b@example.com", "c@example.com"]
    );
}

on_both!(
    a_runs_trigger_names_the_changed_fields,
    a_retried_e_mail_goes_only_to_the_recipients_it_missed,
    a_signed_contract_creates_an_invoicing_task_and_notifies_finance,
    chains_of_rules_stop_at_the_depth_limit_with_a_reason,
    a_relative_time_rule_fires_after_creation_even_across_a_restart,
    a_cron_rule_fires_once_per_tick,
    an_inbound_webhook_needs_its_secret_and_starts_its_rule,
    a_failing_action_is_dead_lettered_visible_and_retried_by_hand,
    a_dry_run_says_what_would_happen_and_does_nothing,
    a_restart_right_after_a_commit_loses_nothing_and_repeats_nothing,
    the_activation_workflow_of_the_seed_runs_end_to_end,
    a_webhook_is_retried_with_backoff_and_arrives_signed,
    an_sla_due_rule_warns_before_the_deadline_only_while_in_the_stage,
    a_tenant_over_its_runs_per_minute_waits_and_loses_nothing,
);
