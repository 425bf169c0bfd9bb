//! The `trellis` binary as an operator runs it: migrate, tenant and user administration, and
//! `serve` with the first administrator from the environment, on a data directory of its own.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_trellis");

/// Settings a developer's shell may hold; every run starts without them.
const TRELLIS_ENV: &[&str] = &[
    "TRELLIS_CONFIG",
    "TRELLIS_DATA_DIR",
    "TRELLIS_DATABASE_URL",
    "TRELLIS_DATABASE_URL_FILE",
    "TRELLIS_BIND",
    "TRELLIS_WORKERS",
    "TRELLIS_ADMIN_EMAIL",
    "TRELLIS_ADMIN_PASSWORD",
    "TRELLIS_ADMIN_PASSWORD_FILE",
    "TRELLIS_MAX_FILE_BYTES",
    "TRELLIS_ALLOW_PRIVATE_OUTBOUND",
    "TRELLIS_SESSION_IDLE_MINUTES",
    "TRELLIS_SESSION_MAX_HOURS",
    "TRELLIS_LOG",
    "TRELLIS_LOG_FORMAT",
    "RUST_LOG",
    "TRELLIS_USER_PASSWORD",
];

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).stdin(Stdio::null());
    for k in TRELLIS_ENV {
        c.env_remove(k);
    }
    c.env("TRELLIS_LOG", "warn");
    c
}

/// Runs a command to its end.
fn run(args: &[&str]) -> Output {
    command(args).output().expect("the trellis binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

#[track_caller]
fn assert_fails(o: &Output, message: &str) {
    assert!(!o.status.success(), "should fail: {}", stdout(o));
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(o).contains(message),
        "stderr names the problem ({message}): {}",
        stderr(o)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `trellis serve` child process; killed and reaped when dropped.
struct Node {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
    /// Everything it printed so far.
    output: Vec<String>,
}

impl Node {
    /// Starts `trellis serve` on a free port and waits until it listens.
    fn start(data_dir: &Path, env: &[(&str, &str)]) -> Node {
        Node::start_with(data_dir, env, |_| {})
    }

    /// Starts `trellis serve` like [`Node::start`], with its command changed first (more
    /// arguments, another working directory, the log filter left to the defaults).
    fn start_with(data_dir: &Path, env: &[(&str, &str)], change: impl FnOnce(&mut Command)) -> Node {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut cmd = command(&[
            "serve",
            "--bind",
            &bind,
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
            "--workers",
            "1",
        ]);
        change(&mut cmd);
        cmd.envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("trellis serve starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut node = Node {
            child,
            base: String::new(),
            lines,
            output: Vec::new(),
        };
        let listening = node.wait_for("Trellis is listening on http://", Duration::from_secs(60));
        let addr = listening.rsplit("http://").next().expect("address").trim().to_string();
        assert_eq!(addr, bind, "it listens where it was told");
        node.base = format!("http://{addr}");
        node
    }

    /// Waits for a printed line containing `needle`; answers it.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        if let Some(l) = self.output.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "no line with '{needle}' (exited: {status:?}); output so far:\n{}",
                        self.output.join("\n")
                    );
                }
            }
        }
    }

    /// Lines printed so far (after draining what is pending).
    fn printed(&mut self) -> String {
        while let Ok(l) = self.lines.try_recv() {
            self.output.push(l);
        }
        self.output.join("\n")
    }

    /// Asks the node to stop (SIGTERM) and waits for it; kills it if it does not stop.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "a graceful stop exits 0: {status:?}\n{}",
                    self.printed()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the node did not stop on SIGTERM\n{}", self.printed());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Logs in; answers the status and the token (if any).
async fn login(base: &str, email: &str, password: &str) -> (u16, Option<String>) {
    let r = client()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("answered");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["token"].as_str().map(str::to_string))
}

async fn get(base: &str, token: &str, path: &str) -> Value {
    let r = client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

#[tokio::test]
async fn admin_commands_set_up_tenants_and_users_that_then_log_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().to_str().unwrap();

    let out = assert_ok(&run(&["migrate", "--data-dir", d]));
    assert!(out.contains("Database is up to date"), "{out}");
    assert!(
        dir.path().join("trellis.db").is_file(),
        "the SQLite file lives in the data directory"
    );
    assert_ok(&run(&["migrate", "--data-dir", d]));

    let out = assert_ok(&run(&["tenant", "create", "--data-dir", d, "--name", "acme"]));
    assert!(out.starts_with("Created tenant 'acme' ("), "{out}");
    assert_fails(
        &run(&["tenant", "create", "--data-dir", d, "--name", "acme"]),
        "a tenant named 'acme' exists",
    );
    assert_fails(
        &run(&["tenant", "create", "--data-dir", d, "--name", "  "]),
        "must be 1 to 100 characters",
    );

    let out = assert_ok(&run(&[
        "user",
        "create",
        "--data-dir",
        d,
        "--tenant",
        "acme",
        "--email",
        "a@acme.example",
        "--password",
        "acme-password-1",
        "--admin",
    ]));
    assert!(
        out.contains("Created user a@acme.example (") && out.contains("in tenant 'acme'"),
        "{out}"
    );
    assert!(
        !out.contains("acme-password-1"),
        "a given password is not echoed: {out}"
    );
    assert_fails(
        &run(&[
            "user",
            "create",
            "--data-dir",
            d,
            "--tenant",
            "acme",
            "--email",
            "A@acme.example",
            "--password",
            "acme-password-1",
        ]),
        "a user with e-mail 'a@acme.example' exists",
    );
    assert_fails(
        &run(&[
            "user",
            "create",
            "--data-dir",
            d,
            "--tenant",
            "nope",
            "--email",
            "x@acme.example",
            "--password",
            "acme-password-1",
        ]),
        "no tenant named 'nope'",
    );
    assert_fails(
        &run(&[
            "user",
            "create",
            "--data-dir",
            d,
            "--tenant",
            "acme",
            "--email",
            "y@acme.example",
            "--password",
            "short",
        ]),
        "at least 10 characters",
    );
    assert_fails(
        &run(&[
            "user",
            "create",
            "--data-dir",
            d,
            "--tenant",
            "acme",
            "--email",
            "y@acme.example",
            "--password",
            "Password123",
        ]),
        "is one of the most used passwords",
    );
    let out = assert_ok(&run(&[
        "user",
        "create",
        "--data-dir",
        d,
        "--tenant",
        "acme",
        "--email",
        "b@acme.example",
    ]));
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("Generated password (shown once): "))
        .unwrap_or_else(|| panic!("a generated password is printed: {out}"))
        .trim()
        .to_string();
    let wrong = run(&["frobnicate"]);
    assert_eq!(wrong.status.code(), Some(2), "an unknown command is a usage error");

    // A node on that directory bootstraps nothing (tenants exist) and lets both users in.
    let mut node = Node::start(
        dir.path(),
        &[
            ("TRELLIS_ADMIN_EMAIL", "boot@example.com"),
            ("TRELLIS_ADMIN_PASSWORD", "boot-password-1"),
        ],
    );
    assert!(!node.printed().contains("Created tenant"), "{}", node.printed());
    let (status, token) = login(&node.base, "a@acme.example", "acme-password-1").await;
    assert_eq!(status, 200);
    let me = get(&node.base, &token.unwrap(), "/api/v1/me").await;
    assert_eq!(me["tenant"]["name"], "acme");
    assert_eq!(me["user"]["is_admin"], true);
    let (status, token) = login(&node.base, "b@acme.example", &generated).await;
    assert_eq!(status, 200, "the generated password works");
    assert_eq!(
        get(&node.base, &token.unwrap(), "/api/v1/me").await["user"]["is_admin"],
        false
    );
    assert_eq!(
        login(&node.base, "boot@example.com", "boot-password-1").await.0,
        401,
        "no bootstrap on a database with tenants"
    );
    node.stop();
}

#[tokio::test]
async fn serve_creates_the_first_administrator_once_and_a_restart_keeps_the_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("TRELLIS_ADMIN_EMAIL", "ops@example.com"),
        ("TRELLIS_ADMIN_PASSWORD", "ops-password-1"),
    ];
    let mut node = Node::start(dir.path(), &env);
    let printed = node.printed();
    assert!(
        printed.contains("Created tenant 'default' with administrator ops@example.com"),
        "{printed}"
    );
    assert!(
        !printed.contains("Generated password"),
        "a given password is not generated: {printed}"
    );
    assert!(
        !printed.contains("ops-password-1"),
        "the password is never printed: {printed}"
    );
    let (status, token) = login(&node.base, "ops@example.com", "ops-password-1").await;
    assert_eq!(status, 200);
    let token = token.unwrap();
    let r = client()
        .post(format!("{}/api/v1/apps", node.base))
        .bearer_auth(&token)
        .json(&json!({"name": "crm", "label": {"en": "CRM"}, "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "name", "label": {"en": "Name"}, "type": "text"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client()
        .post(format!("{}/api/v1/data/crm/lead", node.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    node.stop();
    assert!(
        dir.path().join("trellis.db").is_file(),
        "the SQLite file lives in the data directory"
    );

    // The same directory again, even with another password in the environment: same database.
    let mut node = Node::start(
        dir.path(),
        &[
            ("TRELLIS_ADMIN_EMAIL", "ops@example.com"),
            ("TRELLIS_ADMIN_PASSWORD", "other-password-1"),
        ],
    );
    assert!(!node.printed().contains("Created tenant"), "{}", node.printed());
    assert_eq!(
        login(&node.base, "ops@example.com", "other-password-1").await.0,
        401,
        "the first password stays"
    );
    let (status, token) = login(&node.base, "ops@example.com", "ops-password-1").await;
    assert_eq!(status, 200);
    let token = token.unwrap();
    let leads = get(&node.base, &token, "/api/v1/data/crm/lead").await;
    assert_eq!(leads["data"][0]["name"], "Ann", "records survive: {leads}");
    node.stop();
}

#[tokio::test]
async fn a_first_start_without_a_password_prints_a_generated_one_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("TRELLIS_ADMIN_EMAIL", "first@example.com")];
    let mut node = Node::start(dir.path(), &env);
    let line = node.wait_for("Generated password (shown once, change it): ", Duration::from_secs(5));
    let password = line.rsplit(": ").next().unwrap().trim().to_string();
    assert!(password.len() >= 16, "a strong password: {password}");
    let (status, _) = login(&node.base, "first@example.com", &password).await;
    assert_eq!(status, 200, "the printed password logs in");
    assert_eq!(login(&node.base, "first@example.com", "guess-password").await.0, 401);
    node.stop();

    let mut node = Node::start(dir.path(), &env);
    assert!(
        !node.printed().contains("Generated password"),
        "shown once only: {}",
        node.printed()
    );
    assert_eq!(login(&node.base, "first@example.com", &password).await.0, 200);
    // Dropped without a stop: the guard kills it.
    drop(node);
}

/// `trellis config show` as JSON, run in `dir` with `env` and `args`.
fn config_show(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Value, String) {
    let mut cmd = command(&["config", "show", "--format", "json"]);
    cmd.args(args).current_dir(dir).envs(env.iter().copied());
    let out = cmd.output().expect("the trellis binary runs");
    let text = assert_ok(&out);
    (
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON ({e}): {text}")),
        text,
    )
}

#[test]
fn config_show_layers_the_file_the_environment_and_the_flags_and_masks_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("trellis.toml"),
        "bind = \"127.0.0.1:1001\"\nworkers = 3\nadmin_email = \"file@example.com\"\n\
         session_max_hours = 5\nmax_file_bytes = 1000\n",
    )
    .unwrap();
    let secret = dir.path().join("admin-password");
    std::fs::write(&secret, "pw-from-a-file-1\n").unwrap();
    let secret = secret.to_str().unwrap();

    // Nothing set: the defaults every flag had.
    let empty = tempfile::tempdir().expect("temp dir");
    let (c, _) = config_show(empty.path(), &[], &[]);
    assert_eq!(c["bind"], "127.0.0.1:8080");
    assert_eq!(c["data_dir"], "./data");
    assert_eq!(c["database_url"], "sqlite://./data/trellis.db");
    assert_eq!(c["max_file_bytes"], 26214400);
    assert_eq!(c["allow_private_outbound"], false);
    assert_eq!(c["session_idle_minutes"], 720);
    assert_eq!(c["session_max_hours"], 168);
    assert_eq!(c["log_format"], "text");
    assert!(c["workers"].as_u64().unwrap() >= 1, "one per core: {c}");
    assert!(c.get("admin_password").is_none(), "{c}");

    // ./trellis.toml < TRELLIS_* < flags; the password from a file, masked.
    let env = [
        ("TRELLIS_BIND", "127.0.0.1:1002"),
        ("TRELLIS_WORKERS", "4"),
        ("TRELLIS_ADMIN_PASSWORD_FILE", secret),
        ("TRELLIS_ALLOW_PRIVATE_OUTBOUND", "true"),
        (
            "TRELLIS_DATABASE_URL",
            "postgres://trellis:db-secret@db.internal:5432/trellis",
        ),
    ];
    let (c, text) = config_show(dir.path(), &env, &["--bind", "127.0.0.1:1003", "--log-format", "json"]);
    assert_eq!(c["bind"], "127.0.0.1:1003", "a flag beats the environment: {c}");
    assert_eq!(c["workers"], 4, "the environment beats the file: {c}");
    assert_eq!(c["admin_email"], "file@example.com", "the file beats the default: {c}");
    assert_eq!(c["session_max_hours"], 5);
    assert_eq!(c["max_file_bytes"], 1000);
    assert_eq!(c["allow_private_outbound"], true);
    assert_eq!(c["log_format"], "json");
    assert_eq!(c["admin_password"], "********");
    assert_eq!(
        c["database_url"],
        "postgres://trellis:********@db.internal:5432/trellis"
    );
    assert!(
        !text.contains("pw-from-a-file-1") && !text.contains("db-secret"),
        "no secret is printed: {text}"
    );

    // --config names another file (the default one is then not read); TOML output.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        "data_dir = \"/srv/trellis\"\nadmin_password = \"pw-in-the-file-1\"\n",
    )
    .unwrap();
    let mut cmd = command(&["config", "show", "--config", other.to_str().unwrap()]);
    let out = cmd.current_dir(dir.path()).output().expect("runs");
    let text = assert_ok(&out);
    assert!(text.contains("data_dir = \"/srv/trellis\""), "{text}");
    assert!(
        text.contains("database_url = \"sqlite:///srv/trellis/trellis.db\""),
        "{text}"
    );
    assert!(text.contains("admin_password = \"********\""), "{text}");
    assert!(
        text.contains("bind = \"127.0.0.1:8080\""),
        "./trellis.toml is not read: {text}"
    );
    assert!(!text.contains("pw-in-the-file-1"), "{text}");

    // Refused: a missing --config file, an unknown key, a bad value, a secret given twice.
    let mut cmd = command(&["config", "show", "--config", "/nonexistent/trellis.toml"]);
    assert_fails(&cmd.output().unwrap(), "/nonexistent/trellis.toml does not exist");
    std::fs::write(&other, "bnd = \"x\"\n").unwrap();
    let mut cmd = command(&["config", "show", "--config", other.to_str().unwrap()]);
    assert_fails(&cmd.output().unwrap(), "bnd");
    let mut cmd = command(&["config", "show"]);
    cmd.current_dir(empty.path()).env("TRELLIS_WORKERS", "many");
    assert_fails(&cmd.output().unwrap(), "TRELLIS_WORKERS");
    let mut cmd = command(&["config", "show", "--admin-password", "x"]);
    cmd.current_dir(empty.path())
        .env("TRELLIS_ADMIN_PASSWORD_FILE", "/nonexistent/pw");
    assert_fails(
        &cmd.output().unwrap(),
        "TRELLIS_ADMIN_PASSWORD_FILE: cannot read /nonexistent/pw",
    );
}

#[tokio::test]
async fn serve_takes_its_administrator_from_trellis_toml_and_a_password_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cwd = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        cwd.path().join("trellis.toml"),
        "admin_email = \"toml@example.com\"\nadmin_password = \"overridden-password\"\n",
    )
    .unwrap();
    let secret = cwd.path().join("pw");
    std::fs::write(&secret, "file-password-1\n").unwrap();
    let mut node = Node::start_with(
        dir.path(),
        &[("TRELLIS_ADMIN_PASSWORD_FILE", secret.to_str().unwrap())],
        |cmd| {
            cmd.current_dir(cwd.path());
        },
    );
    assert!(
        node.printed()
            .contains("Created tenant 'default' with administrator toml@example.com"),
        "{}",
        node.printed()
    );
    assert_eq!(login(&node.base, "toml@example.com", "file-password-1").await.0, 200);
    assert_eq!(
        login(&node.base, "toml@example.com", "overridden-password").await.0,
        401
    );
    assert!(!node.printed().contains("file-password-1"), "{}", node.printed());
    node.stop();
}

/// With the default log filter a start prints no scheduler chatter, and each request one line
/// naming its route template and status; `--log-format json` makes them JSON objects with the
/// request's id.
#[tokio::test]
async fn a_normal_start_is_quiet_and_logs_one_line_per_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("TRELLIS_ADMIN_EMAIL", "log@example.com"),
        ("TRELLIS_ADMIN_PASSWORD", "log-password-1"),
    ];
    let mut node = Node::start_with(dir.path(), &env, |cmd| {
        cmd.env_remove("TRELLIS_LOG");
    });
    let (status, token) = login(&node.base, "log@example.com", "log-password-1").await;
    assert_eq!(status, 200);
    let r = client()
        .get(format!("{}/api/v1/data/nope/thing/r1", node.base))
        .bearer_auth(token.unwrap())
        .header("x-request-id", "cli-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-request-id"], "cli-test-1");
    let line = node.wait_for("cli-test-1", Duration::from_secs(10));
    assert!(
        line.contains("route=/api/v1/data/{app}/{entity}/{id}") && line.contains("status=404"),
        "{line}"
    );
    assert!(line.contains("app=nope") && line.contains("entity=thing"), "{line}");
    assert!(line.contains("tenant=") && line.contains("user="), "{line}");
    let printed = node.printed();
    assert!(
        printed.contains("route=/api/v1/auth/login") && printed.contains("status=200"),
        "{printed}"
    );
    for chatter in ["Uninited", "Job creator created"] {
        assert!(!printed.contains(chatter), "no '{chatter}': {printed}");
    }
    node.stop();

    let mut node = Node::start_with(dir.path(), &env, |cmd| {
        cmd.env_remove("TRELLIS_LOG").arg("--log-format").arg("json");
    });
    let r = client()
        .get(format!("{}/healthz", node.base))
        .header("x-request-id", "cli-test-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    login(&node.base, "log@example.com", "log-password-1").await;
    let line = node.wait_for("/api/v1/auth/login", Duration::from_secs(10));
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("JSON ({e}): {line}"));
    assert_eq!(v["fields"]["message"], "request");
    assert_eq!(v["fields"]["method"], "POST");
    assert_eq!(v["fields"]["route"], "/api/v1/auth/login");
    assert_eq!(v["fields"]["status"], 200);
    assert!(v["fields"]["duration_ms"].is_number(), "{v}");
    assert!(v["span"]["id"].is_string(), "{v}");
    assert!(
        !node.printed().contains("cli-test-2"),
        "the health probe logs at debug only"
    );
    node.stop();
}

/// `trellis openapi` prints the document a node serves, the same bytes every time, and reads no
/// configuration and writes nothing (no database), so `just gen` needs no running node.
#[tokio::test]
async fn openapi_prints_the_served_platform_document_without_a_database() {
    let cwd = tempfile::tempdir().expect("temp dir");
    // A configuration file that cannot be read: the command never looks at it.
    std::fs::write(cwd.path().join("trellis.toml"), "bind = [").expect("written");
    let out = command(&["openapi"])
        .current_dir(cwd.path())
        .output()
        .expect("the trellis binary runs");
    let printed = assert_ok(&out);
    let doc: Value = serde_json::from_str(&printed).unwrap_or_else(|e| panic!("JSON ({e}): {printed}"));
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["paths"]["/api/v1/apps"]["get"].is_object(), "the routes are there");
    assert!(printed.contains("\n  \"paths\": {\n"), "pretty-printed");
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("listed")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["trellis.toml"], "no data folder, no database");
    assert_eq!(assert_ok(&run(&["openapi"])), printed, "the same bytes on every run");

    let data = tempfile::tempdir().expect("temp dir");
    let node = Node::start(data.path(), &[]);
    let r = client()
        .get(format!("{}/api/v1/openapi.json", node.base))
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);
    let served: Value = r.json().await.expect("json");
    assert_eq!(served, doc, "the printed document is the served one");
    node.stop();
}

#[tokio::test]
async fn data_export_writes_what_the_acting_user_may_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let env = [
        ("TRELLIS_ADMIN_EMAIL", "ops@example.com"),
        ("TRELLIS_ADMIN_PASSWORD", "ops-password-1"),
    ];
    let node = Node::start(dir.path(), &env);
    let token = login(&node.base, "ops@example.com", "ops-password-1").await.1.unwrap();
    let post = |path: &str, body: Value, token: String| {
        let url = format!("{}{path}", node.base);
        async move {
            let r = client().post(url).bearer_auth(token).json(&body).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap_or_default());
        }
    };
    post(
        "/api/v1/apps",
        json!({"name": "crm", "label": {"en": "CRM"}, "entities": [{"name": "lead", "label": {"en": "Lead", "zh": "线索"}, "fields": [
            {"name": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text"},
            {"name": "score", "label": {"en": "Score"}, "type": "integer"}]}],
         "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {"lead": {"read": true, "create": true, "export": true, "scope": "own", "fields": {"score": "hidden"}}}},
            {"name": "viewer", "label": {"en": "Viewer"}, "permissions": {"lead": {"read": true}}}]}),
        token.clone(),
    )
    .await;
    post(
        "/api/v1/data/crm/lead",
        json!({"name": "张三", "score": 9}),
        token.clone(),
    )
    .await;
    for (email, role) in [("rep@example.com", "rep"), ("viewer@example.com", "viewer")] {
        assert_ok(&run(&[
            "user",
            "create",
            "--data-dir",
            data_dir,
            "--tenant",
            "default",
            "--email",
            email,
            "--password",
            "member-password-1",
        ]));
        let users = get(&node.base, &token, "/api/v1/users").await;
        let id = users["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .clone();
        post(
            &format!("/api/v1/apps/crm/roles/{role}/members"),
            json!({"user": id}),
            token.clone(),
        )
        .await;
    }
    let rep = login(&node.base, "rep@example.com", "member-password-1")
        .await
        .1
        .unwrap();
    post("/api/v1/data/crm/lead", json!({"name": "Rep's lead"}), rep).await;

    let export = |extra: &[&str]| {
        let mut args = vec![
            "data",
            "export",
            "--data-dir",
            data_dir,
            "--app",
            "crm",
            "--entity",
            "lead",
            "--sort",
            "name",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Without --as: the first administrator, every record and field, on standard output.
    let all = assert_ok(&export(&["--format", "csv", "--lang", "zh"]));
    assert_eq!(all, "\u{feff}名称,Score\nRep's lead,\n张三,9\n");
    // As the rep: their own record, without the hidden column.
    let mine = assert_ok(&export(&["--format", "csv", "--as", "rep@example.com"]));
    assert_eq!(mine, "\u{feff}Name\nRep's lead\n");
    // A workbook to a file.
    let out = dir.path().join("leads.xlsx");
    let o = export(&["--format", "xlsx", "--out", out.to_str().unwrap()]);
    assert_ok(&o);
    assert!(stderr(&o).contains("Exported 2 records"), "{}", stderr(&o));
    let bytes = std::fs::read(&out).expect("the file");
    assert_eq!(&bytes[..2], b"PK", "a zip");
    // Reading is not exporting.
    assert_fails(
        &export(&["--format", "csv", "--as", "viewer@example.com"]),
        "may not export",
    );
    node.stop();
}

/// `trellis data import` killed mid-way (SIGKILL: no chance to tidy up) and resumed with
/// `--resume`: every row of the file is written once. The code is unique, so a row written
/// twice would be a refused row; the import must end with every row inserted and none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_import_killed_mid_way_resumes_without_writing_a_row_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let env = [
        ("TRELLIS_ADMIN_EMAIL", "ops@example.com"),
        ("TRELLIS_ADMIN_PASSWORD", "ops-password-1"),
    ];
    let node = Node::start(dir.path(), &env);
    let token = login(&node.base, "ops@example.com", "ops-password-1").await.1.unwrap();
    let r = client()
        .post(format!("{}/api/v1/apps", node.base))
        .bearer_auth(&token)
        .json(&json!({"name": "crm", "label": {"en": "CRM"}, "entities": [{"name": "lead", "label": {"en": "Lead", "zh": "线索"}, "fields": [
            {"name": "code", "label": {"en": "Code", "zh": "编码"}, "type": "text", "unique": true},
            {"name": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text"},
            {"name": "score", "label": {"en": "Score", "zh": "评分"}, "type": "integer"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The node stops: the CLI alone runs the import.
    node.stop();
    const ROWS: usize = 40_000;
    let mut csv = String::from("编码,名称,评分\n");
    for i in 0..ROWS {
        csv.push_str(&format!("L{i:06},客户{i},\"{}\"\n", i % 100));
    }
    let file = dir.path().join("leads.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "data",
        "import",
        file,
        "--data-dir",
        data_dir,
        "--app",
        "crm",
        "--entity",
        "lead",
        "--mode",
        "skip-invalid",
    ];
    let mut first = command(&args)
        .env("TRELLIS_IMPORT_LEASE_SECS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the import starts");
    let mut err = BufReader::new(first.stderr.take().unwrap());
    let mut line = String::new();
    let id = loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the CLI ended before starting the import"
        );
        if let Some(rest) = line.strip_prefix("Import ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Let it commit some batches, then kill it without warning.
    std::thread::sleep(Duration::from_millis(2500));
    let _ = first.kill();
    let status = first.wait().unwrap();
    assert!(
        !status.success(),
        "killed before the end (make ROWS larger if the import is faster)"
    );
    let mut out = String::new();
    first.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(!out.contains("done"), "the first run did not finish: {out}");

    let resumed = command(&[
        "data",
        "import",
        "--resume",
        &id,
        "--data-dir",
        data_dir,
        "--app",
        "crm",
        "--entity",
        "lead",
    ])
    .env("TRELLIS_IMPORT_LEASE_SECS", "2")
    .output()
    .unwrap();
    let summary = assert_ok(&resumed);
    assert!(
        summary.contains(&format!("{ROWS} rows, {ROWS} inserted, 0 updated, 0 refused")),
        "{summary}"
    );
    let all = assert_ok(&run(&[
        "data",
        "export",
        "--data-dir",
        data_dir,
        "--app",
        "crm",
        "--entity",
        "lead",
        "--format",
        "csv",
        "--fields",
        "code",
        "--sort",
        "code",
    ]));
    let codes: Vec<&str> = all.lines().skip(1).collect();
    assert_eq!(codes.len(), ROWS);
    assert_eq!(codes[ROWS - 1], format!("L{:06}", ROWS - 1));
}

#[test]
fn app_plan_install_and_export_run_on_a_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("utf-8 path");
    assert_ok(&run(&["tenant", "create", "--data-dir", data_dir, "--name", "default"]));
    assert_ok(&run(&[
        "user",
        "create",
        "--data-dir",
        data_dir,
        "--tenant",
        "default",
        "--email",
        "ops@example.com",
        "--password",
        "ops-password-1",
        "--admin",
    ]));
    let mut package = json!({
        "package": "crm", "version": "1.0.0",
        "app": {"name": "crm", "label": {"zh": "客户", "en": "CRM"}, "entities": [{
            "name": "lead", "label": {"zh": "线索", "en": "Lead"}, "fields": [
                {"name": "title", "label": {"zh": "标题", "en": "Title"}, "type": "text"},
                {"name": "phone", "label": {"zh": "电话", "en": "Phone"}, "type": "text"}]}]}
    });
    let v1 = dir.path().join("v1.json");
    std::fs::write(&v1, package.to_string()).unwrap();
    let v1 = v1.to_str().unwrap();

    let plan = assert_ok(&run(&["app", "plan", "--data-dir", data_dir, v1]));
    assert!(plan.contains("added    entity    lead"), "{plan}");
    assert!(plan.contains("Plan only: nothing was changed."), "{plan}");
    let out = assert_ok(&run(&["app", "install", "--data-dir", data_dir, v1]));
    assert!(
        out.contains("Installed: app 'crm' is at definition version 1."),
        "{out}"
    );
    let again = assert_ok(&run(&["app", "install", "--data-dir", data_dir, v1]));
    assert!(again.contains("Nothing to change."), "{again}");

    // 1.1.0 renames the phone: the plan says so, as JSON too.
    package["version"] = json!("1.1.0");
    package["app"]["entities"][0]["fields"][1] =
        json!({"key": "phone", "name": "mobile", "label": {"zh": "手机", "en": "Mobile"}, "type": "text"});
    let v2 = dir.path().join("v2.json");
    std::fs::write(&v2, package.to_string()).unwrap();
    let v2 = v2.to_str().unwrap();
    let plan = assert_ok(&run(&["app", "plan", "--data-dir", data_dir, v2]));
    assert!(plan.contains("renamed  field     lead.mobile (was phone)"), "{plan}");
    let json_plan: Value =
        serde_json::from_str(&assert_ok(&run(&["app", "plan", "--data-dir", data_dir, "--json", v2]))).unwrap();
    assert_eq!(json_plan["from_version"], "1.0.0");
    assert_eq!(json_plan["applied"], json!(false));
    assert_ok(&run(&["app", "install", "--data-dir", data_dir, v2]));

    let file = dir.path().join("out.json");
    assert_ok(&run(&[
        "app",
        "export",
        "--data-dir",
        data_dir,
        "crm",
        "--out",
        file.to_str().unwrap(),
    ]));
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(exported["version"], "1.1.0");
    assert_eq!(exported["app"]["entities"][0]["fields"][1]["name"], "mobile");
    let printed = assert_ok(&run(&["app", "export", "--data-dir", data_dir, "crm"]));
    assert_eq!(printed, std::fs::read_to_string(&file).unwrap());

    // Refusals name the problem and change nothing.
    assert_fails(&run(&["app", "install", "--data-dir", data_dir, v1]), "1.0.0 is older");
    package["version"] = json!("2");
    std::fs::write(dir.path().join("bad.json"), package.to_string()).unwrap();
    assert_fails(
        &run(&[
            "app",
            "install",
            "--data-dir",
            data_dir,
            dir.path().join("bad.json").to_str().unwrap(),
        ]),
        "version",
    );
}
