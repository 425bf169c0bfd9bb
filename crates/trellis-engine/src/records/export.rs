//! Exports of an entity's records (`GET …/{entity}/export`, `trellis data export`): the rows a
//! list with the same filter, sort, search and fields would answer, read through the same
//! statement ([`Engine::list_plan`]) in keyset pages, as cells a person reads: labels for
//! headers and options, relations as their record's title, users as their names. The writers
//! of the file formats are in `export_write`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_core::def::{FieldType, Label};
use trellis_core::permissions::Right;
use trellis_core::query::{Cursor, Filter, Op, SortKey, parse_fields};
use trellis_core::{CompiledEntity, CompiledField, Error, Val};
use trellis_store::records::{self, ListQuery};

use trellis_core::zone::Zone;

use crate::Engine;
use crate::access::Access;
use crate::context::TenantCtx;

use super::read::ListPlan;
use super::*;

/// Rows read per statement of an export (each a keyset page).
pub const EXPORT_PAGE: u64 = 2000;
/// Users whose names an export keeps while it runs (the owners of a tenant's records are few).
const USER_CACHE: usize = 10_000;

/// The file an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// UTF-8 with a byte order mark (so that Excel reads Chinese text right), comma-separated.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => XLSX_MEDIA_TYPE,
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// The media type of an XLSX workbook.
pub const XLSX_MEDIA_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The language of an export's headers, option labels and yes/no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    #[default]
    En,
}

impl Lang {
    /// The language an `Accept-Language` header prefers among Chinese and English (by its
    /// q-values, then its order); English when it names neither.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = bits
                .filter_map(|b| b.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("zh") => Lang::Zh,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// A label in this language, else in the other, else `fallback`.
    pub fn pick<'a>(self, label: &'a Label, fallback: &'a str) -> &'a str {
        let (first, second) = match self {
            Lang::Zh => (&label.zh, &label.en),
            Lang::En => (&label.en, &label.zh),
        };
        first.as_deref().or(second.as_deref()).unwrap_or(fallback)
    }

    pub(super) fn yes_no(self, b: bool) -> &'static str {
        match (self, b) {
            (Lang::Zh, true) => "是",
            (Lang::Zh, false) => "否",
            (Lang::En, true) => "Yes",
            (Lang::En, false) => "No",
        }
    }
}

/// What to export: the list's filter, sort, fields and search, and the language.
#[derive(Debug, Clone, Default)]
pub struct ExportParams {
    pub filter: Option<String>,
    pub sort: Option<String>,
    /// Comma-separated fields, in the order of the file's columns (default: every field the
    /// caller sees, in definition order).
    pub fields: Option<String>,
    pub q: Option<String>,
    pub lang: Lang,
}

/// One value of an export, typed for the XLSX writer; the CSV writer writes its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Int(i64),
    /// A fixed-point number: its value, its exact digits and its scale.
    Number {
        value: f64,
        text: String,
        scale: u8,
    },
    /// An amount with its ISO currency code.
    Money {
        value: f64,
        text: String,
        scale: u8,
        currency: String,
    },
    Bool(bool),
    Date(NaiveDate),
    /// At the wall clock of the tenant's time zone.
    DateTime(NaiveDateTime),
}

/// How a column's values become cells.
#[derive(Debug, Clone)]
enum Kind {
    Plain,
    /// Option labels by value (single and multi select, the stage).
    Options(HashMap<String, String>),
    /// A relation: the title of the record it points at (index into `Export::related`).
    Relation(usize),
    User,
    Attachment,
}

#[derive(Debug, Clone)]
struct Column {
    /// Index into the view's columns.
    index: usize,
    kind: Kind,
}

/// The target of a relation column, as the caller may read it.
struct Related {
    view: Arc<CompiledEntity>,
    /// The caller's read scope on the target (`None`: every record).
    scope: Option<Filter>,
    /// The title field in the target's view and how its values read; `None` when the
    /// caller cannot read the target, it has no title field or the field is hidden.
    title: Option<(usize, Kind)>,
}

/// An export under way: its headers, then its rows page by page ([`Engine::export_page`]).
pub struct Export {
    /// The column headers, in the caller's language.
    pub headers: Vec<String>,
    /// `<app>-<entity>`, for the file's name.
    pub name: String,
    pub lang: Lang,
    /// The tenant's time zone: datetimes are written at its wall clock.
    zone: Zone,
    ctx: TenantCtx,
    view: Arc<CompiledEntity>,
    query: ListQuery,
    sort: Vec<SortKey>,
    columns: Vec<Column>,
    related: Vec<Related>,
    users: HashMap<String, String>,
    done: bool,
}

/// The label of a system column.
pub(crate) fn system_label(name: &str, lang: Lang) -> Option<&'static str> {
    let (zh, en) = match name {
        "id" => ("编号", "ID"),
        "created_at" => ("创建时间", "Created at"),
        "updated_at" => ("更新时间", "Updated at"),
        "created_by" => ("创建人", "Created by"),
        "owner" => ("负责人", "Owner"),
        "version" => ("版本", "Version"),
        "stage" => ("阶段", "Stage"),
        "stage_entered_at" => ("进入阶段时间", "Entered stage at"),
        "stage_due_at" => ("阶段到期时间", "Stage due at"),
        "stage_breached_at" => ("阶段超时时间", "Stage breached at"),
        "pending_stage" => ("待审批阶段", "Pending stage"),
        _ => return None,
    };
    Some(if lang == Lang::Zh { zh } else { en })
}

/// The header of a column: its label in the language, else in the other, else its name.
fn header(entity: &CompiledEntity, c: &CompiledField, lang: Lang) -> String {
    if c.system {
        return system_label(&c.name, lang).unwrap_or(&c.name).to_string();
    }
    match entity.def.fields.iter().find(|f| f.name.as_str() == c.name) {
        Some(f) => lang.pick(&f.label, &c.name).to_string(),
        None => c.name.clone(),
    }
}

/// How a column's values read, relations aside.
fn kind_of(entity: &CompiledEntity, c: &CompiledField, lang: Lang) -> Kind {
    match c.kind {
        FieldType::SingleSelect | FieldType::MultiSelect => {
            let mut labels = HashMap::new();
            if c.system {
                for s in entity.def.pipeline.iter().flat_map(|p| &p.stages) {
                    labels.insert(s.key.to_string(), lang.pick(&s.label, s.key.as_str()).to_string());
                }
            } else if let Some(f) = entity.def.fields.iter().find(|f| f.name.as_str() == c.name) {
                for o in f.options.iter().flatten() {
                    labels.insert(o.value.clone(), lang.pick(&o.label, &o.value).to_string());
                }
            }
            Kind::Options(labels)
        }
        FieldType::User => Kind::User,
        FieldType::Attachment => Kind::Attachment,
        _ => Kind::Plain,
    }
}

/// The cell of a value, relations and users as they are stored (their id).
fn plain_cell(c: &CompiledField, kind: &Kind, v: &Val, zone: Zone) -> Cell {
    match v {
        Val::Null => Cell::Empty,
        Val::Text(s) => match kind {
            Kind::Options(labels) => Cell::Text(labels.get(s).unwrap_or(s).clone()),
            _ => Cell::Text(s.clone()),
        },
        Val::Int(i) => Cell::Int(*i),
        Val::Fixed(m) => Cell::Number {
            value: *m as f64 / 10f64.powi(c.scale as i32),
            text: trellis_core::value::fixed_to_string(*m, c.scale),
            scale: c.scale,
        },
        Val::Currency(m, code) => Cell::Money {
            value: *m as f64 / 10f64.powi(c.scale as i32),
            text: trellis_core::value::fixed_to_string(*m, c.scale),
            scale: c.scale,
            currency: code.clone(),
        },
        Val::Bool(b) => Cell::Bool(*b),
        Val::Date(d) => Cell::Date(*d),
        Val::DateTime(t) => Cell::DateTime(t.with_timezone(&zone.tz()).naive_local()),
        Val::Json(j) => Cell::Text(json_text(kind, j)),
    }
}

/// A JSON value as text: the labels of a multi select's options and the names of an
/// attachment's files, joined by ", "; anything else as compact JSON.
fn json_text(kind: &Kind, j: &Value) -> String {
    let items = j.as_array();
    match (kind, items) {
        (Kind::Options(labels), Some(items)) => items
            .iter()
            .map(|v| {
                let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                labels.get(&s).cloned().unwrap_or(s)
            })
            .collect::<Vec<_>>()
            .join(", "),
        (Kind::Attachment, Some(items)) => items
            .iter()
            .filter_map(|f| f.get("name").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        _ => j.to_string(),
    }
}

/// The text of a cell, as the CSV writer writes it (and a relation shows its title).
pub fn cell_text(cell: &Cell, lang: Lang) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Number { text, .. } => text.clone(),
        Cell::Money { text, currency, .. } => format!("{text} {currency}"),
        Cell::Bool(b) => lang.yes_no(*b).to_string(),
        Cell::Date(d) => date_text(d),
        Cell::DateTime(t) => {
            use chrono::Timelike;
            format!(
                "{} {:02}:{:02}:{:02}",
                date_text(&t.date()),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
    }
}

/// `YYYY-MM-DD`, written directly: chrono's `format` parses its pattern again for every cell
/// (3 % of an export's time).
fn date_text(d: &chrono::NaiveDate) -> String {
    use chrono::Datelike;
    match d.year() {
        0..=9999 => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        _ => d.format("%Y-%m-%d").to_string(),
    }
}

/// `field IN (ids)` over a column of an entity.
fn id_in(entity: &CompiledEntity, ids: Vec<String>) -> Filter {
    let id = entity.column("id").expect("every entity has an id").clone();
    Filter::Cond {
        field: Box::new(id),
        op: Op::In,
        values: ids.into_iter().map(Val::Text).collect(),
        is_null: false,
    }
}

impl Engine {
    /// Starts an export: checks the caller's `export` right (403 without it) and every
    /// parameter as the list does, and reads nothing yet. The rows are those the caller's list
    /// would answer: its read scope (and, where the roles giving `export` reach fewer rows,
    /// theirs as well) and its view, hidden fields being unknown.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn export_records(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        p: &ExportParams,
    ) -> Result<Export, Error> {
        let loaded = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&loaded, entity)?;
        let access = self.access(&self.db.read, ctx, &loaded, entity).await?;
        access.require(Right::Export)?;
        let read = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let scope = if access.grant.reach(Right::Read) == access.grant.reach(Right::Export) {
            read
        } else {
            let export = self.scope(&self.db.read, ctx, &access, Right::Export).await?;
            crate::access::and(read, export)
        };
        let view = access.view.clone();
        // The columns in the order asked for, each once.
        let names: Vec<String> = match p.fields.as_deref().filter(|f| !f.trim().is_empty()) {
            Some(f) => {
                let mut seen = HashSet::new();
                parse_fields(&view, f)?
                    .into_iter()
                    .filter(|n| seen.insert(n.clone()))
                    .collect()
            }
            None => view.fields().map(|c| c.name.clone()).collect(),
        };
        let params = ListParams {
            filter: p.filter.clone(),
            sort: p.sort.clone(),
            fields: Some(names.join(",")).filter(|f| !f.is_empty()),
            q: p.q.clone(),
            ..Default::default()
        };
        let ListPlan { query, sort, .. } = self.list_plan(ctx, &access, scope, &params, EXPORT_PAGE).await?;
        let mut columns = Vec::with_capacity(names.len());
        let mut headers = Vec::with_capacity(names.len());
        let mut related = Vec::new();
        for name in &names {
            let index = view
                .columns
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| Error::internal("an exported column vanished"))?;
            let c = &view.columns[index];
            headers.push(header(&view, c, p.lang));
            let kind = match (&c.kind, &c.target) {
                (FieldType::Relation, Some(target)) if !c.system => {
                    related.push(self.related(ctx, &loaded, target, p.lang).await?);
                    Kind::Relation(related.len() - 1)
                }
                _ => kind_of(&view, c, p.lang),
            };
            columns.push(Column { index, kind });
        }
        Ok(Export {
            headers,
            name: format!("{}-{}", loaded.def.name.as_str(), view.name()),
            lang: p.lang,
            zone: self.tenant_zone(ctx).await?,
            ctx: ctx.clone(),
            view,
            query,
            sort,
            columns,
            related,
            users: HashMap::new(),
            done: false,
        })
    }

    /// The target of a relation as the caller reads it.
    async fn related(
        &self,
        ctx: &TenantCtx,
        app: &crate::compiled::scripts::LoadedApp,
        target: &str,
        lang: Lang,
    ) -> Result<Related, Error> {
        let target = entity_of(app, target)?;
        let access: Access = self.access(&self.db.read, ctx, app, target).await?;
        let view = access.view.clone();
        if access.grant.reach(Right::Read).is_none() {
            return Ok(Related {
                view,
                scope: None,
                title: None,
            });
        }
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let title = view
            .def
            .title_field
            .as_ref()
            .and_then(|t| view.columns.iter().position(|c| c.name == t.as_str()))
            .map(|i| (i, kind_of(&view, &view.columns[i], lang)));
        Ok(Related { view, scope, title })
    }

    /// The next page of an export's rows (`None` after the last): one statement for the rows,
    /// one per relation column for the titles of the records they point at, and one for the
    /// names of users not seen before.
    pub async fn export_page(&self, x: &mut Export) -> Result<Option<Vec<Vec<Cell>>>, Error> {
        if x.done {
            return Ok(None);
        }
        let rows = records::list(&self.db.read, &x.view, &x.query).await?;
        if (rows.len() as u64) < x.query.limit {
            x.done = true;
        }
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        x.query.cursor = Some(Cursor {
            values: x
                .sort
                .iter()
                .map(|k| last.get(&x.view, &k.field.name).cloned().unwrap_or(Val::Null))
                .collect(),
            id: last.id().to_string(),
        });
        // Titles of the related records, per relation column.
        let mut titles: Vec<HashMap<String, String>> = Vec::with_capacity(x.related.len());
        for col in &x.columns {
            let Kind::Relation(r) = col.kind else { continue };
            let rel = &x.related[r];
            let mut map = HashMap::new();
            if let Some((ti, tkind)) = &rel.title {
                let ids: Vec<String> = rows
                    .iter()
                    .filter_map(|row| match &row.values[col.index] {
                        Some(Val::Text(id)) => Some(id.clone()),
                        _ => None,
                    })
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                if !ids.is_empty() {
                    let n = ids.len() as u64;
                    let q = ListQuery {
                        filter: crate::access::and(Some(id_in(&rel.view, ids)), rel.scope.clone()),
                        limit: n,
                        columns: Some(vec![*ti]),
                        ..Default::default()
                    };
                    let tf = &rel.view.columns[*ti];
                    for t in records::list(&self.db.read, &rel.view, &q).await? {
                        let text = t.values[*ti]
                            .as_ref()
                            .map(|v| cell_text(&plain_cell(tf, tkind, v, x.zone), x.lang))
                            .unwrap_or_default();
                        map.insert(t.id().to_string(), text);
                    }
                }
            }
            titles.push(map);
        }
        // Names of the users the page names that were not seen before.
        let unknown: Vec<String> = x
            .columns
            .iter()
            .filter(|c| matches!(c.kind, Kind::User))
            .flat_map(|c| rows.iter().map(move |r| &r.values[c.index]))
            .filter_map(|v| match v {
                Some(Val::Text(id)) if !x.users.contains_key(id) => Some(id.clone()),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !unknown.is_empty() {
            if x.users.len() + unknown.len() > USER_CACHE {
                x.users.clear();
            }
            let found = trellis_store::system::users_by_ids(&self.db.read, x.ctx.tenant_id(), &unknown).await?;
            for u in found {
                let name = if u.name.trim().is_empty() { u.email } else { u.name };
                x.users.insert(u.id, name);
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut cells = Vec::with_capacity(x.columns.len());
            let mut rel = 0;
            for col in &x.columns {
                let c = &x.view.columns[col.index];
                let v = row.values[col.index].as_ref().unwrap_or(&Val::Null);
                cells.push(match (&col.kind, v) {
                    (Kind::Relation(_), Val::Text(id)) => {
                        let t = titles[rel].get(id).cloned().unwrap_or_else(|| id.clone());
                        rel += 1;
                        Cell::Text(t)
                    }
                    (Kind::Relation(_), _) => {
                        rel += 1;
                        Cell::Empty
                    }
                    (Kind::User, Val::Text(id)) => Cell::Text(x.users.get(id).unwrap_or(id).clone()),
                    (kind, v) => plain_cell(c, kind, v, x.zone),
                });
            }
            out.push(cells);
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_chinese_or_english_by_weight() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr-FR, zh;q=0.5"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en;q=0.2, zh-TW;q=0.7"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("de, fr"), Lang::En);
        assert_eq!(Lang::from_accept_language("zh;q=0"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn labels_fall_back_to_the_other_language_then_the_name() {
        let both = Label::new("金额", "Amount");
        assert_eq!(Lang::Zh.pick(&both, "amount"), "金额");
        assert_eq!(Lang::En.pick(&both, "amount"), "Amount");
        let en = Label {
            zh: None,
            en: Some("Amount".into()),
        };
        assert_eq!(Lang::Zh.pick(&en, "amount"), "Amount");
        assert_eq!(Lang::En.pick(&Label::default(), "amount"), "amount");
    }

    #[test]
    fn cells_read_as_plain_text() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(cell_text(&Cell::Date(d), Lang::Zh), "2026-03-05");
        assert_eq!(
            cell_text(&Cell::DateTime(d.and_hms_opt(9, 8, 7).unwrap()), Lang::En),
            "2026-03-05 09:08:07"
        );
        // Written as chrono writes `%Y-%m-%d`, small and large years too.
        for (y, m, day) in [(7, 1, 2), (999, 12, 31), (9999, 12, 31), (10000, 1, 1), (-5, 6, 7)] {
            let d = NaiveDate::from_ymd_opt(y, m, day).unwrap();
            assert_eq!(cell_text(&Cell::Date(d), Lang::En), d.format("%Y-%m-%d").to_string());
        }
        assert_eq!(cell_text(&Cell::Bool(true), Lang::Zh), "是");
        assert_eq!(cell_text(&Cell::Bool(false), Lang::En), "No");
        let money = Cell::Money {
            value: 1200.5,
            text: "1200.50".into(),
            scale: 2,
            currency: "CNY".into(),
        };
        assert_eq!(cell_text(&money, Lang::En), "1200.50 CNY");
        let labels = Kind::Options(HashMap::from([("a".to_string(), "甲".to_string())]));
        assert_eq!(json_text(&labels, &serde_json::json!(["a", "b"])), "甲, b");
        assert_eq!(
            json_text(
                &Kind::Attachment,
                &serde_json::json!([{"name": "x.pdf"}, {"name": "y.png"}])
            ),
            "x.pdf, y.png"
        );
    }
}
