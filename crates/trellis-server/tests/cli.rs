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
    "TRELLIS_DATA_DIR",
    "TRELLIS_DATABASE_URL",
    "TRELLIS_BIND",
    "TRELLIS_WORKERS",
    "TRELLIS_ADMIN_EMAIL",
    "TRELLIS_ADMIN_PASSWORD",
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
