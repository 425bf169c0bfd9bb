//! System tables, created and upgraded in code with sea-query: the same steps on SQLite and
//! PostgreSQL. Each migration runs once, in order, recorded in `sys_meta`.

use sea_orm::sea_query::{ColumnDef, Expr, ExprTrait, Index, OnConflict, Query, Table, TableCreateStatement};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, TransactionTrait};

use crate::db::Db;
use crate::error::StoreError;

fn id(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().primary_key().to_owned()
}
fn text(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}
fn text_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}
fn time(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().not_null().to_owned()
}
fn time_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).timestamp_with_time_zone().null().to_owned()
}

fn v1() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("sys_tenants")
            .if_not_exists()
            .col(id("id"))
            .col(text("name"))
            .col(time("created_at"))
            .to_owned(),
        Table::create()
            .table("sys_users")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("email"))
            .col(text("name"))
            .col(text("password_hash"))
            .col(ColumnDef::new("is_admin").boolean().not_null())
            .col(time("created_at"))
            .col(time_null("disabled_at"))
            .to_owned(),
        Table::create()
            .table("sys_tokens")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("user_id"))
            .col(text("kind"))
            .col(text("name"))
            .col(text("token_hash"))
            .col(text_null("role"))
            .col(time("created_at"))
            .col(time_null("expires_at"))
            .col(time_null("last_used_at"))
            .col(time_null("revoked_at"))
            .to_owned(),
        Table::create()
            .table("sys_apps")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("name"))
            .col(ColumnDef::new("version").big_integer().not_null())
            .col(text("definition"))
            .col(time("created_at"))
            .col(time("updated_at"))
            .to_owned(),
        Table::create()
            .table("sys_app_versions")
            .if_not_exists()
            .col(text("app_id"))
            .col(ColumnDef::new("version").big_integer().not_null())
            .col(text("definition"))
            .col(text_null("created_by"))
            .col(time("created_at"))
            .primary_key(Index::create().col("app_id").col("version"))
            .to_owned(),
        Table::create()
            .table("sys_counters")
            .if_not_exists()
            .col(id("scope"))
            .col(ColumnDef::new("value").big_integer().not_null())
            .to_owned(),
    ]
}

async fn apply_v1(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    for t in v1() {
        tx.execute(&t).await?;
    }
    let indexes = [
        Index::create()
            .name("ux_tenants_name")
            .table("sys_tenants")
            .col("name")
            .unique()
            .if_not_exists()
            .to_owned(),
        Index::create()
            .name("ux_users_email")
            .table("sys_users")
            .col("email")
            .unique()
            .if_not_exists()
            .to_owned(),
        Index::create()
            .name("ix_users_tenant")
            .table("sys_users")
            .col("tenant_id")
            .if_not_exists()
            .to_owned(),
        Index::create()
            .name("ux_tokens_hash")
            .table("sys_tokens")
            .col("token_hash")
            .unique()
            .if_not_exists()
            .to_owned(),
        Index::create()
            .name("ix_tokens_user")
            .table("sys_tokens")
            .col("user_id")
            .if_not_exists()
            .to_owned(),
        Index::create()
            .name("ux_apps_tenant_name")
            .table("sys_apps")
            .col("tenant_id")
            .col("name")
            .unique()
            .if_not_exists()
            .to_owned(),
    ];
    for i in indexes {
        tx.execute(&i).await?;
    }
    Ok(())
}

fn big(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

/// Workflow tables: files, the event log (history, audit and outbox in one), role membership,
/// approvals, delegations, timers, notifications, business calendars.
fn v2() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("sys_files")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("name"))
            .col(big("size"))
            .col(text("content_type"))
            .col(text("sha256"))
            .col(text("path"))
            .col(text_null("created_by"))
            .col(time("created_at"))
            .to_owned(),
        // One row per committed change of a record (and later of metadata): the record's history,
        // the app's audit trail and the automation outbox. `dispatched_at` is null until the
        // dispatcher has matched it against the rules.
        Table::create()
            .table("sys_events")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("app_id"))
            .col(text("entity_id"))
            .col(text("record_id"))
            .col(text("kind"))
            .col(text_null("actor"))
            .col(text_null("via"))
            .col(time("at"))
            .col(text("data"))
            .col(ColumnDef::new("depth").integer().not_null())
            .col(time_null("dispatched_at"))
            .to_owned(),
        Table::create()
            .table("sys_role_members")
            .if_not_exists()
            .col(text("tenant_id"))
            .col(text("app_id"))
            .col(text("role"))
            .col(text("user_id"))
            .col(time("created_at"))
            .primary_key(Index::create().col("app_id").col("role").col("user_id"))
            .to_owned(),
        Table::create()
            .table("sys_approvals")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("app_id"))
            .col(text("entity_id"))
            .col(text("record_id"))
            .col(text("from_stage"))
            .col(text("to_stage"))
            .col(text("requested_by"))
            .col(time("requested_at"))
            .col(text_null("comment"))
            .col(text("evidence"))
            .col(text("policy"))
            .col(text("status"))
            .col(time_null("decided_at"))
            .col(text_null("reason"))
            .to_owned(),
        Table::create()
            .table("sys_approval_votes")
            .if_not_exists()
            .col(text("approval_id"))
            .col(text("user_id"))
            .col(text_null("on_behalf_of"))
            .col(text("decision"))
            .col(text_null("comment"))
            .col(time("at"))
            .primary_key(Index::create().col("approval_id").col("user_id"))
            .to_owned(),
        Table::create()
            .table("sys_delegations")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("user_id"))
            .col(text("delegate_id"))
            .col(time("starts_at"))
            .col(time("ends_at"))
            .col(time("created_at"))
            .to_owned(),
        // Durable timers (SLA due times now; reminders and cron fires later). A fire is the
        // conditional update of `status` from pending, so two nodes never fire one timer twice.
        Table::create()
            .table("sys_timers")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("app_id"))
            .col(text("entity_id"))
            .col(text_null("record_id"))
            .col(text("kind"))
            .col(text("key"))
            .col(time("due_at"))
            .col(text("status"))
            .col(time_null("fired_at"))
            .col(text("data"))
            .to_owned(),
        Table::create()
            .table("sys_notifications")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("user_id"))
            .col(text("kind"))
            .col(text("title"))
            .col(text("data"))
            .col(time("at"))
            .col(time_null("read_at"))
            .to_owned(),
        Table::create()
            .table("sys_calendars")
            .if_not_exists()
            .col(text("tenant_id"))
            .col(text("name"))
            .col(text("definition"))
            .col(time("updated_at"))
            .primary_key(Index::create().col("tenant_id").col("name"))
            .to_owned(),
    ]
}

async fn apply_v2(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    for t in v2() {
        tx.execute(&t).await?;
    }
    let plain = [
        ("ix_files_tenant", "sys_files", &["tenant_id"][..]),
        ("ix_events_record", "sys_events", &["record_id", "at"][..]),
        ("ix_events_app", "sys_events", &["app_id", "at"][..]),
        ("ix_role_members_user", "sys_role_members", &["user_id"][..]),
        ("ix_approvals_record", "sys_approvals", &["record_id"][..]),
        (
            "ix_approvals_tenant_status",
            "sys_approvals",
            &["tenant_id", "status"][..],
        ),
        ("ix_delegations_user", "sys_delegations", &["user_id"][..]),
        ("ix_timers_record", "sys_timers", &["record_id"][..]),
        ("ix_notifications_user", "sys_notifications", &["user_id", "at"][..]),
    ];
    for (name, table, cols) in plain {
        let mut i = Index::create();
        i.name(name).table(table).if_not_exists();
        for c in cols {
            i.col(*c);
        }
        tx.execute(&i).await?;
    }
    // Partial indexes (same syntax on both databases): the outbox and the timer sweep read only
    // what is still to do, however long the history grows.
    tx.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS ix_events_pending ON sys_events (at) WHERE dispatched_at IS NULL",
    )
    .await?;
    tx.execute_unprepared("CREATE INDEX IF NOT EXISTS ix_timers_due ON sys_timers (due_at) WHERE status = 'pending'")
        .await?;
    Ok(())
}

/// Automation and permission tables: action jobs, rule runs, cron fires, teams, login attempts
/// and tenant settings.
fn v3() -> Vec<TableCreateStatement> {
    vec![
        // One row per action run: claimed by workers, retried with backoff, dead after N tries.
        // The idempotency key (rule, event, action) makes a redelivered event repeat nothing.
        Table::create()
            .table("sys_jobs")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("app_id"))
            .col(text("run_id"))
            .col(text("rule"))
            .col(ColumnDef::new("action_index").integer().not_null())
            .col(text("action"))
            .col(text("idempotency_key"))
            .col(text("status"))
            .col(ColumnDef::new("attempts").integer().not_null())
            .col(ColumnDef::new("max_attempts").integer().not_null())
            .col(time("next_run_at"))
            .col(time_null("locked_until"))
            .col(text_null("last_error"))
            .col(text("input"))
            .col(text_null("output"))
            .col(ColumnDef::new("duration_ms").big_integer().null())
            .col(time("created_at"))
            .col(time("updated_at"))
            .to_owned(),
        // One row per rule evaluation: the trigger event, the condition's result, the outcome.
        Table::create()
            .table("sys_rule_runs")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("app_id"))
            .col(text("rule"))
            .col(ColumnDef::new("rule_version").big_integer().not_null())
            .col(text_null("event_id"))
            .col(text_null("record_id"))
            .col(text("trigger"))
            .col(ColumnDef::new("matched").boolean().not_null())
            .col(text("status"))
            .col(text_null("error"))
            .col(ColumnDef::new("depth").integer().not_null())
            .col(time("started_at"))
            .col(time_null("finished_at"))
            .to_owned(),
        // A cron or relative-time fire, unique per (timer, fire time): two nodes never fire twice.
        Table::create()
            .table("sys_fires")
            .if_not_exists()
            .col(text("timer"))
            .col(time("fire_at"))
            .col(time("fired_at"))
            .primary_key(Index::create().col("timer").col("fire_at"))
            .to_owned(),
        Table::create()
            .table("sys_teams")
            .if_not_exists()
            .col(id("id"))
            .col(text("tenant_id"))
            .col(text("name"))
            .col(text_null("parent_id"))
            .col(time("created_at"))
            .to_owned(),
        Table::create()
            .table("sys_team_members")
            .if_not_exists()
            .col(text("team_id"))
            .col(text("user_id"))
            .col(time("created_at"))
            .primary_key(Index::create().col("team_id").col("user_id"))
            .to_owned(),
        Table::create()
            .table("sys_login_attempts")
            .if_not_exists()
            .col(id("key"))
            .col(time("window_start"))
            .col(ColumnDef::new("failures").integer().not_null())
            .to_owned(),
        Table::create()
            .table("sys_settings")
            .if_not_exists()
            .col(text("tenant_id"))
            .col(text("key"))
            .col(text("value"))
            .col(time("updated_at"))
            .primary_key(Index::create().col("tenant_id").col("key"))
            .to_owned(),
    ]
}

async fn apply_v3(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    for t in v3() {
        tx.execute(&t).await?;
    }
    let plain = [
        ("ux_jobs_idempotency", "sys_jobs", &["idempotency_key"][..], true),
        ("ix_jobs_run", "sys_jobs", &["run_id"][..], false),
        (
            "ix_runs_rule",
            "sys_rule_runs",
            &["app_id", "rule", "started_at"][..],
            false,
        ),
        ("ux_teams_name", "sys_teams", &["tenant_id", "name"][..], true),
        ("ix_team_members_user", "sys_team_members", &["user_id"][..], false),
    ];
    for (name, table, cols, unique) in plain {
        let mut i = Index::create();
        i.name(name).table(table).if_not_exists();
        if unique {
            i.unique();
        }
        for c in cols {
            i.col(*c);
        }
        tx.execute(&i).await?;
    }
    tx.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS ix_jobs_due ON sys_jobs (next_run_at) WHERE status IN ('queued', 'retrying')",
    )
    .await?;
    Ok(())
}

/// The per-tenant rate limit of automation counts a tenant's recent runs.
async fn apply_v4(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let i = Index::create()
        .name("ix_runs_tenant_started")
        .table("sys_rule_runs")
        .col("tenant_id")
        .col("started_at")
        .if_not_exists()
        .to_owned();
    tx.execute(&i).await?;
    Ok(())
}

/// Entities read through an owner scope get indexes on (owner, column, id); apps saved before
/// those existed get them here (later definition changes plan them, see `plan::owner_keyed`).
async fn apply_v5(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let q = Query::select()
        .columns(["id", "definition"])
        .from("sys_apps")
        .to_owned();
    #[derive(FromQueryResult)]
    struct StoredApp {
        id: String,
        definition: String,
    }
    for row in tx.query_all(&q).await? {
        let StoredApp { id, definition } = StoredApp::from_query_result(&row, "")?;
        match serde_json::from_str::<trellis_core::def::AppDef>(&definition) {
            Ok(app) => crate::ddl::ensure_owner_indexes(tx, &app).await?,
            // Left as it is: reading the app reports the same error, and lists stay correct
            // without the indexes.
            Err(e) => tracing::warn!(app = %id, error = %e, "stored definition unreadable; owner indexes not created"),
        }
    }
    Ok(())
}

/// E-mails are unique per tenant, not across tenants: a global index made adding a user answer
/// differently when the e-mail belonged to someone in another tenant, which told one tenant
/// about another's users. Login looks e-mails up through a plain index.
async fn apply_v6(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    tx.execute(
        &Index::drop()
            .name("ux_users_email")
            .table("sys_users")
            .if_exists()
            .to_owned(),
    )
    .await?;
    let per_tenant = Index::create()
        .name("ux_users_tenant_email")
        .table("sys_users")
        .col("tenant_id")
        .col("email")
        .unique()
        .if_not_exists()
        .to_owned();
    tx.execute(&per_tenant).await?;
    let by_email = Index::create()
        .name("ix_users_email")
        .table("sys_users")
        .col("email")
        .if_not_exists()
        .to_owned();
    tx.execute(&by_email).await?;
    Ok(())
}

/// Comments on records (`sys_comments`, read by record in id order) and the rule runs of a
/// record (the record page's timeline).
async fn apply_v7(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let comments = Table::create()
        .table("sys_comments")
        .if_not_exists()
        .col(id("id"))
        .col(text("tenant_id"))
        .col(text("app_id"))
        .col(text("entity_id"))
        .col(text("record_id"))
        .col(text("author"))
        .col(text("body"))
        .col(text("mentions"))
        .col(time("created_at"))
        .to_owned();
    tx.execute(&comments).await?;
    for (name, table, cols) in [
        ("ix_comments_record", "sys_comments", &["record_id", "id"][..]),
        ("ix_runs_record", "sys_rule_runs", &["record_id", "id"][..]),
    ] {
        let mut i = Index::create();
        i.name(name).table(table).if_not_exists();
        for c in cols {
            i.col(*c);
        }
        tx.execute(&i).await?;
    }
    Ok(())
}

/// Stage moves kept for reports (`stages::Move`), filled from the event log's record creations
/// and stage changes so far.
async fn apply_v8(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let t = Table::create()
        .table("sys_stage_moves")
        .if_not_exists()
        .col(id("id"))
        .col(text("tenant_id"))
        .col(text("app_id"))
        .col(text("entity_id"))
        .col(text("record_id"))
        .col(text_null("from_stage"))
        .col(text("to_stage"))
        .col(time("moved_at"))
        .col(ColumnDef::new("seconds_in_from").double().null())
        .col(time_null("from_due_at"))
        .col(text_null("actor"))
        .to_owned();
    tx.execute(&t).await?;
    for (name, cols) in [
        ("ix_moves_entity_at", &["entity_id", "moved_at"][..]),
        ("ix_moves_entity_record", &["entity_id", "record_id", "moved_at"][..]),
    ] {
        let mut i = Index::create();
        i.name(name).table("sys_stage_moves").if_not_exists();
        for c in cols {
            i.col(*c);
        }
        tx.execute(&i).await?;
    }
    crate::stages::backfill_moves(tx).await
}

/// Imports of records from files (`imports`): the import with its checkpoint, and its refused
/// rows.
async fn apply_v9(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let imports = Table::create()
        .table("sys_imports")
        .if_not_exists()
        .col(id("id"))
        .col(text("tenant_id"))
        .col(text("app_id"))
        .col(text("entity"))
        .col(text("user_id"))
        .col(text("file_id"))
        .col(text("options"))
        .col(text_null("plan"))
        .col(text("status"))
        .col(text("phase"))
        .col(ColumnDef::new("dry_run").boolean().not_null())
        .col(ColumnDef::new("total").big_integer().null())
        .col(big("done"))
        .col(big("inserted"))
        .col(big("updated"))
        .col(big("failed"))
        .col(text_null("error_code"))
        .col(text_null("error_detail"))
        .col(time("created_at"))
        .col(time("updated_at"))
        .col(time_null("finished_at"))
        .col(time_null("locked_until"))
        .col(text_null("lease"))
        .to_owned();
    tx.execute(&imports).await?;
    let errors = Table::create()
        .table("sys_import_errors")
        .if_not_exists()
        .col(id("id"))
        .col(text("import_id"))
        .col(big("row_no"))
        .col(text("column_name"))
        .col(text("value"))
        .col(text("code"))
        .col(text("message"))
        .to_owned();
    tx.execute(&errors).await?;
    for (name, table, cols) in [
        ("ix_imports_status", "sys_imports", &["status", "id"][..]),
        (
            "ix_imports_entity",
            "sys_imports",
            &["tenant_id", "app_id", "entity", "id"][..],
        ),
        ("ix_import_errors_import", "sys_import_errors", &["import_id", "id"][..]),
        (
            "ix_import_errors_row",
            "sys_import_errors",
            &["import_id", "row_no"][..],
        ),
    ] {
        let mut i = Index::create();
        i.name(name).table(table).if_not_exists();
        for c in cols {
            i.col(*c);
        }
        tx.execute(&i).await?;
    }
    Ok(())
}

/// Each user's own preferences (`sys_user_preferences`): the web UI's language.
async fn apply_v10(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let t = Table::create()
        .table("sys_user_preferences")
        .if_not_exists()
        .col(id("user_id"))
        .col(text("tenant_id"))
        .col(text_null("language"))
        .col(time("updated_at"))
        .to_owned();
    tx.execute(&t).await?;
    Ok(())
}

/// The samples of forecast calibration exercises: records drawn at random, the probability the
/// system gave each and the team's estimate, scored against outcomes later.
async fn apply_v11(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let t = Table::create()
        .table("sys_calibration_samples")
        .if_not_exists()
        .col(text("tenant_id"))
        .col(text("exercise_id"))
        .col(ColumnDef::new("position").big_integer().not_null())
        .col(text("app_id"))
        .col(text("entity_id"))
        .col(text("record_id"))
        .col(text("stage"))
        .col(ColumnDef::new("configured_probability").double().null())
        .col(ColumnDef::new("system_probability").double().null())
        .col(ColumnDef::new("team_estimate").double().null())
        .col(text("created_by"))
        .col(time("created_at"))
        .col(text_null("estimated_by"))
        .col(time_null("estimated_at"))
        .primary_key(Index::create().col("tenant_id").col("exercise_id").col("record_id"))
        .to_owned();
    tx.execute(&t).await?;
    Ok(())
}

/// Each user's personal views of an app (`sys_personal_views`), one row per view.
async fn apply_v12(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let t = Table::create()
        .table("sys_personal_views")
        .if_not_exists()
        .col(text("tenant_id"))
        .col(text("app_id"))
        .col(text("user_id"))
        .col(text("name"))
        .col(text("definition"))
        .col(time("created_at"))
        .col(time("updated_at"))
        .primary_key(
            Index::create()
                .col("tenant_id")
                .col("app_id")
                .col("user_id")
                .col("name"),
        )
        .to_owned();
    tx.execute(&t).await?;
    Ok(())
}

/// The package each installed app came from (`sys_app_packages`, see `crate::packages`).
async fn apply_v13(tx: &DatabaseTransaction) -> Result<(), StoreError> {
    let t = Table::create()
        .table("sys_app_packages")
        .if_not_exists()
        .col(id("app_id"))
        .col(text("tenant_id"))
        .col(text("package"))
        .col(text("version"))
        .col(text("base"))
        .col(text("origins"))
        .col(time("installed_at"))
        .col(time("updated_at"))
        .to_owned();
    tx.execute(&t).await?;
    Ok(())
}

/// The schema version this build expects.
pub const SCHEMA_VERSION: i64 = 13;

/// Brings the system tables to [`SCHEMA_VERSION`]; safe to run on every start and from several
/// nodes (PostgreSQL serialises them with an advisory lock).
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    let meta = Table::create()
        .table("sys_meta")
        .if_not_exists()
        .col(id("key"))
        .col(text("value"))
        .to_owned();
    db.write.execute(&meta).await?;
    let tx = db.write.conn().begin().await?;
    if !db.is_sqlite() {
        tx.execute_unprepared("SELECT pg_advisory_xact_lock(7215001)").await?;
    }
    let current = schema_version(&tx).await?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Config(format!(
            "the database has schema version {current}, newer than this build ({SCHEMA_VERSION}); upgrade Trellis"
        )));
    }
    if current < 1 {
        apply_v1(&tx).await?;
    }
    if current < 2 {
        apply_v2(&tx).await?;
    }
    if current < 3 {
        apply_v3(&tx).await?;
    }
    if current < 4 {
        apply_v4(&tx).await?;
    }
    if current < 5 {
        apply_v5(&tx).await?;
    }
    if current < 6 {
        apply_v6(&tx).await?;
    }
    if current < 7 {
        apply_v7(&tx).await?;
    }
    if current < 8 {
        apply_v8(&tx).await?;
    }
    if current < 9 {
        apply_v9(&tx).await?;
    }
    if current < 10 {
        apply_v10(&tx).await?;
    }
    if current < 11 {
        apply_v11(&tx).await?;
    }
    if current < 12 {
        apply_v12(&tx).await?;
    }
    if current < 13 {
        apply_v13(&tx).await?;
    }
    let upsert = Query::insert()
        .into_table("sys_meta")
        .columns(["key", "value"])
        .values_panic(["schema_version".into(), SCHEMA_VERSION.to_string().into()])
        .on_conflict(OnConflict::column("key").update_column("value").to_owned())
        .to_owned();
    tx.execute(&upsert).await?;
    tx.commit().await?;
    Ok(())
}

async fn schema_version(tx: &DatabaseTransaction) -> Result<i64, StoreError> {
    let q = Query::select()
        .column("value")
        .from("sys_meta")
        .and_where(Expr::col("key").eq("schema_version"))
        .to_owned();
    #[derive(FromQueryResult)]
    struct Meta {
        value: String,
    }
    Ok(match tx.query_one(&q).await? {
        Some(r) => Meta::from_query_result(&r, "")?.value.parse().unwrap_or(0),
        None => 0,
    })
}
