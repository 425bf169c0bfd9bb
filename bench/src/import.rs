//! The import phase (issue 16, point 7; `BENCH_ONLY=import`): the export phase's orders
//! (`BENCH_IMPORT_ROWS`, 200,000 by default; 20 fields: Chinese texts, option labels, money
//! with its code, dates, datetimes, relations by title, users by name) exported as a Chinese CSV,
//! then imported into a second app with the same entity (no rules): a dry run, then the import
//! itself (`skip_invalid`: batches of 500 rows). Printed: rows per second of each and the
//! server's peak RSS during each (high-water mark reset first). Targets: ≥ 25,000 rows/s on
//! SQLite, ≥ 50,000 on PostgreSQL, RSS under 150 MiB, a 1,000,000-row dry run in ≤ 30 s.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::export::{CUSTOMERS, app_named, fill, reset_peak};
use crate::{post_ok, rss_mib, status_mib};

/// Runs one import to its end: seconds taken and the server's peak RSS (VmHWM, and the largest
/// anonymous RSS sampled every 50 ms).
async fn timed(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    pid: u32,
    body: &Value,
) -> Result<(f64, Value, f64, f64)> {
    reset_peak(pid);
    let t = Instant::now();
    let started = post_ok(client, url, auth, body).await?;
    let id = started["id"].as_str().context("import id")?.to_string();
    let mut anon: f64 = 0.0;
    loop {
        anon = anon.max(status_mib(pid, "RssAnon:"));
        let i: Value = client
            .get(format!("{url}/{id}"))
            .header("authorization", auth)
            .send()
            .await?
            .json()
            .await?;
        if matches!(i["status"].as_str(), Some("done" | "failed" | "cancelled")) {
            return Ok((t.elapsed().as_secs_f64(), i, rss_mib(pid).1, anon));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn import_phase(client: &reqwest::Client, base: &str, auth: &str, pid: u32, label: &str) -> Result<()> {
    let rows: usize = std::env::var("BENCH_IMPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let orders = fill(client, base, auth, rows, label).await?;
    let csv = client
        .get(format!("{orders}/export?format=csv&lang=zh"))
        .header("authorization", auth)
        .send()
        .await?
        .bytes()
        .await?;
    post_ok(client, &format!("{base}/api/v1/apps"), auth, &app_named("imp")).await?;
    for i in 0..CUSTOMERS {
        post_ok(
            client,
            &format!("{base}/api/v1/data/imp/customer"),
            auth,
            &json!({"name": format!("客户 {i} 有限公司")}),
        )
        .await?;
    }
    let part = reqwest::multipart::Part::bytes(csv.to_vec())
        .file_name("orders.csv")
        .mime_str("text/csv")?;
    let up: Value = client
        .post(format!("{base}/api/v1/files"))
        .header("authorization", auth)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?
        .json()
        .await?;
    let file = up["id"].as_str().with_context(|| format!("upload: {up}"))?.to_string();
    let url = format!("{base}/api/v1/data/imp/order/imports");
    println!(
        "{label} import: {rows} rows × 20 columns, {:.0} MiB of CSV",
        csv.len() as f64 / 1048576.0
    );
    for (what, body) in [
        ("dry run", json!({"file": file, "dry_run": true})),
        ("import (skip_invalid)", json!({"file": file, "mode": "skip_invalid"})),
    ] {
        let (secs, i, peak, anon) = timed(client, &url, auth, pid, &body).await?;
        if i["status"] != "done" || i["failed"] != 0 {
            let errors: Value = client
                .get(format!("{url}/{}/errors?limit=5", i["id"].as_str().unwrap_or("")))
                .header("authorization", auth)
                .send()
                .await?
                .json()
                .await?;
            bail!(
                "the {what} ended {} with {} refused rows; the first: {errors}",
                i["status"],
                i["failed"]
            );
        }
        let done = i["inserted"].as_i64().unwrap_or(0);
        println!(
            "  {what}: {done} rows in {secs:.1} s = {:.0} rows/s, server peak RSS {peak:.0} MiB (heap {anon:.0} MiB)",
            rows as f64 / secs
        );
    }
    Ok(())
}
