//! The actions that reach the world (e-mail, SMS, webhooks), rendering documents and picking
//! owners, run directly with an action context over a real node's engine, against loopback
//! peers (an SMTP sink, an HTTP receiver). Tests that touch the database run on both backends.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use trellis_core::automation::{AssignStrategy, Recipients, RuleDef};
use trellis_engine::automation::actions::{assign, email, recipients, render_document, sms, webhook};
use trellis_engine::automation::{ActionCtx, ActionError};
use trellis_engine::compiled::scripts::LoadedApp;
use trellis_engine::{Engine, TenantCtx};
use trellis_tests::{Backend, HttpReceiver, SmtpSink, TestApp, on_both, sales_app, spawn};

const KEY: &str = "01JAUTOMATION-job-7:0";

/// A node with the sales app (with a role and an attachment field), its admin's context, and
/// the compiled app.
struct World {
    app: TestApp,
    ctx: TenantCtx,
    loaded: Arc<LoadedApp>,
    rule: RuleDef,
}

impl World {
    async fn new(backend: Backend) -> World {
        let app = spawn(backend).await;
        let mut def = sales_app();
        def["roles"] = json!([{"name": "sales_rep", "label": {"zh": "销售", "en": "Sales rep"}}]);
        def["entities"][1]["fields"].as_array_mut().unwrap().push(json!(
            {"name": "documents", "label": {"zh": "文件", "en": "Documents"}, "type": "attachment"}
        ));
        app.create_app(def).await;
        let ctx = app.engine().authenticate(&app.token).await.expect("admin context");
        let loaded = app.engine().compiled_app(&ctx, "sales").await.expect("app");
        let rule: RuleDef = serde_json::from_value(json!({
            "name": "deal_won",
            "trigger": {"type": "manual", "entity": "deal"},
            "actions": [{"type": "set_fields", "values": {"urgent": true}}]
        }))
        .unwrap();
        World { app, ctx, loaded, rule }
    }

    fn engine(&self) -> &Engine {
        self.app.engine()
    }

    fn action<'a>(&'a self, input: &'a Value) -> ActionCtx<'a> {
        ActionCtx {
            engine: self.engine(),
            tenant_id: self.ctx.tenant_id(),
            app: &self.loaded,
            rule: &self.rule,
            job_id: "job-7",
            idempotency_key: KEY,
            attempt: 1,
            input,
            progress: None,
        }
    }

    async fn setting(&self, key: &str, value: Value) {
        let tx = self.engine().db.begin_write().await.expect("begin");
        trellis_tests::trellis_store::settings::put(
            &tx,
            self.ctx.tenant_id(),
            key,
            &value.to_string(),
            chrono::Utc::now(),
        )
        .await
        .expect("setting");
        tx.commit().await.expect("commit");
    }

    async fn user(&self, email: &str) -> String {
        self.engine()
            .create_tenant_user(&self.ctx, email, email, "user-password-1", false)
            .await
            .expect("user")
            .id
    }

    async fn admin_id(&self) -> String {
        self.app.get("/api/v1/me").await.expect(200).body["user"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn input(record: Value) -> Value {
    json!({"event": "created", "entity": "deal", "record": record, "old": null, "rule": "deal_won"})
}

fn to(v: Value) -> Recipients {
    serde_json::from_value(v).expect("recipients")
}

#[track_caller]
fn retryable(r: Result<Value, ActionError>) -> String {
    let e = r.expect_err("a failure");
    assert!(e.retry, "expected a retryable error: {}", e.message);
    e.message
}

#[track_caller]
fn fatal(r: Result<Value, ActionError>) -> String {
    let e = r.expect_err("a failure");
    assert!(!e.retry, "expected a final error: {}", e.message);
    e.message
}

// ---------------------------------------------------------------------------------------------
// Recipients
// ---------------------------------------------------------------------------------------------

async fn recipients_are_users_role_members_fields_owner_and_addresses(backend: Backend) {
    let w = World::new(backend).await;
    let admin = w.admin_id().await;
    let li = w.user("li@example.com").await;
    let wang = w.user("wang@example.com").await;
    let tx = w.engine().db.begin_write().await.unwrap();
    trellis_tests::trellis_store::directory::add_member(
        &tx,
        w.ctx.tenant_id(),
        &w.loaded.id,
        "sales_rep",
        &wang,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let i = input(json!({"id": "r1", "title": "ACME", "rep": li, "owner": admin,
        "extra": {"contact": "buyer@acme.example, +86 138-0000-0000"}}));
    let ctx = w.action(&i);
    let got = recipients::resolve(
        &ctx,
        &to(
            json!({"users": [admin], "roles": ["sales_rep"], "fields": ["rep"], "owner": true,
                   "addresses": ["{{record.extra.contact}}", "LI@example.com", "{{record.nope}}"]}),
        ),
    )
    .await
    .expect("recipients");
    let simple: Vec<(Option<&str>, Option<&str>, Option<&str>)> = got
        .iter()
        .map(|t| (t.user_id.as_deref(), t.email.as_deref(), t.phone.as_deref()))
        .collect();
    assert_eq!(
        simple,
        [
            (Some(admin.as_str()), Some(trellis_tests::ADMIN_EMAIL), None),
            (Some(wang.as_str()), Some("wang@example.com"), None),
            (Some(li.as_str()), Some("li@example.com"), None),
            (None, Some("buyer@acme.example"), None),
            (None, None, Some("+8613800000000")),
        ]
    );
    let none = recipients::resolve(&ctx, &to(json!({"users": ["no-such-user"], "fields": ["website"]}))).await;
    assert_eq!(none.unwrap_err().message, "no recipient");
}

// ---------------------------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------------------------

async fn an_e_mail_arrives_rendered_with_its_idempotency_key(backend: Backend) {
    let w = World::new(backend).await;
    let sink = SmtpSink::start().await;
    let i = input(
        json!({"title": "ACME 年度合同", "amount": {"amount": "12000.50", "currency": "CNY"},
        "extra": {"buyer": "buyer@acme.example"}}),
    );
    let ctx = w.action(&i);
    let recipients = to(json!({"addresses": ["{{record.extra.buyer}}", "sales@example.com"]}));
    let subject = "Deal {{record.title}} won";
    let body = "Amount: {{record.amount}}\n.\nThanks.";

    // No SMTP setting yet: nothing to retry.
    let m = fatal(email::run(&ctx, &recipients, subject, body).await);
    assert!(m.contains("smtp"), "{m}");

    w.setting("smtp", sink.settings("Trellis <robot@trellis.example>"))
        .await;
    let out = email::run(&ctx, &recipients, subject, body).await.expect("sent");
    assert_eq!(out["sent"], 2);
    let got = sink.wait_for(2, Duration::from_secs(10)).await;
    let mail = got
        .iter()
        .find(|m| m.to == ["buyer@acme.example"])
        .expect("buyer's mail");
    assert_eq!(mail.from, "robot@trellis.example");
    assert_eq!(mail.subject.as_deref(), Some("Deal ACME 年度合同 won"));
    assert_eq!(
        mail.body().replace("\r\n", "\n").trim_end(),
        "Amount: 12000.50 CNY\n.\nThanks."
    );
    assert_eq!(mail.header("X-Trellis-Idempotency-Key").as_deref(), Some(KEY));
    let id = mail.header("Message-ID").expect("message id");
    assert!(
        id.starts_with("<01JAUTOMATION-job-7-0.") && id.ends_with("@trellis.example>"),
        "{id}"
    );
    assert_eq!(out["message_ids"][0], id.as_str());
    assert_eq!(got.iter().filter(|m| m.to == ["sales@example.com"]).count(), 1);

    // The server's answer decides: 4xx is retried, 5xx is final.
    sink.reply_to_recipients(Some("450 mailbox busy"));
    retryable(email::run(&ctx, &recipients, subject, body).await);
    sink.reply_to_recipients(Some("550 no such user"));
    fatal(email::run(&ctx, &recipients, subject, body).await);
    sink.reply_to_recipients(None);

    // Credentials for a server that offers no authentication: a setting to fix, not to retry.
    let mut with_login = sink.settings("robot@trellis.example");
    with_login["username"] = json!("robot");
    with_login["password"] = json!("secret");
    w.setting("smtp", with_login).await;
    let m = fatal(email::run(&ctx, &recipients, subject, body).await);
    assert!(m.contains("authentication"), "{m}");

    // A bad address is final; a server that is not there is retried.
    let m = fatal(email::run(&ctx, &to(json!({"addresses": ["not@an@address"]})), subject, body).await);
    assert!(m.contains("not@an@address"), "{m}");
    let port = sink.port();
    drop(sink);
    w.setting(
        "smtp",
        json!({"host": "127.0.0.1", "port": port, "from": "robot@trellis.example", "tls": "none"}),
    )
    .await;
    retryable(email::run(&ctx, &recipients, subject, body).await);
}

// ---------------------------------------------------------------------------------------------
// SMS
// ---------------------------------------------------------------------------------------------

async fn an_sms_reaches_the_provider(backend: Backend) {
    let w = World::new(backend).await;
    let rx = HttpReceiver::start().await;
    w.setting(
        "sms",
        json!({"url": rx.url("/send"), "token": "sms-token-1", "from": "ACME"}),
    )
    .await;
    let i = input(json!({"title": "ACME", "phone": "+86 138 0000 0000"}));
    let ctx = w.action(&i);
    let recipients = to(json!({"addresses": ["{{record.phone}}", "li@example.com"]}));
    let out = sms::run(&ctx, &recipients, "Deal {{record.title}} is yours")
        .await
        .expect("sent");
    assert_eq!(out["sent"], 1);
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "only the phone number gets a text");
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/send"));
    assert_eq!(
        r.json(),
        json!({"to": "+8613800000000", "text": "Deal ACME is yours", "from": "ACME"})
    );
    assert_eq!(r.header("authorization"), Some("Bearer sms-token-1"));
    assert_eq!(
        r.header("idempotency-key"),
        Some(format!("{KEY}:+8613800000000").as_str())
    );

    rx.fail_next(1, 503);
    retryable(sms::run(&ctx, &recipients, "x").await);
    rx.fail_next(1, 429);
    retryable(sms::run(&ctx, &recipients, "x").await);
    rx.fail_next(1, 401);
    fatal(sms::run(&ctx, &recipients, "x").await);
    let m = fatal(sms::run(&ctx, &to(json!({"addresses": ["li@example.com"]})), "x").await);
    assert!(m.contains("phone"), "{m}");

    // Two numbers, the first failing: the failure says none was reached. A retry that knows
    // the first was reached (its progress) texts only the second.
    let two = to(json!({"addresses": ["+86 138 0000 0000", "+86 139 1111 1111"]}));
    rx.fail_next(1, 503);
    let e = sms::run(&ctx, &two, "x").await.expect_err("503");
    assert_eq!(e.progress, Some(json!({"delivered": []})));
    let before = rx.requests().len();
    let earlier = json!({"delivered": ["+8613800000000"]});
    let retry = ActionCtx {
        progress: Some(&earlier),
        ..w.action(&i)
    };
    let out = sms::run(&retry, &two, "x").await.expect("sent");
    assert_eq!(out["sent_earlier"], 1);
    assert_eq!(out["statuses"], json!([null, 200]));
    let got = rx.requests();
    assert_eq!(got.len(), before + 1);
    assert_eq!(got[before].json()["to"], "+8613911111111");
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

async fn a_webhook_is_signed_and_retried_on_5xx_only(backend: Backend) {
    let w = World::new(backend).await;
    let rx = HttpReceiver::start().await;
    let i = input(json!({"id": "r1", "title": "ACME", "quantity": 3}));
    let ctx = w.action(&i);
    let secret = "whsec-0123456789abcdef";

    // The default body, signed.
    let out = webhook::run(&ctx, &rx.url("/hooks/in"), None, Some(secret), None)
        .await
        .expect("delivered");
    assert_eq!(out["status"], 200);
    let got = rx.wait_for(1, Duration::from_secs(5)).await;
    let r = &got[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("idempotency-key"), Some(KEY));
    assert_eq!(r.header("x-trellis-event"), Some("created"));
    assert_eq!(r.header("x-trellis-rule"), Some("deal_won"));
    assert_eq!(
        r.json(),
        json!({"event": "created", "entity": "deal", "record": {"id": "r1", "title": "ACME", "quantity": 3}, "old": null})
    );
    let ts = r.header("x-trellis-timestamp").expect("timestamp");
    let age = chrono::Utc::now().timestamp() - ts.parse::<i64>().expect("unix seconds");
    assert!((0..60).contains(&age), "{age}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("x-trellis-signature"), Some(expected.as_str()));

    // A template body keeps the types of whole placeholders; no secret, no signature.
    let body =
        json!({"deal": "{{record.id}}", "qty": "{{record.quantity}}", "text": "{{record.title}} x{{record.quantity}}"});
    webhook::run(&ctx, &rx.url("/t"), Some(&body), None, None)
        .await
        .expect("delivered");
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].json(), json!({"deal": "r1", "qty": 3, "text": "ACME x3"}));
    assert_eq!(got[1].header("x-trellis-signature"), None);

    // 500 is worth another try, which then succeeds; 400 is final.
    rx.fail_next(1, 500);
    let m = retryable(webhook::run(&ctx, &rx.url("/r"), None, None, None).await);
    assert!(m.contains("500"), "{m}");
    webhook::run(&ctx, &rx.url("/r"), None, None, None)
        .await
        .expect("delivered on retry");
    rx.fail_next(1, 400);
    let m = fatal(webhook::run(&ctx, &rx.url("/r"), None, None, None).await);
    assert!(m.contains("400"), "{m}");

    // Redirects: followed within the same origin when they keep the body, never to another host.
    let other = HttpReceiver::start().await;
    let before = rx.requests().len();
    rx.redirect_next(1, 307, "/moved");
    webhook::run(&ctx, &rx.url("/old"), None, Some(secret), None)
        .await
        .expect("delivered after a same-origin redirect");
    let got = rx.wait_for(before + 2, Duration::from_secs(5)).await;
    assert_eq!(got[before + 1].path, "/moved");
    assert_eq!(got[before + 1].method, "POST");
    assert_eq!(got[before + 1].body, got[before].body);
    for status in [307, 302] {
        rx.redirect_next(1, status, &other.url("/stolen"));
        let m = fatal(webhook::run(&ctx, &rx.url("/old"), None, Some(secret), None).await);
        assert!(m.contains(&status.to_string()), "{m}");
    }
    rx.redirect_next(1, 302, "/moved");
    fatal(webhook::run(&ctx, &rx.url("/old"), None, None, None).await);
    assert!(other.requests().is_empty(), "nothing reached the other host");

    // Only http(s); a peer that never answers times out (retried).
    fatal(webhook::run(&ctx, "ftp://127.0.0.1/x", None, None, None).await);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            kept.push(s);
        }
    });
    let started = std::time::Instant::now();
    let m = retryable(webhook::run(&ctx, &format!("http://{silent_addr}/slow"), None, None, Some(300)).await);
    assert!(m.contains("timed out"), "{m}");
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

/// A node that does not allow private targets (the default) calls no loopback, private or
/// link-local address: not by IP, not by a name that resolves to one. The refusal is final.
async fn webhooks_and_sms_reach_only_public_addresses_by_default(backend: Backend) {
    let w = World::new(backend).await;
    let rx = HttpReceiver::start().await;
    let strict = w.engine().clone().with_private_outbound(false);
    let i = input(json!({"id": "r1", "title": "ACME", "phone": "+86 138 0000 0000"}));
    let ctx = ActionCtx {
        engine: &strict,
        ..w.action(&i)
    };
    let port = rx.url("/").split(':').nth(2).unwrap().trim_end_matches('/').to_string();
    for url in [
        rx.url("/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/hook".to_string(),
    ] {
        let m = fatal(webhook::run(&ctx, &url, None, None, Some(500)).await);
        assert!(m.contains("only public addresses"), "{url}: {m}");
    }
    w.setting(
        "sms",
        json!({"url": format!("http://localhost:{port}/send"), "from": "ACME"}),
    )
    .await;
    let m = fatal(sms::run(&ctx, &to(json!({"addresses": ["{{record.phone}}"]})), "hi").await);
    assert!(m.contains("only public addresses"), "{m}");
    assert!(rx.requests().is_empty(), "nothing reached the loopback receiver");

    // The node that allows them (the test harness's) reaches the same receiver.
    webhook::run(&w.action(&i), &rx.url("/hook"), None, None, None)
        .await
        .expect("delivered");
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

async fn a_rendered_document_is_a_stored_file(backend: Backend) {
    let w = World::new(backend).await;
    let i = input(json!({"code": "DL-2025-00001", "title": "ACME <Ltd>", "quantity": 40}));
    let ctx = w.action(&i);
    let template =
        "# Delivery specification {{record.code}}\n\nCustomer: {{record.title}}\nQuantity: {{record.quantity}}\n";
    let out = render_document::run(&ctx, template, "交付规格 {{record.code}}.md")
        .await
        .expect("rendered");
    let text = "# Delivery specification DL-2025-00001\n\nCustomer: ACME <Ltd>\nQuantity: 40\n";
    assert_eq!(out["name"], "交付规格 DL-2025-00001.md");
    assert_eq!(out["content_type"], "text/markdown");
    assert_eq!(out["size"], text.len());
    use sha2::Digest;
    assert_eq!(out["sha256"], hex::encode(Sha256::digest(text.as_bytes())));
    let id = out["id"].as_str().unwrap();
    let meta = w.engine().file_meta(&w.ctx, id).await.expect("stored");
    assert_eq!(meta.name, "交付规格 DL-2025-00001.md");
    let mut f = w.engine().open_file(&w.ctx, id).await.expect("open").file;
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut f, &mut bytes).await.unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), text);

    // The answer is an attachment value: a record takes it as it is.
    let deal = w
        .app
        .create("sales", "deal", json!({"title": "ACME", "documents": [{"id": id}]}))
        .await;
    assert_eq!(deal["documents"], json!([out]));

    // HTML escapes what it inserts; nothing rendered is no document.
    let html = render_document::run(&ctx, "<p>{{record.title}}</p>", "spec.html")
        .await
        .unwrap();
    assert_eq!(html["content_type"], "text/html");
    let mut f = w
        .engine()
        .open_file(&w.ctx, html["id"].as_str().unwrap())
        .await
        .unwrap()
        .file;
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut f, &mut bytes).await.unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), "<p>ACME &lt;Ltd&gt;</p>");
    fatal(render_document::run(&ctx, "{{record.nothing}}", "x.md").await);
}

// ---------------------------------------------------------------------------------------------
// Owners
// ---------------------------------------------------------------------------------------------

async fn owners_are_picked_in_turn_or_by_load(backend: Backend) {
    let w = World::new(backend).await;
    let mut users = vec![
        w.user("c@example.com").await,
        w.user("a@example.com").await,
        w.user("b@example.com").await,
    ];
    let i = input(json!({"title": "ACME"}));
    let ctx = w.action(&i);
    let deal = w.loaded.entity("deal").unwrap().clone();
    let rr: AssignStrategy =
        serde_json::from_value(json!({"strategy": "round_robin", "users": users.clone()})).unwrap();
    let mut turns = Vec::new();
    for _ in 0..4 {
        turns.push(assign::pick(&ctx, 0, &rr, &deal).await.expect("picked"));
    }
    users.sort();
    assert_eq!(
        turns,
        [users[0].clone(), users[1].clone(), users[2].clone(), users[0].clone()]
    );
    // Another action of the rule has its own turn.
    assert_eq!(assign::pick(&ctx, 1, &rr, &deal).await.unwrap(), users[0]);
    // Nobody to pick is final.
    let nobody: AssignStrategy =
        serde_json::from_value(json!({"strategy": "round_robin", "role": "sales_rep"})).unwrap();
    assert!(!assign::pick(&ctx, 2, &nobody, &deal).await.unwrap_err().retry);

    // Least loaded: the first by id owns 2 open deals, the second 1 (and 3 lost ones), the
    // third 1: the second wins the tie with the third.
    for (owner, phase) in [
        (&users[0], "new"),
        (&users[0], "new"),
        (&users[1], "new"),
        (&users[1], "lost"),
        (&users[1], "lost"),
        (&users[1], "lost"),
        (&users[2], "new"),
    ] {
        w.app
            .create("sales", "deal", json!({"title": "t", "owner": owner, "phase": phase}))
            .await;
    }
    let open: AssignStrategy = serde_json::from_value(json!({
        "strategy": "least_loaded", "users": users.clone(), "filter": {"field": "phase", "op": "ne", "value": "lost"}
    }))
    .unwrap();
    assert_eq!(assign::pick(&ctx, 0, &open, &deal).await.unwrap(), users[1]);
    let all: AssignStrategy =
        serde_json::from_value(json!({"strategy": "least_loaded", "users": users.clone()})).unwrap();
    assert_eq!(assign::pick(&ctx, 0, &all, &deal).await.unwrap(), users[2]);
    let bad: AssignStrategy = serde_json::from_value(json!({
        "strategy": "least_loaded", "users": users.clone(), "filter": {"field": "nope", "op": "eq", "value": 1}
    }))
    .unwrap();
    assert!(!assign::pick(&ctx, 0, &bad, &deal).await.unwrap_err().retry);

    // A rota with every day on the same user.
    let week: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), json!(users[2])))
        .collect();
    let rota: AssignStrategy =
        serde_json::from_value(json!({"strategy": "rota", "timezone": "Asia/Shanghai", "week": week})).unwrap();
    assert_eq!(assign::pick(&ctx, 0, &rota, &deal).await.unwrap(), users[2]);
}

on_both!(
    recipients_are_users_role_members_fields_owner_and_addresses,
    an_e_mail_arrives_rendered_with_its_idempotency_key,
    a_rendered_document_is_a_stored_file,
    owners_are_picked_in_turn_or_by_load,
);

/// No database is involved beyond the node's own: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_to_the_provider() {
    an_sms_reaches_the_provider(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_signed_and_classified() {
    a_webhook_is_signed_and_retried_on_5xx_only(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_reach_public_addresses_only() {
    webhooks_and_sms_reach_only_public_addresses_by_default(Backend::Sqlite).await
}
