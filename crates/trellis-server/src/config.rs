//! A node's configuration, in layers, each overriding the one before (through figment):
//! built-in defaults < `trellis.toml` < the `TRELLIS_*` environment < command-line flags.
//!
//! A secret can also be read from a file: `admin_password_file` / `TRELLIS_ADMIN_PASSWORD_FILE`
//! / `--admin-password-file` (likewise `database_url`, whose URL may hold a password). The file's
//! text, less its trailing line break, is the value; a layer that gives both the value and its
//! file is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::Settings;

/// The file read when no `--config` is given, if it exists (in the working directory).
pub const DEFAULT_FILE: &str = "trellis.toml";

/// The log filter when neither `log`, `TRELLIS_LOG` nor `RUST_LOG` sets one.
pub const DEFAULT_LOG: &str = "info,actix_web=warn,actix_server=warn,sqlx=warn,sea_orm=warn";

/// Targets quieted to warnings unless a filter names them: the timer scheduler's info lines
/// ("Uninited", "Job creator created") say nothing to an operator.
const QUIET_TARGETS: &[&str] = &["tokio_cron_scheduler"];

/// Every setting, as written in `trellis.toml`; `TRELLIS_<KEY>` in the environment and
/// `--<key>` (with dashes) on the command line.
pub const KEYS: &[&str] = &[
    "bind",
    "data_dir",
    "database_url",
    "workers",
    "admin_email",
    "admin_password",
    "max_file_bytes",
    "allow_private_outbound",
    "session_idle_minutes",
    "session_max_hours",
    "demo",
    "log",
    "log_format",
];

/// Settings that may be read from a file (`<key>_file`) and are masked when shown.
pub const SECRETS: &[&str] = &["admin_password", "database_url"];

/// How a masked secret is shown.
pub const MASK: &str = "********";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (with the request's span: id, tenant, user, app, entity).
    Json,
}

/// The effective configuration of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Folder of the embedded SQLite database and of uploaded files.
    pub data_dir: PathBuf,
    /// Database URL (sqlite://path or postgres://...); default: SQLite in the data folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// HTTP worker threads; default: one per core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// E-mail of the first administrator, created on a database without tenants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// Password of the first administrator (generated and printed once when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
    /// Largest file upload, in bytes.
    pub max_file_bytes: u64,
    /// Whether webhooks, SMS and e-mail may reach non-public addresses.
    pub allow_private_outbound: bool,
    /// Minutes a login session lasts without being used.
    pub session_idle_minutes: u64,
    /// Hours a login session lasts at most.
    pub session_max_hours: u64,
    /// Whether a fresh database gets the shipped templates installed (`just run` sets it).
    pub demo: bool,
    /// Log filter (`RUST_LOG` syntax); default [`DEFAULT_LOG`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            workers: None,
            admin_email: None,
            admin_password: None,
            max_file_bytes: trellis_engine::files::DEFAULT_MAX_FILE_BYTES,
            allow_private_outbound: false,
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            demo: false,
            log: None,
            log_format: LogFormat::Text,
        }
    }
}

/// Where the file layer comes from: `--config FILE` (which must exist), else `./trellis.toml`
/// when there is one.
fn config_file(explicit: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    match explicit {
        Some(p) if p.is_file() => Ok(Some(p.to_path_buf())),
        Some(p) => anyhow::bail!("configuration file {} does not exist", p.display()),
        None => Ok(Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file())),
    }
}

impl Config {
    /// Reads the layers: the file (`explicit`, or `./trellis.toml` if present), the environment
    /// (`env` looks a variable up; empty values count as unset), then `flags` (the keys given
    /// on the command line, `<key>_file` for secrets read from files).
    pub fn load(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        flags: Dict,
    ) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = config_file(explicit)? {
            figment = figment.merge(SecretFiles::new(Toml::file_exact(&file)));
        }
        let config: Config = figment
            .merge(SecretFiles::new(Environment(Box::new(env))))
            .merge(SecretFiles::new(Flags(flags)))
            .extract_lossy()
            .map_err(|e| anyhow::anyhow!("configuration: {}", e.to_string().replace('\n', "; ")))?;
        config.check()?;
        Ok(config)
    }

    /// Refuses values no node can run with.
    fn check(&self) -> anyhow::Result<()> {
        if self.session_idle_minutes == 0 {
            anyhow::bail!("configuration: session_idle_minutes must be at least 1");
        }
        if self.session_max_hours == 0 {
            anyhow::bail!("configuration: session_max_hours must be at least 1");
        }
        if self.workers == Some(0) {
            anyhow::bail!("configuration: workers must be at least 1");
        }
        Ok(())
    }

    /// The database URL: the one given, or the SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        crate::database_url(&self.data_dir, self.database_url.as_deref())
    }

    /// HTTP workers: the number given, or one per core.
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
    }

    /// The log filter: the one given (with the quiet targets added unless it names them), or
    /// [`DEFAULT_LOG`] with them.
    pub fn log_filter(&self) -> String {
        let mut filter = self
            .log
            .clone()
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_LOG.to_string());
        for target in QUIET_TARGETS {
            if !filter.contains(target) {
                filter.push_str(&format!(",{target}=warn"));
            }
        }
        filter
    }

    /// How to run a node with this configuration.
    pub fn settings(&self) -> Settings {
        Settings {
            bind: self.bind.clone(),
            database_url: self.database_url(),
            data_dir: self.data_dir.clone(),
            workers: self.workers(),
            admin_email: self.admin_email.clone(),
            admin_password: self.admin_password.clone(),
            max_file_bytes: self.max_file_bytes,
            allow_private_outbound: self.allow_private_outbound,
            sessions: trellis_engine::access::auth::SessionLifetime {
                idle: Duration::from_secs(self.session_idle_minutes.saturating_mul(60)),
                max: Duration::from_secs(self.session_max_hours.saturating_mul(3600)),
            },
            cache_ttl: trellis_engine::access::DEFAULT_CACHE_TTL,
            demo: self.demo,
        }
    }

    /// The effective settings as `trellis config show` prints them: defaults filled in
    /// (database URL, workers, log filter) and secrets masked.
    pub fn shown(&self) -> Config {
        Config {
            database_url: Some(mask_url(&self.database_url())),
            workers: Some(self.workers()),
            admin_password: self.admin_password.as_ref().map(|_| MASK.to_string()),
            log: Some(self.log_filter()),
            ..self.clone()
        }
    }
}

/// A database URL with its password (`user:password@`, `password=` parameters) masked.
pub fn mask_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@').map(|i| rest + i)
            && let Some(colon) = out[rest..at].find(':').map(|i| rest + i)
        {
            out.replace_range(colon + 1..at, MASK);
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

/// The `TRELLIS_*` variables of the known keys (`TRELLIS_LOG`, else `RUST_LOG`, for the log
/// filter), and `TRELLIS_<SECRET>_FILE`. Values are taken as text (a password that looks like a
/// number or a list stays a string); numbers and booleans are read from it.
struct Environment(Box<Lookup>);

/// Looks an environment variable up.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

fn env_name(key: &str) -> String {
    format!("TRELLIS_{}", key.to_ascii_uppercase())
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment").interpolater(|_, keys| env_name(&keys.join("_")))
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let get = |name: &str| (self.0)(name).filter(|v| !v.is_empty());
        let mut dict = Dict::new();
        for key in KEYS {
            if let Some(v) = get(&env_name(key)) {
                dict.insert(key.to_string(), Value::from(v));
            }
        }
        if !dict.contains_key("log")
            && let Some(v) = get("RUST_LOG")
        {
            dict.insert("log".into(), Value::from(v));
        }
        for secret in SECRETS {
            let key = format!("{secret}_file");
            if let Some(v) = get(&env_name(&key)) {
                dict.insert(key, Value::from(v));
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// The keys given on the command line.
struct Flags(Dict);

impl Provider for Flags {
    fn metadata(&self) -> Metadata {
        Metadata::named("command line").interpolater(|_, keys| format!("--{}", keys.join("-").replace('_', "-")))
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

/// A layer whose `<secret>_file` keys are replaced by the text of the file they name.
struct SecretFiles<P>(P);

impl<P: Provider> SecretFiles<P> {
    fn new(inner: P) -> Self {
        SecretFiles(inner)
    }
}

impl<P: Provider> Provider for SecretFiles<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        let metadata = self.0.metadata();
        let mut data = self.0.data()?;
        for (profile, dict) in data.iter_mut() {
            for secret in SECRETS {
                let key = format!("{secret}_file");
                let Some(path) = dict.remove(&key) else {
                    continue;
                };
                let name = metadata.interpolate(profile, &[key.as_str()]);
                if dict.contains_key(*secret) {
                    let both = metadata.interpolate(profile, &[*secret]);
                    return Err(figment::Error::from(format!(
                        "{both} and {name} are both set in the {}: give one",
                        metadata.name
                    )));
                }
                let path = path
                    .into_string()
                    .ok_or_else(|| figment::Error::from(format!("{name} must be a file path")))?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| figment::Error::from(format!("{name}: cannot read {path}: {e}")))?;
                let text = text.trim_end_matches(['\r', '\n']).to_string();
                dict.insert(secret.to_string(), Value::from(text));
            }
        }
        Ok(data)
    }
}

/// The `--key value` pairs of parsed command-line arguments (a struct whose unset options are
/// skipped when serialized) as a flags layer.
pub fn flags(args: &impl Serialize) -> anyhow::Result<Dict> {
    Value::serialize(args)
        .context("command-line flags")?
        .into_dict()
        .context("command-line flags are not a table")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| vars.get(k).cloned()
    }

    fn dict(v: serde_json::Value) -> Dict {
        flags(&v).unwrap()
    }

    #[test]
    fn the_defaults_are_the_flags_defaults() {
        let c = Config::load(None, env(&[]), Dict::new()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.database_url(), "sqlite://./data/trellis.db");
        assert!(
            c.log_filter().ends_with(",tokio_cron_scheduler=warn"),
            "{}",
            c.log_filter()
        );
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:1\"\nworkers = 3\nadmin_email = \"file@example.com\"\nsession_max_hours = 5\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[
                ("TRELLIS_BIND", "0.0.0.0:2"),
                ("TRELLIS_WORKERS", "4"),
                ("TRELLIS_ALLOW_PRIVATE_OUTBOUND", "true"),
            ]),
            dict(serde_json::json!({"bind": "0.0.0.0:3"})),
        )
        .unwrap();
        assert_eq!(c.bind, "0.0.0.0:3", "a flag wins");
        assert_eq!(c.workers, Some(4), "the environment beats the file");
        assert_eq!(
            c.admin_email.as_deref(),
            Some("file@example.com"),
            "the file beats the default"
        );
        assert_eq!(c.session_max_hours, 5);
        assert!(c.allow_private_outbound);
    }

    #[test]
    fn secrets_come_from_files_as_text_and_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "[1234567890]\n").unwrap();
        let c = Config::load(
            None,
            env(&[
                ("TRELLIS_ADMIN_PASSWORD_FILE", secret.to_str().unwrap()),
                (
                    "TRELLIS_DATABASE_URL",
                    "postgres://app:s3cret@db:5432/trellis?sslmode=require&password=x",
                ),
            ]),
            Dict::new(),
        )
        .unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("[1234567890]"), "text, not a list");
        let shown = c.shown();
        assert_eq!(shown.admin_password.as_deref(), Some(MASK));
        assert_eq!(
            shown.database_url.as_deref(),
            Some("postgres://app:********@db:5432/trellis?sslmode=require&password=********")
        );
        // A number-like password from the environment stays text.
        let c = Config::load(None, env(&[("TRELLIS_ADMIN_PASSWORD", "1234567890")]), Dict::new()).unwrap();
        assert_eq!(c.admin_password.as_deref(), Some("1234567890"));
        // Both the value and its file in one layer: refused, naming both.
        let e = Config::load(
            None,
            env(&[
                ("TRELLIS_ADMIN_PASSWORD", "x"),
                ("TRELLIS_ADMIN_PASSWORD_FILE", secret.to_str().unwrap()),
            ]),
            Dict::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("TRELLIS_ADMIN_PASSWORD and TRELLIS_ADMIN_PASSWORD_FILE"),
            "{e}"
        );
        let e = Config::load(
            None,
            env(&[("TRELLIS_ADMIN_PASSWORD_FILE", "/nonexistent/pw")]),
            Dict::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("TRELLIS_ADMIN_PASSWORD_FILE: cannot read /nonexistent/pw"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_source() {
        let e = Config::load(None, env(&[("TRELLIS_WORKERS", "many")]), Dict::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("TRELLIS_WORKERS"), "{e}");
        let e = Config::load(None, env(&[("TRELLIS_SESSION_IDLE_MINUTES", "0")]), Dict::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("session_idle_minutes must be at least 1"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "bnd = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), env(&[]), Dict::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bnd"), "an unknown key in the file is refused: {e}");
        let e = Config::load(Some(&dir.path().join("none.toml")), env(&[]), Dict::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn the_log_filter_keeps_the_scheduler_quiet_unless_named() {
        let with = |log: &str| Config {
            log: Some(log.into()),
            ..Config::default()
        };
        assert_eq!(with("debug").log_filter(), "debug,tokio_cron_scheduler=warn");
        assert_eq!(
            with("tokio_cron_scheduler=info").log_filter(),
            "tokio_cron_scheduler=info"
        );
        let c = Config::load(None, env(&[("RUST_LOG", "debug")]), Dict::new()).unwrap();
        assert_eq!(c.log.as_deref(), Some("debug"));
        let c = Config::load(
            None,
            env(&[("RUST_LOG", "debug"), ("TRELLIS_LOG", "warn")]),
            Dict::new(),
        )
        .unwrap();
        assert_eq!(c.log.as_deref(), Some("warn"), "TRELLIS_LOG beats RUST_LOG");
    }
}
