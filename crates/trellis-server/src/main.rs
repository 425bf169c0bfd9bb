//! The `trellis` binary: `serve`, `migrate`, tenant and user administration, and `openapi`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use trellis_server::config::{self, Config, LogFormat};
use trellis_server::{open, start};

mod import_cli;

#[derive(Parser)]
#[command(name = "trellis", version, about = "Trellis: a low-code workflow engine")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options of every command. Settings come from `trellis.toml` < `TRELLIS_*` < flags.
#[derive(Args, Serialize)]
struct GlobalArgs {
    /// Configuration file (TOML); default: ./trellis.toml when it exists.
    #[arg(long, env = "TRELLIS_CONFIG", value_name = "FILE", global = true)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Log filter, RUST_LOG syntax (or TRELLIS_LOG, or RUST_LOG).
    #[arg(long, value_name = "FILTER", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    /// Log lines as text or as JSON objects (or TRELLIS_LOG_FORMAT).
    #[arg(long, value_enum, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<LogFormat>,
}

/// Where the data lives (shared by every command).
#[derive(Args, Clone, Serialize)]
struct DataArgs {
    /// Folder of the embedded SQLite database and of files [env: TRELLIS_DATA_DIR] [default: ./data].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://path or postgres://...); default: SQLite in the data folder
    /// [env: TRELLIS_DATABASE_URL, or a file: TRELLIS_DATABASE_URL_FILE].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url: Option<String>,
    /// File holding the database URL.
    #[arg(long, value_name = "FILE", conflicts_with = "database_url")]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_url_file: Option<PathBuf>,
}

/// How a node runs (`serve`, `config show`).
#[derive(Args, Clone, Serialize)]
struct NodeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    data: DataArgs,
    /// Address to listen on [env: TRELLIS_BIND] [default: 127.0.0.1:8080].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    bind: Option<String>,
    /// HTTP worker threads (default: one per core) [env: TRELLIS_WORKERS].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    workers: Option<u64>,
    /// E-mail of the first administrator, created on a database without tenants
    /// [env: TRELLIS_ADMIN_EMAIL].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_email: Option<String>,
    /// Password of the first administrator (generated and printed once when absent)
    /// [env: TRELLIS_ADMIN_PASSWORD].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_password: Option<String>,
    /// File holding the first administrator's password [env: TRELLIS_ADMIN_PASSWORD_FILE].
    #[arg(long, value_name = "FILE", conflicts_with = "admin_password")]
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_password_file: Option<PathBuf>,
    /// Largest file upload in bytes (files are kept in <data-dir>/files)
    /// [env: TRELLIS_MAX_FILE_BYTES] [default: 26214400].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_file_bytes: Option<u64>,
    /// Let webhooks, SMS and e-mail reach loopback, private, link-local and other non-public
    /// addresses (refused by default: tenants write those URLs and the SMTP host)
    /// [env: TRELLIS_ALLOW_PRIVATE_OUTBOUND].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_private_outbound: Option<bool>,
    /// Minutes a login session lasts without being used (each use moves its end)
    /// [env: TRELLIS_SESSION_IDLE_MINUTES] [default: 720].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    session_idle_minutes: Option<u64>,
    /// Hours a login session lasts at most, however much it is used
    /// [env: TRELLIS_SESSION_MAX_HOURS] [default: 168].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip_serializing_if = "Option::is_none")]
    session_max_hours: Option<u64>,
    /// On a fresh database, install the shipped templates (sales management, store sales) into
    /// the first tenant [env: TRELLIS_DEMO] [default: false; `just run` turns it on].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    demo: Option<bool>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the web UI.
    Serve {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Create or upgrade the system tables, then exit.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// The node's configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Tenant administration.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// User administration.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Team administration.
    Team {
        #[command(subcommand)]
        command: TeamCommand,
    },
    /// An app's records.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// App packages: plan, install or upgrade an app from a package file, export an app.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Print the platform OpenAPI document as JSON, then exit.
    ///
    /// The document served at /api/v1/openapi.json, pretty-printed in a stable order. Reads no
    /// configuration and opens no database (`just gen` generates web-ui's client from it).
    Openapi,
}

#[derive(Clone, Copy, ValueEnum)]
enum ShowFormat {
    Toml,
    Json,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective settings (file < environment < flags), secrets masked.
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// How to print them.
        #[arg(long, value_enum, default_value = "toml")]
        format: ShowFormat,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormatArg {
    Csv,
    Xlsx,
}

#[derive(Clone, Copy, ValueEnum)]
enum LangArg {
    Zh,
    En,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Export an entity's records to a CSV or XLSX file.
    ///
    /// The same use case as `GET /api/v1/data/{app}/{entity}/export`: the rows and columns the
    /// record list would answer, read in pages and written as they come. It acts as the user
    /// named by --as (their roles, row scope, hidden fields and `export` right apply), and
    /// without --as as the tenant's first administrator, who may export every record and field.
    Export {
        #[command(flatten)]
        data: DataArgs,
        /// Name of the tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// E-mail of the user to act as (default: the tenant's first administrator).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
        /// Name of the app.
        #[arg(long)]
        app: String,
        /// Name of the entity.
        #[arg(long)]
        entity: String,
        #[arg(long, value_enum)]
        format: ExportFormatArg,
        /// JSON filter, as the record list takes it.
        #[arg(long)]
        filter: Option<String>,
        /// Comma-separated fields; `-` sorts descending.
        #[arg(long)]
        sort: Option<String>,
        /// Comma-separated fields, in the order of the columns (default: every field).
        #[arg(long)]
        fields: Option<String>,
        /// Text searched in every text field.
        #[arg(long)]
        q: Option<String>,
        /// Language of the headers, option labels and yes/no.
        #[arg(long, value_enum, default_value = "en")]
        lang: LangArg,
        /// File to write (default: standard output; logs then go to standard error).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Import records from a CSV, XLSX or XLS file, with a progress bar.
    ///
    /// The same use case as `POST /api/v1/data/{app}/{entity}/imports`, run in this process as
    /// the user named by --as (their rights and row scope apply; default: the tenant's first
    /// administrator). Killed mid-way, it goes on from its last committed rows with
    /// `--resume ID` (or on a running node by itself), writing no row twice.
    Import {
        #[command(flatten)]
        data: DataArgs,
        /// Name of the tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// E-mail of the user to act as (default: the tenant's first administrator).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
        /// Name of the app.
        #[arg(long)]
        app: String,
        /// Name of the entity.
        #[arg(long)]
        entity: String,
        /// The file to import (not with --resume).
        #[arg(required_unless_present = "resume", conflicts_with = "resume")]
        file: Option<PathBuf>,
        /// Go on with an interrupted import (its id).
        #[arg(long, value_name = "ID")]
        resume: Option<String>,
        /// Only check every row and report; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value = "all-or-nothing")]
        mode: ImportModeArg,
        #[arg(long, value_enum, default_value = "insert")]
        action: ImportActionArg,
        /// The field that finds a row's record (update, upsert): id or a unique field.
        #[arg(long)]
        key: Option<String>,
        /// The order of dates like 05/03/2026 when the file does not decide it.
        #[arg(long, value_enum)]
        date_order: Option<DateOrderArg>,
        /// A column's field: HEADER=FIELD (HEADER= ignores the column); repeat for more.
        #[arg(long = "map", value_name = "HEADER=FIELD")]
        map: Vec<String>,
        /// The sheet of a workbook (default the first).
        #[arg(long)]
        sheet: Option<String>,
    },
}

/// How `trellis app plan` and `trellis app install` take a package.
#[derive(Args)]
struct InstallArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Name of the tenant.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The package file (`app-package.schema.json`).
    file: PathBuf,
    /// Install as this app (default: the package's app name).
    #[arg(long)]
    app: Option<String>,
    /// Drop the entities and fields the package removes, with their data (else they are kept).
    #[arg(long)]
    allow_data_loss: bool,
    /// Where both the tenant and the package changed a property, take the package's value.
    #[arg(long)]
    prefer_package: bool,
    /// Print the answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AppCommand {
    /// Show what installing or upgrading from a package would add, change, rename, remove and
    /// keep, the conflicts, and the records each destructive step touches; change nothing.
    Plan(InstallArgs),
    /// Install a package as a new app, or upgrade the app installed from an earlier version of
    /// it (a three-way merge that keeps the tenant's changes). One transaction, as the tenant's
    /// first administrator; installing the same version again changes nothing.
    Install(InstallArgs),
    /// Export an app as a package (canonical JSON).
    Export {
        #[command(flatten)]
        data: DataArgs,
        /// Name of the tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Name of the app.
        app: String,
        /// The package's name (default: the one it was installed from, else the app's).
        #[arg(long)]
        package: Option<String>,
        /// The package's version (default: the installed one, else 1.0.0).
        #[arg(long)]
        version: Option<String>,
        /// File to write (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImportModeArg {
    AllOrNothing,
    SkipInvalid,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImportActionArg {
    Insert,
    Update,
    Upsert,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DateOrderArg {
    Dmy,
    Mdy,
}

#[derive(Subcommand)]
enum TeamCommand {
    /// Create a team in a tenant.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Name of the tenant.
        tenant: String,
        /// Name of the team (unique in the tenant).
        name: String,
        /// Id or name of the team above it.
        #[arg(long)]
        parent: Option<String>,
    },
    /// Add a user (by e-mail) to a team (by name or id).
    AddMember {
        #[command(flatten)]
        data: DataArgs,
        tenant: String,
        team: String,
        email: String,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Unique name of the tenant.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user in a tenant.
    Create {
        #[command(flatten)]
        data: DataArgs,
        /// Name of the tenant.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// Display name (default: the part of the e-mail before @).
        #[arg(long)]
        name: Option<String>,
        /// Password (or set TRELLIS_USER_PASSWORD, or --password-stdin; generated when absent).
        #[arg(long, env = "TRELLIS_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Make the user a tenant administrator.
        #[arg(long)]
        admin: bool,
    },
}

/// Logs to standard output (standard error when that carries a command's output), filtered and
/// formatted as configured.
fn init_logging(config: &Config, to_stderr: bool) -> anyhow::Result<()> {
    let filter = config.log_filter();
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| anyhow::anyhow!("configuration: log filter '{filter}': {e}"))?;
    if to_stderr {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match config.log_format {
            LogFormat::Text => builder.with_target(false).with_ansi(false).init(),
            LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
        }
        return Ok(());
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        // Colours only on a terminal: a file or a log collector gets plain text.
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
    Ok(())
}

/// The layered configuration with these command-line flags on top.
fn configuration(global: &GlobalArgs, command: &impl Serialize) -> anyhow::Result<Config> {
    let mut flags = config::flags(global)?;
    flags.extend(config::flags(command)?);
    Config::load(global.config.as_deref(), |k| std::env::var(k).ok(), flags)
}

/// Large blocks (a password hash's 19 MiB of argon2 memory) go back to the system when freed.
/// glibc's default raises its mmap threshold after the first such block is freed, so later ones
/// come from per-thread arenas and stay resident: 100 user creations left the node at 250-700
/// MiB. A fixed threshold of 1 MiB keeps it near its working set.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called first thing in `main`.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        // Fixing the mmap threshold also fixes the trim threshold at its 128 KiB default: the
        // heap would shrink and fault back in all the time. Keep up to 32 MiB free on top.
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

/// mimalloc: with glibc's allocator, allocating and freeing was a third of an import's CPU time
/// (perf, `docs/BENCHMARKS.md`), and its arenas kept freed memory resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fixed_mmap_threshold();
    // SAFETY: first thing in `main`: nothing has used SQLite yet.
    let sqlite_uncounted = unsafe { trellis_store::db::sqlite_without_memory_statistics() };
    // SAFETY: as above.
    let sqlite_on_ours = unsafe { trellis_store::db::sqlite_on_the_global_allocator() };
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Openapi => {
            // The document depends on the code only; nothing is logged, so stdout is the JSON.
            let doc = serde_json::to_string_pretty(&trellis_api::platform_spec())?;
            return match writeln!(std::io::stdout().lock(), "{doc}") {
                // A reader that stopped early (`| head`) is no failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                written => Ok(written?),
            };
        }
        Command::Serve { node }
        | Command::Config {
            command: ConfigCommand::Show { node, .. },
        } => configuration(&cli.global, node)?,
        Command::Migrate { data }
        | Command::Tenant {
            command: TenantCommand::Create { data, .. },
        }
        | Command::User {
            command: UserCommand::Create { data, .. },
        }
        | Command::Team {
            command: TeamCommand::Create { data, .. } | TeamCommand::AddMember { data, .. },
        }
        | Command::Data {
            command: DataCommand::Export { data, .. } | DataCommand::Import { data, .. },
        }
        | Command::App {
            command:
                AppCommand::Plan(InstallArgs { data, .. })
                | AppCommand::Install(InstallArgs { data, .. })
                | AppCommand::Export { data, .. },
        } => configuration(&cli.global, data)?,
    };
    let output_on_stdout = matches!(
        &cli.command,
        Command::Data {
            command: DataCommand::Export { out: None, .. }
        } | Command::App {
            command: AppCommand::Export { out: None, .. } | AppCommand::Plan(_) | AppCommand::Install(_)
        }
    );
    init_logging(&config, output_on_stdout)?;
    if !sqlite_uncounted || !sqlite_on_ours {
        tracing::warn!("SQLite was in use before its memory statistics and allocator could be set");
    }
    match cli.command {
        // Printed above, before any configuration was read.
        Command::Openapi => {}
        Command::Serve { .. } => {
            let running = start(config.settings()).await?;
            if let Some(b) = &running.bootstrapped {
                println!("Created tenant '{}' with administrator {}", b.tenant, b.email);
                if let Some(p) = &b.generated_password {
                    println!("Generated password (shown once, change it): {p}");
                }
            }
            println!("Trellis is listening on http://{}", running.addr);
            running.wait().await?;
        }
        Command::Config {
            command: ConfigCommand::Show { format, .. },
        } => {
            let shown = config.shown();
            match format {
                ShowFormat::Toml => print!("{}", toml::to_string(&shown)?),
                ShowFormat::Json => println!("{}", serde_json::to_string_pretty(&shown)?),
            }
        }
        Command::Migrate { .. } => {
            open(&config.database_url()).await?;
            println!("Database is up to date");
        }
        Command::Tenant {
            command: TenantCommand::Create { name, .. },
        } => {
            let engine = open(&config.database_url()).await?;
            let t = engine
                .create_tenant(&name)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Created tenant '{}' ({})", t.name, t.id);
        }
        Command::User {
            command:
                UserCommand::Create {
                    tenant,
                    email,
                    name,
                    password,
                    password_stdin,
                    admin,
                    ..
                },
        } => {
            let engine = open(&config.database_url()).await?;
            let (password, generated) = match (password, password_stdin) {
                (_, true) => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    (s.trim_end_matches(['\r', '\n']).to_string(), false)
                }
                (Some(p), false) => (p, false),
                (None, false) => (trellis_engine::access::auth::generate_password(), true),
            };
            let u = engine
                .create_user(&tenant, &email, name.as_deref(), &password, admin)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Created user {} ({}) in tenant '{tenant}'", u.email, u.id);
            if generated {
                println!("Generated password (shown once): {password}");
            }
        }
        Command::Team {
            command: TeamCommand::Create {
                tenant, name, parent, ..
            },
        } => {
            let engine = open(&config.database_url()).await?;
            let t = engine
                .admin_create_team(&tenant, &name, parent.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Created team '{}' ({}) in tenant '{tenant}'", t.name, t.id);
        }
        Command::Team {
            command: TeamCommand::AddMember {
                tenant, team, email, ..
            },
        } => {
            let engine = open(&config.database_url()).await?;
            engine
                .admin_add_team_member(&tenant, &team, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Added {email} to team '{team}'");
        }
        Command::App {
            command: AppCommand::Plan(args),
        } => install(&config, args, true).await?,
        Command::App {
            command: AppCommand::Install(args),
        } => install(&config, args, false).await?,
        Command::App {
            command:
                AppCommand::Export {
                    tenant,
                    app,
                    package,
                    version,
                    out,
                    ..
                },
        } => {
            let engine = open(&config.database_url()).await?;
            let caller = engine
                .cli_caller(&tenant, None)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            let text = engine
                .export_package(&caller, &app, package.as_deref(), version.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text)?;
                    eprintln!("Exported app '{app}' to {}", path.display());
                }
                None => print!("{text}"),
            }
        }
        Command::Data {
            command:
                DataCommand::Export {
                    tenant,
                    as_user,
                    app,
                    entity,
                    format,
                    filter,
                    sort,
                    fields,
                    q,
                    lang,
                    out,
                    ..
                },
        } => {
            let engine = open(&config.database_url()).await?;
            let caller = engine
                .cli_caller(&tenant, as_user.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            let p = trellis_engine::records::ExportParams {
                filter,
                sort,
                fields,
                q,
                lang: match lang {
                    LangArg::Zh => trellis_engine::records::Lang::Zh,
                    LangArg::En => trellis_engine::records::Lang::En,
                },
            };
            let x = engine
                .export_records(&caller, &app, &entity, &p)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            let rows = export_to(&engine, x, format == ExportFormatArg::Xlsx, out.as_deref()).await?;
            if let Some(out) = &out {
                eprintln!("Exported {rows} records to {}", out.display());
            }
        }
        Command::Data {
            command:
                DataCommand::Import {
                    tenant,
                    as_user,
                    app,
                    entity,
                    file,
                    resume,
                    dry_run,
                    mode,
                    action,
                    key,
                    date_order,
                    map,
                    sheet,
                    ..
                },
        } => {
            use trellis_engine::imports::{ImportAction, ImportMode, ImportRequest, ImportStatus};
            let settings = config.settings();
            let engine = open(&config.database_url())
                .await?
                .with_files_dir(settings.data_dir.join("files"))
                .with_max_file_bytes(u64::MAX / 2);
            let caller = engine
                .cli_caller(&tenant, as_user.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            let id = match (resume, file) {
                (Some(id), _) => id,
                (None, Some(file)) => {
                    let mut columns = std::collections::BTreeMap::new();
                    for m in &map {
                        let (h, f) = m
                            .split_once('=')
                            .ok_or_else(|| anyhow::anyhow!("--map takes HEADER=FIELD, not '{m}'"))?;
                        columns.insert(h.to_string(), Some(f.to_string()).filter(|f| !f.is_empty()));
                    }
                    let r = ImportRequest {
                        file: import_cli::upload(&engine, &caller, &file).await?,
                        dry_run,
                        mode: match mode {
                            ImportModeArg::AllOrNothing => ImportMode::AllOrNothing,
                            ImportModeArg::SkipInvalid => ImportMode::SkipInvalid,
                        },
                        action: match action {
                            ImportActionArg::Insert => ImportAction::Insert,
                            ImportActionArg::Update => ImportAction::Update,
                            ImportActionArg::Upsert => ImportAction::Upsert,
                        },
                        key,
                        columns: (!columns.is_empty()).then_some(columns),
                        date_order: date_order.map(|d| match d {
                            DateOrderArg::Dmy => trellis_core::coerce::DateOrder::Dmy,
                            DateOrderArg::Mdy => trellis_core::coerce::DateOrder::Mdy,
                        }),
                        sheet,
                        ..Default::default()
                    };
                    let started = import_cli::start(&engine, &caller, &app, &entity, &r).await?;
                    eprintln!("Import {} started (resume it with --resume {})", started.id, started.id);
                    started.id
                }
                (None, None) => anyhow::bail!("name a file, or --resume ID"),
            };
            let done = import_cli::run(&engine, &caller, &app, &entity, &id).await?;
            println!("{}", import_cli::summary(&done));
            if done.status != ImportStatus::Done {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

/// Writes an export to `out` (through `<out>.part`, renamed when complete) or standard output;
/// answers the number of records.
/// `trellis app plan` (a dry run) and `trellis app install`: the answer as a table, or as JSON.
async fn install(config: &Config, args: InstallArgs, dry_run: bool) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    use trellis_engine::apps::packages::InstallOptions;
    let text =
        std::fs::read_to_string(&args.file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    let body: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", args.file.display()))?;
    let engine = open(&config.database_url()).await?;
    let caller = engine
        .cli_caller(&args.tenant, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    let opts = InstallOptions {
        app: args.app,
        dry_run,
        allow_data_loss: args.allow_data_loss,
        prefer: if args.prefer_package {
            trellis_core::merge::Prefer::Package
        } else {
            trellis_core::merge::Prefer::Tenant
        },
    };
    let out = engine.install_package(&caller, &body, opts).await.map_err(|e| {
        let fields: Vec<String> = e
            .errors
            .iter()
            .filter(|f| f.message != e.detail)
            .map(|f| format!("\n  {}: {}", f.field, f.message))
            .collect();
        anyhow::anyhow!("{}{}", e.detail, fields.concat())
    })?;
    if args.json {
        return print_out(&format!("{}\n", serde_json::to_string_pretty(&out)?));
    }
    let mut text = String::new();
    let from = out
        .from_version
        .as_deref()
        .map_or("new app".to_string(), |v| format!("from {v}"));
    let _ = writeln!(text, "{} {} as app '{}' ({from})", out.package, out.version, out.app);
    for c in &out.changes {
        let what = match &c.entity {
            Some(e) => format!("{e}.{}", c.name),
            None => c.name.clone(),
        };
        let mut line = format!(
            "  {:<8} {:<9} {what}",
            format!("{:?}", c.change).to_lowercase(),
            format!("{:?}", c.kind).to_lowercase()
        );
        if let Some(f) = &c.from {
            line.push_str(&format!(" (was {f})"));
        }
        if let Some(r) = c.rows {
            line.push_str(&format!(" [{r} records]"));
        }
        let _ = writeln!(text, "{line}");
    }
    for s in &out.plan {
        let rows = s.rows.map(|r| format!(" [{r} records]")).unwrap_or_default();
        let loss = if s.may_lose_data { " (may lose data)" } else { "" };
        let _ = writeln!(text, "  step     {}{rows}{loss}", s.detail);
    }
    for c in &out.conflicts {
        let _ = writeln!(
            text,
            "  conflict {} (kept the {}'s)",
            c.path,
            if c.kept == trellis_core::merge::Prefer::Package {
                "package"
            } else {
                "tenant"
            }
        );
    }
    let _ = writeln!(
        text,
        "{}",
        match (dry_run, out.applied) {
            (true, _) => "Plan only: nothing was changed.".to_string(),
            (false, true) => format!(
                "Installed: app '{}' is at definition version {}.",
                out.app, out.app_version
            ),
            (false, false) => "Nothing to change.".to_string(),
        }
    );
    print_out(&text)
}

/// Writes a command's answer to standard output; a reader that stops early (`| head`) is no error.
fn print_out(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn export_to(
    engine: &trellis_engine::Engine,
    mut x: trellis_engine::records::Export,
    xlsx: bool,
    out: Option<&std::path::Path>,
) -> anyhow::Result<u64> {
    use trellis_engine::records::{XlsxExport, csv_head, csv_rows};
    let part = out.map(|o| {
        let mut p = o.as_os_str().to_owned();
        p.push(".part");
        PathBuf::from(p)
    });
    let mut sink: Box<dyn Write + Send> = match &part {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::stdout()),
    };
    let written = async {
        let detail = |e: trellis_core::Error| anyhow::anyhow!("{}", e.detail);
        let mut n = 0u64;
        if xlsx {
            let mut book = XlsxExport::new(std::mem::take(&mut x.headers), None).map_err(detail)?;
            while let Some(rows) = engine.export_page(&mut x).await.map_err(detail)? {
                n += rows.len() as u64;
                book.rows(&rows, x.lang).map_err(detail)?;
            }
            book.finish(&mut sink).map_err(detail)?;
        } else {
            sink.write_all(&csv_head(&x.headers).map_err(detail)?)?;
            while let Some(rows) = engine.export_page(&mut x).await.map_err(detail)? {
                n += rows.len() as u64;
                sink.write_all(&csv_rows(&rows, x.lang).map_err(detail)?)?;
            }
        }
        sink.flush()?;
        anyhow::Ok(n)
    }
    .await;
    drop(sink);
    match (written, part, out) {
        (Ok(n), Some(part), Some(out)) => {
            std::fs::rename(part, out)?;
            Ok(n)
        }
        (Err(e), Some(part), _) => {
            let _ = std::fs::remove_file(part);
            Err(e)
        }
        (r, _, _) => r,
    }
}
