//! Comments on a record and its timeline (issue 15, point 7) over HTTP on SQLite and PostgreSQL:
//! a comment is read and written by whoever may read the record (out of scope: 404, as the
//! record), its mentions notify only users who may read the record (the others are reported),
//! bad bodies write nothing, only its author deletes it; the timeline tells the record's story
//! with the changes of hidden fields veiled.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

/// Deals read by reps in their own scope (`secret` hidden from them), by managers all of them;
/// outsiders read memos only. Deals move open → review → done, done needing a manager's
/// approval; rule `stamp` notes every change of the amount.
fn desk() -> Value {
    json!({
        "name": "desk", "label": {"en": "Desk"},
        "entities": [
            {"name": "memo", "label": {"en": "Memo"}, "fields": [
                {"name": "text", "label": {"en": "Text"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "title_field": "title", "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "amount", "label": {"en": "Amount"}, "type": "integer"},
                {"name": "note", "label": {"en": "Note"}, "type": "text"},
                {"name": "secret", "label": {"en": "Secret"}, "type": "integer"}],
             "pipeline": {
                "stages": [
                    {"key": "open", "label": {"en": "Open"}},
                    {"key": "review", "label": {"en": "Review"}},
                    {"key": "done", "label": {"en": "Done"}, "kind": "won"}],
                "transitions": [
                    {"from": ["open"], "to": "review"},
                    {"from": ["review"], "to": "done", "approval": {"roles": ["manager"], "mode": "any"}}]}}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "transition": true, "scope": "own", "fields": {"secret": "hidden"}}}},
            {"name": "manager", "label": {"en": "Manager"}, "permissions": {
                "deal": {"read": true, "update": true}}},
            {"name": "outsider", "label": {"en": "Outsider"}, "permissions": {"memo": {"read": true}}}
        ],
        "rules": [
            {"name": "stamp", "trigger": {"type": "field_changed", "entity": "deal", "field": "amount"},
             "actions": [{"type": "set_fields", "values": {"note": "amount checked"}}]}
        ]
    })
}

fn comments_path(id: &str) -> String {
    format!("/api/v1/data/desk/deal/{id}/comments")
}

async fn as_user(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

/// The caller's `mention` notifications.
async fn mentions_of(app: &TestApp, token: &str) -> Vec<Value> {
    let inbox = as_user(app, token, Method::GET, "/api/v1/notifications", None)
        .await
        .expect(200)
        .body;
    inbox["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "mention")
        .cloned()
        .collect()
}

async fn a_mention_notifies_only_those_who_may_read_the_record(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(desk()).await;
    let (alice, alice_t) = app.user("desk", "alice", Some("rep")).await;
    let (bob, bob_t) = app.user("desk", "bob", Some("rep")).await;
    let (mia, mia_t) = app.user("desk", "mia", Some("manager")).await;
    let (olga, olga_t) = app.user("desk", "olga", Some("outsider")).await;
    let deal = as_user(
        &app,
        &alice_t,
        Method::POST,
        "/api/v1/data/desk/deal",
        Some(json!({"title": "Big one", "amount": 5})),
    )
    .await
    .expect(201)
    .body;
    let id = deal["id"].as_str().unwrap().to_string();
    let nobody = "0190d6a4-0000-7000-8000-000000000000";

    // Alice mentions the manager (who reads every deal), Bob (a rep: only his own deals),
    // Olga (no read right on deals), an id that is nobody, and herself.
    let body = format!("@[{mia}] please look; @[{bob}] @[{olga}] @[{nobody}] @[{alice}] and @[{mia}] again");
    let posted = as_user(
        &app,
        &alice_t,
        Method::POST,
        &comments_path(&id),
        Some(json!({"body": body})),
    )
    .await
    .expect(201)
    .body;
    let outcomes: Vec<(Value, Value, Value)> = posted["mentions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user"].clone(), m["notified"].clone(), m["reason"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (json!(mia), json!(true), Value::Null),
            (json!(bob), json!(false), json!("cannot_read")),
            (json!(olga), json!(false), json!("cannot_read")),
            (json!(nobody), json!(false), json!("no_such_user")),
            (json!(alice), json!(false), json!("author")),
        ],
        "{posted}"
    );
    assert_eq!(posted["mentions"][0]["name"], "mia");
    assert_eq!(posted["mentions"][3]["name"], Value::Null);
    let comment = &posted["comment"];
    assert_eq!(comment["body"], json!(body));
    assert_eq!(comment["author"], json!(alice));
    assert_eq!(comment["author_name"], "alice");
    assert_eq!(comment["can_delete"], true);
    let named: Vec<&str> = comment["mentions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["mia", "bob", "olga", "alice"]);
    let cid = comment["id"].as_str().unwrap().to_string();

    // Mia has the notification; nobody else has one.
    let got = mentions_of(&app, &mia_t).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["data"]["record"], json!(id));
    assert_eq!(got[0]["data"]["comment"], json!(cid));
    assert_eq!(got[0]["data"]["entity"], "deal");
    assert_eq!(got[0]["title"]["en"], "alice mentioned you in a comment");
    for t in [&bob_t, &olga_t, &alice_t] {
        assert!(mentions_of(&app, t).await.is_empty());
    }

    // Mia reads the comment and may comment too (reading is enough); she may not delete
    // Alice's comment.
    let page = as_user(&app, &mia_t, Method::GET, &comments_path(&id), None)
        .await
        .expect(200)
        .body;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], json!(cid));
    assert_eq!(page["data"][0]["can_delete"], false);
    assert_eq!(page["next_cursor"], Value::Null);
    as_user(
        &app,
        &mia_t,
        Method::DELETE,
        &format!("{}/{cid}", comments_path(&id)),
        None,
    )
    .await
    .expect_problem(403, "permission_denied");
    as_user(
        &app,
        &mia_t,
        Method::POST,
        &comments_path(&id),
        Some(json!({"body": "on it"})),
    )
    .await
    .expect(201);

    // Out of Bob's scope the comments are as missing as the record; Olga, without the read
    // right, is refused as the record refuses her. Neither writes anything.
    let record = format!("/api/v1/data/desk/deal/{id}");
    for (t, status) in [(&bob_t, 404), (&olga_t, 403)] {
        let r = as_user(&app, t, Method::GET, &record, None).await;
        assert_eq!(r.status, status, "{}", r.text);
        let code = r.code().to_string();
        as_user(&app, t, Method::GET, &comments_path(&id), None)
            .await
            .expect_problem(status, &code);
        as_user(
            &app,
            t,
            Method::POST,
            &comments_path(&id),
            Some(json!({"body": "let me in"})),
        )
        .await
        .expect_problem(status, &code);
        as_user(&app, t, Method::DELETE, &format!("{}/{cid}", comments_path(&id)), None)
            .await
            .expect_problem(status, &code);
        as_user(&app, t, Method::GET, &format!("{record}/timeline"), None)
            .await
            .expect_problem(status, &code);
    }
    assert_eq!(
        app.get(&comments_path(&id)).await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The comment is in the record's history (the event automation reacts to), then its author
    // deletes it: gone from the list, its deletion in the history.
    let history = app.get(&format!("{record}/history")).await.expect(200).body;
    let created: Vec<&Value> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "comment_created")
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["comment"], json!(cid));
    assert_eq!(created[0]["actor"], json!(alice));
    assert_eq!(created[0]["mentions"], json!([mia, bob, olga, alice]));
    as_user(
        &app,
        &alice_t,
        Method::DELETE,
        &format!("{}/{cid}", comments_path(&id)),
        None,
    )
    .await
    .expect(204);
    as_user(
        &app,
        &alice_t,
        Method::DELETE,
        &format!("{}/{cid}", comments_path(&id)),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    let page = app.get(&comments_path(&id)).await.expect(200).body;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["body"], "on it");
    let history = app.get(&format!("{record}/history")).await.expect(200).body;
    assert!(
        history["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "comment_deleted" && e["comment"] == json!(cid)),
        "{history}"
    );

    // A tenant administrator may delete anyone's comment.
    let mias = page["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(page["data"][0]["can_delete"], true);
    app.delete(&format!("{}/{mias}", comments_path(&id))).await.expect(204);

    // Deleting the record deletes its comments.
    as_user(
        &app,
        &alice_t,
        Method::POST,
        &comments_path(&id),
        Some(json!({"body": "last words"})),
    )
    .await
    .expect(201);
    app.delete(&record).await.expect(204);
    app.get(&comments_path(&id)).await.expect_problem(404, "not_found");
}

async fn bad_comments_are_refused_and_write_nothing(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(desk()).await;
    let (mia, mia_t) = app.user("desk", "mia", Some("manager")).await;
    let deal = app.create("desk", "deal", json!({"title": "T"})).await;
    let id = deal["id"].as_str().unwrap().to_string();
    let path = comments_path(&id);
    let errors = |r: &Resp| r.errors();
    let long = "x".repeat(10_001);
    for (body, status, code, field_code) in [
        (json!({"body": ""}), 422, "validation_failed", ("body", "empty")),
        (json!({"body": " \n\t "}), 422, "validation_failed", ("body", "empty")),
        (json!({"body": long}), 422, "validation_failed", ("body", "too_long")),
        (
            json!({"body": "a\u{0}b"}),
            422,
            "validation_failed",
            ("body", "invalid"),
        ),
        (
            json!({"body": format!("hi @[{mia}]"), "notify": true}),
            422,
            "validation_failed",
            ("notify", "unknown_field"),
        ),
        (json!({}), 400, "bad_request", ("body", "required")),
    ] {
        let r = app.post(&path, body.clone()).await.expect_problem(status, code);
        assert_eq!(
            errors(&r),
            vec![(field_code.0.to_string(), field_code.1.to_string())],
            "{body}"
        );
    }
    for body in [json!({"body": 5}), json!([]), json!("text")] {
        let r = app.post(&path, body.clone()).await;
        assert!(r.status == 400 || r.status == 422, "{body}: {}", r.text);
    }
    let mentions: String = (0..51)
        .map(|i| format!("@[0190d6a4-0000-7000-8000-{i:012}] "))
        .collect();
    let r = app
        .post(&path, json!({"body": mentions}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(errors(&r), vec![("body".to_string(), "count".to_string())]);
    // Nothing was written: no comment, no event, no notification.
    assert!(
        app.get(&path).await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let history = app.get(&format!("/api/v1/data/desk/deal/{id}/history")).await.body;
    assert!(!history.to_string().contains("comment_created"), "{history}");
    assert!(mentions_of(&app, &mia_t).await.is_empty());

    // The longest comment is fine; bad paging and unknown comments answer problems.
    app.post(&path, json!({"body": "y".repeat(10_000)})).await.expect(201);
    app.get(&format!("{path}?cursor=nope"))
        .await
        .expect_problem(400, "bad_request");
    app.get(&format!("{path}?limit=0"))
        .await
        .expect_problem(400, "bad_request");
    app.get(&format!("{path}?limit=501"))
        .await
        .expect_problem(400, "bad_request");
    app.delete(&format!("{path}/nope"))
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("{path}/0190d6a4-0000-7000-8000-000000000000"))
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/data/desk/deal/not-an-id/comments")
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/data/desk/nosuch/0190d6a4-0000-7000-8000-000000000000/comments")
        .await
        .expect_problem(404, "not_found");

    // Paging: three more comments, two per page, newest last.
    for i in 0..3 {
        app.post(&path, json!({"body": format!("c{i}")})).await.expect(201);
    }
    let mut bodies = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = app.get(&format!("{path}?limit=2{q}")).await.expect(200).body;
        for c in page["data"].as_array().unwrap() {
            bodies.push(c["body"].as_str().unwrap().chars().take(2).collect::<String>());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(bodies, ["yy", "c0", "c1", "c2"]);
}

/// The types of a timeline's entries, in order.
fn types(t: &Value) -> Vec<String> {
    t["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

async fn the_timeline_tells_the_story_with_hidden_fields_veiled(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(desk()).await;
    let (_, alice_t) = app.user("desk", "alice", Some("rep")).await;
    let (_, bob_t) = app.user("desk", "bob", Some("rep")).await;
    let (_, mia_t) = app.user("desk", "mia", Some("manager")).await;
    let deal = as_user(
        &app,
        &alice_t,
        Method::POST,
        "/api/v1/data/desk/deal",
        Some(json!({"title": "T", "amount": 1})),
    )
    .await
    .expect(201)
    .body;
    let id = deal["id"].as_str().unwrap().to_string();
    let record = format!("/api/v1/data/desk/deal/{id}");

    // The administrator sets the secret (hidden from reps) alone, then with the title.
    app.patch(&record, json!({"secret": 987_654})).await.expect(200);
    app.patch(&record, json!({"secret": 123_456, "title": "T2"}))
        .await
        .expect(200);
    // Alice changes the amount: rule `stamp` runs and notes it.
    as_user(&app, &alice_t, Method::PATCH, &record, Some(json!({"amount": 2})))
        .await
        .expect(200);
    app.eventually(&record, |r| r["note"] == "amount checked").await;
    app.eventually("/api/v1/apps/desk/rules/stamp/runs", |b| {
        b["data"]
            .as_array()
            .is_some_and(|d| d.len() == 1 && d[0]["status"] == "done")
    })
    .await;
    // She moves it on, asks for the approval Mia gives, and comments.
    as_user(
        &app,
        &alice_t,
        Method::POST,
        &format!("{record}/transition"),
        Some(json!({"to": "review"})),
    )
    .await
    .expect(200);
    let pending = as_user(
        &app,
        &alice_t,
        Method::POST,
        &format!("{record}/transition"),
        Some(json!({"to": "done", "comment": "ready"})),
    )
    .await
    .expect(202)
    .body;
    let approval = pending["approval"]["id"].as_str().unwrap().to_string();
    as_user(
        &app,
        &mia_t,
        Method::POST,
        &format!("/api/v1/approvals/{approval}/approve"),
        Some(json!({"comment": "fine"})),
    )
    .await
    .expect(200);
    as_user(
        &app,
        &alice_t,
        Method::POST,
        &comments_path(&id),
        Some(json!({"body": "done!"})),
    )
    .await
    .expect(201);

    // As Alice: the secret's changes are veiled, neither named nor valued.
    let t = as_user(&app, &alice_t, Method::GET, &format!("{record}/timeline"), None)
        .await
        .expect(200)
        .body;
    let text = t.to_string();
    assert!(
        !text.contains("secret") && !text.contains("987654") && !text.contains("123456"),
        "{t}"
    );
    let ty = types(&t);
    assert_eq!(ty[0], "created");
    let data = t["data"].as_array().unwrap();
    assert_eq!(data[1]["type"], "fields_changed");
    assert_eq!(data[1]["changes"], json!([]));
    assert_eq!(data[1]["veiled"], true);
    assert_eq!(data[2]["changes"], json!([{"field": "title", "from": "T", "to": "T2"}]));
    assert_eq!(data[2]["veiled"], true);
    assert_eq!(data[3]["changes"], json!([{"field": "amount", "from": 1, "to": 2}]));
    assert_eq!(data[3]["veiled"], false);
    // The rule's run, started by the change of the amount, then its own change, made through
    // the rule.
    assert_eq!(data[4]["type"], "rule_run", "{t}");
    assert_eq!(data[4]["rule"], "stamp");
    assert_eq!(data[4]["status"], "done");
    assert_eq!(data[5]["type"], "fields_changed");
    assert_eq!(data[5]["via"], "rule:stamp");
    assert_eq!(
        data[5]["changes"],
        json!([{"field": "note", "from": null, "to": "amount checked"}])
    );
    let tail: Vec<String> = ty.iter().rev().take(6).rev().cloned().collect();
    assert_eq!(
        tail,
        [
            "stage_moved",
            "approval_requested",
            "approval_voted",
            "approval_decided",
            "stage_moved",
            "comment"
        ],
        "{t}"
    );
    let n = data.len();
    assert_eq!(data[n - 6]["to"], "review");
    assert_eq!(data[n - 5]["comment"], "ready");
    assert_eq!(data[n - 4]["decision"], "approve");
    assert_eq!(data[n - 4]["comment"], "fine");
    assert_eq!(data[n - 3]["status"], "approved");
    assert_eq!(data[n - 2]["to"], "done");
    assert_eq!(data[n - 1]["comment"]["body"], "done!");
    // Oldest first, ids ascending.
    let ids: Vec<&str> = data.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);

    // The administrator sees the secret's changes.
    let full = app.get(&format!("{record}/timeline")).await.expect(200).body;
    assert_eq!(
        full["data"][1]["changes"],
        json!([{"field": "secret", "from": null, "to": 987_654}])
    );
    assert_eq!(full["data"][1]["veiled"], false);
    assert_eq!(types(&full), ty);

    // Pages of two make the same timeline.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let page = as_user(
            &app,
            &alice_t,
            Method::GET,
            &format!("{record}/timeline?limit=2{q}"),
            None,
        )
        .await
        .expect(200)
        .body;
        paged.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(Value::Array(paged), t["data"]);

    // Bob, a rep without this deal in his scope, is answered as for the record.
    as_user(&app, &bob_t, Method::GET, &format!("{record}/timeline"), None)
        .await
        .expect_problem(404, "not_found");
    app.get(&format!("{record}/timeline?cursor=x"))
        .await
        .expect_problem(400, "bad_request");
    app.get(&format!("{record}/timeline?limit=1001"))
        .await
        .expect_problem(400, "bad_request");
}

/// A rule with the `comment_created` trigger runs on each new comment of its entity, with the
/// comment in `event`.
async fn a_comment_starts_the_rules_that_watch_comments(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = desk();
    def["rules"].as_array_mut().unwrap().push(json!(
        {"name": "echo", "trigger": {"type": "comment_created", "entity": "deal"},
         "actions": [{"type": "set_fields", "values": {"note": "said: {{event.body}}"}}]}));
    app.create_app(def).await;
    let deal = app.create("desk", "deal", json!({"title": "T"})).await;
    let id = deal["id"].as_str().unwrap().to_string();
    let memo = app.create("desk", "memo", json!({"text": "m"})).await;
    app.post(&comments_path(&id), json!({"body": "hello there"}))
        .await
        .expect(201);
    let record = format!("/api/v1/data/desk/deal/{id}");
    app.eventually(&record, |r| r["note"] == "said: hello there").await;
    let runs = app
        .eventually("/api/v1/apps/desk/rules/echo/runs", |b| {
            b["data"]
                .as_array()
                .is_some_and(|d| d.len() == 1 && d[0]["status"] == "done")
        })
        .await;
    assert_eq!(runs["data"][0]["record"], json!(id), "{runs}");
    // A comment on another entity starts nothing: by the time the next comment on the deal has
    // run (events are dispatched in order), the memo's would have too.
    let memo_id = memo["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/data/desk/memo/{memo_id}/comments"),
        json!({"body": "x"}),
    )
    .await
    .expect(201);
    app.post(&comments_path(&id), json!({"body": "again"}))
        .await
        .expect(201);
    app.eventually(&record, |r| r["note"] == "said: again").await;
    let runs = app
        .eventually("/api/v1/apps/desk/rules/echo/runs", |b| {
            b["data"]
                .as_array()
                .is_some_and(|d| d.iter().all(|r| r["status"] == "done"))
        })
        .await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 2, "{runs}");
    let t = app.get(&format!("{record}/timeline")).await.expect(200).body;
    let ty = types(&t);
    let tail: Vec<&str> = ty.iter().rev().take(6).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "comment",
            "rule_run",
            "fields_changed",
            "comment",
            "rule_run",
            "fields_changed"
        ],
        "{t}"
    );
}

/// A rule that watches a field hidden from the reader is not in their view: its runs are left
/// out of their timeline and its writes say only `via: "rule"`, as whether it ran would tell of
/// the hidden value.
async fn the_runs_of_a_rule_reading_a_hidden_field_are_left_out(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = desk();
    def["rules"].as_array_mut().unwrap().push(json!(
        {"name": "peek", "trigger": {"type": "field_changed", "entity": "deal", "field": "secret"},
         "actions": [{"type": "set_fields", "values": {"note": "peeked"}}]}));
    app.create_app(def).await;
    let (_, alice_t) = app.user("desk", "alice", Some("rep")).await;
    let deal = as_user(
        &app,
        &alice_t,
        Method::POST,
        "/api/v1/data/desk/deal",
        Some(json!({"title": "T"})),
    )
    .await
    .expect(201)
    .body;
    let record = format!("/api/v1/data/desk/deal/{}", deal["id"].as_str().unwrap());
    app.patch(&record, json!({"secret": 5})).await.expect(200);
    app.eventually(&record, |r| r["note"] == "peeked").await;
    app.eventually("/api/v1/apps/desk/rules/peek/runs", |b| {
        b["data"]
            .as_array()
            .is_some_and(|d| d.len() == 1 && d[0]["status"] == "done")
    })
    .await;

    let full = app.get(&format!("{record}/timeline")).await.expect(200).body;
    assert_eq!(
        types(&full),
        ["created", "fields_changed", "rule_run", "fields_changed"],
        "{full}"
    );
    assert_eq!(full["data"][2]["rule"], "peek");
    assert_eq!(full["data"][3]["via"], "rule:peek");
    let t = as_user(&app, &alice_t, Method::GET, &format!("{record}/timeline"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(types(&t), ["created", "fields_changed", "fields_changed"], "{t}");
    assert_eq!(t["data"][1]["veiled"], true);
    assert_eq!(t["data"][2]["via"], "rule");
    assert_eq!(
        t["data"][2]["changes"],
        json!([{"field": "note", "from": null, "to": "peeked"}])
    );
    assert!(!t.to_string().contains("peek\""), "{t}");
}

/// The names of the users `token` is offered to mention on deal `id`, with `query`.
async fn offered(app: &TestApp, token: &str, id: &str, query: &str) -> Vec<String> {
    let page = as_user(
        app,
        token,
        Method::GET,
        &format!("/api/v1/data/desk/deal/{id}/mentionable{query}"),
        None,
    )
    .await
    .expect(200)
    .body;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["id", "name"], "only ids and names: {u}");
            u["name"].as_str().unwrap().to_string()
        })
        .collect()
}

async fn only_users_who_may_read_the_record_are_offered_for_a_mention(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(desk()).await;
    let (_, alice_t) = app.user("desk", "alice", Some("rep")).await;
    let (_, bob_t) = app.user("desk", "bob", Some("rep")).await;
    let (_, mia_t) = app.user("desk", "mia", Some("manager")).await;
    app.user("desk", "max", Some("manager")).await;
    let (_, olga_t) = app.user("desk", "olga", Some("outsider")).await;
    let deal = as_user(
        &app,
        &alice_t,
        Method::POST,
        "/api/v1/data/desk/deal",
        Some(json!({"title": "Big one", "amount": 5})),
    )
    .await
    .expect(201)
    .body;
    let id = deal["id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/data/desk/deal/{id}"), json!({"secret": 7}))
        .await
        .expect(200);

    // Alice (a rep, `secret` hidden from her) is offered the managers and the administrator,
    // not herself, not Bob (the deal is outside his scope), not Olga (no read right on deals).
    let all = offered(&app, &alice_t, &id, "").await;
    assert!(
        all.contains(&"mia".to_string()) && all.contains(&"max".to_string()),
        "{all:?}"
    );
    for not in ["alice", "bob", "olga"] {
        assert!(!all.iter().any(|n| n == not), "{not} offered: {all:?}");
    }
    let mut sorted = all.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(all, sorted, "by name");
    // The search matches names and e-mails in any case; the limit cuts the list.
    assert_eq!(offered(&app, &alice_t, &id, "?q=MIA").await, ["mia"]);
    assert_eq!(offered(&app, &alice_t, &id, "?q=max%40example").await, ["max"]);
    assert!(offered(&app, &alice_t, &id, "?q=bob").await.is_empty());
    assert_eq!(offered(&app, &alice_t, &id, "?q=m&limit=1").await.len(), 1);
    // Mia is offered Alice (her own deal) but not Bob.
    let from_mia = offered(&app, &mia_t, &id, "").await;
    assert!(
        from_mia.contains(&"alice".to_string()) && !from_mia.contains(&"bob".to_string()),
        "{from_mia:?}"
    );

    // Bob (out of scope) and Olga (no read right) are answered as the record answers them.
    let path = format!("/api/v1/data/desk/deal/{id}/mentionable");
    as_user(&app, &bob_t, Method::GET, &path, None)
        .await
        .expect_problem(404, "not_found");
    as_user(&app, &olga_t, Method::GET, &path, None)
        .await
        .expect_problem(403, "permission_denied");
    // Bad limits and searches are 400 naming the parameter, as the other lists answer them.
    for (query, field) in [("?limit=0", "limit"), ("?limit=101", "limit")] {
        let r = as_user(&app, &alice_t, Method::GET, &format!("{path}{query}"), None).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
    }
    let long = "x".repeat(101);
    let r = as_user(&app, &alice_t, Method::GET, &format!("{path}?q={long}"), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "q");
}

on_both!(
    only_users_who_may_read_the_record_are_offered_for_a_mention,
    the_runs_of_a_rule_reading_a_hidden_field_are_left_out,
    a_comment_starts_the_rules_that_watch_comments,
    a_mention_notifies_only_those_who_may_read_the_record,
    bad_comments_are_refused_and_write_nothing,
    the_timeline_tells_the_story_with_hidden_fields_veiled
);
