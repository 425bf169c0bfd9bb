//! A dashboard's data as an e-mail (a digest): a subject, an HTML body of tables with inline
//! styles (mail clients drop style sheets) and a plain-text alternative, in one language.

use std::fmt::Write as _;

use serde_json::Value;
use trellis_core::CompiledApp;
use trellis_core::dashboard::WidgetKind;

use super::DashboardData;
use super::table::{cell_text, esc, to_html};
use crate::records::Lang;

/// A rendered digest.
#[derive(Debug, Clone)]
pub struct Digest {
    pub subject: String,
    pub html: String,
    pub text: String,
}

fn period(d: &DashboardData, lang: Lang) -> Option<String> {
    let (from, to) = (d.from?, d.to?);
    Some(if from == to {
        from.to_string()
    } else if lang == Lang::Zh {
        format!("{from} 至 {to}")
    } else {
        format!("{from} to {to}")
    })
}

/// The digest of `d` in `lang` (labels of options and stages from `app`).
pub fn digest(d: &DashboardData, app: &CompiledApp, app_label: &str, lang: Lang) -> Digest {
    let title = lang.pick(&d.label, &d.dashboard).to_string();
    let period = period(d, lang);
    let subject = match &period {
        Some(p) => format!("{app_label} · {title} · {p}"),
        None => format!("{app_label} · {title}"),
    };
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:-apple-system,'PingFang SC','Microsoft YaHei',Arial,sans-serif;color:#1f1f1f\">",
    );
    let _ = write!(html, "<h2 style=\"margin:0 0 4px\">{}</h2>", esc(&title));
    let mut text = format!("{title}\n");
    if let Some(p) = &period {
        let _ = write!(html, "<p style=\"color:#8c8c8c;margin:0 0 16px\">{}</p>", esc(p));
        let _ = writeln!(text, "{p}");
    }
    for w in &d.widgets {
        let label = lang.pick(&w.label, &w.name).to_string();
        let _ = write!(
            html,
            "<h3 style=\"margin:16px 0 4px;font-size:15px\">{}</h3>",
            esc(&label)
        );
        let _ = write!(text, "\n{label}\n");
        let (Some(table), Some(entity)) = (&w.table, app.entities.get(&w.entity)) else {
            let why = if lang == Lang::Zh {
                "此组件暂无数据"
            } else {
                "No data for this widget"
            };
            let _ = write!(html, "<p style=\"color:#cf1322\">{why}</p>");
            let _ = writeln!(text, "{why}");
            continue;
        };
        // A number widget: its first measure of its first row, large.
        let number = (w.kind == WidgetKind::Number)
            .then(|| {
                let row = table.rows.first()?;
                let (c, v) = table
                    .columns
                    .iter()
                    .zip(row)
                    .rev()
                    .find(|(_, v)| v.is_number() || v.is_object())?;
                Some(cell_text(entity, c, v, lang))
            })
            .flatten();
        match number {
            Some(n) => {
                let _ = write!(
                    html,
                    "<p style=\"font-size:28px;font-weight:600;margin:0 0 12px\">{}</p>",
                    esc(&n)
                );
                let _ = writeln!(text, "{n}");
            }
            None => {
                html.push_str(&to_html(entity, table, lang));
                let heads: Vec<&str> = table.columns.iter().map(|c| lang.pick(&c.label, &c.key)).collect();
                let _ = writeln!(text, "{}", heads.join(" | "));
                for row in &table.rows {
                    let cells: Vec<String> = table
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(c, v): (_, &Value)| cell_text(entity, c, v, lang))
                        .collect();
                    let _ = writeln!(text, "{}", cells.join(" | "));
                }
            }
        }
    }
    html.push_str("</body></html>");
    Digest { subject, html, text }
}
