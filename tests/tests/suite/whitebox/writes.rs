//! Every write of the engine is in a write transaction, and a change and the audit line that
//! records it are in the same one: when the audit line cannot be written, the change is not
//! made either. The failure is the database's own: a trigger that refuses the audit line of one
//! kind, made with the store's raw test hook on both backends.

use serde_json::json;
use trellis_engine::TenantCtx;
use trellis_tests::{Backend, TestApp, on_both, sales_app, spawn};

/// Makes the database refuse audit lines (`sys_events` rows) of kind `kind`.
async fn refuse_audit_lines(app: &TestApp, backend: Backend, kind: &str) {
    let db = &app.engine().db;
    let statements = match backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON sys_events WHEN NEW.kind = '{kind}' \
             BEGIN SELECT RAISE(ABORT, 'audit line refused'); END"
        )],
        Backend::Postgres => vec![
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit line refused'; END $$"
                .to_string(),
            format!(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON sys_events FOR EACH ROW \
                 WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION refuse_audit()"
            ),
        ],
    };
    for s in statements {
        db.raw_execute_for_tests(&s).await.expect("trigger");
    }
}

async fn accept_audit_lines(app: &TestApp, backend: Backend) {
    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_audit",
        Backend::Postgres => "DROP TRIGGER refuse_audit ON sys_events",
    };
    app.engine().db.raw_execute_for_tests(drop).await.expect("drop trigger");
}

/// How many audit lines of `kind` the database holds.
async fn audit_lines(app: &TestApp, kind: &str) -> usize {
    app.engine()
        .db
        .raw_rows_for_tests(
            match app.engine().db.is_sqlite() {
                true => "SELECT id FROM sys_events WHERE kind = ?",
                false => "SELECT id FROM sys_events WHERE kind = $1",
            },
            vec![kind.into()],
        )
        .await
        .expect("audit lines")
        .len()
}

async fn admin(app: &TestApp) -> TenantCtx {
    app.engine().authenticate(&app.token).await.expect("admin context")
}

async fn a_token_is_not_created_without_its_audit_line(backend: Backend) {
    let app = spawn(backend).await;
    let ctx = admin(&app).await;
    let engine = app.engine();
    refuse_audit_lines(&app, backend, "token_created").await;
    let refused = engine.create_api_token(&ctx, "ci", None, None).await;
    assert!(refused.is_err(), "the audit line was refused: {refused:?}");
    assert!(
        engine.list_api_tokens(&ctx).await.expect("tokens").is_empty(),
        "a token was created without its audit line"
    );
    assert_eq!(audit_lines(&app, "token_created").await, 0);

    // The same call with the audit line allowed makes both.
    accept_audit_lines(&app, backend).await;
    let made = engine.create_api_token(&ctx, "ci", None, None).await.expect("token");
    let listed = engine.list_api_tokens(&ctx).await.expect("tokens");
    assert_eq!(
        listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [made.id.as_str()]
    );
    assert_eq!(audit_lines(&app, "token_created").await, 1);
}

async fn a_token_stays_live_when_its_revocation_cannot_be_audited(backend: Backend) {
    let app = spawn(backend).await;
    let ctx = admin(&app).await;
    let engine = app.engine();
    let made = engine.create_api_token(&ctx, "ci", None, None).await.expect("token");
    let secret = made.token.clone().expect("the secret");
    refuse_audit_lines(&app, backend, "token_revoked").await;
    assert!(engine.revoke_api_token(&ctx, &made.id).await.is_err());
    engine
        .authenticate(&secret)
        .await
        .expect("a revocation not audited did not happen");
    let listed = engine.list_api_tokens(&ctx).await.expect("tokens");
    assert!(listed.iter().all(|t| !t.revoked), "{listed:?}");
    assert_eq!(audit_lines(&app, "token_revoked").await, 0);

    accept_audit_lines(&app, backend).await;
    engine.revoke_api_token(&ctx, &made.id).await.expect("revoked");
    assert!(
        engine.authenticate(&secret).await.is_err(),
        "a revoked token still works"
    );
    assert_eq!(audit_lines(&app, "token_revoked").await, 1);
}

async fn a_role_member_is_not_added_without_its_audit_line(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = sales_app();
    def["roles"] = json!([{"name": "sales_rep", "label": {"zh": "销售", "en": "Sales rep"}}]);
    app.create_app(def).await;
    let ctx = admin(&app).await;
    let engine = app.engine();
    let li = engine
        .create_tenant_user(&ctx, "li@example.com", "Li", "user-password-1", false)
        .await
        .expect("user")
        .id;
    let members = |roles: Vec<trellis_engine::directory::RoleEntry>| {
        roles
            .into_iter()
            .find(|r| r.name == "sales_rep")
            .expect("the role")
            .members
    };
    refuse_audit_lines(&app, backend, "role_member_added").await;
    assert!(engine.add_role_member(&ctx, "sales", "sales_rep", &li).await.is_err());
    let roles = engine.list_roles(&ctx, "sales").await.expect("roles");
    assert!(members(roles).is_empty(), "a member was added without its audit line");

    accept_audit_lines(&app, backend).await;
    engine
        .add_role_member(&ctx, "sales", "sales_rep", &li)
        .await
        .expect("member");
    let roles = engine.list_roles(&ctx, "sales").await.expect("roles");
    assert_eq!(members(roles), [li]);
    assert_eq!(audit_lines(&app, "role_member_added").await, 1);
}

on_both!(
    a_token_is_not_created_without_its_audit_line,
    a_token_stays_live_when_its_revocation_cannot_be_audited,
    a_role_member_is_not_added_without_its_audit_line,
);
