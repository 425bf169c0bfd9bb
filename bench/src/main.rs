//! `trellis-bench`: starts the release `trellis` binary on SQLite and on PostgreSQL, drives it over
//! HTTP with a bounded number of requests at a fixed concurrency, and prints throughput, p50/p99
//! latency, server CPU time per request, start-up time and memory. Talks to loopback only.

mod aggregate;
mod export;
mod import;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::Rng;
use serde_json::{Value, json};

const CONCURRENCY: usize = 8;

struct Node {
    child: Child,
    base: String,
    started_in: Duration,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Server CPU time (user + system) in seconds, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A field of /proc/<pid>/status in MiB.
fn status_mib(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// (current RSS, peak RSS) in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    (status_mib(pid, "VmRSS:"), status_mib(pid, "VmHWM:"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18181)
}

async fn start(bin: &str, database_url: &str, data_dir: &str) -> Result<Node> {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    let child = Command::new(bin)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data_dir,
            "--database-url",
            database_url,
        ])
        .env("TRELLIS_ADMIN_EMAIL", "bench@example.com")
        .env("TRELLIS_ADMIN_PASSWORD", "bench-password")
        // The import phase uploads its whole file.
        .env("TRELLIS_MAX_FILE_BYTES", "1073741824")
        // `BENCH_SERVER_LOG=FILE` keeps the node's log (with `TRELLIS_LOG` to choose what).
        .stdout(match std::env::var("BENCH_SERVER_LOG") {
            Ok(path) => Stdio::from(std::fs::File::create(&path).with_context(|| format!("cannot create {path}"))?),
            Err(_) => Stdio::null(),
        })
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {bin}"))?;
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("server did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(Node {
        child,
        base,
        started_in: t0.elapsed(),
    })
}

struct Stats {
    name: &'static str,
    count: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us_per_req: f64,
}

impl Stats {
    fn print(&self) {
        println!(
            "  {:<34} {:>7} req  {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  server CPU {:>6.1} µs/req",
            self.name,
            self.count,
            self.count as f64 / self.secs,
            self.p50_ms,
            self.p99_ms,
            self.cpu_us_per_req
        );
    }
}

/// Runs `count` requests made by `make(i)` at the fixed concurrency; every answer must be 2xx.
async fn drive<F, Fut>(name: &'static str, pid: u32, count: usize, make: F) -> Result<Stats>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<reqwest::Response, reqwest::Error>> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (make, next) = (make.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                let r = make(i).await.map_err(|e| anyhow::anyhow!("request failed: {e}"))?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| anyhow::anyhow!("body: {e}"))?;
                if !status.is_success() {
                    bail!("{status}: {}", String::from_utf8_lossy(&body));
                }
                lat.push(t.elapsed().as_micros() as u32);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(Stats {
        name,
        count,
        secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        cpu_us_per_req: cpu * 1e6 / count as f64,
    })
}

fn deal_fields() -> Value {
    json!([
        {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
        {"name": "amount", "label": {"en": "Amount"}, "type": "decimal", "indexed": true},
        {"name": "phase", "label": {"en": "Phase"}, "type": "single_select", "indexed": true, "options": [
            {"value": "new", "label": {"en": "New"}}, {"value": "qualified", "label": {"en": "Qualified"}},
            {"value": "proposal", "label": {"en": "Proposal"}}, {"value": "won", "label": {"en": "Won"}}, {"value": "lost", "label": {"en": "Lost"}}]},
        {"name": "region", "label": {"en": "Region"}, "type": "text"},
        {"name": "close_date", "label": {"en": "Close"}, "type": "date"},
        {"name": "urgent", "label": {"en": "Urgent"}, "type": "boolean"}
    ])
}

/// The deal entity, and the same with 5 validation rules and 3 formulas (the cost of scripts
/// on a write).
fn bench_app() -> Value {
    let mut scripted = deal_fields();
    let fields = scripted.as_array_mut().expect("array");
    fields.push(
        json!({"name": "weighted", "label": {"en": "Weighted"}, "type": "decimal",
        "formula": "if record.amount == () { () } else { record.amount * 0.6 }"}),
    );
    fields.push(json!({"name": "band", "label": {"en": "Band"}, "type": "text",
        "formula": "if record.weighted != () && record.weighted > 50000 { \"big\" } else { \"small\" }"}));
    fields.push(
        json!({"name": "follow_up", "label": {"en": "Follow up"}, "type": "date",
        "formula": "if record.close_date == () { () } else { add_days(record.close_date, -7) }"}),
    );
    let rule = |name: &str, assert: &str| json!({"name": name, "assert": assert, "message": {"en": name}});
    json!({
        "name": "bench", "label": {"en": "Bench"},
        "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "fields": deal_fields()},
            flow_entity(),
            {"name": "scripted", "label": {"en": "Deal with rules"}, "fields": scripted, "validations": [
                rule("amount_positive", "record.amount == () || record.amount >= 0"),
                rule("title_short", "len(record.title) <= 200"),
                rule("won_has_amount", "record.phase != \"won\" || record.amount != ()"),
                rule("region_known", "record.region == () || record.region in [\"north\", \"south\", \"east\", \"west\"]"),
                rule("close_this_decade", "record.close_date == () || record.close_date.year < 2040")
            ]}
        ]
    })
}

/// An entity with a two-stage pipeline whose moves (a → b and back) each check a guard and two
/// required fields, and write an event to the history.
fn flow_entity() -> Value {
    let requires = json!({
        "fields": ["amount", "region"],
        "conditions": [{"name": "has_amount", "assert": "record.amount != () && record.amount > 0",
                        "message": {"en": "Amount first"}}]
    });
    json!({"name": "flow", "label": {"en": "Deal with a pipeline"}, "fields": deal_fields(), "pipeline": {
        "stages": [{"key": "a", "label": {"en": "A"}}, {"key": "b", "label": {"en": "B"}}],
        "transitions": [
            {"from": ["a"], "to": "b", "requires": requires},
            {"from": ["b"], "to": "a", "requires": requires}
        ]
    }})
}

const PHASES: [&str; 5] = ["new", "qualified", "proposal", "won", "lost"];

const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

fn deal(i: usize) -> Value {
    json!({
        "title": format!("Deal {i}"),
        "amount": format!("{}.{:02}", (i * 7919) % 200_000, i % 100),
        "phase": PHASES[i % 5],
        "region": REGIONS[i % 4],
        "close_date": format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
        "urgent": i.is_multiple_of(3)
    })
}

async fn run_backend(label: &str, bin: &str, database_url: &str, rows: usize, ops: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("trellis-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let node = start(bin, database_url, dir.to_str().unwrap_or(".")).await?;
    let pid = node.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = rss_mib(pid);
    println!(
        "{label}: start to first answer {:.0} ms, idle RSS {:.1} MiB",
        node.started_in.as_secs_f64() * 1000.0,
        idle
    );

    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build()?;
    let base = node.base.clone();
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "bench@example.com", "password": "bench-password"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().context("login")?.to_string();
    let auth = format!("Bearer {token}");
    // `BENCH_ONLY=aggregate`: the aggregate phase alone (`BENCH_AGG_ROWS` rows, 1,000,000 by
    // default).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "aggregate") {
        aggregate::aggregate_phase(&client, &base, &auth, label).await?;
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    // `BENCH_ONLY=export`: the export phase alone (`BENCH_EXPORT_ROWS` rows, 1,000,000 by
    // default).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "export") {
        export::export_phase(&client, &base, &auth, pid, label).await?;
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    // `BENCH_ONLY=import`: the import phase alone (`BENCH_IMPORT_ROWS` rows, 200,000 by
    // default).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "import") {
        import::import_phase(&client, &base, &auth, pid, label).await?;
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    // `BENCH_ONLY=permissions`: the team-scope phase alone, for working on it (`BENCH_KEEP`
    // keeps the database).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "permissions") {
        permission_list(&client, &base, &auth, pid, rows, ops).await?;
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    let r = client
        .post(format!("{base}/api/v1/apps"))
        .header("authorization", &auth)
        .json(&bench_app())
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("create app: {}", r.text().await?);
    }
    let url = format!("{base}/api/v1/data/bench/deal");

    // Single creates.
    let (c, u, a) = (client.clone(), url.clone(), auth.clone());
    let creates = drive("create (single record)", pid, ops, move |i| {
        c.post(&u).header("authorization", &a).json(&deal(i)).send()
    })
    .await?;
    creates.print();
    let (c, u, a) = (
        client.clone(),
        format!("{base}/api/v1/data/bench/scripted"),
        auth.clone(),
    );
    let scripted = drive("create with 5 rules + 3 formulas", pid, ops, move |i| {
        c.post(&u).header("authorization", &a).json(&deal(i)).send()
    })
    .await?;
    scripted.print();
    println!(
        "  scripts cost {:+.0}% server CPU per create ({:.1} vs {:.1} µs)",
        (scripted.cpu_us_per_req / creates.cpu_us_per_req - 1.0) * 100.0,
        scripted.cpu_us_per_req,
        creates.cpu_us_per_req
    );
    // The two phases above run one after the other, so drift (a growing WAL, a checkpoint, other
    // work on the machine) lands on one of them. Pairs of short alternating phases, and their
    // median, are the figure to trust.
    let mut ratios = Vec::new();
    for round in 0..PAIRS {
        let n = (ops / 8).max(100);
        let (c, u, a) = (client.clone(), url.clone(), auth.clone());
        let plain = drive("create", pid, n, move |i| {
            c.post(&u).header("authorization", &a).json(&deal(i + round * n)).send()
        })
        .await?;
        let (c, u, a) = (
            client.clone(),
            format!("{base}/api/v1/data/bench/scripted"),
            auth.clone(),
        );
        let with = drive("create with scripts", pid, n, move |i| {
            c.post(&u).header("authorization", &a).json(&deal(i + round * n)).send()
        })
        .await?;
        ratios.push(with.cpu_us_per_req / plain.cpu_us_per_req - 1.0);
    }
    let each: Vec<String> = ratios.iter().map(|r| format!("{:+.0}%", r * 100.0)).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "  scripts cost, {PAIRS} alternating pairs: median {:+.0}% server CPU per create ({})",
        (ratios[PAIRS / 2 - 1] + ratios[PAIRS / 2]) / 2.0 * 100.0,
        each.join(", ")
    );
    // `BENCH_ONLY=creates`: the create phases alone (comparing two builds' write paths).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "creates") {
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }

    // Fill up to `rows` records with bulk requests for the reads.
    let t = Instant::now();
    let mut have = ops + PAIRS * (ops / 8).max(100);
    while have < rows {
        let n = (rows - have).min(1000);
        let batch: Vec<Value> = (have..have + n).map(deal).collect();
        let r = client
            .post(format!("{url}/bulk"))
            .header("authorization", &auth)
            .json(&json!({"create": batch}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("bulk: {}", r.text().await?);
        }
        have += n;
    }
    println!(
        "  (filled to {rows} rows with bulk creates in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    // Ids to read and update.
    let mut ids: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    while ids.len() < 5000 {
        let mut req = client
            .get(&url)
            .header("authorization", &auth)
            .query(&[("limit", "1000"), ("fields", "title")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req.send().await?.json().await?;
        ids.extend(
            page["data"]
                .as_array()
                .context("page")?
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string)),
        );
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    let ids = Arc::new(ids);

    let (c, u, a, idz) = (client.clone(), url.clone(), auth.clone(), ids.clone());
    drive("get by id", pid, ops, move |i| {
        c.get(format!("{u}/{}", idz[(i * 7) % idz.len()]))
            .header("authorization", &a)
            .send()
    })
    .await?
    .print();

    list_phase(&client, &url, &auth, pid, ops / 2, None).await?.print();
    // The same pages as a browser asks for them: compressed, on kept-alive connections (a
    // compressed page is a chunked body written in pieces, so Nagle's algorithm would hold the
    // later pieces for the client's delayed ACK).
    for encoding in ["gzip", "br", "gzip, deflate, br, zstd"] {
        list_phase(&client, &url, &auth, pid, ops / 4, Some(encoding))
            .await?
            .print();
    }

    let (c, u, a, idz) = (client.clone(), url.clone(), auth.clone(), ids.clone());
    drive("patch (one field)", pid, ops / 2, move |i| {
        let amount = rand::rng().random_range(0..100_000);
        c.patch(format!("{u}/{}", idz[i % idz.len()]))
            .header("authorization", &a)
            .json(&json!({"amount": amount}))
            .send()
    })
    .await?
    .print();

    // Pipeline transitions: records enter stage a (bulk creates), then each moves a → b once.
    let flow_url = format!("{base}/api/v1/data/bench/flow");
    let n = (ops / 2).max(1);
    let mut flow_ids: Vec<String> = Vec::with_capacity(n);
    while flow_ids.len() < n {
        let have = flow_ids.len();
        let batch: Vec<Value> = (have..have + (n - have).min(1000))
            .map(|i| {
                let mut d = deal(i);
                d["amount"] = json!(format!("{}.50", i % 100_000 + 1));
                d
            })
            .collect();
        let r = client
            .post(format!("{flow_url}/bulk"))
            .header("authorization", &auth)
            .json(&json!({"create": batch}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("bulk (flow): {}", r.text().await?);
        }
        let body: Value = r.json().await?;
        let created = body["created"].as_array().context("bulk created")?;
        if let Some(stage) = created.first().map(|r| r["stage"].clone())
            && stage.is_string()
            && stage != json!("a")
        {
            bail!("a new flow record is in stage {stage}, not a");
        }
        flow_ids.extend(created.iter().filter_map(|r| r["id"].as_str().map(str::to_string)));
    }
    let flow_ids = Arc::new(flow_ids);
    let (c, u, a, idz) = (client.clone(), flow_url.clone(), auth.clone(), flow_ids.clone());
    drive("transition a → b (guard + 2 fields)", pid, n, move |i| {
        c.post(format!("{u}/{}/transition", idz[i]))
            .header("authorization", &a)
            .json(&json!({"to": "b"}))
            .send()
    })
    .await?
    .print();

    // Permission predicate: the same list as a rep whose role reads only their teams' rows.
    permission_list(&client, &base, &auth, pid, rows, ops).await?;

    // Automation, last, once the outbox of the phases above is drained.
    automation(&client, &base, &auth, database_url, ops).await?;

    let (_, peak) = rss_mib(pid);
    // SQLite reads its file through a memory map: the resident size counts the file's pages
    // read, which the kernel may drop; the heap is the anonymous part.
    println!(
        "  peak RSS {peak:.1} MiB; now {:.1} MiB heap (anonymous) + {:.1} MiB mapped file pages",
        status_mib(pid, "RssAnon:"),
        status_mib(pid, "RssFile:")
    );
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);

    // The SLA sweep, on the node's database with the node stopped (so its own sweeper does not
    // fire the due timers first).
    sla_sweep(database_url).await
}

/// The list phase: 50-row pages of a 2-clause filter sorted by amount, asked with
/// `Accept-Encoding: encoding` (none: identity).
async fn list_phase(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    pid: u32,
    count: usize,
    encoding: Option<&'static str>,
) -> Result<Stats> {
    let (c, u, a) = (client.clone(), url.to_string(), auth.to_string());
    let name = match encoding {
        None => "list: 2-clause filter + sort".to_string(),
        Some(e) => format!("  same, Accept-Encoding: {e}"),
    };
    drive(Box::leak(name.into_boxed_str()), pid, count, move |i| {
        let filter = json!({"and": [
            {"field": "phase", "op": "eq", "value": PHASES[i % 5]},
            {"field": "amount", "op": "gte", "value": (i * 37) % 150_000}
        ]})
        .to_string();
        c.get(&u)
            .header("authorization", &a)
            .header("accept-encoding", encoding.unwrap_or("identity"))
            .query(&[("filter", filter.as_str()), ("sort", "-amount"), ("limit", "50")])
            .send()
    })
    .await
}

/// POSTs `body` and answers the JSON answer; anything but 2xx is an error.
async fn post_ok(client: &reqwest::Client, url: &str, auth: &str, body: &Value) -> Result<Value> {
    let r = client.post(url).header("authorization", auth).json(body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    if !status.is_success() {
        bail!("POST {url}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Bulk-creates `n` records made by `make(i)`, 1,000 per request.
async fn bulk_create(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    n: usize,
    make: impl Fn(usize) -> Value,
) -> Result<()> {
    let mut have = 0;
    while have < n {
        let batch: Vec<Value> = (have..have + (n - have).min(1000)).map(&make).collect();
        have += batch.len();
        post_ok(client, &format!("{url}/bulk"), auth, &json!({"create": batch})).await?;
    }
    Ok(())
}

/// Alternating (plain, scripted) create phases for the scripts' cost.
const PAIRS: usize = 6;

const TEAMS: usize = 50;
const TEAM_USERS: usize = 100;

/// The list of the list phase (2-clause filter + sort) as the administrator, who bypasses
/// permissions, and as a rep whose role reads with `scope: "team"`: 50 teams, 100 users two per
/// team, `rows` records whose owners are spread over the users; the rep is in one team.
async fn permission_list(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    pid: u32,
    rows: usize,
    ops: usize,
) -> Result<()> {
    let app = json!({
        "name": "perm", "label": {"en": "Permissions"},
        "entities": [{"name": "account", "label": {"en": "Account"}, "fields": deal_fields()}],
        "roles": [{"name": "rep", "label": {"en": "Rep"},
                   "permissions": {"account": {"read": true, "scope": "team"}}}]
    });
    post_ok(client, &format!("{base}/api/v1/apps"), auth, &app).await?;
    let t = Instant::now();
    let mut teams = Vec::with_capacity(TEAMS);
    for i in 0..TEAMS {
        let team = post_ok(
            client,
            &format!("{base}/api/v1/teams"),
            auth,
            &json!({"name": format!("team {i}")}),
        )
        .await?;
        teams.push(team["id"].as_str().context("team id")?.to_string());
    }
    let mut users = Vec::with_capacity(TEAM_USERS);
    for i in 0..TEAM_USERS {
        let user = post_ok(
            client,
            &format!("{base}/api/v1/users"),
            auth,
            &json!({"email": format!("user{i}@bench.example.com"), "name": format!("User {i}"), "password": "bench-password"}),
        )
        .await?;
        let id = user["id"].as_str().context("user id")?.to_string();
        post_ok(
            client,
            &format!("{base}/api/v1/teams/{}/members", teams[i % TEAMS]),
            auth,
            &json!({"user": id}),
        )
        .await?;
        users.push(id);
    }
    post_ok(
        client,
        &format!("{base}/api/v1/apps/perm/roles/rep/members"),
        auth,
        &json!({"user": users[0]}),
    )
    .await?;
    let url = format!("{base}/api/v1/data/perm/account");
    // Owners in runs of 5 rows, so each owner's deals are in every phase, as a pipeline's are.
    // (Owner `i % 100` made the owner decide the phase, `i % 5`: every row the rep sees was in
    // phase `new`, 4 filters in 5 matched none of them, and the planner's statistics, which
    // take columns as independent, could not know. docs/BENCHMARKS.md has that case too.)
    bulk_create(client, &url, auth, rows, |i| {
        let mut d = deal(i);
        d["owner"] = json!(users[(i / 5) % TEAM_USERS]);
        d
    })
    .await?;
    println!(
        "  (permissions: {TEAMS} teams, {TEAM_USERS} users, {rows} rows owned by them, in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "user0@bench.example.com", "password": "bench-password"}))
        .send()
        .await?
        .json()
        .await?;
    let rep = format!("Bearer {}", login["token"].as_str().context("rep login")?);
    // The rep sees their team's rows only: those of users 0 and 50 (rows 0–4, 250–254, 500–504, …).
    let seen: Value = client
        .get(&url)
        .header("authorization", &rep)
        .query(&[("limit", "1000"), ("fields", "title")])
        .send()
        .await?
        .json()
        .await?;
    let seen = seen["data"].as_array().map(Vec::len).unwrap_or(0);
    let expect = rows.div_ceil(TEAMS);
    if seen != expect.min(1000) {
        bail!(
            "the rep sees {seen} rows on the first page, expected {}",
            expect.min(1000)
        );
    }
    let list = |name: &'static str, who: String, n: usize| {
        let (c, u) = (client.clone(), url.clone());
        drive(name, pid, n, move |i| {
            let filter = json!({"and": [
                {"field": "phase", "op": "eq", "value": PHASES[i % 5]},
                {"field": "amount", "op": "gte", "value": (i * 37) % 150_000}
            ]})
            .to_string();
            c.get(&u)
                .header("authorization", &who)
                .query(&[("filter", filter.as_str()), ("sort", "-amount"), ("limit", "50")])
                .send()
        })
    };
    // The long phases give the table's figures; the ratio to trust is the median of short
    // alternating pairs (either first in turn), which drift on the machine cannot favour.
    let measure = |what: &'static str| {
        let (list, rep, auth) = (&list, rep.clone(), auth.to_string());
        async move {
            println!("  {what}:");
            let admin = list("list as admin (bypasses)", auth.clone(), ops / 2).await?;
            admin.print();
            let scoped = list("list as rep, scope team", rep.clone(), ops / 2).await?;
            scoped.print();
            let (mut pages, mut cpu) = (Vec::new(), Vec::new());
            for round in 0..PAIRS {
                let n = (ops / 8).max(100);
                let (a, r) = if round % 2 == 0 {
                    let a = list("admin", auth.clone(), n).await?;
                    (a, list("rep", rep.clone(), n).await?)
                } else {
                    let r = list("rep", rep.clone(), n).await?;
                    (list("admin", auth.clone(), n).await?, r)
                };
                pages.push(r.secs / a.secs);
                cpu.push(r.cpu_us_per_req / a.cpu_us_per_req);
            }
            let each: Vec<String> = pages.iter().map(|r| format!("{r:.2}")).collect();
            let median = |v: &mut Vec<f64>| {
                v.sort_by(f64::total_cmp);
                (v[PAIRS / 2 - 1] + v[PAIRS / 2]) / 2.0
            };
            println!(
                "  team scope: {:.2}x the admin's time per page in the long phases ({:.2}x at p50, {:.1} vs {:.1} µs CPU); \
                 {PAIRS} alternating pairs: median {:.2}x time per page ({}), {:.2}x server CPU",
                scoped.secs / admin.secs,
                scoped.p50_ms / admin.p50_ms,
                scoped.cpu_us_per_req,
                admin.cpu_us_per_req,
                median(&mut pages),
                each.join(", "),
                median(&mut cpu)
            );
            Ok::<_, anyhow::Error>(())
        }
    };
    measure("with an index on each field").await?;
    // The same with an index declared for this list: phase, then amount (and, for the entity
    // read through a team scope, the same with the owner in front).
    let patched = client
        .patch(format!("{base}/api/v1/apps/perm/entities/account"))
        .header("authorization", auth)
        .json(&json!({"indexes": [{"name": "board", "fields": ["phase", "amount"]}]}))
        .send()
        .await?;
    if !patched.status().is_success() {
        bail!("declaring the index: {}", patched.text().await?);
    }
    // The new indexes are analysed in the background.
    tokio::time::sleep(Duration::from_secs(2)).await;
    measure("with an index declared on (phase, amount)").await?;
    Ok(())
}

/// Records created one by one for the event-to-action latency.
const LATENCY_RECORDS: usize = 300;

/// The automation app: on two entities, a rule that sets a field of every created record.
fn auto_app() -> Value {
    let fields = json!([
        {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
        {"name": "touched", "label": {"en": "Touched"}, "type": "boolean"}
    ]);
    let rule = |name: &str, entity: &str| {
        json!({"name": name, "trigger": {"type": "record_created", "entity": entity},
               "actions": [{"type": "set_fields", "values": {"touched": true}}]})
    };
    json!({
        "name": "auto", "label": {"en": "Automation"},
        "entities": [
            {"name": "ping", "label": {"en": "Ping"}, "fields": fields},
            {"name": "pong", "label": {"en": "Pong"}, "fields": fields}
        ],
        "rules": [rule("touch_ping", "ping"), rule("touch_pong", "pong")]
    })
}

async fn count(engine: &trellis_engine::Engine, sql: &str) -> Result<i64> {
    let rows = engine.db.raw_rows_for_tests(sql, Vec::new()).await?;
    Ok(rows.first().context("count")?.try_get("", "n")?)
}

/// Waits until `sql` (a count) reaches `want`; bails after `limit`.
async fn wait_count(engine: &trellis_engine::Engine, sql: &str, want: i64, limit: Duration) -> Result<Duration> {
    let t = Instant::now();
    loop {
        let n = count(engine, sql).await?;
        if n == want {
            return Ok(t.elapsed());
        }
        if t.elapsed() > limit {
            bail!("after {:.0} s: {n}, not {want}, for {sql}", limit.as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (event time, job done time) of every `created` event of `rule` whose set-fields job is done,
/// from the node's database.
async fn event_to_done(
    engine: &trellis_engine::Engine,
    rule: &str,
) -> Result<Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>> {
    let sql = format!(
        "SELECT e.at AS at, j.updated_at AS done_at FROM sys_jobs j \
         JOIN sys_rule_runs r ON r.id = j.run_id JOIN sys_events e ON e.id = r.event_id \
         WHERE r.rule = '{rule}' AND j.status = 'done' AND e.kind = 'created'"
    );
    let rows = engine.db.raw_rows_for_tests(&sql, Vec::new()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "at")?, r.try_get("", "done_at")?)))
        .collect()
}

/// Event-to-action latency (records created one at a time on an idle node) and sustained rule
/// throughput (`n` records bulk-created, then drained), both from the database's timestamps:
/// the `created` event's `at` and its set-fields job's `updated_at` when done.
async fn automation(client: &reqwest::Client, base: &str, auth: &str, database_url: &str, n: usize) -> Result<()> {
    let engine = trellis_engine::Engine::open(database_url).await?;
    let waited = wait_count(
        &engine,
        "SELECT COUNT(*) AS n FROM sys_events WHERE dispatched_at IS NULL",
        0,
        Duration::from_secs(600),
    )
    .await?;
    println!(
        "  (automation: waited {:.1} s for the outbox of the phases above to drain)",
        waited.as_secs_f64()
    );
    post_ok(client, &format!("{base}/api/v1/apps"), auth, &auto_app()).await?;

    // Latency: one record at a time, a pause between them.
    let ping = format!("{base}/api/v1/data/auto/ping");
    for i in 0..LATENCY_RECORDS {
        post_ok(client, &ping, auth, &json!({"title": format!("Ping {i}")})).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_count(
        &engine,
        "SELECT COUNT(*) AS n FROM sys_jobs WHERE rule = 'touch_ping' AND status = 'done'",
        LATENCY_RECORDS as i64,
        Duration::from_secs(60),
    )
    .await?;
    let mut lat: Vec<f64> = event_to_done(&engine, "touch_ping")
        .await?
        .iter()
        .map(|(at, done)| (*done - *at).as_seconds_f64() * 1000.0)
        .collect();
    if lat.len() != LATENCY_RECORDS {
        bail!("{} latencies, expected {LATENCY_RECORDS}", lat.len());
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "  {:<34} {:>7} rec  event → set_fields done: p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        "rule latency (idle, one at a time)",
        LATENCY_RECORDS,
        pct(0.50),
        pct(0.99),
        lat[lat.len() - 1]
    );

    // Throughput: n records in bulk, then every job done.
    let pong = format!("{base}/api/v1/data/auto/pong");
    let t = Instant::now();
    bulk_create(client, &pong, auth, n, |i| json!({"title": format!("Pong {i}")})).await?;
    let created_in = t.elapsed();
    wait_count(
        &engine,
        "SELECT COUNT(*) AS n FROM sys_jobs WHERE rule = 'touch_pong' AND status = 'done'",
        n as i64,
        Duration::from_secs(900),
    )
    .await?;
    let pairs = event_to_done(&engine, "touch_pong").await?;
    if pairs.len() != n {
        bail!("{} done runs, expected {n}", pairs.len());
    }
    let first_event = pairs.iter().map(|p| p.0).min().context("no runs")?;
    let last_event = pairs.iter().map(|p| p.0).max().context("no runs")?;
    let last_done = pairs.iter().map(|p| p.1).max().context("no runs")?;
    let span = (last_done - first_event).as_seconds_f64();
    println!(
        "  {:<34} {:>7} rec  {:>9.0} runs/s  (creates took {:.1} s; backlog drained {:.1} s after the last event)",
        "rule throughput (bulk, set_fields)",
        n,
        n as f64 / span,
        created_in.as_secs_f64(),
        (last_done - last_event).as_seconds_f64()
    );
    Ok(())
}

/// Pending future timers inserted directly, plus 100 due ones for records that do not exist.
const SWEEP_FUTURE: usize = 100_000;
const SWEEP_DUE: usize = 100;

/// Times `Engine::sweep_timers` with 100 due timers among 100,100 pending, then with none due,
/// and prints the plan of the due-timer select (it must use the partial index `ix_timers_due`).
async fn sla_sweep(database_url: &str) -> Result<()> {
    use chrono::{TimeDelta, Utc};
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query};
    use sea_orm::{ConnectionTrait, DbBackend};

    let engine = trellis_engine::Engine::open(database_url).await?;
    let backend = engine.db.backend;
    let now = Utc::now();
    let cols = [
        "id",
        "tenant_id",
        "app_id",
        "entity_id",
        "record_id",
        "kind",
        "key",
        "due_at",
        "status",
        "data",
    ]
    .map(Alias::new);
    let total = SWEEP_FUTURE + SWEEP_DUE;
    let t = Instant::now();
    let tx = engine.db.begin_write().await?;
    let mut i = 0;
    while i < total {
        let mut q = Query::insert();
        q.into_table(Alias::new("sys_timers")).columns(cols.clone());
        for j in i..(i + 500).min(total) {
            let due = if j < SWEEP_DUE {
                now - TimeDelta::seconds(60 + j as i64)
            } else {
                now + TimeDelta::days(1) + TimeDelta::seconds(j as i64)
            };
            q.values_panic([
                uuid::Uuid::new_v4().simple().to_string().into(),
                "bench".into(),
                "bench-missing-app".into(),
                "bench-missing-entity".into(),
                Some(uuid::Uuid::new_v4().simple().to_string()).into(),
                "sla".into(),
                "a".into(),
                due.into(),
                "pending".into(),
                "{}".into(),
            ]);
        }
        tx.execute(&q).await?;
        i += 500;
    }
    tx.commit().await?;
    println!(
        "  SLA sweep: inserted {total} pending timers ({SWEEP_DUE} due) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The select `timers::due` makes, explained.
    let mut q = Query::select();
    q.columns(cols)
        .from(Alias::new("sys_timers"))
        .and_where(Expr::col(Alias::new("status")).eq("pending"))
        .and_where(Expr::col(Alias::new("due_at")).lte(now))
        .order_by(Alias::new("due_at"), Order::Asc)
        .limit(200);
    if backend == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let st = backend.build(&q);
    let (explain, column) = match backend {
        DbBackend::Postgres => ("EXPLAIN", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN", "detail"),
    };
    let plan = format!("{explain} {}", st.sql);
    for row in engine
        .db
        .raw_rows_for_tests(&plan, st.values.map(|v| v.0).unwrap_or_default())
        .await?
    {
        let line: String = row.try_get("", column)?;
        println!("    plan: {line}");
    }

    let t = Instant::now();
    let fired = engine.sweep_timers(now).await?;
    let one = t.elapsed();
    if fired != SWEEP_DUE {
        bail!("the sweep fired {fired} timers, expected {SWEEP_DUE}");
    }
    let runs = 1000;
    let t = Instant::now();
    for _ in 0..runs {
        let fired = engine.sweep_timers(now).await?;
        if fired != 0 {
            bail!("an empty sweep fired {fired} timers");
        }
    }
    let empty = t.elapsed() / runs;
    println!(
        "  SLA sweep, {SWEEP_DUE} due among {total} pending: {:.2} ms; empty sweep (nothing due): {:.1} µs (mean of {runs})",
        one.as_secs_f64() * 1000.0,
        empty.as_secs_f64() * 1e6
    );
    Ok(())
}

async fn pg_database() -> Result<(String, String)> {
    use sea_orm::{ConnectionTrait, Database};
    let admin =
        std::env::var("TRELLIS_BENCH_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("trellis_bench_{}", uuid::Uuid::new_v4().simple());
    let conn = Database::connect(&admin).await?;
    conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    conn.close().await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    Ok((name.clone(), format!("{base}/{name}")))
}

async fn drop_pg(name: &str) {
    use sea_orm::{ConnectionTrait, Database};
    let admin =
        std::env::var("TRELLIS_BENCH_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if let Ok(conn) = Database::connect(&admin).await {
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        let _ = conn.close().await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).cloned().unwrap_or_else(|| "target/release/trellis".into());
    let rows: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let ops: usize = std::env::var("BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let which = std::env::var("BENCH_DB").unwrap_or_else(|_| "sqlite,postgres".into());
    println!("trellis-bench: concurrency {CONCURRENCY}, {ops} operations per phase, {rows} rows for reads");
    if which.contains("sqlite") {
        let dir = std::env::temp_dir().join(format!("trellis-bench-db-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}/bench.db", dir.display());
        let r = run_backend("SQLite", &bin, &url, rows, ops).await;
        if std::env::var("BENCH_KEEP").is_ok() {
            println!("  (kept {})", dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
        r?;
    }
    if which.contains("postgres") {
        let (name, url) = pg_database().await?;
        let r = run_backend("PostgreSQL", &bin, &url, rows, ops).await;
        if std::env::var("BENCH_KEEP").is_ok() {
            println!("  (kept database {name})");
        } else {
            drop_pg(&name).await;
        }
        r?;
    }
    Ok(())
}
