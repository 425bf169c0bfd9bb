//! The `trellis` binary: `serve`, `migrate`, and tenant and user administration.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use trellis_server::{Settings, database_url, open, start};

#[derive(Parser)]
#[command(name = "trellis", version, about = "Trellis: a low-code workflow engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the data lives (shared by every command).
#[derive(Args, Clone)]
struct DataArgs {
    /// Folder of the embedded SQLite database and of files.
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Database URL (sqlite://path or postgres://...); default: SQLite in the data folder.
    #[arg(long, env = "TRELLIS_DATABASE_URL")]
    database_url: Option<String>,
}

impl DataArgs {
    fn url(&self) -> String {
        database_url(&self.data_dir, self.database_url.as_deref())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the web UI.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on.
        #[arg(long, env = "TRELLIS_BIND", default_value = "127.0.0.1:8080")]
        bind: String,
        /// HTTP worker threads (default: one per core).
        #[arg(long, env = "TRELLIS_WORKERS")]
        workers: Option<usize>,
        /// E-mail of the first administrator, created on a database without tenants.
        #[arg(long, env = "TRELLIS_ADMIN_EMAIL")]
        admin_email: Option<String>,
        /// Password of the first administrator (generated and printed once when absent).
        #[arg(long, env = "TRELLIS_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        /// Largest file upload in bytes (files are kept in <data-dir>/files).
        #[arg(long, env = "TRELLIS_MAX_FILE_BYTES", default_value_t = trellis_engine::files::DEFAULT_MAX_FILE_BYTES)]
        max_file_bytes: u64,
        /// Let webhooks, SMS and e-mail reach loopback, private, link-local and other non-public
        /// addresses (refused by default: tenants write those URLs and the SMTP host).
        #[arg(long, env = "TRELLIS_ALLOW_PRIVATE_OUTBOUND")]
        allow_private_outbound: bool,
        /// Minutes a login session lasts without being used (each use moves its end).
        #[arg(long, env = "TRELLIS_SESSION_IDLE_MINUTES", default_value_t = 12 * 60, value_parser = clap::value_parser!(u64).range(1..))]
        session_idle_minutes: u64,
        /// Hours a login session lasts at most, however much it is used.
        #[arg(long, env = "TRELLIS_SESSION_MAX_HOURS", default_value_t = 7 * 24, value_parser = clap::value_parser!(u64).range(1..))]
        session_max_hours: u64,
    },
    /// Create or upgrade the system tables, then exit.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
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

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,actix_web=warn,actix_server=warn,sqlx=warn,sea_orm=warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    fixed_mmap_threshold();
    // SAFETY: first thing in `main`: nothing has used SQLite yet.
    let sqlite_uncounted = unsafe { trellis_store::db::sqlite_without_memory_statistics() };
    init_logging();
    if !sqlite_uncounted {
        tracing::warn!("SQLite was in use before its memory statistics could be turned off");
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            data,
            bind,
            workers,
            admin_email,
            admin_password,
            max_file_bytes,
            allow_private_outbound,
            session_idle_minutes,
            session_max_hours,
        } => {
            let settings = Settings {
                bind,
                database_url: data.url(),
                data_dir: data.data_dir,
                workers: workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
                admin_email,
                admin_password,
                max_file_bytes,
                allow_private_outbound,
                sessions: trellis_engine::auth::SessionLifetime {
                    idle: std::time::Duration::from_secs(session_idle_minutes.saturating_mul(60)),
                    max: std::time::Duration::from_secs(session_max_hours.saturating_mul(3600)),
                },
                cache_ttl: trellis_engine::access::DEFAULT_CACHE_TTL,
            };
            let running = start(settings).await?;
            if let Some(b) = &running.bootstrapped {
                println!("Created tenant '{}' with administrator {}", b.tenant, b.email);
                if let Some(p) = &b.generated_password {
                    println!("Generated password (shown once, change it): {p}");
                }
            }
            println!("Trellis is listening on http://{}", running.addr);
            running.wait().await?;
        }
        Command::Migrate { data } => {
            open(&data.url()).await?;
            println!("Database is up to date");
        }
        Command::Tenant {
            command: TenantCommand::Create { data, name },
        } => {
            let engine = open(&data.url()).await?;
            let t = engine
                .create_tenant(&name)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Created tenant '{}' ({})", t.name, t.id);
        }
        Command::User {
            command:
                UserCommand::Create {
                    data,
                    tenant,
                    email,
                    name,
                    password,
                    password_stdin,
                    admin,
                },
        } => {
            let engine = open(&data.url()).await?;
            let (password, generated) = match (password, password_stdin) {
                (_, true) => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    (s.trim_end_matches(['\r', '\n']).to_string(), false)
                }
                (Some(p), false) => (p, false),
                (None, false) => (trellis_engine::auth::generate_password(), true),
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
            command:
                TeamCommand::Create {
                    data,
                    tenant,
                    name,
                    parent,
                },
        } => {
            let engine = open(&data.url()).await?;
            let t = engine
                .admin_create_team(&tenant, &name, parent.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Created team '{}' ({}) in tenant '{tenant}'", t.name, t.id);
        }
        Command::Team {
            command:
                TeamCommand::AddMember {
                    data,
                    tenant,
                    team,
                    email,
                },
        } => {
            let engine = open(&data.url()).await?;
            engine
                .admin_add_team_member(&tenant, &team, &email)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
            println!("Added {email} to team '{team}'");
        }
    }
    Ok(())
}
