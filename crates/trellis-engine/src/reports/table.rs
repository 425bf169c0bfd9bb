//! A dashboard widget's data as a table: labelled columns and rows, the same for every report,
//! for table widgets, CSV downloads and e-mailed digests (HTML). Columns carry both languages;
//! a rendering picks one and reads select options and stages by their labels.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::dashboard::ReportKind;
use trellis_core::def::FieldType;
use trellis_core::{CompiledEntity, Label};

use crate::records::{Lang, system_label};

/// A widget's data as rows of labelled columns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WidgetTable {
    pub columns: Vec<TableColumn>,
    /// One array per row, a value per column.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub rows: Vec<Vec<Value>>,
}

/// A column of a widget's table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TableColumn {
    /// The key of the value in the report's answer (a field, a measure's alias, a count).
    pub key: String,
    pub label: Label,
}

fn label(zh: &str, en: &str) -> Label {
    Label {
        zh: Some(zh.to_string()),
        en: Some(en.to_string()),
    }
}

fn col(key: &str, zh: &str, en: &str) -> TableColumn {
    TableColumn {
        key: key.to_string(),
        label: label(zh, en),
    }
}

/// The label of a field or system column of the entity.
fn field_label(entity: &CompiledEntity, name: &str) -> Label {
    if let Some(f) = entity.def.fields.iter().find(|f| f.name.as_str() == name) {
        return f.label.clone();
    }
    match (system_label(name, Lang::Zh), system_label(name, Lang::En)) {
        (Some(zh), Some(en)) => label(zh, en),
        _ => label(name, name),
    }
}

fn op_label(op: &str, field: &Label) -> Label {
    let zh_f = field.zh.as_deref().or(field.en.as_deref()).unwrap_or("");
    let en_f = field.en.as_deref().or(field.zh.as_deref()).unwrap_or("");
    let (zh, en) = match op {
        "count" => (format!("{zh_f}计数"), format!("Count of {en_f}")),
        "count_distinct" => (format!("{zh_f}去重计数"), format!("Distinct {en_f}")),
        "sum" => (format!("{zh_f}合计"), format!("Sum of {en_f}")),
        "avg" => (format!("{zh_f}平均"), format!("Average {en_f}")),
        "min" => (format!("{zh_f}最小"), format!("Min {en_f}")),
        "max" => (format!("{zh_f}最大"), format!("Max {en_f}")),
        _ => (op.to_string(), op.to_string()),
    };
    Label {
        zh: Some(zh),
        en: Some(en),
    }
}

fn rows_of(items: &[Value], columns: &[TableColumn], get: impl Fn(&Value, &str) -> Value) -> Vec<Vec<Value>> {
    items
        .iter()
        .map(|it| columns.iter().map(|c| get(it, &c.key)).collect())
        .collect()
}

fn items<'a>(data: &'a Value, key: &str) -> &'a [Value] {
    data[key].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A stage's or group's label value: its `label` in both languages when it has one.
fn labelled(v: &Value) -> Value {
    v.get("label")
        .filter(|l| l.is_object())
        .cloned()
        .or_else(|| v.get("name").filter(|n| n.is_string()).cloned())
        .or_else(|| v.get("key").cloned())
        .unwrap_or(Value::Null)
}

fn aggregate(query: &Value, data: &Value, entity: &CompiledEntity) -> WidgetTable {
    let mut columns = Vec::new();
    let groups: Vec<String> = match &query["group_by"] {
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    for g in &groups {
        columns.push(TableColumn {
            key: g.clone(),
            label: field_label(entity, g),
        });
    }
    if let Some(b) = query["bucket"]["field"].as_str()
        && !groups.iter().any(|g| g == b)
    {
        columns.push(TableColumn {
            key: b.to_string(),
            label: field_label(entity, b),
        });
    }
    let key_count = columns.len();
    let measures = query["measures"].as_array().cloned().unwrap_or_default();
    if measures.is_empty() {
        columns.push(col("count", "数量", "Count"));
    }
    for m in &measures {
        let op = m["op"].as_str().unwrap_or("count");
        let field = m["field"].as_str();
        let key = match (m["as"].as_str(), field) {
            (Some(a), _) => a.to_string(),
            (None, None) => "count".to_string(),
            (None, Some(f)) => format!("{op}_{f}"),
        };
        let label = match (m["as"].as_str(), field) {
            (Some(a), _) => label(a, a),
            (None, None) => label("数量", "Count"),
            (None, Some(f)) => op_label(op, &field_label(entity, f)),
        };
        columns.push(TableColumn { key, label });
    }
    let rows = items(data, "groups")
        .iter()
        .map(|g| {
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let from = if i < key_count { &g["key"] } else { &g["measures"] };
                    from.get(&c.key).cloned().unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect();
    WidgetTable { columns, rows }
}

fn funnel(data: &Value) -> WidgetTable {
    let columns = vec![
        col("stage", "阶段", "Stage"),
        col("entered", "进入", "Entered"),
        col("still_in", "停留中", "Still in"),
        col("advanced", "推进", "Advanced"),
        col("lost", "丢单", "Lost"),
        col("conversion_next", "下一步转化率", "Conversion to next"),
        col("conversion_cumulative", "累计转化率", "Cumulative conversion"),
        col("median_hours", "停留中位数（小时）", "Median hours in stage"),
        col("p90_hours", "停留 P90（小时）", "P90 hours in stage"),
    ];
    let rows = rows_of(items(data, "stages"), &columns, |s, k| match k {
        "stage" => labelled(s),
        "median_hours" => hours(&s["median_seconds"]),
        "p90_hours" => hours(&s["p90_seconds"]),
        k => s[k].clone(),
    });
    WidgetTable { columns, rows }
}

fn hours(seconds: &Value) -> Value {
    seconds
        .as_f64()
        .map(|s| Value::from((s / 36.0).round() / 100.0))
        .unwrap_or(Value::Null)
}

fn forecast(data: &Value) -> WidgetTable {
    let groups = items(data, "groups");
    if !groups.is_empty() {
        let columns = vec![
            col("group", "分组", "Group"),
            col("period", "期间", "Period"),
            col("open_count", "在途数", "Open"),
            col("open_amount", "在途金额", "Open amount"),
            col("weighted", "加权预测", "Weighted"),
            col("calibrated", "校准预测", "Calibrated"),
        ];
        let rows = rows_of(groups, &columns, |g, k| match k {
            "group" => labelled(g),
            k => g[k].clone(),
        });
        return WidgetTable { columns, rows };
    }
    let columns = vec![
        col("stage", "阶段", "Stage"),
        col("configured_probability", "配置概率", "Configured probability"),
        col("historical_win_rate", "历史赢率", "Historical win rate"),
        col("calibrated_probability", "校准概率", "Calibrated probability"),
        col("closed", "已关闭样本", "Closed sample"),
        col("open_count", "在途数", "Open"),
        col("open_amount", "在途金额", "Open amount"),
        col("weighted", "加权预测", "Weighted"),
        col("calibrated", "校准预测", "Calibrated"),
    ];
    let rows = rows_of(items(data, "stages"), &columns, |s, k| match k {
        "stage" => labelled(&s["rates"]),
        "closed" => Value::from(s["rates"]["won"].as_i64().unwrap_or(0) + s["rates"]["lost"].as_i64().unwrap_or(0)),
        "configured_probability" | "historical_win_rate" | "calibrated_probability" => s["rates"][k].clone(),
        k => s[k].clone(),
    });
    WidgetTable { columns, rows }
}

/// The rows of a report's `groups`, then its `totals` as a last row labelled "Total" (the
/// totals read as a group whose `counts` they are).
fn with_totals(data: &Value, columns: &[TableColumn], get: impl Fn(&Value, &str) -> Value) -> Vec<Vec<Value>> {
    let mut totals = Map::new();
    totals.insert("label".into(), serde_json::json!({"zh": "合计", "en": "Total"}));
    totals.insert("counts".into(), data["totals"].clone());
    let mut rows = rows_of(items(data, "groups"), columns, &get);
    rows.extend(rows_of(&[Value::Object(totals)], columns, &get));
    rows
}

fn sla(data: &Value) -> WidgetTable {
    let columns = vec![
        col("group", "分组", "Group"),
        col("period", "期间", "Period"),
        col("with_due", "有时限", "With a due time"),
        col("on_time", "按时", "On time"),
        col("breached", "超时", "Breached"),
        col("on_time_rate", "按时率", "On-time rate"),
        col("overdue_now", "当前逾期", "Overdue now"),
        col("p50_hours", "P50（小时）", "P50 hours"),
        col("p90_hours", "P90（小时）", "P90 hours"),
    ];
    let get = |g: &Value, k: &str| match k {
        "group" => labelled(g),
        "period" => g["period"].clone(),
        "p50_hours" => hours(&g["counts"]["p50_seconds"]),
        "p90_hours" => hours(&g["counts"]["p90_seconds"]),
        k => g["counts"][k].clone(),
    };
    let rows = with_totals(data, &columns, get);
    WidgetTable { columns, rows }
}

fn first_follow_up(data: &Value) -> WidgetTable {
    let columns = vec![
        col("group", "分组", "Group"),
        col("records", "记录数", "Records"),
        col("followed_up", "已跟进", "Followed up"),
        col("within_target", "按时跟进", "Within target"),
        col("late", "超时跟进", "Late"),
        col("pending", "未跟进", "Pending"),
        col("late_share", "超时占比", "Share late"),
        col("p50_hours", "P50（小时）", "P50 hours"),
        col("p90_hours", "P90（小时）", "P90 hours"),
    ];
    let get = |g: &Value, k: &str| match k {
        "group" => labelled(g),
        k => g["counts"][k].clone(),
    };
    let rows = with_totals(data, &columns, get);
    WidgetTable { columns, rows }
}

fn cycle(query: &Value, data: &Value, entity: &CompiledEntity) -> WidgetTable {
    let group = query["group_by"].as_str().unwrap_or("owner");
    let columns = vec![
        TableColumn {
            key: "key".into(),
            label: field_label(entity, group),
        },
        col("won", "赢单数", "Won"),
        col("won_amount", "赢单金额", "Won amount"),
        col("average_days", "平均周期（天）", "Average days"),
        col("median_days", "周期中位数（天）", "Median days"),
        col("open", "在途数", "Open"),
        col("past_average", "超平均周期", "Past the average"),
    ];
    let rows = rows_of(items(data, "groups"), &columns, |g, k| g[k].clone());
    WidgetTable { columns, rows }
}

/// The table of a report's answer (`data`) to `query` about `entity`.
pub fn table_of(report: ReportKind, query: &Value, data: &Value, entity: &CompiledEntity) -> WidgetTable {
    match report {
        ReportKind::Aggregate => aggregate(query, data, entity),
        ReportKind::Funnel => funnel(data),
        ReportKind::Forecast => forecast(data),
        ReportKind::Sla => sla(data),
        ReportKind::FirstFollowUp => first_follow_up(data),
        ReportKind::Cycle => cycle(query, data, entity),
    }
}

/// A cell as text in a language: labels in it, select options and stages by their label,
/// booleans as yes/no, rates as percentages when the column is one.
pub fn cell_text(entity: &CompiledEntity, column: &TableColumn, v: &Value, lang: Lang) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => option_label(entity, &column.key, s, lang).unwrap_or_else(|| s.clone()),
        Value::Bool(b) => (if *b {
            if lang == Lang::Zh { "是" } else { "Yes" }
        } else if lang == Lang::Zh {
            "否"
        } else {
            "No"
        })
        .to_string(),
        Value::Number(n) => {
            let rate = column.key.ends_with("_rate")
                || column.key.starts_with("conversion_")
                || column.key.ends_with("_share")
                || column.key.ends_with("_probability");
            match n.as_f64() {
                Some(f) if rate => format!("{:.1}%", f * 100.0),
                Some(f) if f.fract() != 0.0 => format!("{f:.2}"),
                // A whole amount reads without a decimal point (17, not 17.0).
                Some(f) if f.abs() < 1e15 => format!("{}", f as i64),
                _ => n.to_string(),
            }
        }
        Value::Object(o) if o.contains_key("zh") || o.contains_key("en") => {
            let l: Label = serde_json::from_value(v.clone()).unwrap_or_default();
            lang.pick(&l, "").to_string()
        }
        // A currency amount `{amount, currency}`.
        Value::Object(o) if o.contains_key("amount") => {
            let amount = o["amount"].to_string().trim_matches('"').to_string();
            match o.get("currency").and_then(Value::as_str) {
                Some(c) => format!("{amount} {c}"),
                None => amount,
            }
        }
        Value::Array(a) => a
            .iter()
            .map(|x| cell_text(entity, column, x, lang))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn option_label(entity: &CompiledEntity, key: &str, value: &str, lang: Lang) -> Option<String> {
    let c = entity.column(key)?;
    if c.system && key == "stage" {
        let s = entity
            .def
            .pipeline
            .iter()
            .flat_map(|p| &p.stages)
            .find(|s| s.key.as_str() == value)?;
        return Some(lang.pick(&s.label, value).to_string());
    }
    if !matches!(c.kind, FieldType::SingleSelect | FieldType::MultiSelect) {
        return None;
    }
    let f = entity.def.fields.iter().find(|f| f.name.as_str() == key)?;
    let o = f.options.as_ref()?.iter().find(|o| o.value == value)?;
    Some(lang.pick(&o.label, value).to_string())
}

/// The table as CSV (UTF-8 with a BOM, so Excel reads Chinese), headers in the language.
pub fn to_csv(entity: &CompiledEntity, t: &WidgetTable, lang: Lang) -> Result<Vec<u8>, trellis_core::Error> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let internal = |e: csv::Error| trellis_core::Error::internal(e.to_string());
    w.write_record(t.columns.iter().map(|c| lang.pick(&c.label, &c.key)))
        .map_err(internal)?;
    for row in &t.rows {
        w.write_record(
            t.columns
                .iter()
                .zip(row)
                .map(|(c, v)| guard_formula(cell_text(entity, c, v, lang))),
        )
        .map_err(internal)?;
    }
    w.into_inner().map_err(|e| trellis_core::Error::internal(e.to_string()))
}

/// A text a spreadsheet would run as a formula, kept as text (as exports do).
fn guard_formula(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s
    }
}

/// HTML-escaped text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The table as an HTML table with inline styles (mail clients drop style sheets).
pub fn to_html(entity: &CompiledEntity, t: &WidgetTable, lang: Lang) -> String {
    let mut h = String::from(
        "<table style=\"border-collapse:collapse;font-size:13px;margin:4px 0 16px\" cellpadding=\"4\"><thead><tr>",
    );
    for c in &t.columns {
        let _ = write!(
            h,
            "<th style=\"border:1px solid #d9d9d9;background:#fafafa;text-align:left\">{}</th>",
            esc(lang.pick(&c.label, &c.key))
        );
    }
    h.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        h.push_str("<tr>");
        for (c, v) in t.columns.iter().zip(row) {
            let align = if v.is_number() { "right" } else { "left" };
            let _ = write!(
                h,
                "<td style=\"border:1px solid #d9d9d9;text-align:{align}\">{}</td>",
                esc(&cell_text(entity, c, v, lang))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity() -> CompiledEntity {
        let e: trellis_core::def::EntityDef = serde_json::from_value(json!({
        "name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "amount", "label": {"zh": "金额", "en": "Amount"}, "type": "decimal"},
            {"name": "region", "label": {"zh": "区域", "en": "Region"}, "type": "single_select",
             "options": [{"value": "east", "label": {"zh": "华东", "en": "East"}}]}
        ]}))
        .unwrap();
        let mut app: trellis_core::AppDef =
            serde_json::from_value(json!({"name": "a", "label": {"en": "A"}, "entities": [e]})).unwrap();
        trellis_core::validate::assign_ids(&mut app);
        CompiledEntity::compile(&app.entities[0])
    }

    #[test]
    fn an_aggregate_reads_as_labelled_columns_in_either_language() {
        let e = entity();
        let q = json!({"group_by": ["region"], "measures": [{"op": "sum", "field": "amount"}, {"op": "count"}]});
        let data = json!({"groups": [
            {"key": {"region": "east"}, "measures": {"sum_amount": 1200.5, "count": 3}},
            {"key": {"region": "=cmd|'"}, "measures": {"sum_amount": 0, "count": 1}}
        ]});
        let t = table_of(ReportKind::Aggregate, &q, &data, &e);
        assert_eq!(
            t.columns.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            ["region", "sum_amount", "count"]
        );
        assert_eq!(t.rows[0], [json!("east"), json!(1200.5), json!(3)]);
        let zh = String::from_utf8(to_csv(&e, &t, Lang::Zh).unwrap()).unwrap();
        assert_eq!(zh, "\u{feff}区域,金额合计,数量\n华东,1200.50,3\n'=cmd|',0,1\n");
        let en = to_html(&e, &t, Lang::En);
        assert!(en.contains(">Sum of Amount</th>") && en.contains(">East</td>"), "{en}");
        assert!(en.contains("&#39;=cmd|&#39;") || en.contains("=cmd|&#39;"), "{en}");
    }

    #[test]
    fn rates_read_as_percentages_and_seconds_as_hours() {
        let e = entity();
        let data = json!({"stages": [{"stage": "new", "label": {"zh": "新建", "en": "New"}, "entered": 10,
            "still_in": 2, "advanced": 6, "lost": 2, "conversion_next": 0.6, "conversion_cumulative": 1.0,
            "median_seconds": 7200.0, "p90_seconds": null}]});
        let t = table_of(ReportKind::Funnel, &json!({}), &data, &e);
        let html = to_html(&e, &t, Lang::Zh);
        assert!(
            html.contains(">新建</td>") && html.contains(">60.0%</td>") && html.contains(">2</td>"),
            "{html}"
        );
    }
}
