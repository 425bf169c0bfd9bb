//! The outbound address policy of e-mail and connection errors that say no more than needed
//! (outside-probe findings, issue 13), run on the actions themselves with an action context
//! over a real node's engine, a node of its own that refuses private targets, and provider
//! settings put in the store. Each test runs on SQLite and on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use trellis_core::automation::{Recipients, RuleDef};
use trellis_engine::automation::actions::{email, sms, webhook};
use trellis_engine::automation::{ActionCtx, ActionError};
use trellis_engine::compiled::scripts::LoadedApp;
use trellis_engine::{Engine, TenantCtx};
use trellis_tests::{Backend, HttpReceiver, SmtpSink, TestApp, on_both, sales_app, spawn};

const KEY: &str = "01JPROBE-job-1:0";

struct World {
    app: TestApp,
    ctx: TenantCtx,
    loaded: Arc<LoadedApp>,
    rule: RuleDef,
}

impl World {
    async fn new(backend: Backend) -> World {
        let app = spawn(backend).await;
        app.create_app(sales_app()).await;
        let ctx = app.engine().authenticate(&app.token).await.expect("admin context");
        let loaded = app.engine().compiled_app(&ctx, "sales").await.expect("app");
        let rule: RuleDef = serde_json::from_value(json!({
            "name": "notify",
            "trigger": {"type": "manual", "entity": "deal"},
            "actions": [{"type": "set_fields", "values": {"urgent": true}}]
        }))
        .unwrap();
        World { app, ctx, loaded, rule }
    }

    fn action<'a>(&'a self, engine: &'a Engine, input: &'a Value) -> ActionCtx<'a> {
        ActionCtx {
            engine,
            tenant_id: self.ctx.tenant_id(),
            app: &self.loaded,
            rule: &self.rule,
            job_id: "job-1",
            idempotency_key: KEY,
            attempt: 1,
            input,
            progress: None,
        }
    }

    async fn setting(&self, key: &str, value: Value) {
        let tx = self.app.engine().db.begin_write().await.expect("begin");
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
}

fn input() -> Value {
    json!({"event": "created", "entity": "deal", "old": null, "rule": "notify",
        "record": {"id": "r1", "title": "ACME", "phone": "+86 138 0000 0000"}})
}

fn to(v: Value) -> Recipients {
    serde_json::from_value(v).expect("recipients")
}

#[track_caller]
fn failure(r: Result<Value, ActionError>, retry: bool) -> String {
    let e = r.expect_err("a failure");
    assert_eq!(e.retry, retry, "{}", e.message);
    e.message
}

/// A node with the default policy sends no mail to a loopback, private or link-local SMTP host,
/// by address or by name; the refusal is final and says why.
async fn smtp_reaches_only_public_addresses_by_default(b: Backend) {
    let w = World::new(b).await;
    let sink = SmtpSink::start().await;
    let strict = w.app.engine().clone().with_private_outbound(false);
    let i = input();
    let ctx = w.action(&strict, &i);
    let mail = to(json!({"addresses": ["buyer@acme.example"]}));
    for host in [
        "127.0.0.1",
        "localhost",
        "::1",
        "[::1]",
        "10.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
    ] {
        let mut cfg = sink.settings("robot@trellis.example");
        cfg["host"] = json!(host);
        w.setting("smtp", cfg).await;
        let m = failure(email::run(&ctx, &mail, "Hi", "Body").await, false);
        assert!(m.contains("only public addresses"), "{host}: {m}");
    }
    assert!(sink.messages().is_empty(), "nothing reached the loopback SMTP sink");

    // The node that allows private targets (the test harness's) reaches the same sink.
    w.setting("smtp", sink.settings("robot@trellis.example")).await;
    let allowing = w.action(w.app.engine(), &i);
    email::run(&allowing, &mail, "Hi", "Body").await.expect("sent");
    sink.wait_for(1, Duration::from_secs(10)).await;
}
on_both!(smtp_reaches_only_public_addresses_by_default);

/// "Could not connect", without the port or the operating system's words, for every action
/// that connects out; a retry may still help, so it stays retryable.
async fn connection_errors_name_no_network_details(b: Backend) {
    let w = World::new(b).await;
    let i = input();
    let ctx = w.action(w.app.engine(), &i);
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let leaks = |m: &str| {
        let lower = m.to_lowercase();
        m.contains(&closed.to_string())
            || lower.contains("os error")
            || lower.contains("refused")
            || lower.contains("127.0.0.1")
    };

    w.setting(
        "smtp",
        json!({"host": "127.0.0.1", "port": closed, "from": "robot@trellis.example", "tls": "none", "timeout_ms": 2000}),
    )
    .await;
    let m = failure(
        email::run(&ctx, &to(json!({"addresses": ["a@example.com"]})), "Hi", "x").await,
        true,
    );
    assert!(m.contains("could not connect to the mail server"), "{m}");
    assert!(!leaks(&m), "{m}");

    let m = failure(
        webhook::run(&ctx, &format!("http://127.0.0.1:{closed}/hook"), None, None, Some(2000)).await,
        true,
    );
    assert!(m.contains("could not connect"), "{m}");
    assert!(!leaks(&m), "{m}");

    w.setting("sms", json!({"url": format!("http://127.0.0.1:{closed}/send")}))
        .await;
    let m = failure(
        sms::run(&ctx, &to(json!({"addresses": ["{{record.phone}}"]})), "hi").await,
        true,
    );
    assert!(m.contains("could not connect"), "{m}");
    assert!(!leaks(&m), "{m}");

    // A receiver that answers still reports its answer.
    let rx = HttpReceiver::start().await;
    rx.fail_next(1, 503);
    let m = failure(webhook::run(&ctx, &rx.url("/hook"), None, None, None).await, true);
    assert!(m.contains("503"), "{m}");
}
on_both!(connection_errors_name_no_network_details);
