//! The export phase (issue 16, point 8; `BENCH_ONLY=export`): `BENCH_EXPORT_ROWS` records
//! (1,000,000 by default) of 20 fields — texts (some Chinese), selects, a currency, decimals,
//! integers, booleans, dates, a datetime, a relation and a user — then the whole entity
//! exported as CSV and as XLSX, one request at a time. Printed: the time to the first byte and
//! to the first record, CSV rows per second, XLSX wall time, and the server's peak RSS during
//! each export (its high-water mark is reset first through `/proc/PID/clear_refs`, so the fill
//! does not count). Targets: first byte < 1 s, CSV ≥ 200,000 rows/s, XLSX under 150 MiB.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{bulk_create, post_ok, rss_mib, status_mib};

pub(crate) const CUSTOMERS: usize = 200;
pub(crate) const OWNERS: usize = 10;

/// The export's app, named `name`.
pub(crate) fn app_named(name: &str) -> Value {
    let opts = |vals: &[(&str, &str, &str)]| {
        Value::Array(
            vals.iter()
                .map(|(v, zh, en)| json!({"value": v, "label": {"zh": zh, "en": en}}))
                .collect(),
        )
    };
    json!({
        "name": name, "label": {"en": "Export"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "title_field": "name", "fields": [
                {"name": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text"}]},
            {"name": "order", "label": {"en": "Order", "zh": "订单"}, "fields": [
                {"name": "title", "label": {"en": "Title", "zh": "标题"}, "type": "text"},
                {"name": "code", "label": {"en": "Code", "zh": "编码"}, "type": "text"},
                {"name": "city", "label": {"en": "City", "zh": "城市"}, "type": "text"},
                {"name": "note", "label": {"en": "Note", "zh": "备注"}, "type": "long_text"},
                {"name": "email", "label": {"en": "E-mail", "zh": "邮箱"}, "type": "email"},
                {"name": "phone", "label": {"en": "Phone", "zh": "电话"}, "type": "phone"},
                {"name": "region", "label": {"en": "Region", "zh": "区域"}, "type": "single_select",
                 "options": opts(&[("north", "华北", "North"), ("south", "华南", "South"), ("east", "华东", "East"), ("west", "西部", "West")])},
                {"name": "tier", "label": {"en": "Tier", "zh": "等级"}, "type": "single_select",
                 "options": opts(&[("a", "甲", "A"), ("b", "乙", "B"), ("c", "丙", "C")])},
                {"name": "amount", "label": {"en": "Amount", "zh": "金额"}, "type": "currency", "currency": "CNY"},
                {"name": "price", "label": {"en": "Price", "zh": "单价"}, "type": "decimal"},
                {"name": "qty", "label": {"en": "Qty", "zh": "数量"}, "type": "integer"},
                {"name": "score", "label": {"en": "Score", "zh": "评分"}, "type": "integer"},
                {"name": "rate", "label": {"en": "Rate", "zh": "比率"}, "type": "percent"},
                {"name": "active", "label": {"en": "Active", "zh": "有效"}, "type": "boolean"},
                {"name": "vip", "label": {"en": "VIP", "zh": "贵宾"}, "type": "boolean"},
                {"name": "signed", "label": {"en": "Signed", "zh": "签约日"}, "type": "date"},
                {"name": "due", "label": {"en": "Due", "zh": "到期日"}, "type": "date"},
                {"name": "seen_at", "label": {"en": "Seen at", "zh": "最近联系"}, "type": "datetime"},
                {"name": "customer", "label": {"en": "Customer", "zh": "客户"}, "type": "relation", "target": "customer"},
                {"name": "rep", "label": {"en": "Rep", "zh": "销售"}, "type": "user"}
            ]}
        ]
    })
}

/// Resets the server's peak RSS to its current RSS (Linux 4.0+; needs to own the process).
pub(crate) fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

struct Measured {
    first_byte: f64,
    first_row: f64,
    total: f64,
    bytes: usize,
    lines: usize,
    /// VmHWM: resident memory at its peak, SQLite's memory-mapped database pages included.
    peak_mib: f64,
    /// The largest anonymous resident memory (heap) seen, sampled every 20 ms.
    peak_anon_mib: f64,
}

/// Downloads one export, timing its first byte, its first record (the byte after the header
/// line) and its end, and reading the server's peak RSS meanwhile.
async fn download(client: &reqwest::Client, url: &str, auth: &str, pid: u32) -> Result<Measured> {
    reset_peak(pid);
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_mib(pid, "RssAnon:"));
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let t = Instant::now();
    let mut r = client.get(url).header("authorization", auth).send().await?;
    if !r.status().is_success() {
        bail!("export answered {}: {}", r.status(), r.text().await?);
    }
    let (mut first_byte, mut first_row) = (None, None);
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = r.chunk().await? {
        let at = t.elapsed().as_secs_f64();
        first_byte.get_or_insert(at);
        let newlines = chunk.iter().filter(|b| **b == b'\n').count();
        // The first record starts after the first line break.
        if first_row.is_none() && (lines > 0 || newlines > 1 || (newlines == 1 && chunk.last() != Some(&b'\n'))) {
            first_row = Some(at);
        }
        lines += newlines;
        bytes += chunk.len();
    }
    let total = t.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak_anon_mib = sampler.await.unwrap_or(0.0);
    Ok(Measured {
        first_byte: first_byte.unwrap_or(total),
        first_row: first_row.unwrap_or(total),
        total,
        bytes,
        lines,
        peak_mib: rss_mib(pid).1,
        peak_anon_mib,
    })
}

/// Fills the export's app (`exp`) with `rows` orders; answers the orders' URL.
pub(crate) async fn fill(client: &reqwest::Client, base: &str, auth: &str, rows: usize, label: &str) -> Result<String> {
    post_ok(client, &format!("{base}/api/v1/apps"), auth, &app_named("exp")).await?;
    let mut users = Vec::with_capacity(OWNERS);
    for i in 0..OWNERS {
        let user = post_ok(
            client,
            &format!("{base}/api/v1/users"),
            auth,
            &json!({"email": format!("rep{i}@bench.example.com"), "name": format!("销售 {i}"), "password": "bench-password"}),
        )
        .await?;
        users.push(user["id"].as_str().context("user id")?.to_string());
    }
    let mut customers = Vec::with_capacity(CUSTOMERS);
    let curl = format!("{base}/api/v1/data/exp/customer");
    for i in 0..CUSTOMERS {
        let c = post_ok(client, &curl, auth, &json!({"name": format!("客户 {i} 有限公司")})).await?;
        customers.push(c["id"].as_str().context("customer id")?.to_string());
    }
    let url = format!("{base}/api/v1/data/exp/order");
    let t = Instant::now();
    const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
    const CITIES: [&str; 4] = ["北京", "上海", "Shenzhen", "成都"];
    const TIERS: [&str; 3] = ["a", "b", "c"];
    bulk_create(client, &url, auth, rows, |i| {
        json!({
            "title": format!("订单 {i}"), "code": format!("ORD-{i:08}"), "city": CITIES[i % 4],
            "note": if i % 3 == 0 { Value::Null } else { json!(format!("备注: 第 {i} 号订单, \"加急\"")) },
            "email": format!("buyer{}@example.com", i % 5000), "phone": format!("+86 138 {:04} {:04}", i % 10_000, (i * 7) % 10_000),
            "region": REGIONS[i % 4], "tier": TIERS[i % 3],
            "amount": format!("{}.{:02}", (i * 7919) % 1_000_000, i % 100), "price": format!("{}.{:02}", i % 997, i % 100),
            "qty": i % 50 + 1, "score": (i * 31) % 101, "rate": format!("{}.5", i % 100),
            "active": i % 2 == 0, "vip": i % 7 == 0,
            "signed": format!("2025-{:02}-{:02}", i % 12 + 1, i % 28 + 1), "due": format!("2026-{:02}-{:02}", i % 12 + 1, i % 28 + 1),
            "seen_at": format!("2026-{:02}-{:02}T{:02}:{:02}:00Z", i % 12 + 1, i % 28 + 1, i % 24, i % 60),
            "customer": customers[i % CUSTOMERS], "rep": users[i % OWNERS], "owner": users[(i / 3) % OWNERS]
        })
    })
    .await?;
    println!(
        "{label} export: {rows} records × 20 fields, filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(url)
}

pub async fn export_phase(client: &reqwest::Client, base: &str, auth: &str, pid: u32, label: &str) -> Result<()> {
    let rows: usize = std::env::var("BENCH_EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let url = fill(client, base, auth, rows, label).await?;
    for (format, lang) in [("csv", "zh"), ("xlsx", "zh")] {
        let m = download(client, &format!("{url}/export?format={format}&lang={lang}"), auth, pid).await?;
        if format == "csv" {
            if m.lines != rows + 1 {
                bail!("the CSV has {} lines for {rows} records", m.lines);
            }
            println!(
                "  CSV: first byte {:.0} ms, first record {:.0} ms, {rows} records in {:.1} s = {:.0} rows/s, {:.0} MiB, server peak RSS {:.0} MiB (heap {:.0} MiB)",
                m.first_byte * 1000.0,
                m.first_row * 1000.0,
                m.total,
                rows as f64 / m.total,
                m.bytes as f64 / 1048576.0,
                m.peak_mib,
                m.peak_anon_mib
            );
        } else {
            println!(
                "  XLSX: first byte {:.1} s, {rows} records in {:.1} s = {:.0} rows/s, {:.0} MiB, server peak RSS {:.0} MiB (heap {:.0} MiB)",
                m.first_byte,
                m.total,
                rows as f64 / m.total,
                m.bytes as f64 / 1048576.0,
                m.peak_mib,
                m.peak_anon_mib
            );
        }
    }
    Ok(())
}
