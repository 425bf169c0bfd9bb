//! Aggregates of an entity's records by SQL `GROUP BY`: up to a few group fields and a time
//! bucket, with counts, sums, averages, minima and maxima per group, under a checked filter,
//! sorted and limited in the statement. Rows are never loaded to be counted.

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, NullOrdering, Order, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, TransactionTrait};
use trellis_core::def::StorageClass;
use trellis_core::query::Filter;
use trellis_core::zone::{Span, Zone};
use trellis_core::{CompiledEntity, CompiledField, FieldType, Val};

use crate::error::StoreError;
use crate::records::{condition, read_wide_sum, select_wide_sum};
use crate::values::decode;

/// A time bucket's unit. Weeks start on Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// What a measure computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Records (no field), or records where the field is not empty.
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
}

/// One measure: an operation on a field (`None` only for a count of records).
#[derive(Debug, Clone)]
pub struct Measure<'a> {
    pub op: Op,
    pub field: Option<&'a CompiledField>,
}

/// What a sort key of an aggregate orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// A group field, by its index in [`AggregateQuery::groups`].
    Group(usize),
    /// The time bucket.
    Bucket,
    /// A measure, by its index in [`AggregateQuery::measures`].
    Measure(usize),
}

/// How a `having` condition compares a measure with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// An aggregate to compute.
#[derive(Debug, Clone)]
pub struct AggregateQuery<'a> {
    pub groups: Vec<&'a CompiledField>,
    /// A date or datetime field and its unit; datetimes are bucketed at the wall clock of
    /// `zone`.
    pub bucket: Option<(&'a CompiledField, Unit)>,
    pub zone: Zone,
    pub measures: Vec<Measure<'a>>,
    pub filter: Option<Filter>,
    /// Groups kept: a measure (by index, numeric) compared with a value in its stored units.
    pub having: Vec<(usize, Cmp, f64)>,
    /// Sort keys and whether descending; the groups follow in ascending order.
    pub sort: Vec<(SortBy, bool)>,
    pub limit: u64,
}

/// A measure's value as read, in the field's stored units.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureValue {
    Count(i64),
    /// An exact sum (`None` when no record had a value).
    Sum(Option<i128>),
    /// The exact sum and the number of values it is over.
    Avg(Option<i128>, i64),
    /// A minimum or maximum, as a value of the field (`Val::Null` when none).
    Value(Val),
}

/// One group: its key values (group fields in order, then the bucket's first day as
/// `YYYY-MM-DD` text) and its measures in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub keys: Vec<Val>,
    pub bucket: Option<String>,
    pub measures: Vec<MeasureValue>,
}

fn col(c: &CompiledField) -> Expr {
    Expr::col(Alias::new(c.column.clone()))
}

/// The field as one plain column (a currency field's amount as a decimal).
fn plain(f: &CompiledField) -> CompiledField {
    let mut p = f.clone();
    p.currency_column = None;
    if p.kind == FieldType::Currency {
        p.kind = FieldType::Decimal;
    }
    p
}

/// The SQL of a bucket's first day (`YYYY-MM-DD` text) of a date or datetime column; a
/// datetime is taken at the wall clock of `zone`. The column name derives from a storage id.
pub fn bucket_sql(column: &str, datetime: bool, unit: Unit, backend: DbBackend, zone: Zone) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "to_char({}, 'YYYY-MM-DD')",
            bucket_key_sql(column, datetime, unit, backend, zone)
        ),
        _ => bucket_key_sql(column, datetime, unit, backend, zone),
    }
}

/// What a bucket is grouped and ordered by: on PostgreSQL the first instant of the bucket (a
/// timestamp hashes and compares faster than its text, and the text is then made once a
/// group), on SQLite the text of [`bucket_sql`] itself.
fn bucket_key_sql(column: &str, datetime: bool, unit: Unit, backend: DbBackend, zone: Zone) -> String {
    let c = format!("\"{column}\"");
    match backend {
        DbBackend::Postgres => {
            let at = if datetime {
                format!("({c} AT TIME ZONE '{}')", zone.name())
            } else {
                format!("CAST({c} AS timestamp)")
            };
            let unit = match unit {
                Unit::Day => "day",
                Unit::Week => "week",
                Unit::Month => "month",
                Unit::Quarter => "quarter",
                Unit::Year => "year",
            };
            format!("date_trunc('{unit}', {at})")
        }
        // SQLite reads the stored text (ISO 8601, with the offset of a datetime) as UTC; a
        // datetime is first moved to the zone's wall clock.
        _ => {
            let c = if datetime { local_sqlite(&c, zone) } else { c };
            match unit {
                Unit::Day => format!("strftime('%Y-%m-%d', {c})"),
                Unit::Week => {
                    format!("date({c}, '-' || ((CAST(strftime('%w', {c}) AS INTEGER) + 6) % 7) || ' days')")
                }
                Unit::Month => format!("strftime('%Y-%m-01', {c})"),
                Unit::Quarter => format!(
                    "strftime('%Y', {c}) || '-' || printf('%02d', ((CAST(strftime('%m', {c}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01'"
                ),
                Unit::Year => format!("strftime('%Y-01-01', {c})"),
            }
        }
    }
}

/// A stored UTC datetime column at the wall clock of `zone`, on SQLite (which has no time zone
/// table): the zone's offset is picked by comparing the stored text with the instants it
/// changed at, in a balanced tree of `CASE`s (a handful of text comparisons a row even for a
/// zone with summer time since 1900).
fn local_sqlite(c: &str, zone: Zone) -> String {
    let spans = zone.spans();
    if spans.len() == 1 && spans[0].offset == 0 {
        return c.to_string();
    }
    fn tree(c: &str, spans: &[Span]) -> String {
        if spans.len() == 1 {
            return format!("'{:+} seconds'", spans[0].offset);
        }
        let mid = spans.len() / 2;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp(spans[mid].start, 0).unwrap_or_default();
        // The stored text (`…T17:00:00+00:00`, `…T17:00:00.5+00:00`) sorts after this prefix
        // from the changing second on.
        format!(
            "CASE WHEN {c} < '{}' THEN {} ELSE {} END",
            at.format("%Y-%m-%dT%H:%M:%S"),
            tree(c, &spans[..mid]),
            tree(c, &spans[mid..])
        )
    }
    format!("datetime({c}, {})", tree(c, &spans))
}

/// A measure's value as a floating number, for sorting (and comparing) in the statement.
fn measure_order_expr(m: &Measure) -> SimpleExpr {
    match (m.op, m.field) {
        (Op::Count, None) => Expr::col(Alias::new("id")).count(),
        (Op::Count, Some(f)) => col(f).count(),
        (Op::CountDistinct, Some(f)) => Func::count_distinct(col(f)).into(),
        (Op::Sum, Some(f)) => col(f).cast_as(Alias::new("DOUBLE PRECISION")).sum(),
        (Op::Avg, Some(f)) => col(f).cast_as(Alias::new("DOUBLE PRECISION")).avg(),
        (Op::Min, Some(f)) => col(f).min(),
        (Op::Max, Some(f)) => col(f).max(),
        (_, None) => Expr::col(Alias::new("id")).count(),
    }
}

/// The groups of an aggregate: at most `limit` of them, in the asked order.
pub async fn aggregate(
    conn: &crate::db::Pool,
    entity: &CompiledEntity,
    q: &AggregateQuery<'_>,
) -> Result<Vec<Group>, StoreError> {
    let backend = conn.get_database_backend();
    // The result names carry the app version, as a list's do (`records::alias_suffix`): a
    // statement cached before a column changed type is never reused.
    let sfx = suffix(entity);
    let mut s = Query::select();
    let mut at = 0usize;
    for (i, g) in q.groups.iter().enumerate() {
        s.expr_as(col(g), Alias::new(format!("k{i}{sfx}")));
        s.add_group_by([col(g)]);
        at += 1;
    }
    let bucket_sqls = q.bucket.map(|(f, unit)| {
        let datetime = f.kind == FieldType::Datetime;
        (
            bucket_sql(&f.column, datetime, unit, backend, q.zone),
            bucket_key_sql(&f.column, datetime, unit, backend, q.zone),
        )
    });
    // Grouped by the key, selected as text (PostgreSQL derives the text from the group's key;
    // the text orders as the key does).
    if let Some((text, key)) = &bucket_sqls {
        s.expr_as(Expr::cust(text.clone()), Alias::new(format!("b{sfx}")));
        s.add_group_by([Expr::cust(key.clone())]);
        at += 1;
    }
    // Where each min or max is in the row: they are decoded by position.
    let mut positions = Vec::with_capacity(q.measures.len());
    for (i, m) in q.measures.iter().enumerate() {
        let alias = format!("m{i}{sfx}");
        positions.push(at);
        match (m.op, m.field) {
            (Op::Sum, Some(f)) => {
                select_wide_sum(&mut s, col(f), &alias);
                at += 2;
            }
            (Op::Avg, Some(f)) => {
                select_wide_sum(&mut s, col(f), &alias);
                s.expr_as(col(f).count(), Alias::new(format!("{alias}_n")));
                at += 3;
            }
            _ => {
                s.expr_as(measure_order_expr(m), Alias::new(alias));
                at += 1;
            }
        }
    }
    s.from(Alias::new(entity.table.clone()));
    if let Some(f) = &q.filter {
        s.cond_where(condition(f, backend));
    }
    for (i, cmp, v) in &q.having {
        let e = measure_order_expr(&q.measures[*i]);
        s.and_having(match cmp {
            Cmp::Eq => e.eq(*v),
            Cmp::Ne => e.ne(*v),
            Cmp::Gt => e.gt(*v),
            Cmp::Gte => e.gte(*v),
            Cmp::Lt => e.lt(*v),
            Cmp::Lte => e.lte(*v),
        });
    }
    // The groups are made in a subquery with no order, and ordered outside it by the names it
    // selects: a database that takes every row for a group of its own (PostgreSQL, with no
    // statistics on a bucket's expression) would otherwise sort the whole table into the
    // asked order to group it, rather than hash the rows into the few real groups and sort
    // those. Empty values sort as the smallest, as in lists.
    let nulls = |desc: bool| if desc { NullOrdering::Last } else { NullOrdering::First };
    let order = |desc: bool| if desc { Order::Desc } else { Order::Asc };
    let mut orders: Vec<(String, Order, NullOrdering)> = Vec::new();
    let mut ordered: Vec<SortBy> = Vec::new();
    for (by, desc) in &q.sort {
        let name = match by {
            SortBy::Group(i) => format!("k{i}{sfx}"),
            SortBy::Bucket if bucket_sqls.is_some() => format!("b{sfx}"),
            SortBy::Bucket => continue,
            SortBy::Measure(i) => {
                // Selected after every decoded column, so positions stay as they are.
                let name = format!("o{i}{sfx}");
                s.expr_as(measure_order_expr(&q.measures[*i]), Alias::new(name.clone()));
                name
            }
        };
        orders.push((name, order(*desc), nulls(*desc)));
        ordered.push(*by);
    }
    for i in 0..q.groups.len() {
        if !ordered.contains(&SortBy::Group(i)) {
            orders.push((format!("k{i}{sfx}"), Order::Asc, NullOrdering::First));
        }
    }
    if bucket_sqls.is_some() && !ordered.contains(&SortBy::Bucket) {
        orders.push((format!("b{sfx}"), Order::Asc, NullOrdering::First));
    }
    let mut outer = Query::select();
    outer.column(Asterisk).from_subquery(s, Alias::new("g"));
    for (name, order, nulls) in orders {
        outer.order_by_with_nulls(Alias::new(name), order, nulls);
    }
    outer.limit(q.limit);
    let s = outer;
    let rows = match backend {
        // PostgreSQL has no statistics for a bucket's expression, so it takes each row for a
        // group of its own and costs hashing them as spilling to disk: it plans a sort of the
        // whole table, often through an index in the group's order, rather than a hash of the
        // few real groups. 1,000,000 rows by month × owner took 1.0–1.6 s sorted, 0.36 s
        // hashed (docs/BENCHMARKS.md). For this statement alone a sort is the last resort (the
        // few groups are still sorted outside the subquery), and JIT, tens of ms of compiling
        // for a statement run once, is off.
        DbBackend::Postgres => {
            let tx = conn.conn().begin().await?;
            tx.execute_unprepared(
                "SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off; SET LOCAL jit = off",
            )
            .await?;
            let rows = tx.query_all(&s).await?;
            tx.commit().await?;
            rows
        }
        _ => conn.query_all(&s).await?,
    };
    rows.iter()
        .map(|r| read_group(r, q, &positions, backend, &sfx))
        .collect()
}

fn suffix(entity: &CompiledEntity) -> String {
    format!("__v{}", entity.version)
}

fn read_group(
    r: &QueryResult,
    q: &AggregateQuery,
    positions: &[usize],
    backend: DbBackend,
    sfx: &str,
) -> Result<Group, StoreError> {
    let mut keys = Vec::with_capacity(q.groups.len());
    for (i, g) in q.groups.iter().enumerate() {
        keys.push(decode(r, &plain(g), backend, i)?);
    }
    let bucket = if q.bucket.is_some() {
        r.try_get_by_index::<Option<String>>(q.groups.len())?
    } else {
        None
    };
    let mut measures = Vec::with_capacity(q.measures.len());
    for (i, m) in q.measures.iter().enumerate() {
        let alias = format!("m{i}{sfx}");
        let v = match (m.op, m.field) {
            (Op::Sum, _) => MeasureValue::Sum(read_wide_sum(r, &alias)?),
            (Op::Avg, _) => MeasureValue::Avg(
                read_wide_sum(r, &alias)?,
                r.try_get::<Option<i64>>("", &format!("{alias}_n"))?.unwrap_or(0),
            ),
            (Op::Min | Op::Max, Some(f)) => MeasureValue::Value(decode(r, &plain(f), backend, positions[i])?),
            _ => MeasureValue::Count(r.try_get::<Option<i64>>("", &alias)?.unwrap_or(0)),
        };
        measures.push(v);
    }
    Ok(Group { keys, bucket, measures })
}

/// Whether a field's values may be a group key (one plain column, not a list or a document).
pub fn groupable(f: &CompiledField) -> bool {
    f.kind != FieldType::Currency
        && matches!(
            f.kind.storage_class(),
            StorageClass::Text
                | StorageClass::Integer
                | StorageClass::FixedPoint
                | StorageClass::Boolean
                | StorageClass::Date
        )
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};

    use super::*;

    #[tokio::test]
    async fn buckets_start_on_the_first_day_and_weeks_on_monday() {
        let mut opts = ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).min_connections(1);
        let conn = Database::connect(opts).await.unwrap();
        conn.execute_unprepared("CREATE TABLE t (d TEXT, dt TEXT)")
            .await
            .unwrap();
        // A Sunday at the end of a year, stored as the database driver stores them.
        conn.execute_unprepared("INSERT INTO t VALUES ('2026-01-04', '2025-12-31T23:30:00.123456+00:00')")
            .await
            .unwrap();
        let cases = [
            (Unit::Day, "2026-01-04", "2025-12-31"),
            (Unit::Week, "2025-12-29", "2025-12-29"),
            (Unit::Month, "2026-01-01", "2025-12-01"),
            (Unit::Quarter, "2026-01-01", "2025-10-01"),
            (Unit::Year, "2026-01-01", "2025-01-01"),
        ];
        for (unit, date, datetime) in cases {
            let sql = format!(
                "SELECT {} AS a, {} AS b FROM t",
                bucket_sql("d", false, unit, DbBackend::Sqlite, Zone::default()),
                bucket_sql("dt", true, unit, DbBackend::Sqlite, Zone::default())
            );
            let row = conn
                .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get::<String>("", "a").unwrap(), date, "{unit:?} of a date");
            assert_eq!(
                row.try_get::<String>("", "b").unwrap(),
                datetime,
                "{unit:?} of a datetime"
            );
        }
        assert_eq!(
            bucket_sql("dt", true, Unit::Week, DbBackend::Postgres, Zone::default()),
            "to_char(date_trunc('week', (\"dt\" AT TIME ZONE 'UTC')), 'YYYY-MM-DD')"
        );
        assert_eq!(
            bucket_sql("d", false, Unit::Quarter, DbBackend::Postgres, Zone::default()),
            "to_char(date_trunc('quarter', CAST(\"d\" AS timestamp)), 'YYYY-MM-DD')"
        );
    }

    /// A datetime's day, month and year in a zone: Shanghai (+8 since 1991), New York on both
    /// sides of its 2026 summer time change, and the changing second itself.
    #[tokio::test]
    async fn datetimes_fall_into_the_periods_of_the_zone_s_wall_clock() {
        let mut opts = ConnectOptions::new("sqlite::memory:");
        opts.max_connections(1).min_connections(1);
        let conn = Database::connect(opts).await.unwrap();
        let day = |dt: &'static str, zone: &'static str, unit: Unit| {
            let conn = &conn;
            async move {
                let z = Zone::parse("tz", zone).unwrap();
                let sql = format!(
                    "SELECT {} AS b FROM (SELECT '{dt}' AS \"dt\")",
                    bucket_sql("dt", true, unit, DbBackend::Sqlite, z)
                );
                let row = conn
                    .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<String>("", "b").unwrap()
            }
        };
        // 16:30 UTC on the last day of a month is the next day, and month, in Shanghai.
        assert_eq!(
            day("2026-03-31T16:30:00+00:00", "Asia/Shanghai", Unit::Day).await,
            "2026-04-01"
        );
        assert_eq!(
            day("2026-03-31T16:30:00+00:00", "Asia/Shanghai", Unit::Month).await,
            "2026-04-01"
        );
        assert_eq!(
            day("2026-12-31T16:00:00.000001+00:00", "Asia/Shanghai", Unit::Year).await,
            "2027-01-01"
        );
        assert_eq!(day("2026-03-31T16:30:00+00:00", "UTC", Unit::Month).await, "2026-03-01");
        // New York: 04:30 UTC is the previous day in winter (-5) and in summer (-4); 04:30 UTC
        // on 2026-03-08 is 23:30 EST on the 7th, 03:30 UTC on 2026-11-01 is 23:30 EDT on the
        // 31st. EDT begins at 07:00:00 UTC on 2026-03-08.
        assert_eq!(
            day("2026-03-08T04:30:00+00:00", "America/New_York", Unit::Day).await,
            "2026-03-07"
        );
        assert_eq!(
            day("2026-11-01T03:30:00+00:00", "America/New_York", Unit::Month).await,
            "2026-10-01"
        );
        assert_eq!(
            day("2026-07-01T03:59:59+00:00", "America/New_York", Unit::Day).await,
            "2026-06-30"
        );
        assert_eq!(
            day("2026-07-01T04:00:00+00:00", "America/New_York", Unit::Day).await,
            "2026-07-01"
        );
        // The changing second, with and without fractions: 06:59:59 UTC is 01:59:59 EST and
        // 07:00:00 UTC is 03:00:00 EDT; the hour is the proof, read through `strftime`.
        let hour = |dt: &'static str| {
            let conn = &conn;
            async move {
                let z = Zone::parse("tz", "America/New_York").unwrap();
                let sql = format!(
                    "SELECT strftime('%H', {}) AS h FROM (SELECT '{dt}' AS \"dt\")",
                    local_sqlite("\"dt\"", z)
                );
                let row = conn
                    .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get::<String>("", "h").unwrap()
            }
        };
        assert_eq!(hour("2026-03-08T06:59:59.999+00:00").await, "01");
        assert_eq!(hour("2026-03-08T07:00:00+00:00").await, "03");
        assert_eq!(hour("2026-03-08T07:00:00.5+00:00").await, "03");
        assert_eq!(
            bucket_sql(
                "dt",
                true,
                Unit::Day,
                DbBackend::Postgres,
                Zone::parse("tz", "Asia/Shanghai").unwrap()
            ),
            "to_char(date_trunc('day', (\"dt\" AT TIME ZONE 'Asia/Shanghai')), 'YYYY-MM-DD')"
        );
    }
}
