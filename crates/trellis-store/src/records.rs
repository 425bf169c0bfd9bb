//! Records in their entity tables: the query compiler (checked filter → sea-query condition,
//! keyset pagination) and the row operations of the write path. Every statement is built with
//! sea-query from names that derive from storage ids.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{
    Alias, Asterisk, CommonTableExpression, Cond, Condition, Expr, ExprTrait, Func, LikeExpr, LockType, NullOrdering,
    OnConflict, Order, Query, SelectStatement, SimpleExpr, UnionType, Value, WithClause,
};
use sea_orm::{DbBackend, DeriveIden, FromQueryResult, QueryResult};
use trellis_core::def::FieldType;
use trellis_core::query::{Cursor, Filter, Op, SortKey};
use trellis_core::{CompiledEntity, CompiledField, Val};

use crate::error::StoreError;
use crate::rows::{self, Count};
use crate::values::{columns_of, decode, to_sql, width};

/// A record as read: its columns' values, aligned with `CompiledEntity::columns`
/// (`None` where the column was not selected).
#[derive(Debug, Clone)]
pub struct Row {
    pub values: Vec<Option<Val>>,
}

impl Row {
    pub fn get(&self, entity: &CompiledEntity, name: &str) -> Option<&Val> {
        let i = entity.columns.iter().position(|c| c.name == name)?;
        self.values[i].as_ref()
    }
    pub fn id(&self) -> &str {
        match &self.values[0] {
            Some(Val::Text(s)) => s,
            _ => "",
        }
    }
    pub fn version(&self) -> i64 {
        match &self.values[5] {
            Some(Val::Int(v)) => *v,
            _ => 0,
        }
    }
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub search: Option<String>,
    pub sort: Vec<SortKey>,
    pub cursor: Option<Cursor>,
    pub offset: Option<u64>,
    pub limit: u64,
    /// Columns to read (by index into `CompiledEntity::columns`); system columns always are.
    pub columns: Option<Vec<usize>>,
    /// Read every row the filter matches, then sort them, instead of leaving the database free
    /// to walk a sort index and test each row until the page is full. For a filter known to
    /// keep few rows (a selective row scope, see `Engine::list_records`): the walk assumes the
    /// scope's rows are spread evenly through the sort order and the rest of the filter
    /// independent of the scope; when they are not, and at worst when no row matches, it reads
    /// the whole index range. Same rows, same order; only the plan differs.
    pub filter_first: bool,
    /// A row scope of owners: only the rows these users own (the own and team scopes), beside
    /// the filter. With 2 to [`MAX_OWNER_BRANCHES`] owners the list reads each owner's matching
    /// rows in a branch of its own and merges the branches in the list's order: with an index
    /// on (owner, filter columns…, sort key) each branch is an index walk that stops at the
    /// page, where one `owner IN (…)` reads and sorts every match. Same rows, same order.
    pub owners: Option<Vec<String>>,
}

fn col(c: &CompiledField) -> Expr {
    Expr::col(Alias::new(c.column.clone()))
}

fn lit(c: &CompiledField, v: &Val) -> Value {
    to_sql(v, c.kind.storage_class())
}

fn like_pattern(s: &str, prefix_only: bool, backend: DbBackend) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    if !prefix_only {
        p.push('%');
    }
    // Lowered as the database's LOWER() lowers the column: PostgreSQL folds every letter, SQLite
    // only ASCII ones (so "Über" must stay "Über" to find itself there).
    let lowered = if backend == DbBackend::Sqlite {
        s.to_ascii_lowercase()
    } else {
        s.to_lowercase()
    };
    for ch in lowered.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn ilike(c: &CompiledField, s: &str, prefix_only: bool, backend: DbBackend) -> SimpleExpr {
    Expr::expr(Func::lower(col(c))).like(LikeExpr::new(like_pattern(s, prefix_only, backend)).escape('\\'))
}

/// The SQL condition of a checked filter.
pub fn condition(f: &Filter, backend: DbBackend) -> Condition {
    match f {
        Filter::And(items) => items.iter().fold(Cond::all(), |c, i| c.add(condition(i, backend))),
        Filter::Or(items) => items.iter().fold(Cond::any(), |c, i| c.add(condition(i, backend))),
        Filter::Not(inner) => Cond::all().not().add(condition(inner, backend)),
        Filter::Cond {
            field,
            op,
            values,
            is_null,
        } => Cond::all().add(compare(field, *op, values, *is_null, backend)),
    }
}

/// A condition that is true or false, never unknown: a comparison with an empty field is false,
/// so `not` is the exact complement of what it wraps ("not eq won" matches what "ne won" does).
fn compare(f: &CompiledField, op: Op, values: &[Val], is_null: bool, backend: DbBackend) -> SimpleExpr {
    let c = || col(f);
    match op {
        Op::IsNull if is_null => c().is_null(),
        Op::IsNull => c().is_not_null(),
        // ne and nin keep records where the field is empty: "not won" includes "no stage yet".
        Op::Ne | Op::Nin => compare_non_null(f, op, values, backend).or(c().is_null()),
        _ => compare_non_null(f, op, values, backend).and(c().is_not_null()),
    }
}

/// The plain SQL comparison (unknown when the field is empty).
fn compare_non_null(f: &CompiledField, op: Op, values: &[Val], backend: DbBackend) -> SimpleExpr {
    let c = || col(f);
    let v = |i: usize| lit(f, &values[i]);
    match op {
        Op::IsNull => c().is_null(),
        Op::Eq => c().eq(v(0)),
        Op::Ne => c().ne(v(0)),
        Op::Gt => c().gt(v(0)),
        Op::Gte => c().gte(v(0)),
        Op::Lt => c().lt(v(0)),
        Op::Lte => c().lte(v(0)),
        Op::Between => c().between(v(0), v(1)),
        Op::In => c().is_in(values.iter().map(|x| lit(f, x))),
        Op::Nin => c().is_not_in(values.iter().map(|x| lit(f, x))),
        Op::StartsWith => ilike(f, text_of(&values[0]), true, backend),
        Op::Contains if f.kind == FieldType::MultiSelect => {
            let item = text_of(&values[0]).to_string();
            match backend {
                DbBackend::Postgres => Expr::cust_with_values(
                    format!("\"{}\" @> $1::jsonb", f.column),
                    [Value::String(Some(serde_json::json!([item]).to_string()))],
                ),
                _ => Expr::cust_with_values(
                    format!(
                        "EXISTS (SELECT 1 FROM json_each(\"{}\") WHERE json_each.value = ?)",
                        f.column
                    ),
                    [Value::String(Some(item))],
                ),
            }
        }
        Op::Contains => ilike(f, text_of(&values[0]), false, backend),
    }
}

fn text_of(v: &Val) -> &str {
    match v {
        Val::Text(s) => s,
        _ => "",
    }
}

/// Full-text search `q`: every word is contained in some text-like field (case-insensitive for
/// ASCII; for every letter on PostgreSQL).
pub fn search_condition(entity: &CompiledEntity, q: &str, backend: DbBackend) -> Condition {
    let mut all = Cond::all();
    for word in q.split_whitespace() {
        let mut any = Cond::any();
        for f in entity.fields().filter(|f| f.kind.is_textual()) {
            any = any.add(ilike(f, word, false, backend));
        }
        all = all.add(any);
    }
    all
}

/// The tie-breaking id runs in the direction of the last sort key, so that a single-key sort is
/// exactly the order of the index on (field, id).
fn id_descending(sort: &[SortKey]) -> bool {
    sort.last().is_some_and(|k| k.desc)
}

/// "Rows after the cursor" in the order of `sort`: empty values smallest, then the id.
fn after_cursor(sort: &[SortKey], cursor: &Cursor, id_col: &CompiledField) -> Condition {
    let mut any = Cond::any();
    for i in 0..=sort.len() {
        let mut all = Cond::all();
        for (k, v) in sort[..i].iter().zip(&cursor.values) {
            all = all.add(if v.is_null() {
                col(&k.field).is_null()
            } else {
                col(&k.field).eq(lit(&k.field, v))
            });
        }
        if i == sort.len() {
            let id = cursor.id.clone();
            all = all.add(if id_descending(sort) {
                col(id_col).lt(id)
            } else {
                col(id_col).gt(id)
            });
        } else {
            let (k, v) = (&sort[i], &cursor.values[i]);
            let after = match (k.desc, v.is_null()) {
                // Ascending, empty first: every non-empty value comes after an empty one.
                (false, true) => col(&k.field).is_not_null(),
                (false, false) => col(&k.field).gt(lit(&k.field, v)),
                // Descending, empty last: nothing but other empty values (next key) after one.
                (true, true) => continue,
                (true, false) => col(&k.field).lt(lit(&k.field, v)).or(col(&k.field).is_null()),
            };
            all = all.add(after);
        }
        any = any.add(all);
    }
    any
}

/// The suffix of every column alias of a read: it names the app version, so the statement text
/// changes with the schema. A prepared statement cached by a connection before a column changed
/// type (PostgreSQL: "cached plan must not change result type") or before an ALTER (SQLite:
/// result names turn into quoted names) is then never reused.
fn alias_suffix(entity: &CompiledEntity) -> String {
    format!("__v{}", entity.version)
}

fn select_columns(entity: &CompiledEntity, q: &mut SelectStatement, wanted: Option<&[usize]>) {
    let suffix = alias_suffix(entity);
    for (i, c) in entity.columns.iter().enumerate() {
        if c.system || wanted.is_none_or(|w| w.contains(&i)) {
            q.expr_as(
                Expr::col(Alias::new(c.column.clone())),
                Alias::new(format!("{}{suffix}", c.column)),
            );
            if let Some(cur) = &c.currency_column {
                q.expr_as(Expr::col(Alias::new(cur.clone())), Alias::new(format!("{cur}{suffix}")));
            }
        }
    }
}

fn decode_row(
    entity: &CompiledEntity,
    row: &QueryResult,
    wanted: Option<&[usize]>,
    backend: DbBackend,
) -> Result<Row, StoreError> {
    // Columns come in the order `select_columns` put them.
    let mut values = Vec::with_capacity(entity.columns.len());
    let mut at = 0;
    for (i, c) in entity.columns.iter().enumerate() {
        if c.system || wanted.is_none_or(|w| w.contains(&i)) {
            values.push(Some(decode(row, c, backend, at)?));
            at += width(c);
        } else {
            values.push(None);
        }
    }
    Ok(Row { values })
}

/// The condition of a list's filter and search, and its owner scope but in branches (where
/// each branch keeps its own owner).
fn base_where(entity: &CompiledEntity, q: &ListQuery, backend: DbBackend, branched: bool) -> Condition {
    let mut cond = Cond::all();
    if let Some(owners) = q.owners.as_ref().filter(|_| !branched) {
        cond = cond.add(Expr::col(Alias::new("owner")).is_in(owners.iter().map(String::as_str)));
    }
    if let Some(f) = &q.filter {
        cond = cond.add(condition(f, backend));
    }
    if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
        cond = cond.add(search_condition(entity, s, backend));
    }
    cond
}

/// One page of records.
pub async fn list<C: crate::Reads>(conn: &C, entity: &CompiledEntity, q: &ListQuery) -> Result<Vec<Row>, StoreError> {
    let backend = conn.get_database_backend();
    let id_col = entity.column("id").expect("every entity has an id");
    let branched = if q.filter_first { None } else { branches(entity, q) };
    let mut cond = base_where(entity, q, backend, branched.is_some());
    if let Some(c) = &q.cursor {
        cond = cond.add(after_cursor(&q.sort, c, id_col));
    }
    let mut stmt = Query::select();
    select_columns(entity, &mut stmt, q.columns.as_deref());
    let rows = if q.filter_first {
        // The matching rows as a materialized common table expression, which PostgreSQL plans
        // for all its rows (no ORDER BY or LIMIT to push into it: an index of the filter, or a
        // bitmap of several) and sorts afterwards. It reads the columns the page answers and
        // the sort keys, under their own names, so the outer select and order are unchanged.
        let mut inner = Query::select();
        for c in read_columns(entity, q.columns.as_deref(), &q.sort) {
            inner.column(Alias::new(c));
        }
        inner.from(Alias::new(entity.table.clone())).cond_where(cond);
        let filtered = CommonTableExpression::new()
            .query(inner)
            .table_name(Alias::new(FILTERED))
            .materialized(true)
            .to_owned();
        stmt.from(Alias::new(FILTERED));
        let with = order_page(stmt, q, "").with(WithClause::new().cte(filtered).to_owned());
        conn.query_all(&with).await?
    } else if let Some(owners) = branched {
        // SQLite merges bare branches (`MERGE (UNION ALL)`), pulling rows from each only until
        // the page is full. PostgreSQL merges them (`Merge Append`) when each is ordered and
        // limited itself; without that it plans each branch for all its rows and sorts them
        // all. A compound's order names its result columns, so it sorts by their aliases.
        let pg = backend == DbBackend::Postgres;
        stmt.from(Alias::new(entity.table.clone()));
        let branch = |owner: &str| {
            let mut b = stmt.clone();
            b.cond_where(cond.clone().add(Expr::col(Alias::new("owner")).eq(owner)));
            if pg {
                b = order_by(b, &q.sort, "");
                b.limit(q.limit + q.offset.unwrap_or(0));
            }
            b
        };
        let mut compound = if pg {
            // The first branch of a PostgreSQL compound cannot be parenthesised: one around it.
            Query::select()
                .column(Asterisk)
                .from_subquery(branch(owners[0]), Alias::new("b0"))
                .to_owned()
        } else {
            branch(owners[0])
        };
        for o in &owners[1..] {
            compound.union(UnionType::All, branch(o));
        }
        conn.query_all(&order_page(compound, q, &alias_suffix(entity))).await?
    } else {
        stmt.from(Alias::new(entity.table.clone())).cond_where(cond);
        conn.query_all(&order_page(stmt, q, "")).await?
    };
    rows.iter()
        .map(|r| decode_row(entity, r, q.columns.as_deref(), backend))
        .collect()
}

/// Most branches of a list read per owner (`ListQuery::owners`): beyond that, one
/// `owner IN (…)` and a sort.
pub const MAX_OWNER_BRANCHES: usize = 16;

/// Whether a list reads its owner scope in branches (`ListQuery::owners`), unless it reads the
/// filtered rows first.
pub fn reads_in_branches(entity: &CompiledEntity, q: &ListQuery) -> bool {
    branches(entity, q).is_some()
}

/// Most values the branches of a list may bind together (SQLite takes 32,766 in a statement).
const MAX_BRANCH_VALUES: usize = 20_000;

/// The distinct owners of a scope, when a list of it may read in branches: 2 to
/// [`MAX_OWNER_BRANCHES`] of them.
fn owner_branches(owners: &[String]) -> Option<Vec<&str>> {
    let mut distinct: Vec<&str> = Vec::new();
    for o in owners {
        if !distinct.contains(&o.as_str()) {
            distinct.push(o);
        }
    }
    (2..=MAX_OWNER_BRANCHES).contains(&distinct.len()).then_some(distinct)
}

/// The distinct owners of a list's branches, when it reads in branches: 2 to
/// [`MAX_OWNER_BRANCHES`] of them, and every sort key among the columns read (the compound's
/// order names them).
fn branches<'a>(entity: &CompiledEntity, q: &'a ListQuery) -> Option<Vec<&'a str>> {
    let owners = owner_branches(q.owners.as_deref()?)?;
    // Each branch binds the filter's, the search's and the cursor's values again.
    let words = q.search.as_deref().map_or(0, |s| s.split_whitespace().count());
    let per_branch = q.filter.as_ref().map_or(0, Filter::value_count)
        + words * entity.fields().filter(|f| f.kind.is_textual()).count()
        + 2 * (q.sort.len() + 1);
    if per_branch * owners.len() > MAX_BRANCH_VALUES {
        return None;
    }
    let read = |k: &SortKey| {
        entity.columns.iter().enumerate().any(|(i, c)| {
            c.column == k.field.column && (c.system || q.columns.as_deref().is_none_or(|w| w.contains(&i)))
        })
    };
    q.sort.iter().all(read).then_some(owners)
}

/// The name of the filtered rows of a `filter_first` list.
const FILTERED: &str = "filtered";

/// The columns (names) a select reads: those `select_columns` selects and the sort keys.
fn read_columns(entity: &CompiledEntity, wanted: Option<&[usize]>, sort: &[SortKey]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, c) in entity.columns.iter().enumerate() {
        if c.system || wanted.is_none_or(|w| w.contains(&i)) {
            out.push(c.column.clone());
            if let Some(cur) = &c.currency_column {
                out.push(cur.clone());
            }
        }
    }
    for k in sort {
        if !out.contains(&k.field.column) {
            out.push(k.field.column.clone());
        }
    }
    out
}

/// The order, limit and offset of a page (`suffix`: see [`order_by`]).
fn order_page(stmt: SelectStatement, q: &ListQuery, suffix: &str) -> SelectStatement {
    let mut stmt = order_by(stmt, &q.sort, suffix);
    stmt.limit(q.limit);
    if let Some(o) = q.offset {
        stmt.offset(o);
    }
    stmt
}

/// The order of a list: the sort keys, then the id; each column by its name followed by
/// `suffix` (a compound's order names its result columns, the aliases of `select_columns`).
fn order_by(mut stmt: SelectStatement, sort: &[SortKey], suffix: &str) -> SelectStatement {
    // Empty values sort as the smallest: first ascending, last descending. That is the order of
    // an index on (field, id) read forwards or backwards on both databases, so a sorted page is
    // an index walk that stops at the page size.
    for k in sort {
        let (order, nulls) = if k.desc {
            (Order::Desc, NullOrdering::Last)
        } else {
            (Order::Asc, NullOrdering::First)
        };
        stmt.order_by_with_nulls(Alias::new(format!("{}{suffix}", k.field.column)), order, nulls);
    }
    stmt.order_by(
        Alias::new(format!("id{suffix}")),
        if id_descending(sort) { Order::Desc } else { Order::Asc },
    );
    stmt
}

/// How many records match a list's filter and search.
pub async fn count<C: crate::Reads>(conn: &C, entity: &CompiledEntity, q: &ListQuery) -> Result<i64, StoreError> {
    let backend = conn.get_database_backend();
    let stmt = Query::select()
        .expr_as(Expr::col(Alias::new("id")).count(), Count::alias())
        .from(Alias::new(entity.table.clone()))
        .cond_where(base_where(entity, q, backend, false))
        .to_owned();
    Count::of(conn, &stmt).await
}

/// What PostgreSQL's planner statistics say about the owners of a table's rows: enough to
/// estimate, as the planner does, how many rows `owner IN (…)` keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerStats {
    /// Rows in the table (at the last ANALYZE or VACUUM).
    pub rows: f64,
    /// Share of rows without an owner.
    pub null_frac: f64,
    /// Distinct owners.
    pub distinct: f64,
    /// The most common owners and the share of rows each owns.
    pub common: HashMap<String, f64>,
}

impl OwnerStats {
    /// Estimated rows owned by any of `owners`: the share of a common owner as counted, any
    /// other owner an even share of the rows the common ones leave.
    pub fn rows_owned_by<'a>(&self, owners: impl IntoIterator<Item = &'a str>) -> f64 {
        let common: f64 = self.common.values().sum();
        let others = (self.distinct - self.common.len() as f64).max(1.0);
        let other = ((1.0 - self.null_frac - common) / others).max(0.0);
        let owners: HashSet<&str> = owners.into_iter().collect();
        let share: f64 = owners
            .into_iter()
            .map(|o| self.common.get(o).copied().unwrap_or(other))
            .sum();
        share.min(1.0 - self.null_frac) * self.rows
    }
}

/// The owner statistics of an entity table; `None` on SQLite or before the table was analysed.
pub async fn owner_stats<C: crate::Reads>(conn: &C, table: &str) -> Result<Option<OwnerStats>, StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let stmt = sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT c.reltuples::float8 AS n, s.null_frac::float8 AS nf, s.n_distinct::float8 AS nd, \
         array_to_json(s.most_common_vals::text::text[])::text AS vals, \
         array_to_json(s.most_common_freqs)::text AS freqs \
         FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace \
         JOIN pg_stats s ON s.schemaname = ns.nspname AND s.tablename = c.relname \
         AND s.attname = 'owner' AND NOT s.inherited \
         WHERE c.oid = to_regclass($1)",
        [Value::String(Some(table.to_string()))],
    );
    /// A row of the statement above.
    #[derive(FromQueryResult)]
    struct PgOwnerStats {
        n: f64,
        nf: f64,
        nd: f64,
        /// JSON texts (arrays).
        vals: Option<String>,
        freqs: Option<String>,
    }
    let Some(r) = conn.query_one_raw(stmt).await? else {
        return Ok(None);
    };
    let r = PgOwnerStats::from_query_result(&r, "")?;
    let rows = r.n;
    // -1 (PostgreSQL 14 and later) or 0: never analysed or vacuumed.
    if rows <= 0.0 {
        return Ok(None);
    }
    let n_distinct = r.nd;
    let json = |text: Option<&String>| text.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let vals: Vec<String> = json(r.vals.as_ref())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let freqs: Vec<f64> = json(r.freqs.as_ref())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    Ok(Some(OwnerStats {
        rows,
        null_frac: r.nf,
        // Negative: minus the share of rows that are distinct.
        distinct: if n_distinct < 0.0 {
            -n_distinct * rows
        } else {
            n_distinct
        },
        common: vals.into_iter().zip(freqs).collect(),
    }))
}

/// A record by id.
pub async fn get<C: crate::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    id: &str,
    wanted: Option<&[usize]>,
) -> Result<Option<Row>, StoreError> {
    let backend = conn.get_database_backend();
    let mut stmt = Query::select();
    select_columns(entity, &mut stmt, wanted);
    stmt.from(Alias::new(entity.table.clone()))
        .and_where(Expr::col(Alias::new("id")).eq(id.to_string()));
    let row = conn.query_one(&stmt).await?;
    row.map(|r| decode_row(entity, &r, wanted, backend)).transpose()
}

/// Locks records of a table until the write transaction ends, in id order, so that two
/// transactions locking overlapping sets wait for each other instead of deadlocking
/// (PostgreSQL `SELECT … ORDER BY id FOR UPDATE`). A statement after the lock sees what the
/// transaction it waited for committed. On SQLite the one writer holds the whole database
/// already: nothing to do.
pub async fn lock<C: crate::Writes>(conn: &C, table: &str, ids: &[String]) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres || ids.is_empty() {
        return Ok(());
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(500) {
        let stmt = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new(table.to_string()))
            .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().cloned()))
            .order_by(Alias::new("id"), Order::Asc)
            .lock(LockType::Update)
            .to_owned();
        conn.query_all(&stmt).await?;
    }
    Ok(())
}

/// Records by ids (for relation expansion and existence checks).
pub async fn get_many<C: crate::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    ids: &[String],
) -> Result<Vec<Row>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut stmt = Query::select();
        select_columns(entity, &mut stmt, None);
        stmt.from(Alias::new(entity.table.clone()))
            .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().cloned()));
        for r in conn.query_all(&stmt).await? {
            out.push(decode_row(entity, &r, None, backend)?);
        }
    }
    Ok(out)
}

/// Which of the ids exist in the entity's table.
pub async fn existing_ids<C: crate::Reads>(conn: &C, table: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let stmt = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new(table.to_string()))
            .and_where(Expr::col(Alias::new("id")).is_in(chunk.iter().cloned()))
            .to_owned();
        out.extend(rows::Id::all(conn, &stmt).await?);
    }
    Ok(out)
}

/// Another record holding the same value in a unique field, if any.
pub async fn find_duplicate<C: crate::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    field: &CompiledField,
    value: &Val,
    except_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    find_duplicate_of(conn, entity, &[(field, value)], except_id).await
}

/// The id of a record (other than `except_id`) holding all these values.
pub async fn find_duplicate_of<C: crate::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    values: &[(&CompiledField, &Val)],
    except_id: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let mut stmt = Query::select();
    stmt.column(Alias::new("id"))
        .from(Alias::new(entity.table.clone()))
        .limit(1);
    for (field, value) in values {
        stmt.and_where(col(field).eq(lit(field, value)));
    }
    if let Some(id) = except_id {
        stmt.and_where(Expr::col(Alias::new("id")).ne(id.to_string()));
    }
    Ok(rows::one::<rows::Id, _>(conn, &stmt).await?.map(|r| r.id))
}

/// How many records of a table point at `id` through a column.
pub async fn count_referencing<C: crate::Reads>(
    conn: &C,
    table: &str,
    column: &str,
    id: &str,
) -> Result<i64, StoreError> {
    let stmt = Query::select()
        .expr_as(Expr::col(Alias::new("id")).count(), Count::alias())
        .from(Alias::new(table.to_string()))
        .and_where(Expr::col(Alias::new(column.to_string())).eq(id.to_string()))
        .to_owned();
    Count::of(conn, &stmt).await
}

/// The system columns of a new record.
#[derive(Debug, Clone)]
pub struct NewMeta {
    pub id: String,
    pub at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub owner: Option<String>,
}

/// Most bound values of one statement (SQLite's limit is 32,766, PostgreSQL's 65,535).
const MAX_PARAMS: usize = 30_000;

/// Inserts records (version 1) in multi-row `INSERT`s of up to [`MAX_PARAMS`] values, every
/// row with the columns any of them sets (a NULL of the column's own type where a row has no
/// value). On SQLite each statement goes with the transaction's next one, as [`insert`] does;
/// on PostgreSQL the rows are one JSON parameter (`json_rows`).
pub async fn insert_many<C: crate::Writes>(
    conn: &C,
    entity: &CompiledEntity,
    rows: &[(NewMeta, Vec<(&CompiledField, Val)>)],
) -> Result<(), StoreError> {
    let system = ["id", "created_at", "updated_at", "created_by", "owner", "version"];
    // Every row sets the same columns (those any row of the batch sets; a typed NULL where a
    // row has no value, as leaving the column out would give): one statement per
    // [`MAX_PARAMS`] values, however the rows' empty cells fall.
    let mut fields: Vec<&CompiledField> = Vec::new();
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    for (_, values) in rows {
        for (f, _) in values {
            if !slot_of.contains_key(f.column.as_str()) {
                slot_of.insert(&f.column, fields.len());
                fields.push(f);
            }
        }
    }
    let mut cols: Vec<&str> = system.to_vec();
    for f in &fields {
        cols.push(&f.column);
        if let Some(cur) = &f.currency_column {
            cols.push(cur);
        }
    }
    let per_statement = (MAX_PARAMS / cols.len()).max(1);
    let mut pending: Vec<Vec<Value>> = Vec::with_capacity(per_statement.min(rows.len()));
    for (meta, values) in rows {
        let mut slots: Vec<Option<&Val>> = vec![None; fields.len()];
        for (f, v) in values {
            slots[slot_of[f.column.as_str()]] = Some(v);
        }
        let mut vals: Vec<Value> = Vec::with_capacity(cols.len());
        vals.extend([
            Value::String(Some(meta.id.clone())),
            Value::ChronoDateTimeUtc(Some(meta.at)),
            Value::ChronoDateTimeUtc(Some(meta.at)),
            Value::String(meta.created_by.clone()),
            Value::String(meta.owner.clone()),
            Value::BigInt(Some(1)),
        ]);
        for (f, v) in fields.iter().zip(slots) {
            let class = f.kind.storage_class();
            vals.push(match v {
                Some(v) => to_sql(v, class),
                None => crate::values::null_of(class),
            });
            if f.currency_column.is_some() {
                vals.push(Value::String(match v {
                    Some(Val::Currency(_, c)) => Some(c.clone()),
                    _ => None,
                }));
            }
        }
        pending.push(vals);
        if pending.len() == per_statement {
            insert_rows(conn, &entity.table, &cols, std::mem::take(&mut pending)).await?;
        }
    }
    if !pending.is_empty() {
        insert_rows(conn, &entity.table, &cols, pending).await?;
    }
    Ok(())
}

/// One multi-row `INSERT` of rows that set the same columns.
async fn insert_rows<C: crate::Writes>(
    conn: &C,
    table: &str,
    cols: &[&str],
    vals: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    if conn.get_database_backend() == DbBackend::Postgres
        && let Some(stmt) = crate::json_rows::insert(table, cols, &vals)
    {
        return conn.execute_later(stmt).await.map_err(StoreError::classify);
    }
    // Written out here, not built by sea-query: for a batch's thousands of values its builder
    // (each value boxed into an expression, then cloned back out) took longer than SQLite
    // took to run the statement.
    let backend = conn.get_database_backend();
    let quote = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    let names: Vec<String> = cols.iter().map(|c| quote(c)).collect();
    let mut sql = String::with_capacity(64 + names.len() * 16 + vals.len() * cols.len() * 5);
    sql.push_str("INSERT INTO ");
    sql.push_str(&quote(table));
    sql.push_str(" (");
    sql.push_str(&names.join(", "));
    sql.push_str(") VALUES ");
    let mut n = 0usize;
    for (r, row) in vals.iter().enumerate() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for i in 0..row.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match backend {
                DbBackend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    let values: Vec<Value> = vals.into_iter().flatten().collect();
    conn.execute_later(sea_orm::Statement::from_sql_and_values(backend, sql, values))
        .await
        .map_err(StoreError::classify)
}

/// Inserts a record (version 1).
/// Inserts a record (on SQLite, with the transaction's next statement: see [`crate::writer`]).
pub async fn insert<C: crate::Writes>(
    conn: &C,
    entity: &CompiledEntity,
    meta: &NewMeta,
    values: &[(&CompiledField, Val)],
) -> Result<(), StoreError> {
    let mut cols: Vec<Alias> = ["id", "created_at", "updated_at", "created_by", "owner", "version"]
        .into_iter()
        .map(Alias::new)
        .collect();
    let mut vals: Vec<Value> = vec![
        Value::String(Some(meta.id.clone())),
        Value::ChronoDateTimeUtc(Some(meta.at)),
        Value::ChronoDateTimeUtc(Some(meta.at)),
        Value::String(meta.created_by.clone()),
        Value::String(meta.owner.clone()),
        Value::BigInt(Some(1)),
    ];
    for (f, v) in values {
        for (c, sv) in columns_of(f, v) {
            cols.push(Alias::new(c));
            vals.push(sv);
        }
    }
    let stmt = Query::insert()
        .into_table(Alias::new(entity.table.clone()))
        .columns(cols)
        .values(vals.into_iter().map(Into::into))
        .map_err(|e| StoreError::Config(e.to_string()))?
        .to_owned();
    conn.execute_later(conn.get_database_backend().build(&stmt))
        .await
        .map_err(StoreError::classify)?;
    Ok(())
}

/// Updates a record's fields, bumping its version. With `expected_version` (a version read in
/// this transaction), only if the record is still at that version. Returns false when no row
/// matched.
pub async fn update<C: crate::Writes>(
    conn: &C,
    entity: &CompiledEntity,
    id: &str,
    expected_version: Option<i64>,
    at: DateTime<Utc>,
    owner: Option<Option<String>>,
    values: &[(&CompiledField, Val)],
) -> Result<bool, StoreError> {
    let mut stmt = Query::update();
    stmt.table(Alias::new(entity.table.clone()))
        .value(Alias::new("updated_at"), Value::ChronoDateTimeUtc(Some(at)))
        .value(Alias::new("version"), Expr::col(Alias::new("version")).add(1));
    if let Some(o) = owner {
        stmt.value(Alias::new("owner"), Value::String(o));
    }
    for (f, v) in values {
        for (c, sv) in columns_of(f, v) {
            stmt.value(Alias::new(c), sv);
        }
    }
    stmt.and_where(Expr::col(Alias::new("id")).eq(id.to_string()));
    if let Some(v) = expected_version {
        stmt.and_where(Expr::col(Alias::new("version")).eq(v));
        if conn.sole_writer() {
            // The version was read in this transaction of the only writer: the row is still
            // at it, so the update goes with the transaction's next statement.
            conn.execute_later(conn.get_database_backend().build(&stmt))
                .await
                .map_err(StoreError::classify)?;
            return Ok(true);
        }
    }
    let res = conn.execute(&stmt).await.map_err(StoreError::classify)?;
    Ok(res.rows_affected() > 0)
}

/// Deletes a record; with `expected_version`, only at that version. False when no row matched.
pub async fn delete<C: crate::Writes>(
    conn: &C,
    entity: &CompiledEntity,
    id: &str,
    expected_version: Option<i64>,
) -> Result<bool, StoreError> {
    let mut stmt = Query::delete();
    stmt.from_table(Alias::new(entity.table.clone()))
        .and_where(Expr::col(Alias::new("id")).eq(id.to_string()));
    if let Some(v) = expected_version {
        stmt.and_where(Expr::col(Alias::new("version")).eq(v));
    }
    Ok(conn.execute(&stmt).await?.rows_affected() > 0)
}

/// `sys_counters` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysCounters {
    Table,
    Scope,
    Value,
}

#[derive(FromQueryResult)]
struct Counter {
    value: i64,
}

/// Takes the next value of a counter (auto numbers), atomically within the caller's transaction.
pub async fn next_counter<C: crate::Writes>(conn: &C, scope: &str) -> Result<i64, StoreError> {
    let stmt = Query::insert()
        .into_table(SysCounters::Table)
        .columns([SysCounters::Scope, SysCounters::Value])
        .values_panic([scope.into(), 1i64.into()])
        .on_conflict(
            OnConflict::column(SysCounters::Scope)
                .value(
                    SysCounters::Value,
                    Expr::col((SysCounters::Table, SysCounters::Value)).add(1),
                )
                .to_owned(),
        )
        .returning_col(SysCounters::Value)
        .to_owned();
    let row = rows::one::<Counter, _>(conn, &stmt)
        .await?
        .ok_or_else(|| StoreError::Config("counter did not return".into()))?;
    Ok(row.value)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, Database, DatabaseConnection, TransactionTrait};
    use serde_json::json;
    use trellis_core::CompiledApp;
    use trellis_core::plan::plan;
    use trellis_core::query::parse_filter;
    use trellis_core::validate::{assign_ids, parse_app};

    use super::*;

    /// A test record: title, phase, quantity, notes.
    type Deal<'a> = (&'a str, Option<&'a str>, Option<i64>, Option<&'a str>);

    /// A deal entity in an in-memory SQLite with the records.
    async fn deals(rows: &[Deal<'_>]) -> (DatabaseConnection, CompiledApp) {
        let mut def = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "phase", "label": {"en": "P"}, "type": "single_select", "options": [
                    {"value": "won", "label": {"en": "Won"}}, {"value": "lost", "label": {"en": "Lost"}}]},
                {"name": "quantity", "label": {"en": "Q"}, "type": "integer"},
                {"name": "title", "label": {"en": "T"}, "type": "text"},
                {"name": "notes", "label": {"en": "N"}, "type": "long_text"}]}]}))
        .unwrap();
        assign_ids(&mut def);
        let mut opts = ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).min_connections(1);
        let conn = Database::connect(opts).await.unwrap();
        let tx = conn.begin().await.unwrap();
        crate::ddl::apply(&tx, &plan(None, &def), false).await.unwrap();
        tx.commit().await.unwrap();
        let app = CompiledApp::compile(def, 1);
        let e = app.entity("deal").unwrap();
        let col = |n: &str| e.column(n).unwrap();
        let text = |s: Option<&str>| s.map(|s| Val::Text(s.into())).unwrap_or(Val::Null);
        for (i, (t, p, q, n)) in rows.iter().enumerate() {
            let meta = NewMeta {
                id: uuid::Uuid::now_v7().to_string(),
                at: Utc::now(),
                created_by: None,
                owner: Some(format!("u{}", i % 3)),
            };
            let values = [
                (col("phase"), text(*p)),
                (col("quantity"), q.map(Val::Int).unwrap_or(Val::Null)),
                (col("title"), text(Some(t))),
                (col("notes"), text(*n)),
            ];
            insert(&conn, e, &meta, &values).await.unwrap();
        }
        (conn, app)
    }

    async fn titles(
        conn: &DatabaseConnection,
        app: &CompiledApp,
        filter: Option<serde_json::Value>,
        search: Option<&str>,
    ) -> Vec<String> {
        let e = app.entity("deal").unwrap();
        let filter = filter.map(|f| parse_filter(e, &f).unwrap());
        let q = ListQuery {
            filter,
            search: search.map(str::to_string),
            limit: 10,
            ..Default::default()
        };
        let rows = list(conn, e, &q).await.unwrap();
        let mut t: Vec<String> = rows
            .iter()
            .filter_map(|r| match r.get(e, "title") {
                Some(Val::Text(s)) => Some(s.clone()),
                _ => None,
            })
            .collect();
        t.sort();
        t
    }

    #[tokio::test]
    async fn not_is_the_complement_of_a_condition_even_where_fields_are_empty() {
        let (conn, app) = deals(&[
            ("won", Some("won"), Some(5), None),
            ("lost", Some("lost"), Some(1), None),
            ("empty", None, None, None),
        ])
        .await;
        let matching = async |filter: serde_json::Value| titles(&conn, &app, Some(filter), None).await;
        let eq_won = json!({"field": "phase", "op": "eq", "value": "won"});
        assert_eq!(matching(eq_won.clone()).await, ["won"]);
        assert_eq!(matching(json!({"not": eq_won})).await, ["empty", "lost"]);
        assert_eq!(
            matching(json!({"field": "phase", "op": "ne", "value": "won"})).await,
            ["empty", "lost"]
        );
        assert_eq!(
            matching(json!({"not": {"field": "quantity", "op": "gt", "value": 2}})).await,
            ["empty", "lost"]
        );
        assert_eq!(
            matching(json!({"not": {"field": "quantity", "op": "ne", "value": 5}})).await,
            ["won"]
        );
        assert_eq!(
            matching(json!({"not": {"not": {"field": "title", "op": "contains", "value": "o"}}})).await,
            ["lost", "won"]
        );
    }

    #[tokio::test]
    async fn search_finds_every_word_in_any_field_and_non_ascii_text_finds_itself() {
        let (conn, app) = deals(&[
            ("Über Ärger", None, None, Some("First DEAL")),
            ("plain", None, None, Some("deal")),
        ])
        .await;
        let search = async |q: &str| titles(&conn, &app, None, Some(q)).await;
        assert_eq!(search("Über").await, ["Über Ärger"]);
        assert_eq!(
            search("ärger").await,
            Vec::<String>::new(),
            "SQLite folds ASCII letters only"
        );
        assert_eq!(search("deal").await, ["plain", "Über Ärger"]);
        assert_eq!(search("DEAL first").await, ["Über Ärger"]);
        assert_eq!(search("  first   Über ").await, ["Über Ärger"], "words across fields");
        assert_eq!(search("first plain").await, Vec::<String>::new());
        let contains = json!({"field": "title", "op": "contains", "value": "Ärger"});
        assert_eq!(titles(&conn, &app, Some(contains), None).await, ["Über Ärger"]);
        let starts = json!({"field": "title", "op": "starts_with", "value": "über"});
        assert_eq!(titles(&conn, &app, Some(starts), None).await, Vec::<String>::new());
    }

    /// Every page of a list, following the cursor (or the offset): the titles in order.
    async fn pages(conn: &DatabaseConnection, e: &CompiledEntity, q: &ListQuery, by_offset: bool) -> Vec<String> {
        let mut q = q.clone();
        let mut out = Vec::new();
        loop {
            let rows = list(conn, e, &q).await.unwrap();
            out.extend(rows.iter().map(|r| match r.get(e, "title") {
                Some(Val::Text(s)) => s.clone(),
                other => panic!("no title: {other:?}"),
            }));
            let Some(last) = rows.last().filter(|_| rows.len() as u64 == q.limit) else {
                return out;
            };
            if by_offset {
                q.offset = Some(q.offset.unwrap_or(0) + q.limit);
            } else {
                q.cursor = Some(Cursor {
                    values: q
                        .sort
                        .iter()
                        .map(|k| last.get(e, &k.field.name).cloned().unwrap_or(Val::Null))
                        .collect(),
                    id: last.id().to_string(),
                });
            }
        }
    }

    #[tokio::test]
    async fn reading_the_filtered_rows_first_or_in_owner_branches_answers_the_same_pages() {
        // Quantities repeat and some are empty, so ties (broken by id) and empty values (the
        // smallest) fall across page boundaries.
        let quantity = |i: i64| if i % 7 == 3 { None } else { Some(i % 5) };
        let phase = |i: i64| if i % 3 == 0 { Some("won") } else { Some("lost") };
        let titles: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
        let rows: Vec<Deal> = (0..40)
            .map(|i| (titles[i as usize].as_str(), phase(i), quantity(i), None))
            .collect();
        let (conn, app) = deals(&rows).await;
        let e = app.entity("deal").unwrap();
        let sort = |s: &str| trellis_core::query::parse_sort(e, s).unwrap();
        let filter = |f: serde_json::Value| Some(parse_filter(e, &f).unwrap());
        let won = json!({"field": "phase", "op": "eq", "value": "won"});
        let cases = [
            (None, sort("")),
            (filter(won.clone()), sort("-quantity")),
            (filter(won.clone()), sort("quantity")),
            (
                filter(json!({"field": "quantity", "op": "lte", "value": 2})),
                sort("phase,-quantity"),
            ),
            (
                filter(json!({"field": "title", "op": "eq", "value": "nothing"})),
                sort("-quantity"),
            ),
        ];
        // The expected order, computed here: empty values smallest, ties by id in the direction
        // of the last key (ids grow with the insertion order).
        let expected = |only_won: bool, desc: bool| -> Vec<String> {
            let mut v: Vec<i64> = (0..40).filter(|i| !only_won || phase(*i) == Some("won")).collect();
            v.sort_by_key(|i| (quantity(*i), *i));
            if desc {
                v.reverse();
            }
            v.into_iter().map(|i| titles[i as usize].clone()).collect()
        };
        for (i, (filter, sort)) in cases.into_iter().enumerate() {
            let q = ListQuery {
                filter,
                sort,
                limit: 4,
                ..Default::default()
            };
            let walked = pages(&conn, e, &q, false).await;
            match i {
                1 => assert_eq!(walked, expected(true, true)),
                2 => assert_eq!(walked, expected(true, false)),
                4 => assert!(walked.is_empty()),
                _ => {}
            }
            let first = ListQuery {
                filter_first: true,
                ..q.clone()
            };
            assert_eq!(pages(&conn, e, &first, false).await, walked, "case {i}, by cursor");
            assert_eq!(pages(&conn, e, &first, true).await, walked, "case {i}, by offset");
            // A scope of two owners (of three), as one `owner IN` or a branch per owner.
            let scoped = ListQuery {
                owners: Some(vec!["u2".into(), "u0".into(), "u2".into()]),
                ..q.clone()
            };
            let owner = |t: &String| t[1..].parse::<usize>().unwrap() % 3;
            let want: Vec<String> = walked.iter().filter(|t| owner(t) != 1).cloned().collect();
            let as_one = ListQuery {
                owners: Some(
                    (0..MAX_OWNER_BRANCHES)
                        .map(|k| format!("x{k}"))
                        .chain(["u0".into(), "u2".into()])
                        .collect(),
                ),
                ..q.clone()
            };
            assert!(branches(e, &as_one).is_none(), "too many for branches");
            let many_values = ListQuery {
                filter: Some(Filter::Cond {
                    field: Box::new(e.column("title").unwrap().clone()),
                    op: trellis_core::query::Op::In,
                    values: (0..1500).map(|k| Val::Text(format!("d{k:02}"))).collect(),
                    is_null: false,
                }),
                owners: Some((0..MAX_OWNER_BRANCHES).map(|k| format!("u{k}")).collect()),
                ..q.clone()
            };
            assert!(branches(e, &many_values).is_none(), "too many values for branches");
            assert_eq!(
                pages(&conn, e, &many_values, false).await.len(),
                40,
                "every deal, as one IN"
            );
            assert_eq!(
                pages(&conn, e, &as_one, false).await,
                want,
                "case {i}, one IN, by cursor"
            );
            assert_eq!(count(&conn, e, &as_one).await.unwrap(), want.len() as i64);
            assert!(branches(e, &scoped).is_some());
            for by_offset in [false, true] {
                assert_eq!(
                    pages(&conn, e, &scoped, by_offset).await,
                    want,
                    "case {i}, branches, by offset: {by_offset}"
                );
            }
            assert_eq!(count(&conn, e, &scoped).await.unwrap(), want.len() as i64);
            let scope_first = ListQuery {
                filter_first: true,
                ..scoped.clone()
            };
            assert_eq!(
                pages(&conn, e, &scope_first, false).await,
                want,
                "case {i}, scope first"
            );
            let nobody = ListQuery {
                owners: Some(Vec::new()),
                ..q.clone()
            };
            assert!(
                list(&conn, e, &nobody).await.unwrap().is_empty(),
                "an empty scope keeps no row"
            );
            let some = ListQuery {
                columns: Some(Vec::new()),
                ..first.clone()
            };
            let rows = list(&conn, e, &some).await.unwrap();
            assert!(rows.iter().all(|r| r.get(e, "title").is_none() && !r.id().is_empty()));
            assert_eq!(count(&conn, e, &first).await.unwrap(), walked.len() as i64);
        }
    }

    #[test]
    fn like_patterns_escape_wildcards_and_lower_as_the_database_does() {
        assert_eq!(like_pattern("50%_x\\", false, DbBackend::Sqlite), "%50\\%\\_x\\\\%");
        assert_eq!(like_pattern("ÜBer", true, DbBackend::Sqlite), "Über%");
        assert_eq!(like_pattern("ÜBer", true, DbBackend::Postgres), "über%");
    }
}

/// Raw aggregates of a column over the records whose `via` column points at a parent:
/// (count of non-empty values, sum, min, max), in the column's stored units. The sum is exact
/// in 128 bits (see [`select_wide_sum`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Aggregates {
    pub count: i64,
    pub sum: Option<i128>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// Selects the exact sum of a bigint column as two results, `<alias>_hi` and `<alias>_lo`, that
/// [`read_wide_sum`] joins. A plain `SUM` fails once a total passes 64 bits, even on the way
/// (SQLite raises "integer overflow", PostgreSQL's cast back to bigint is out of range), so the
/// column's high 32 bits (an arithmetic shift on both databases) and its low 32 bits are summed
/// apart: each of those sums fits 64 bits for up to 2^31 rows.
pub(crate) fn select_wide_sum(q: &mut SelectStatement, column: Expr, alias: &str) {
    q.expr_as(
        column.clone().right_shift(32i32).sum().cast_as(Alias::new("BIGINT")),
        Alias::new(format!("{alias}_hi")),
    )
    .expr_as(
        column.bit_and(0xFFFF_FFFFi64).sum().cast_as(Alias::new("BIGINT")),
        Alias::new(format!("{alias}_lo")),
    );
}

/// The sum selected by [`select_wide_sum`]; `None` when no row had a value.
pub(crate) fn read_wide_sum(r: &QueryResult, alias: &str) -> Result<Option<i128>, StoreError> {
    // The aliases are numbered by the sums a statement selects: read by name, not by a row type.
    let hi = r.try_get::<Option<i64>>("", &format!("{alias}_hi"))?;
    let lo = r.try_get::<Option<i64>>("", &format!("{alias}_lo"))?;
    Ok(wide_sum(hi, lo))
}

/// The sum of the two halves read back (`None` when no row had a value).
fn wide_sum(hi: Option<i64>, lo: Option<i64>) -> Option<i128> {
    hi.zip(lo)
        .map(|(hi, lo)| i128::from(hi) * (1i128 << 32) + i128::from(lo))
}

fn aggregate_select(table: &str, column: Option<&str>) -> SelectStatement {
    let mut q = Query::select();
    match column {
        Some(c) => {
            let col = || Expr::col(Alias::new(c.to_string()));
            q.expr_as(col().count(), Alias::new("n"));
            select_wide_sum(&mut q, col(), "s");
            q.expr_as(col().min(), Alias::new("lo"))
                .expr_as(col().max(), Alias::new("hi"));
        }
        None => {
            q.expr_as(Expr::col(Alias::new("id")).count(), Alias::new("n"))
                .expr_as(Expr::val(Value::BigInt(None)), Alias::new("s_hi"))
                .expr_as(Expr::val(Value::BigInt(None)), Alias::new("s_lo"))
                .expr_as(Expr::val(Value::BigInt(None)), Alias::new("lo"))
                .expr_as(Expr::val(Value::BigInt(None)), Alias::new("hi"));
        }
    }
    q.from(Alias::new(table.to_string()));
    q
}

/// A row of [`aggregate_select`].
#[derive(FromQueryResult)]
struct AggregateRow {
    n: Option<i64>,
    s_hi: Option<i64>,
    s_lo: Option<i64>,
    lo: Option<i64>,
    hi: Option<i64>,
}

fn read_aggregates(r: &QueryResult) -> Result<Aggregates, StoreError> {
    let r = AggregateRow::from_query_result(r, "")?;
    Ok(Aggregates {
        count: r.n.unwrap_or(0),
        sum: wide_sum(r.s_hi, r.s_lo),
        min: r.lo,
        max: r.hi,
    })
}

/// The parent id of a row of [`aggregate_by_parent`].
#[derive(FromQueryResult)]
struct Parent {
    parent: String,
}

/// Aggregates over the records of `table` whose `via` column is `parent_id`.
pub async fn aggregate_for<C: crate::Reads>(
    conn: &C,
    table: &str,
    via: &str,
    column: Option<&str>,
    filter: Option<&Filter>,
    parent_id: &str,
) -> Result<Aggregates, StoreError> {
    let mut q = aggregate_select(table, column);
    if let Some(f) = filter {
        q.cond_where(condition(f, conn.get_database_backend()));
    }
    q.and_where(Expr::col(Alias::new(via.to_string())).eq(parent_id.to_string()));
    let row = conn.query_one(&q).await?;
    row.as_ref()
        .map(read_aggregates)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Aggregates per parent id over all records of `table` (for filling a new rollup).
pub async fn aggregate_by_parent<C: crate::Reads>(
    conn: &C,
    table: &str,
    via: &str,
    column: Option<&str>,
    filter: Option<&Filter>,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let mut q = aggregate_select(table, column);
    if let Some(f) = filter {
        q.cond_where(condition(f, conn.get_database_backend()));
    }
    q.expr_as(Expr::col(Alias::new(via.to_string())), Alias::new("parent"))
        .and_where(Expr::col(Alias::new(via.to_string())).is_not_null())
        .group_by_col(Alias::new(via.to_string()));
    let rows = conn.query_all(&q).await?;
    rows.iter()
        .map(|r| Ok((Parent::from_query_result(r, "")?.parent, read_aggregates(r)?)))
        .collect()
}

/// Sets columns of a record without a new version: values derived from other records.
pub async fn set_derived<C: crate::Writes>(
    conn: &C,
    entity: &CompiledEntity,
    id: Option<&str>,
    values: &[(&CompiledField, Val)],
) -> Result<(), StoreError> {
    let mut stmt = Query::update();
    stmt.table(Alias::new(entity.table.clone()));
    for (f, v) in values {
        for (c, sv) in columns_of(f, v) {
            stmt.value(Alias::new(c), sv);
        }
    }
    if let Some(id) = id {
        stmt.and_where(Expr::col(Alias::new("id")).eq(id.to_string()));
    }
    conn.execute(&stmt).await?;
    Ok(())
}

/// Every record of an entity (for rewriting derived values when a definition changes).
pub async fn all<C: crate::Reads>(conn: &C, entity: &CompiledEntity) -> Result<Vec<Row>, StoreError> {
    let backend = conn.get_database_backend();
    let mut stmt = Query::select();
    select_columns(entity, &mut stmt, None);
    stmt.from(Alias::new(entity.table.clone()))
        .order_by(Alias::new("id"), Order::Asc);
    let rows = conn.query_all(&stmt).await?;
    rows.iter().map(|r| decode_row(entity, r, None, backend)).collect()
}

/// The group value and count of a row of [`group_totals`].
#[derive(FromQueryResult)]
struct Group {
    g: Option<String>,
    n: i64,
}

/// Counts and sums (stored units, exact in 128 bits) per value of a text column, over the
/// records matching the filter and search: the totals of board columns and funnels in one
/// statement.
pub async fn group_totals<C: crate::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    group: &CompiledField,
    filter: Option<&Filter>,
    search: Option<&str>,
    sums: &[&CompiledField],
) -> Result<Vec<(Option<String>, i64, Vec<Option<i128>>)>, StoreError> {
    let backend = conn.get_database_backend();
    let mut q = Query::select();
    q.expr_as(col(group), Alias::new("g"))
        .expr_as(Expr::col(Alias::new("id")).count(), Alias::new("n"));
    for (i, f) in sums.iter().enumerate() {
        select_wide_sum(&mut q, col(f), &format!("s{i}"));
    }
    q.from(Alias::new(entity.table.clone()));
    if let Some(f) = filter {
        q.cond_where(condition(f, backend));
    }
    if let Some(s) = search {
        q.cond_where(search_condition(entity, s, backend));
    }
    q.group_by_col(Alias::new(group.column.clone()));
    let rows = conn.query_all(&q).await?;
    rows.iter()
        .map(|r| {
            let sums = (0..sums.len())
                .map(|i| read_wide_sum(r, &format!("s{i}")))
                .collect::<Result<Vec<_>, _>>()?;
            let g = Group::from_query_result(r, "")?;
            Ok((g.g, g.n, sums))
        })
        .collect()
}
