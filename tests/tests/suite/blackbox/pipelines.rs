//! Pipelines over HTTP: the seed's follow-up SOP end to end, blocked transitions that list every
//! unmet condition and write nothing, approvals, stage history, SLA timers across a restart, the
//! board, and definitions refused at save.

use std::time::Duration;

use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

const PASSWORD: &str = "member-password-1";

/// The sales SOP of DOMAIN.md: four follow-up stages with their actions, limits and owner
/// roles, then a technical test that a pre-sales engineer approves, and signing, which needs a
/// signed receipt.
fn sop_app() -> Value {
    json!({
        "name": "sales", "label": {"zh": "销售管理", "en": "Sales"},
        "roles": [
            {"name": "customer_service", "label": {"zh": "客服专员", "en": "Customer service"}},
            {"name": "sales_rep", "label": {"zh": "销售代表", "en": "Sales rep"}},
            {"name": "sales_supervisor", "label": {"zh": "销售主管", "en": "Sales supervisor"}},
            {"name": "project_manager", "label": {"zh": "项目经理", "en": "Project manager"}},
            {"name": "presales_engineer", "label": {"zh": "售前工程师", "en": "Pre-sales engineer"}}
        ],
        "entities": [{"name": "deal", "label": {"zh": "商机", "en": "Deal"}, "title_field": "title", "fields": [
            {"name": "title", "label": {"zh": "标题", "en": "Title"}, "type": "text", "required": true},
            {"name": "amount", "label": {"zh": "金额", "en": "Amount"}, "type": "decimal"},
            {"name": "budget", "label": {"zh": "预算", "en": "Budget"}, "type": "decimal"},
            {"name": "decision_maker", "label": {"zh": "决策人", "en": "Decision maker"}, "type": "text"},
            {"name": "use_case", "label": {"zh": "使用场景", "en": "Use case"}, "type": "long_text"}
        ], "pipeline": {
            "stages": [
                {"key": "first_contact", "label": {"zh": "初次接触", "en": "First contact"}, "probability": 10, "weight": 10,
                 "sop": [{"key": "call", "label": {"zh": "电话沟通", "en": "Phone call"}},
                         {"key": "questionnaire", "label": {"zh": "发送需求问卷", "en": "Send needs questionnaire"}}],
                 "sla": {"hours": 2, "owner_role": "customer_service", "escalate_to": {"role": "sales_supervisor"}}},
                {"key": "needs_confirmed", "label": {"zh": "需求确认", "en": "Needs confirmed"}, "probability": 30,
                 "sop": [{"key": "demo", "label": {"zh": "预约演示", "en": "Book demo"}},
                         {"key": "proposal", "label": {"zh": "提交初步方案", "en": "Submit first proposal"}}],
                 "entry": {"fields": ["budget", "decision_maker", "use_case"]},
                 "sla": {"hours": 24, "owner_role": "sales_rep"}},
                {"key": "proposal", "label": {"zh": "方案沟通", "en": "Proposal"}, "probability": 50,
                 "sop": [{"key": "feedback", "label": {"zh": "收集反馈", "en": "Collect feedback"}},
                         {"key": "quote", "label": {"zh": "生成报价", "en": "Generate quote"}}],
                 "exit": {"conditions": [{"name": "has_amount", "assert": "record.amount != () && record.amount > 0",
                          "message": {"zh": "请先填写报价金额", "en": "Quote an amount first"}}]},
                 "sla": {"hours": 48, "owner_role": "sales_supervisor"}},
                {"key": "tech_passed", "label": {"zh": "技术测试通过", "en": "Technical test passed"}, "probability": 70, "weight": 60},
                {"key": "closing", "label": {"zh": "成交推动", "en": "Closing"}, "probability": 80,
                 "sop": [{"key": "contract", "label": {"zh": "准备合同", "en": "Prepare contract"}},
                         {"key": "legal", "label": {"zh": "法务审核", "en": "Legal review"}}],
                 "sla": {"hours": 72, "owner_role": "project_manager"}},
                {"key": "signed", "label": {"zh": "已签约", "en": "Signed"}, "kind": "won", "probability": 100,
                 "entry": {"attachments": [{"key": "signed_receipt", "label": {"zh": "签收单", "en": "Signed receipt"},
                                            "types": ["application/pdf", "image/*"]}]}},
                {"key": "lost", "label": {"zh": "输单", "en": "Lost"}, "kind": "lost", "probability": 0}
            ],
            "transitions": [
                {"from": ["first_contact"], "to": "needs_confirmed"},
                {"from": ["needs_confirmed"], "to": "proposal"},
                {"from": ["proposal"], "to": "tech_passed",
                 "approval": {"roles": ["presales_engineer"], "mode": "any"}},
                {"from": ["tech_passed"], "to": "closing", "allow": {"roles": ["project_manager"], "owner": true}},
                {"from": ["closing"], "to": "signed"},
                {"from": ["*"], "to": "lost", "comment_required": true}
            ]
        }}]
    })
}

/// A non-admin user of the test tenant, logged in, with roles in app `app`.
async fn member(app: &TestApp, app_name: &str, email: &str, roles: &[&str]) -> (String, String) {
    let name = email.split('@').next().unwrap_or(email);
    let user = app
        .post(
            "/api/v1/users",
            json!({"email": email, "name": name, "password": PASSWORD}),
        )
        .await
        .expect(201)
        .body;
    let id = user["id"].as_str().expect("user id").to_string();
    for r in roles {
        app.post(
            &format!("/api/v1/apps/{app_name}/roles/{r}/members"),
            json!({"user": id}),
        )
        .await
        .expect(200);
    }
    (id, app.login(email, PASSWORD).await)
}

fn codes(r: &trellis_tests::Resp) -> Vec<(String, String)> {
    r.body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_string(),
                        e["code"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn move_to(app: &TestApp, token: &str, id: &str, body: Value) -> trellis_tests::Resp {
    app.call_as(
        Some(token),
        trellis_tests::reqwest::Method::POST,
        &format!("/api/v1/data/sales/deal/{id}/transition"),
        Some(body),
    )
    .await
}

async fn history(app: &TestApp, id: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/data/sales/deal/{id}/history"))
        .await
        .expect(200);
    r.body["data"].as_array().cloned().unwrap_or_default()
}

async fn the_seed_sop_runs_end_to_end(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sop_app()).await;
    let (_rep_id, rep) = member(&app, "sales", "rep@example.com", &["sales_rep"]).await;
    let (_pre_id, presales) = member(&app, "sales", "presales@example.com", &["presales_engineer"]).await;
    let (_pm_id, pm) = member(&app, "sales", "pm@example.com", &["project_manager"]).await;

    // A new deal starts in first contact with its 2-hour SLA running.
    let r = app
        .call_as(
            Some(&rep),
            trellis_tests::reqwest::Method::POST,
            "/api/v1/data/sales/deal",
            Some(json!({"title": "ACME rollout"})),
        )
        .await
        .expect(201);
    let deal = r.body.clone();
    let id = deal["id"].as_str().unwrap().to_string();
    assert_eq!(deal["stage"], "first_contact");
    let created = trellis_tests::chrono::DateTime::parse_from_rfc3339(deal["created_at"].as_str().unwrap()).unwrap();
    let due = trellis_tests::chrono::DateTime::parse_from_rfc3339(deal["stage_due_at"].as_str().unwrap()).unwrap();
    assert_eq!((due - created).num_seconds(), 2 * 3600);

    // The SOP of the stage and the one move the rep can see, blocked by the three fields.
    let t = app
        .call_as(
            Some(&rep),
            trellis_tests::reqwest::Method::GET,
            &format!("/api/v1/data/sales/deal/{id}/transitions"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(t.body["sop"][0]["key"], "call");
    let moves = t.body["transitions"].as_array().unwrap();
    let keys: Vec<&str> = moves.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(keys, ["needs_confirmed", "lost"]);
    assert_eq!(moves[0]["ready"], false);
    assert_eq!(moves[0]["blocked_by"].as_array().unwrap().len(), 3);

    // Needs confirmed requires budget, decision maker and use case: all three are listed.
    let r = move_to(&app, &rep, &id, json!({"to": "needs_confirmed"}))
        .await
        .expect(409);
    assert_eq!(r.body["code"], "transition_blocked");
    let c = codes(&r);
    for f in ["budget", "decision_maker", "use_case"] {
        assert!(c.contains(&(f.to_string(), "required".to_string())), "{c:?}");
    }
    assert_eq!(r.body["errors"][0]["messages"]["zh"], "必须填写：预算");
    // A PATCH cannot move the stage.
    let r = app
        .patch(&format!("/api/v1/data/sales/deal/{id}"), json!({"stage": "signed"}))
        .await
        .expect(422);
    assert_eq!(codes(&r), [("stage".to_string(), "use_transition".to_string())]);
    // The blocked attempts wrote nothing: still version 1, only the creation in the history.
    let now = app.get(&format!("/api/v1/data/sales/deal/{id}")).await.expect(200);
    assert_eq!(now.body["version"], 1);
    assert_eq!(history(&app, &id).await.len(), 1);

    app.patch(
        &format!("/api/v1/data/sales/deal/{id}"),
        json!({"budget": "50000", "decision_maker": "Ms. Li", "use_case": "Field sales"}),
    )
    .await
    .expect(200);
    let r = move_to(
        &app,
        &rep,
        &id,
        json!({"to": "needs_confirmed", "comment": "customer confirmed in writing"}),
    )
    .await
    .expect(200);
    assert_eq!(r.body["status"], "moved");
    assert_eq!(r.body["record"]["stage"], "needs_confirmed");
    move_to(&app, &rep, &id, json!({"to": "proposal"})).await.expect(200);

    // The exit condition of the proposal stage, with its message in both languages.
    let r = move_to(&app, &rep, &id, json!({"to": "tech_passed"})).await.expect(409);
    assert_eq!(r.body["errors"][0]["field"], "conditions.has_amount");
    assert_eq!(r.body["errors"][0]["messages"]["zh"], "请先填写报价金额");
    app.patch(&format!("/api/v1/data/sales/deal/{id}"), json!({"amount": "48000"}))
        .await
        .expect(200);

    // Technical test passed needs a pre-sales engineer's approval: the deal waits, visibly.
    let r = move_to(&app, &rep, &id, json!({"to": "tech_passed", "comment": "POC done"}))
        .await
        .expect(202);
    assert_eq!(r.body["status"], "pending_approval");
    assert_eq!(r.body["record"]["stage"], "proposal");
    assert_eq!(r.body["record"]["pending_stage"], "tech_passed");
    let approval = r.body["approval"]["id"].as_str().unwrap().to_string();
    let waiting = app
        .get("/api/v1/data/sales/deal?filter=%7B%22field%22%3A%22pending_stage%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A%22tech_passed%22%7D")
        .await
        .expect(200);
    assert_eq!(waiting.body["data"].as_array().unwrap().len(), 1);
    // No second move while it waits; the rep cannot approve their own request.
    let r = move_to(&app, &rep, &id, json!({"to": "lost", "comment": "x"}))
        .await
        .expect(409);
    assert_eq!(codes(&r), [("stage".to_string(), "pending_approval".to_string())]);
    app.call_as(
        Some(&rep),
        trellis_tests::reqwest::Method::POST,
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(json!({})),
    )
    .await
    .expect(403);
    let mine = app
        .call_as(
            Some(&presales),
            trellis_tests::reqwest::Method::GET,
            "/api/v1/approvals?mine=true",
            None,
        )
        .await
        .expect(200);
    assert_eq!(mine.body["data"][0]["id"], approval);
    let r = app
        .call_as(
            Some(&presales),
            trellis_tests::reqwest::Method::POST,
            &format!("/api/v1/approvals/{approval}/approve"),
            Some(json!({"comment": "benchmarks passed"})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "approved");
    let now = app.get(&format!("/api/v1/data/sales/deal/{id}")).await.expect(200);
    assert_eq!(now.body["stage"], "tech_passed");
    assert_eq!(now.body["pending_stage"], Value::Null);

    // Only the project manager (or the owner) may move to closing; the pre-sales engineer may not.
    app.call_as(
        Some(&presales),
        trellis_tests::reqwest::Method::POST,
        &format!("/api/v1/data/sales/deal/{id}/transition"),
        Some(json!({"to": "closing"})),
    )
    .await
    .expect(403);
    move_to(&app, &pm, &id, json!({"to": "closing"})).await.expect(200);

    // Signed cannot be entered without a signed receipt; an unknown file is a validation error.
    let r = move_to(&app, &rep, &id, json!({"to": "signed"})).await.expect(409);
    assert_eq!(
        codes(&r),
        [(
            "attachments.signed_receipt".to_string(),
            "attachment_required".to_string()
        )]
    );
    let r = move_to(
        &app,
        &rep,
        &id,
        json!({"to": "signed", "attachments": ["0190aaaa-0000-7000-8000-000000000000"]}),
    )
    .await
    .expect(422);
    assert_eq!(codes(&r)[0].1, "not_found");
    let file = app
        .upload(&rep, "签收单.pdf", "application/pdf", b"%PDF-1.4\n% signed\n")
        .await;
    let r = move_to(
        &app,
        &rep,
        &id,
        json!({"to": "signed", "attachments": [{"file": file, "kind": "signed_receipt"}]}),
    )
    .await
    .expect(200);
    assert_eq!(r.body["record"]["stage"], "signed");
    assert_eq!(r.body["record"]["stage_due_at"], Value::Null);

    // The history: every entry and exit with actor, comment, evidence and time in stage.
    let h = history(&app, &id).await;
    let moves: Vec<(&str, &str)> = h
        .iter()
        .filter(|e| e["kind"] == "stage_changed")
        .map(|e| (e["from"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        moves,
        [
            ("first_contact", "needs_confirmed"),
            ("needs_confirmed", "proposal"),
            ("proposal", "tech_passed"),
            ("tech_passed", "closing"),
            ("closing", "signed")
        ]
    );
    let first = h.iter().find(|e| e["kind"] == "stage_changed").unwrap();
    assert_eq!(first["comment"], "customer confirmed in writing");
    assert!(first["seconds_in_stage"].as_f64().unwrap() >= 0.0);
    let last = h.iter().rev().find(|e| e["kind"] == "stage_changed").unwrap();
    assert_eq!(last["evidence"][0]["name"], "签收单.pdf");
    assert_eq!(last["evidence"][0]["kind"], "signed_receipt");
    let kinds: Vec<&str> = h.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in [
        "created",
        "updated",
        "approval_requested",
        "approval_approved_vote",
        "approval_approved",
    ] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    let budget = h.iter().find(|e| e["kind"] == "updated").unwrap();
    assert_eq!(budget["changes"]["budget"]["to"], json!(50000.0));
    assert_eq!(budget["changes"]["budget"]["from"], Value::Null);
}

async fn a_rejection_returns_the_record_with_its_reason(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sop_app()).await;
    let (_, rep) = member(&app, "sales", "rep@example.com", &["sales_rep"]).await;
    let (_, presales) = member(&app, "sales", "presales@example.com", &["presales_engineer"]).await;
    let id = app
        .create(
            "sales",
            "deal",
            json!({"title": "T", "budget": "1", "decision_maker": "x", "use_case": "y", "amount": "5"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    move_to(&app, &app.token, &id, json!({"to": "needs_confirmed"}))
        .await
        .expect(200);
    move_to(&app, &app.token, &id, json!({"to": "proposal"}))
        .await
        .expect(200);
    let approval = move_to(&app, &rep, &id, json!({"to": "tech_passed"}))
        .await
        .expect(202)
        .body["approval"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/approvals/{approval}/reject");
    // A rejection needs a reason.
    app.call_as(
        Some(&presales),
        trellis_tests::reqwest::Method::POST,
        &path,
        Some(json!({})),
    )
    .await
    .expect(422);
    let r = app
        .call_as(
            Some(&presales),
            trellis_tests::reqwest::Method::POST,
            &path,
            Some(json!({"comment": "load test failed"})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(r.body["reason"], "load test failed");
    let now = app.get(&format!("/api/v1/data/sales/deal/{id}")).await.expect(200);
    assert_eq!(now.body["stage"], "proposal");
    assert_eq!(now.body["pending_stage"], Value::Null);
    let h = history(&app, &id).await;
    let rejected = h.iter().find(|e| e["kind"] == "approval_rejected").unwrap();
    assert_eq!(rejected["reason"], "load test failed");
    // A decided approval takes no more votes; the record can be asked for again.
    app.call_as(
        Some(&presales),
        trellis_tests::reqwest::Method::POST,
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(json!({})),
    )
    .await
    .expect(409);
    move_to(&app, &rep, &id, json!({"to": "tech_passed"})).await.expect(202);
}

async fn moving_to_lost_needs_a_comment_and_works_from_any_stage(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sop_app()).await;
    let id = app.create("sales", "deal", json!({"title": "T"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = move_to(&app, &app.token, &id, json!({"to": "lost"})).await.expect(409);
    assert_eq!(codes(&r), [("comment".to_string(), "required".to_string())]);
    let r = move_to(&app, &app.token, &id, json!({"to": "lost", "comment": "no budget"}))
        .await
        .expect(200);
    assert_eq!(r.body["record"]["stage"], "lost");
    // No way back defined: lost → first contact is not a transition; unknown stages are named.
    let r = move_to(&app, &app.token, &id, json!({"to": "first_contact"}))
        .await
        .expect(409);
    assert_eq!(codes(&r), [("to".to_string(), "no_transition".to_string())]);
    let r = move_to(&app, &app.token, &id, json!({"to": "nowhere"}))
        .await
        .expect(400);
    assert_eq!(r.body["errors"][0]["code"], "unknown_stage");
    // A stale If-Match is refused like on PATCH.
    let r = app
        .call_with(
            Some(&app.token.clone()),
            trellis_tests::reqwest::Method::POST,
            &format!("/api/v1/data/sales/deal/{id}/transition"),
            Some(json!({"to": "lost", "comment": "x"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
}

async fn bad_pipelines_are_refused_naming_the_problem(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sop_app()).await;
    let path = "/api/v1/apps/sales/entities/deal/pipeline";
    let cases = [
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}}], "transitions": [{"from": ["a"], "to": "b"}]}),
            "unknown_stage",
        ),
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}}, {"key": "b", "label": {"en": "B"}}]}),
            "unreachable",
        ),
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}}, {"key": "b", "label": {"en": "B"}}],
                   "transitions": [{"from": ["a"], "to": "b", "requires": {"conditions": [
                       {"name": "g", "assert": "record.amount >", "message": {"en": "x"}}]}}]}),
            "script_syntax",
        ),
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}, "sla": {"hours": 2, "owner_role": "nobody"}}]}),
            "unknown_role",
        ),
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}, "entry": {"fields": ["nope"]}}]}),
            "unknown_field",
        ),
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}}, {"key": "b", "label": {"en": "B"}}],
                   "transitions": [{"from": ["a"], "to": "b", "requires": {"conditions": [
                       {"name": "g", "assert": "record.nope > 1", "message": {"en": "x"}}]}}]}),
            "unknown_field",
        ),
        (json!({"stages": []}), "schema_minItems"),
        (
            json!({"stages": [{"key": "a", "label": {"en": "A"}, "sla": {"hours": 2, "calendar": "nowhere"}}]}),
            "unknown_calendar",
        ),
    ];
    let before = app.get("/api/v1/apps/sales").await.expect(200).body["version"].clone();
    for (def, code) in cases {
        let r = app.put(path, def.clone()).await;
        assert_eq!(r.status, 422, "{def}: {}", r.text);
        assert!(
            codes(&r).iter().any(|(_, c)| c == code),
            "{def}: expected {code} in {}",
            r.text
        );
    }
    assert_eq!(app.get("/api/v1/apps/sales").await.expect(200).body["version"], before);
    // A good pipeline replaces the old one; existing records keep a stage of the new one.
    app.create("sales", "deal", json!({"title": "T"})).await;
    let r = app
        .put(
            path,
            json!({"stages": [{"key": "first_contact", "label": {"en": "A"}}, {"key": "b", "label": {"en": "B"}}],
                   "transitions": [{"from": ["first_contact"], "to": "b"}]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["applied"], true);
    assert_eq!(app.get(path).await.expect(200).body["stages"][1]["key"], "b");
    // A stage that holds records cannot be removed.
    let r = app
        .put(path, json!({"stages": [{"key": "b", "label": {"en": "B"}}]}))
        .await
        .expect(409);
    assert!(
        r.body["detail"].as_str().unwrap().contains("first_contact"),
        "{}",
        r.text
    );
}

async fn an_overdue_record_is_escalated_once_even_across_a_restart(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = sop_app();
    def["entities"][0]["pipeline"]["stages"][0]["sla"] =
        json!({"seconds": 2, "escalate_to": {"role": "sales_supervisor"}});
    app.create_app(def).await;
    let (sup_id, sup) = member(&app, "sales", "sup@example.com", &["sales_supervisor"]).await;
    let fast = app.create("sales", "deal", json!({"title": "late"})).await;
    let id = fast["id"].as_str().unwrap().to_string();
    // One that leaves the stage in time is never escalated.
    let on_time = app
        .create(
            "sales",
            "deal",
            json!({"title": "on time", "budget": "1", "decision_maker": "x", "use_case": "y"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    move_to(&app, &app.token, &on_time, json!({"to": "needs_confirmed"}))
        .await
        .expect(200);
    // The node goes down before the SLA is due and comes back after: the timer is a row.
    let app = app.restart().await;
    let mut breached = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        breached =
            app.get(&format!("/api/v1/data/sales/deal/{id}")).await.expect(200).body["stage_breached_at"].clone();
        if !breached.is_null() {
            break;
        }
    }
    assert!(breached.is_string(), "the SLA timer did not fire");
    // A few more sweeps change nothing: one breach event, one notification each.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let h = history(&app, &id).await;
    let breaches: Vec<&Value> = h.iter().filter(|e| e["kind"] == "sla_breached").collect();
    assert_eq!(breaches.len(), 1, "{h:?}");
    assert_eq!(breaches[0]["escalated_to"], json!([sup_id]));
    let inbox = app
        .call_as(
            Some(&sup),
            trellis_tests::reqwest::Method::GET,
            "/api/v1/notifications?limit=10",
            None,
        )
        .await
        .expect(200)
        .body;
    let inbox = inbox["data"].as_array().expect("notifications");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["kind"], "sla_breached");
    let on_time = app.get(&format!("/api/v1/data/sales/deal/{on_time}")).await.expect(200);
    assert_eq!(on_time.body["stage_breached_at"], Value::Null);
}

async fn the_board_counts_and_sums_each_stage_in_one_call(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sop_app()).await;
    for (title, amount) in [("a", "10"), ("b", "20.5"), ("c", "7")] {
        app.create("sales", "deal", json!({"title": title, "amount": amount}))
            .await;
    }
    let lost = app
        .create("sales", "deal", json!({"title": "d", "amount": "100"}))
        .await;
    move_to(
        &app,
        &app.token,
        lost["id"].as_str().unwrap(),
        json!({"to": "lost", "comment": "x"}),
    )
    .await
    .expect(200);
    let r = app
        .get("/api/v1/data/sales/deal/board?sum=amount&limit=2&sort=title")
        .await
        .expect(200);
    let stages = r.body["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 7);
    assert_eq!(stages[0]["key"], "first_contact");
    assert_eq!(stages[0]["count"], 3);
    assert_eq!(stages[0]["sums"]["amount"], json!(37.5));
    assert_eq!(stages[0]["records"].as_array().unwrap().len(), 2);
    assert_eq!(stages[0]["records"][0]["title"], "a");
    assert!(stages[0]["next_cursor"].is_string());
    assert_eq!(stages[0]["may_move_to"], json!(["needs_confirmed", "lost"]));
    assert_eq!(stages[6]["count"], 1);
    assert_eq!(stages[6]["sums"]["amount"], json!(100.0));
    assert_eq!(stages[1]["count"], 0);
    // One filter applies to every column.
    let r = app
        .get("/api/v1/data/sales/deal/board?filter=%7B%22field%22%3A%22amount%22%2C%22op%22%3A%22gt%22%2C%22value%22%3A8%7D")
        .await
        .expect(200);
    assert_eq!(r.body["stages"][0]["count"], 2);
    app.get("/api/v1/data/sales/deal/board?sum=title").await.expect(400);
}

async fn the_sla_due_time_counts_working_hours_of_the_business_calendar(backend: Backend) {
    let app = spawn(backend).await;
    let cal = json!({"timezone": "Asia/Shanghai",
        "hours": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
                  "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]]},
        "holidays": ["2026-12-25"]});
    app.put("/api/v1/calendars/office", cal.clone()).await;
    let mut def = sop_app();
    def["entities"][0]["pipeline"]["stages"][0]["sla"] = json!({"hours": 2, "calendar": "office"});
    app.create_app(def).await;
    let deal = app.create("sales", "deal", json!({"title": "T"})).await;
    let created = trellis_tests::chrono::DateTime::parse_from_rfc3339(deal["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&trellis_tests::chrono::Utc);
    let calendar =
        trellis_core::calendar::Calendar::compile(&trellis_tests::serde_json::from_value(cal).unwrap()).unwrap();
    let want = calendar.add(created, trellis_tests::chrono::TimeDelta::hours(2));
    let due = trellis_tests::chrono::DateTime::parse_from_rfc3339(deal["stage_due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due.timestamp_micros(), want.timestamp_micros());
    // Unless it is a working day between 09:00 and 16:00 in Shanghai, that is not 2 h of wall time.
    assert_eq!(
        calendar.working_between(created, want),
        trellis_tests::chrono::TimeDelta::hours(2)
    );
}

pub(crate) async fn ticket(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/data/desk/ticket/{id}"))
        .await
        .expect(200)
        .body
}

/// Records that exist before their entity gets a pipeline enter its initial stage then, with
/// that stage's SLA counted from then: their timers fire like those of new records.
async fn records_that_predate_a_pipeline_get_the_initial_stages_sla(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "desk", "label": {"en": "Desk"},
        "entities": [{"name": "ticket", "label": {"en": "Ticket"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true}
        ]}]
    }))
    .await;
    let mut ids = Vec::new();
    for t in ["old one", "old two"] {
        ids.push(
            app.create("desk", "ticket", json!({"title": t})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    app.put(
        "/api/v1/apps/desk/entities/ticket/pipeline",
        json!({"stages": [{"key": "open", "label": {"en": "Open"}, "sla": {"seconds": 2}},
                          {"key": "closed", "label": {"en": "Closed"}}],
               "transitions": [{"from": ["open"], "to": "closed"}]}),
    )
    .await
    .expect(200);
    for id in &ids {
        let r = ticket(&app, id).await;
        assert_eq!(r["stage"], "open");
        assert!(r["stage_due_at"].is_string(), "{r}");
        assert_eq!(r["stage_breached_at"], Value::Null);
    }
    let mut breached = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        breached = 0;
        for id in &ids {
            let r = ticket(&app, id).await;
            if r["stage_breached_at"].is_string() {
                breached += 1;
            }
        }
        if breached == ids.len() {
            break;
        }
    }
    assert_eq!(
        breached,
        ids.len(),
        "the SLA timers of the records that predate the pipeline did not fire"
    );
    let h = app
        .get(&format!("/api/v1/data/desk/ticket/{}/history", ids[0]))
        .await
        .expect(200)
        .body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(h.iter().filter(|e| e["kind"] == "sla_breached").count(), 1, "{h:?}");
}

on_both!(
    records_that_predate_a_pipeline_get_the_initial_stages_sla,
    the_seed_sop_runs_end_to_end,
    a_rejection_returns_the_record_with_its_reason,
    moving_to_lost_needs_a_comment_and_works_from_any_stage,
    bad_pipelines_are_refused_naming_the_problem,
    an_overdue_record_is_escalated_once_even_across_a_restart,
    the_board_counts_and_sums_each_stage_in_one_call,
    the_sla_due_time_counts_working_hours_of_the_business_calendar,
);
