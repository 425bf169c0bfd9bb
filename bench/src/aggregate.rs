//! The aggregate phase (issue 16, point 1; `BENCH_ONLY=aggregate`): `BENCH_AGG_ROWS` sales
//! (1,000,000 by default) over three years and 20 owners, then the same aggregate — month ×
//! owner with a count and a sum — asked one at a time, p50 and p95 printed. The targets are p95
//! ≤ 500 ms on PostgreSQL and ≤ 2 s on SQLite. The index-backed variant groups by a user field
//! holding the same user (declared indexes take the entity's fields, not `owner`) with an index
//! on (rep, signed_at, amount), which covers the statement.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{bulk_create, post_ok};

const OWNERS: usize = 20;
/// Requests per variant (one at a time: an aggregate reads the whole table).
const ASKS: usize = 20;

fn app() -> Value {
    json!({
        "name": "agg", "label": {"en": "Aggregates"},
        "entities": [{"name": "sale", "label": {"en": "Sale"}, "fields": [
            {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
            {"name": "signed_at", "label": {"en": "Signed"}, "type": "datetime"},
            {"name": "rep", "label": {"en": "Rep"}, "type": "user"}
        ]}]
    })
}

/// p50 and p95 in ms of `ASKS` aggregates of `body`, after one to warm the caches.
async fn measure(client: &reqwest::Client, url: &str, auth: &str, body: &Value) -> Result<(f64, f64)> {
    post_ok(client, url, auth, body).await?;
    let mut lat = Vec::with_capacity(ASKS);
    for _ in 0..ASKS {
        let t = Instant::now();
        let r = post_ok(client, url, auth, body).await?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if r["groups"].as_array().is_none_or(Vec::is_empty) {
            bail!("an aggregate answered no group: {r}");
        }
    }
    lat.sort_by(f64::total_cmp);
    let at = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Ok((at(0.50), at(0.95)))
}

pub async fn aggregate_phase(client: &reqwest::Client, base: &str, auth: &str, label: &str) -> Result<()> {
    let rows: usize = std::env::var("BENCH_AGG_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    post_ok(client, &format!("{base}/api/v1/apps"), auth, &app()).await?;
    let mut users = Vec::with_capacity(OWNERS);
    for i in 0..OWNERS {
        let user = post_ok(
            client,
            &format!("{base}/api/v1/users"),
            auth,
            &json!({"email": format!("seller{i}@bench.example.com"), "name": format!("Seller {i}"), "password": "bench-password"}),
        )
        .await?;
        users.push(user["id"].as_str().context("user id")?.to_string());
    }
    let url = format!("{base}/api/v1/data/agg/sale");
    let t = Instant::now();
    let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")?.timestamp();
    let span = 3 * 365 * 24 * 3600;
    bulk_create(client, &url, auth, rows, |i| {
        let owner = &users[(i / 7) % OWNERS];
        let at = chrono::DateTime::from_timestamp(start + ((i as i64 * 7_919_993) % span), 0).unwrap_or_default();
        json!({"amount": format!("{}.{:02}", (i * 7919) % 100_000, i % 100),
               "signed_at": at.to_rfc3339(), "owner": owner, "rep": owner})
    })
    .await?;
    println!(
        "{label} aggregates: {rows} sales, {OWNERS} owners, filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let agg = format!("{url}/aggregate");
    let body = |group: &str| {
        json!({"group_by": [group], "bucket": {"field": "signed_at", "unit": "month"},
               "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}], "limit": 1000})
    };
    let (p50, p95) = measure(client, &agg, auth, &body("owner")).await?;
    println!("  month × owner, count + sum: p50 {p50:.0} ms  p95 {p95:.0} ms");
    let r = client
        .patch(format!("{base}/api/v1/apps/agg/entities/sale"))
        .header("authorization", auth)
        .json(&json!({"indexes": [{"name": "by_rep_month", "fields": ["rep", "signed_at", "amount"]}]}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("declare the index: {}", r.text().await?);
    }
    let (p50, p95) = measure(client, &agg, auth, &body("rep")).await?;
    println!("  same by a user field, index on (rep, signed_at, amount): p50 {p50:.0} ms  p95 {p95:.0} ms");
    Ok(())
}
