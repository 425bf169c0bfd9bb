//! Role permissions, checked inside: the audit trail's retention with the automation stopped
//! and the purge run at a chosen time, the planner statistics of a team scope, and the indexes
//! (owner-keyed, declared, unique) the database holds for the roles and definitions. Each test
//! runs on SQLite and on PostgreSQL, but the one on SQLite's statistics.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

use crate::blackbox::permissions::{call, get, s, team, urlencode, user, world};

async fn the_audit_trail_holds_definition_role_and_record_changes(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    // With the dispatcher stopped, a new record's event stays in the outbox (the app has a rule,
    // so its events are dispatched, not written done): retention must keep it. The events of
    // `world` were dispatched, so retention may drop them.
    app.post(
        "/api/v1/apps/crm/rules",
        json!({"name": "keep", "trigger": {"type": "record_created", "entity": "customer"},
               "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "new customer"}}]}),
    )
    .await
    .expect(200);
    app.engine().stop_automation();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.create("crm", "customer", json!({"name": "Undispatched"})).await;
    app.post(
        "/api/v1/apps/crm/entities/deal/fields",
        json!({"name": "note", "label": {"en": "Note"}, "type": "text"}),
    )
    .await
    .expect(201);
    let t = app.post("/api/v1/auth/tokens", json!({"name": "ci"})).await.expect(201);
    app.delete(&format!("/api/v1/auth/tokens/{}", s(&t.body["id"])))
        .await
        .expect(204);
    let trail = app.get("/api/v1/apps/crm/audit?limit=1000").await.expect(200);
    let kinds: Vec<(&str, &str)> = trail.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (s(&e["entity"]), s(&e["kind"])))
        .collect();
    for want in [
        ("$app", "app_created"),
        ("$app", "app_changed"),
        ("$roles", "role_member_added"),
        ("deal", "created"),
        ("customer", "created"),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
    }
    assert_eq!(kinds[0], ("$app", "app_changed"), "newest first");
    assert!(trail.body["data"][0]["plan"].is_array(), "{}", trail.body["data"][0]);
    // Paging.
    let page = app.get("/api/v1/apps/crm/audit?limit=2").await.expect(200);
    let next = s(&page.body["next_cursor"]).to_string();
    let rest = app
        .get(&format!("/api/v1/apps/crm/audit?limit=2&cursor={next}"))
        .await
        .expect(200);
    assert_eq!(rest.body["data"][0]["id"], trail.body["data"][2]["id"]);
    // Administrators only; other tenants do not find the app.
    get(app, &w.lead.1, "/api/v1/apps/crm/audit")
        .await
        .expect_problem(403, "permission_denied");
    let other = app.new_tenant("other", "root@other.example").await;
    get(app, &other, "/api/v1/apps/crm/audit")
        .await
        .expect_problem(404, "not_found");
    // Retention: audit events are dispatched at once and go after the retention; record events
    // the automation outbox has not dispatched stay 7 more days.
    app.put("/api/v1/settings", json!({"audit_retention_days": 0}))
        .await
        .expect_problem(422, "validation_failed");
    call(
        app,
        &w.lead.1,
        Method::PUT,
        "/api/v1/settings",
        Some(json!({"audit_retention_days": 5})),
    )
    .await
    .expect_problem(403, "permission_denied");
    let set = app
        .put("/api/v1/settings", json!({"audit_retention_days": 5}))
        .await
        .expect(200);
    assert_eq!(set.body["audit_retention_days"], 5);
    let now = trellis_tests::chrono::Utc::now();
    app.engine()
        .purge_events(now + trellis_tests::chrono::Duration::days(6))
        .await
        .expect("purge");
    let left = app.get("/api/v1/apps/crm/audit?limit=1000").await.expect(200);
    let kinds: Vec<&str> = left.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| s(&e["kind"]))
        .collect();
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == "created"), "{kinds:?}");
    app.engine()
        .purge_events(now + trellis_tests::chrono::Duration::days(13))
        .await
        .expect("purge");
    let left = app.get("/api/v1/apps/crm/audit").await.expect(200);
    assert_eq!(left.body["data"], json!([]));
    let _ = other;
}

/// A team scope that keeps 1 row in 6 of a table whose statistics say so (on PostgreSQL the list
/// then reads the team's rows first and sorts them): sorted, filtered pages, by cursor and by
/// offset, hold exactly the team's matching rows in the list order, and a filter the team's
/// rows never match answers an empty page.
async fn a_selective_team_scope_pages_exactly_the_teams_rows_in_order(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true},
            {"name": "region", "label": {"en": "Region"}, "type": "text", "indexed": true}]}],
        "roles": [{"name": "seller", "label": {"en": "Seller"},
                   "permissions": {"lead": {"read": true, "scope": "team"}}}]
    }))
    .await;
    let mut users = Vec::new();
    for i in 0..12 {
        let email = format!("seller{i}@example.com");
        let u = app
            .post(
                "/api/v1/users",
                json!({"email": email, "name": format!("Seller {i}"), "password": "password-123"}),
            )
            .await
            .expect(201)
            .body;
        users.push(s(&u["id"]).to_string());
    }
    app.post("/api/v1/apps/sales/roles/seller/members", json!({"user": users[0]}))
        .await
        .expect(200);
    team(&app, "mine", None, &[&users[0], &users[1]]).await;
    let rest: Vec<&str> = users[2..].iter().map(String::as_str).collect();
    team(&app, "others", None, &rest).await;
    // 240 leads round the 12 users; amounts repeat and some are empty. The team's rows (users
    // 0 and 1) are all in regions r0 and r1, so `region eq r2` matches 60 rows, none of theirs.
    let amount = |i: usize| (i % 9 != 4).then_some((i * 7 % 11) as i64 * 10);
    let created = app
        .post(
            "/api/v1/data/sales/lead/bulk",
            json!({"create": (0..240).map(|i| json!({
                "title": format!("lead {i}"),
                "amount": amount(i),
                "region": format!("r{}", i % 4),
                "owner": users[i % 12],
            })).collect::<Vec<_>>()}),
        )
        .await
        .expect(200)
        .body;
    let ids: Vec<String> = created["created"]
        .as_array()
        .unwrap_or_else(|| panic!("created: {created}"))
        .iter()
        .map(|r| s(&r["id"]).to_string())
        .collect();
    assert_eq!(ids.len(), 240);
    if backend == Backend::Postgres {
        // The statistics the list's plan is chosen by (a bulk write refreshes them in the
        // background; here they must be there before the first list).
        let db = &app.engine().db;
        db.raw_execute_for_tests("ANALYZE").await.unwrap();
        let table: String = app
            .sql_rows(
                "SELECT relname FROM pg_class WHERE relname LIKE 'rec\\_%' AND relkind = 'r'",
                Vec::new(),
            )
            .await
            .unwrap()
            .first()
            .expect("the lead table")
            .try_get("", "relname")
            .unwrap();
        // They say what the list's plan is chosen by: 240 rows, 40 of them the team's.
        let stats = trellis_tests::trellis_store::records::owner_stats(&db.read, &table)
            .await
            .unwrap()
            .expect("statistics after ANALYZE");
        assert_eq!(stats.rows, 240.0);
        let team = stats.rows_owned_by([users[0].as_str(), users[1].as_str()]);
        assert!((team - 40.0).abs() < 1.0, "the team's rows: {team}");
    }
    let seller = app.login("seller0@example.com", "password-123").await;
    let mine = |i: &usize| i % 12 < 2;
    // The team's leads a filter keeps, in the list order: empty amounts smallest, ties by id in
    // the direction of the sort.
    let expected = |keep: &dyn Fn(usize) -> bool, desc: bool| -> Vec<String> {
        let mut v: Vec<(Option<i64>, &String)> = (0..240)
            .filter(|i| mine(i) && keep(*i))
            .map(|i| (amount(i), &ids[i]))
            .collect();
        v.sort();
        if desc {
            v.reverse();
        }
        v.into_iter().map(|(_, id)| id.clone()).collect()
    };
    let list = async |filter: &Value, sort: &str, extra: &str| -> Resp {
        get(
            &app,
            &seller,
            &format!(
                "/api/v1/data/sales/lead?filter={}&sort={sort}&limit=4{extra}",
                urlencode(&filter.to_string())
            ),
        )
        .await
        .expect(200)
    };
    let page_ids = |r: &Resp| -> Vec<String> {
        let data = r.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {}", r.text));
        assert!(data.len() <= 4, "a page holds at most the limit: {}", r.text);
        data.iter().map(|x| s(&x["id"]).to_string()).collect()
    };
    // Every page by cursor, and every page by offset.
    let walk = async |filter: &Value, sort: &str, extra: &str| -> (Vec<String>, Vec<String>) {
        let (mut by_cursor, mut cursor) = (Vec::new(), String::new());
        loop {
            let r = list(filter, sort, &format!("{extra}{cursor}")).await;
            by_cursor.extend(page_ids(&r));
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={}", urlencode(c)),
                None => break,
            }
        }
        let mut by_offset = Vec::new();
        loop {
            let r = list(filter, sort, &format!("{extra}&offset={}", by_offset.len())).await;
            let page = page_ids(&r);
            by_offset.extend(page.iter().cloned());
            if page.len() < 4 {
                break;
            }
        }
        (by_cursor, by_offset)
    };

    let some_regions = json!({"and": [
        {"field": "region", "op": "in", "value": ["r0", "r1", "r2"]},
        {"field": "amount", "op": "gte", "value": 30}]});
    let want = expected(&|i| amount(i).is_some_and(|a| a >= 30), true);
    assert!(want.len() > 12, "several pages: {}", want.len());
    for extra in ["", "&fields=title"] {
        let (by_cursor, by_offset) = walk(&some_regions, "-amount", extra).await;
        assert_eq!(by_cursor, want, "by cursor {extra}");
        assert_eq!(by_offset, want, "by offset {extra}");
    }
    let r = list(&some_regions, "-amount", "&count=true").await;
    assert_eq!(r.body["total"], json!(want.len()));
    assert_eq!(page_ids(&r), want[..4]);

    // Ascending: the empty amounts first.
    let region_r1 = json!({"field": "region", "op": "eq", "value": "r1"});
    let want = expected(&|i| i % 4 == 1, false);
    assert_eq!(want.len(), 20);
    assert!(amount(ids.iter().position(|id| *id == want[0]).unwrap()).is_none());
    let (by_cursor, by_offset) = walk(&region_r1, "amount", "").await;
    assert_eq!(by_cursor, want);
    assert_eq!(by_offset, want);

    // A filter none of the team's rows match: an empty answer (60 rows match it in the table).
    let region_r2 = json!({"field": "region", "op": "eq", "value": "r2"});
    let r = list(&region_r2, "-amount", "&count=true").await;
    assert_eq!(page_ids(&r), Vec::<String>::new());
    assert_eq!(r.body["next_cursor"], Value::Null);
    assert_eq!(r.body["total"], json!(0));
    let admin = app
        .get(&format!(
            "/api/v1/data/sales/lead?filter={}&count=true&limit=1",
            urlencode(&region_r2.to_string())
        ))
        .await
        .expect(200);
    assert_eq!(admin.body["total"], json!(60));
}

/// The names of the owner-keyed indexes in the database.
async fn owner_index_names(app: &TestApp) -> Vec<String> {
    let sql = if app.engine().db.is_sqlite() {
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ixo\\_%' ESCAPE '\\'"
    } else {
        "SELECT indexname AS name FROM pg_indexes WHERE indexname LIKE 'ixo\\_%' ESCAPE '\\'"
    };
    let rows = app.sql_rows(sql, Vec::new()).await.unwrap();
    rows.iter().map(|r| r.try_get("", "name").unwrap()).collect()
}

/// The owner-keyed indexes by the column they hold after `owner`: system columns by name,
/// fields as `field`.
async fn owner_indexes(app: &TestApp) -> Vec<String> {
    let mut out: Vec<String> = owner_index_names(app)
        .await
        .iter()
        .map(|name| {
            if name.contains("_f_") {
                return "field".to_string();
            }
            let system = ["created_at", "updated_at", "stage"]
                .into_iter()
                .find(|c| name.ends_with(c));
            system
                .unwrap_or_else(|| panic!("an owner index of what? {name}"))
                .to_string()
        })
        .collect();
    out.sort();
    out
}

async fn owner_keyed_indexes_follow_the_roles_and_survive_field_changes(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true},
            {"name": "region", "label": {"en": "Region"}, "type": "text", "indexed": true},
            {"name": "note", "label": {"en": "Note"}, "type": "text"}]},
            {"name": "memo", "label": {"en": "Memo"}}],
        "roles": [{"name": "seller", "label": {"en": "Seller"},
                   "permissions": {"lead": {"read": true, "scope": "team"}, "memo": {"read": true}}}]
    }))
    .await;
    let system = ["created_at", "stage", "updated_at"].map(str::to_string);
    let with_fields = |n: usize| {
        let mut v: Vec<String> = std::iter::repeat_n("field".to_string(), n)
            .chain(system.iter().cloned())
            .collect();
        v.sort();
        v
    };
    // The lead's (3 system columns, amount, region); none for the memo, which every role reads whole.
    assert_eq!(owner_indexes(&app).await, with_fields(2));

    let (s0, seller) = app.user("sales", "seller0", Some("seller")).await;
    let (s1, _) = app.user("sales", "seller1", None).await;
    let (s2, _) = app.user("sales", "seller2", None).await;
    team(&app, "mine", None, &[&s0, &s1]).await;
    let owners = [&s0, &s1, &s2];
    app.post(
        "/api/v1/data/sales/lead/bulk",
        json!({"create": (0..30).map(|i| json!({
            "title": format!("lead {i}"), "amount": i * 10, "region": format!("r{}", i % 3), "owner": owners[i % 3]
        })).collect::<Vec<_>>()}),
    )
    .await
    .expect(200);

    // Dropping an indexed field drops its owner index first (SQLite refuses to drop an indexed
    // column); converting one makes it again over the new column.
    app.delete("/api/v1/apps/sales/entities/lead/fields/region")
        .await
        .expect(200);
    assert_eq!(owner_indexes(&app).await, with_fields(1));
    app.patch(
        "/api/v1/apps/sales/entities/lead/fields/amount",
        json!({"type": "decimal"}),
    )
    .await
    .expect(200);
    assert_eq!(owner_indexes(&app).await, with_fields(1));
    app.post(
        "/api/v1/apps/sales/entities/lead/fields",
        json!({"name": "city", "label": {"en": "City"}, "type": "text", "indexed": true}),
    )
    .await
    .expect(201);
    assert_eq!(owner_indexes(&app).await, with_fields(2));

    // The seller pages the team's rows over the new indexes: leads of seller 0 and 1.
    let filter = urlencode(&json!({"field": "amount", "op": "gte", "value": 100}).to_string());
    let r = get(
        &app,
        &seller,
        &format!("/api/v1/data/sales/lead?filter={filter}&sort=-amount&limit=50"),
    )
    .await
    .expect(200);
    let amounts: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["amount"].to_string())
        .collect();
    let want: Vec<String> = (10..30)
        .rev()
        .filter(|i| i % 3 != 2)
        .map(|i| json!((i * 10) as f64).to_string())
        .collect();
    assert_eq!(amounts, want);

    // A role without an owner scope needs none of them; own is an owner scope again.
    let roles = |scope: &str| {
        json!({"roles": [{"name": "seller", "label": {"en": "Seller"},
                          "permissions": {"lead": {"read": true, "scope": scope}, "memo": {"read": true}}}]})
    };
    app.patch("/api/v1/apps/sales", roles("all")).await.expect(200);
    assert_eq!(owner_indexes(&app).await, Vec::<String>::new());
    app.patch("/api/v1/apps/sales", roles("own")).await.expect(200);
    assert_eq!(owner_indexes(&app).await, with_fields(2));
}

async fn apps_saved_before_owner_keyed_indexes_get_them_at_upgrade(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true}]}],
        "roles": [{"name": "seller", "label": {"en": "Seller"},
                   "permissions": {"lead": {"read": true, "scope": "own"}}}]
    }))
    .await;
    let made = owner_indexes(&app).await;
    assert_eq!(made.len(), 4, "{made:?}");
    // The database as a build of schema version 4 left it: the app without its owner indexes.
    let db = &app.engine().db;
    for name in owner_index_names(&app).await {
        db.raw_execute_for_tests(&format!("DROP INDEX \"{name}\""))
            .await
            .unwrap();
    }
    db.raw_execute_for_tests("UPDATE sys_meta SET value = '4' WHERE key = 'schema_version'")
        .await
        .unwrap();
    assert!(owner_indexes(&app).await.is_empty());
    let app = app.restart().await;
    assert_eq!(owner_indexes(&app).await, made);
}

/// The declared indexes in the database, by name without the table, each with its columns in
/// order, fields by name (`ixc_<table>_board` → `("ixc_board", "phase,amount,id")`).
async fn declared_indexes(app: &TestApp, entity: &str) -> Vec<(String, String)> {
    let sql = if app.engine().db.is_sqlite() {
        "SELECT m.name AS name, (SELECT group_concat(c, ',') FROM \
           (SELECT name AS c FROM pragma_index_info(m.name) ORDER BY seqno)) AS cols \
         FROM sqlite_master m WHERE m.type = 'index' AND m.name LIKE 'ixc%'"
    } else {
        "SELECT i.relname AS name, string_agg(a.attname, ',' ORDER BY k.ord) AS cols \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
         WHERE i.relname LIKE 'ixc%' GROUP BY i.relname"
    };
    let rows = app.sql_rows(sql, Vec::new()).await.unwrap();
    let def = app
        .get(&format!("/api/v1/apps/crm/entities/{entity}"))
        .await
        .expect(200)
        .body;
    let field_of = |column: &str| {
        def["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| format!("f_{}", s(&f["id"])) == column)
            .map(|f| s(&f["name"]).to_string())
            .unwrap_or_else(|| column.to_string())
    };
    let table = format!("rec_{}", s(&def["id"]));
    let mut out: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let name: String = r.try_get("", "name").unwrap();
            let cols: String = r.try_get("", "cols").unwrap();
            let cols: Vec<String> = cols.split(',').map(field_of).collect();
            (name.replace(&format!("_{table}"), ""), cols.join(","))
        })
        .collect();
    out.sort();
    out
}

async fn declared_indexes_serve_scoped_lists_and_follow_field_changes(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "phase", "label": {"en": "Phase"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer"}],
            "indexes": [{"name": "board", "fields": ["phase", "amount"]},
                        {"name": "recent", "fields": ["owner", "updated_at"]}]}],
        "roles": [{"name": "rep", "label": {"en": "Rep"},
                   "permissions": {"deal": {"read": true, "scope": "team"}}}]
    }))
    .await;
    let indexes = |board: &str| {
        vec![
            ("ixc_board".to_string(), format!("{board},id")),
            ("ixc_recent".to_string(), "owner,updated_at,id".to_string()),
            ("ixco_board".to_string(), format!("owner,{board},id")),
        ]
    };
    // With the team scope, the board again with the owner in front (not the one that starts with it).
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,amount"));

    let (r0, rep) = user(&app, "rep0", Some("rep")).await;
    let (r1, _) = user(&app, "rep1", None).await;
    let (r2, _) = user(&app, "rep2", None).await;
    team(&app, "mine", None, &[&r0, &r1]).await;
    let owners = [&r0, &r1, &r2];
    let phases = ["new", "won", "lost"];
    // Deal i: owner i mod 3, phase (i / 3) mod 3, amount i × 10.
    app.post(
        "/api/v1/data/crm/deal/bulk",
        json!({"create": (0..90).map(|i| json!({
            "title": format!("deal {i}"), "phase": phases[(i / 3) % 3], "amount": i * 10, "owner": owners[i % 3]
        })).collect::<Vec<_>>()}),
    )
    .await
    .expect(200);
    let page = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("a list: {}", r.text))
            .iter()
            .map(|x| s(&x["title"]).to_string())
            .collect()
    };
    let want = |in_scope: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..90)
            .rev()
            .filter(|i| phases[(i / 3) % 3] == "won" && i * 10 >= 200 && in_scope(*i))
            .take(10)
            .map(|i| format!("deal {i}"))
            .collect()
    };
    let list = |amount: &str| {
        let filter = json!({"and": [{"field": "phase", "op": "eq", "value": "won"},
                                    {"field": amount, "op": "gte", "value": 200}]});
        format!(
            "/api/v1/data/crm/deal?filter={}&sort=-{amount}&limit=10&fields=title",
            urlencode(&filter.to_string())
        )
    };
    let r = get(&app, &rep, &list("amount")).await.expect(200);
    assert_eq!(page(&r), want(&|i| i % 3 != 2), "the team's deals: rep 0's and 1's");
    let r = app.get(&list("amount")).await.expect(200);
    assert_eq!(page(&r), want(&|_| true));
    // Every page of the team's, by cursor and by offset: the scope of two owners is read in a
    // branch per owner (it holds too many rows to be read first), merged in order.
    let all: Vec<String> = (0..90)
        .rev()
        .filter(|i| phases[(i / 3) % 3] == "won" && i * 10 >= 200 && i % 3 != 2)
        .map(|i| format!("deal {i}"))
        .collect();
    assert_eq!(all.len(), 16);
    let first = list("amount").replace("limit=10", "limit=5");
    let (mut by_cursor, mut next) = (Vec::new(), first.clone());
    loop {
        let r = get(&app, &rep, &next).await.expect(200);
        by_cursor.extend(page(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => next = format!("{first}&cursor={}", urlencode(c)),
            None => break,
        }
    }
    assert_eq!(by_cursor, all);
    let mut by_offset = Vec::new();
    for offset in (0..20).step_by(5) {
        let r = get(&app, &rep, &format!("{first}&offset={offset}")).await.expect(200);
        by_offset.extend(page(&r));
    }
    assert_eq!(by_offset, all);

    // A renamed field stays in its indexes, under its new name; a converted one is indexed again.
    app.patch("/api/v1/apps/crm/entities/deal/fields/amount", json!({"name": "total"}))
        .await
        .expect(200);
    let def = app.get("/api/v1/apps/crm/entities/deal").await.expect(200).body;
    assert_eq!(def["indexes"][0]["fields"], json!(["phase", "total"]));
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,total"));
    app.patch(
        "/api/v1/apps/crm/entities/deal/fields/total",
        json!({"type": "decimal"}),
    )
    .await
    .expect(200);
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,total"));
    let r = get(&app, &rep, &list("total")).await.expect(200);
    assert_eq!(page(&r), want(&|i| i % 3 != 2));

    // A bad index is refused with the reasons, and nothing changes.
    let version = app.get("/api/v1/apps/crm").await.expect(200).body["version"].clone();
    let r = app
        .patch(
            "/api/v1/apps/crm/entities/deal",
            json!({"indexes": [{"name": "board", "fields": ["phase", "total"]},
                               {"name": "odd", "fields": ["nope", "stage"]}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let errors = r.errors();
    for want in [
        ("entities.deal.indexes.odd.fields", "unknown_field"),
        ("entities.deal.indexes.odd.fields", "not_applicable"),
    ] {
        assert!(
            errors.iter().any(|(f, c)| (f.as_str(), c.as_str()) == want),
            "{want:?} in {errors:?}"
        );
    }
    assert_eq!(app.get("/api/v1/apps/crm").await.expect(200).body["version"], version);
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,total"));

    // Without the owner scope the owner-keyed one goes; deleting a field drops the indexes that
    // hold it, from the definition and the database.
    app.patch(
        "/api/v1/apps/crm",
        json!({"roles": [{"name": "rep", "label": {"en": "Rep"},
                          "permissions": {"deal": {"read": true}}}]}),
    )
    .await
    .expect(200);
    assert_eq!(
        declared_indexes(&app, "deal").await,
        vec![
            ("ixc_board".to_string(), "phase,total,id".to_string()),
            ("ixc_recent".to_string(), "owner,updated_at,id".to_string()),
        ]
    );
    app.delete("/api/v1/apps/crm/entities/deal/fields/phase")
        .await
        .expect(200);
    let def = app.get("/api/v1/apps/crm/entities/deal").await.expect(200).body;
    assert_eq!(
        def["indexes"],
        json!([{"name": "recent", "fields": ["owner", "updated_at"]}])
    );
    assert_eq!(
        declared_indexes(&app, "deal").await,
        vec![("ixc_recent".to_string(), "owner,updated_at,id".to_string())]
    );
}

/// SQLite's planner statistics of a table: index name → its `sqlite_stat1` line.
async fn sqlite_stats(app: &TestApp, table: &str) -> std::collections::HashMap<String, String> {
    // No table before the first analysis.
    let rows = app
        .sql_rows("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ?", vec![table.into()])
        .await
        .unwrap_or_default();
    rows.iter()
        .map(|r| {
            let idx: Option<String> = r.try_get("", "idx").unwrap();
            (idx.unwrap_or_default(), r.try_get("", "stat").unwrap())
        })
        .collect()
}

/// Waits up to 15 s for the table's statistics to satisfy `ok`.
async fn wait_for_stats(
    app: &TestApp,
    table: &str,
    what: &str,
    ok: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let stats = sqlite_stats(app, table).await;
        if ok(&stats) {
            return;
        }
        assert!(std::time::Instant::now() < until, "{what}: {stats:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A large write within seconds of the last analysis is analysed after the pause; an index
/// made meanwhile gets its statistics at once. (Before, both waited for the periodic pass.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planner_statistics_follow_writes_in_quick_succession_and_new_indexes() {
    let app = spawn(Backend::Sqlite).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "phase", "label": {"en": "Phase"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true}]}]
    }))
    .await;
    let def = app.get("/api/v1/apps/crm/entities/deal").await.expect(200).body;
    let table = format!("rec_{}", s(&def["id"]));
    let rows_of = |stats: &std::collections::HashMap<String, String>, index: &str| -> Option<u64> {
        stats
            .iter()
            .find(|(k, _)| k.starts_with(index))
            .and_then(|(_, v)| v.split(' ').next()?.parse().ok())
    };
    let bulk = |from: usize| json!({"create": (from..from + 150).map(|i| { let phase = ["a", "b"][i % 2]; json!({"phase": phase, "amount": i}) }).collect::<Vec<_>>()});
    app.post("/api/v1/data/crm/deal/bulk", bulk(0)).await.expect(200);
    wait_for_stats(&app, &table, "150 rows analysed", |s| {
        rows_of(s, &format!("ix_{table}_created_at")) == Some(150)
    })
    .await;
    // Within the pause: a second large write, then an index.
    app.post("/api/v1/data/crm/deal/bulk", bulk(150)).await.expect(200);
    app.patch(
        "/api/v1/apps/crm/entities/deal",
        json!({"indexes": [{"name": "board", "fields": ["phase", "amount"]}]}),
    )
    .await
    .expect(200);
    wait_for_stats(&app, &table, "the new index analysed", |s| {
        rows_of(s, &format!("ixc_{table}_board")) == Some(300)
    })
    .await;
    app.post("/api/v1/data/crm/deal/bulk", bulk(300)).await.expect(200);
    wait_for_stats(&app, &table, "the last write analysed after the pause", |s| {
        rows_of(s, &format!("ix_{table}_created_at")) == Some(450)
    })
    .await;
}

async fn a_unique_index_refuses_a_second_record_with_the_same_values(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "Stores"},
        "entities": [{"name": "daily", "label": {"en": "Daily sales"}, "fields": [
            {"name": "store", "label": {"en": "Store"}, "type": "text"},
            {"name": "day", "label": {"en": "Day"}, "type": "date"},
            {"name": "total", "label": {"en": "Total"}, "type": "decimal"}],
            "indexes": [{"name": "one_a_day", "fields": ["store", "day"], "unique": true}]}],
        "roles": [{"name": "clerk", "label": {"en": "Clerk"},
                   "permissions": {"daily": {"read": true, "create": true, "update": true, "scope": "own"}}}]
    }))
    .await;
    // Unique on the fields alone; the owner-keyed twin is a plain index.
    assert_eq!(
        declared_indexes(&app, "daily").await,
        vec![
            ("ixc_one_a_day".to_string(), "store,day".to_string()),
            ("ixco_one_a_day".to_string(), "owner,store,day,id".to_string()),
        ]
    );
    let url = "/api/v1/data/crm/daily";
    let first = app
        .post(url, json!({"store": "S1", "day": "2026-11-27", "total": 10}))
        .await
        .expect(201)
        .body;
    app.post(url, json!({"store": "S1", "day": "2026-11-28", "total": 11}))
        .await
        .expect(201);
    app.post(url, json!({"store": "S2", "day": "2026-11-27", "total": 12}))
        .await
        .expect(201);
    // An empty field is not compared.
    app.post(url, json!({"store": "S1", "total": 1})).await.expect(201);
    app.post(url, json!({"store": "S1", "total": 2})).await.expect(201);
    let count = async || app.get(&format!("{url}?count=true&limit=1")).await.expect(200).body["total"].clone();
    assert_eq!(count().await, json!(5));

    // The same store and day again: refused on both fields, nothing written.
    let r = app
        .post(url, json!({"store": "S1", "day": "2026-11-27", "total": 99}))
        .await
        .expect_problem(422, "validation_failed");
    let mut errors = r.errors();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("day".to_string(), "unique".to_string()),
            ("store".to_string(), "unique".to_string())
        ]
    );
    assert_eq!(count().await, json!(5));
    // A change of one field into another record's pair, the other field as stored.
    let second = app
        .get(&format!(
            "{url}?filter={}",
            urlencode(&json!({"field": "store", "op": "eq", "value": "S2"}).to_string())
        ))
        .await
        .expect(200)
        .body["data"][0]["id"]
        .clone();
    let r = app
        .patch(&format!("{url}/{}", s(&second)), json!({"store": "S1"}))
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors().contains(&("store".to_string(), "unique".to_string())),
        "{}",
        r.text
    );
    // A record keeps its own pair, and a change that leaves both fields alone is no conflict.
    app.patch(
        &format!("{url}/{}", s(&first["id"])),
        json!({"day": "2026-11-27", "total": 20}),
    )
    .await
    .expect(200);
    app.patch(&format!("{url}/{}", s(&second)), json!({"total": 21}))
        .await
        .expect(200);
    // In one bulk request, the second of two equal pairs is refused and neither is written.
    let r = app
        .post(
            &format!("{url}/bulk"),
            json!({"create": [{"store": "S3", "day": "2026-11-27"}, {"store": "S3", "day": "2026-11-27"}]}),
        )
        .await;
    assert!(r.status == 422 || r.status == 409, "{}", r.text);
    assert_eq!(count().await, json!(5));

    // An index cannot be made unique over records that share values; the app is unchanged.
    let version = app.get("/api/v1/apps/crm").await.expect(200).body["version"].clone();
    app.patch(
        "/api/v1/apps/crm/entities/daily",
        json!({"indexes": [{"name": "one_a_day", "fields": ["store", "day"], "unique": true},
                           {"name": "per_store", "fields": ["store"], "unique": true}]}),
    )
    .await
    .expect_problem(409, "conflict");
    assert_eq!(app.get("/api/v1/apps/crm").await.expect(200).body["version"], version);
    assert_eq!(declared_indexes(&app, "daily").await.len(), 2);
}
on_both!(
    the_audit_trail_holds_definition_role_and_record_changes,
    a_selective_team_scope_pages_exactly_the_teams_rows_in_order,
    owner_keyed_indexes_follow_the_roles_and_survive_field_changes,
    apps_saved_before_owner_keyed_indexes_get_them_at_upgrade,
    declared_indexes_serve_scoped_lists_and_follow_field_changes,
    a_unique_index_refuses_a_second_record_with_the_same_values,
);
