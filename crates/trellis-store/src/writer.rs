//! Write transactions. On PostgreSQL a [`WriteTx`] is a sea-orm transaction. On SQLite it holds
//! the single writer connection and sends its statements in as few hand-offs to the connection's
//! thread as it can: `BEGIN` goes with the first statement, statements whose outcome nobody reads
//! ([`Writes::execute_later`]: events, new rows) go with the next one, and `COMMIT` with the last.
//!
//! Why: sqlx runs each SQLite connection on its own thread and every statement is a round trip
//! to it (two thread wake-ups). Measured on the create path, those switches were half of the
//! server's CPU; a create is now one round trip instead of four.
//!
//! How: several statements in one prepared query, which sqlx's SQLite driver runs one after the
//! other, binding each its share of the values (`?` placeholders, in order). sqlx marks this
//! `fetch_many` deprecated; the workspace pins sqlx 0.9, and the writer's tests cover it.
//!
//! Errors stay attributed: a statement that needs its outcome (a query, an update whose row
//! count is checked) runs with whatever was deferred before it, and a savepoint's release runs
//! at once with its deferred statements, so a failure surfaces inside the savepoint that caused
//! it. A transaction dropped without commit rolls back before its connection is used again.

use std::sync::Arc;

use futures::TryStreamExt;
use sea_orm::sea_query::{Value, Values};
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sea_orm::sqlx::{self, Either, Sqlite};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    TransactionTrait,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

use crate::Db;

/// What the store's reading functions take: the read pool ([`Db::read`]) or a write
/// transaction (to read what it has written, or under its locks).
pub trait Reads: ConnectionTrait + Send + Sync {}

impl<T: ConnectionTrait + Send + Sync> Reads for T {}

/// What the store's writing functions take: a [`WriteTx`], never a pool, so every write is in
/// a write transaction.
///
/// Statement execution with the option of deferring a write whose outcome is not read.
#[async_trait::async_trait]
pub trait Writes: ConnectionTrait + Send + Sync {
    /// Runs `stmt` now or, inside a SQLite [`WriteTx`], with the transaction's next statement
    /// (its failure then fails that statement, or the commit).
    async fn execute_later(&self, stmt: Statement) -> Result<(), DbErr> {
        self.execute_raw(stmt).await.map(|_| ())
    }

    /// Whether this is a transaction of the only writer (SQLite): a row it has read stays as
    /// read until it commits, so a version check on it cannot fail.
    fn sole_writer(&self) -> bool {
        false
    }
}

/// For the store's own tests, which write on a bare connection.
#[cfg(test)]
impl Writes for sea_orm::DatabaseConnection {}
/// The migrations' transaction (the store's alone: nothing outside it reaches a connection).
impl Writes for DatabaseTransaction {}

/// A write transaction (or a savepoint inside one).
pub struct WriteTx {
    inner: Inner,
}

enum Inner {
    Pg(DatabaseTransaction),
    Lite(LiteTx),
}

struct LiteTx {
    state: Arc<Mutex<Lite>>,
    /// 0 for the transaction, n for the n-th nested savepoint.
    depth: u32,
    finished: bool,
}

/// The writer connection of one SQLite transaction and what is waiting to be sent to it.
struct Lite {
    conn: Option<PoolConnection<Sqlite>>,
    sql: String,
    values: Vec<Value>,
    /// Whether anything has reached the database (so ending needs a `ROLLBACK`).
    sent: bool,
    /// How many statements `sql` holds.
    count: usize,
    /// Savepoints whose `SAVEPOINT` is still in `sql`: (depth, where it starts in `sql` and
    /// in `values`).
    marks: Vec<(u32, usize, usize)>,
}

/// Deferred statements sent at most together (a bulk write of thousands of records goes in
/// round trips of this many).
const MAX_WAITING: usize = 64;
/// Above this many statements a round trip is prepared for once, not kept in the connection's
/// statement cache (the combinations of a few statements recur; long ones rarely do).
const CACHED_UP_TO: usize = 8;

impl Db {
    /// Starts a write transaction (on SQLite, waits for the writer connection).
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        if !self.is_sqlite() {
            return Ok(WriteTx {
                inner: Inner::Pg(self.write.conn().begin().await?),
            });
        }
        let conn = self
            .write
            .conn()
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        Ok(WriteTx {
            inner: Inner::Lite(LiteTx {
                state: Arc::new(Mutex::new(Lite {
                    conn: Some(conn),
                    sql: "BEGIN;".into(),
                    values: Vec::new(),
                    sent: false,
                    count: 1,
                    marks: Vec::new(),
                })),
                depth: 0,
                finished: false,
            }),
        })
    }
}

fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

fn closed() -> DbErr {
    DbErr::Custom("the write transaction has ended".into())
}

impl Lite {
    fn push(&mut self, sql: &str, values: Option<Values>) {
        self.sql.push_str(sql);
        if !sql.trim_end().ends_with(';') {
            self.sql.push(';');
        }
        self.count += 1;
        if let Some(v) = values {
            self.values.extend(v.0);
        }
    }

    /// Sends what waits plus `sql`, and answers the outcome and rows of the last statement.
    async fn send(
        &mut self,
        sql: &str,
        values: Option<Values>,
    ) -> Result<(SqliteQueryResult, Vec<SqliteRow>), sqlx::Error> {
        self.push(sql, values);
        self.send_waiting().await
    }

    /// Sends what waits; answers the outcome and rows of the last statement.
    async fn send_waiting(&mut self) -> Result<(SqliteQueryResult, Vec<SqliteRow>), sqlx::Error> {
        let sql = std::mem::take(&mut self.sql);
        let values = std::mem::take(&mut self.values);
        let cache = std::mem::take(&mut self.count) <= CACHED_UP_TO;
        self.marks.clear();
        let conn = self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)?;
        self.sent = true;
        let mut last = SqliteQueryResult::default();
        let mut rows = Vec::new();
        let mut done_rows = Vec::new();
        #[allow(deprecated)]
        let mut steps = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(Values(values)))
            .persistent(cache)
            .fetch_many(&mut **conn);
        while let Some(step) = steps.try_next().await? {
            match step {
                Either::Left(r) => {
                    last = r;
                    done_rows = std::mem::take(&mut rows);
                }
                Either::Right(row) => rows.push(row),
            }
        }
        Ok((last, done_rows))
    }
}

impl LiteTx {
    async fn exec(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut s = self.state.lock().await;
        let (r, _) = s.send(&stmt.sql, stmt.values).await.map_err(exec_err)?;
        Ok(r.into())
    }

    async fn query(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let mut s = self.state.lock().await;
        let (_, rows) = s.send(&stmt.sql, stmt.values).await.map_err(query_err)?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    async fn later(&self, stmt: Statement) -> Result<(), DbErr> {
        let mut s = self.state.lock().await;
        if s.conn.is_none() {
            return Err(closed());
        }
        s.push(&stmt.sql, stmt.values);
        if s.count >= MAX_WAITING {
            s.send_waiting().await.map_err(exec_err)?;
        }
        Ok(())
    }

    async fn savepoint(&self) -> Result<LiteTx, DbErr> {
        let depth = self.depth + 1;
        let mut s = self.state.lock().await;
        if s.conn.is_none() {
            return Err(closed());
        }
        let at = (depth, s.sql.len(), s.values.len());
        s.marks.push(at);
        s.push(&format!("SAVEPOINT sp{depth}"), None);
        Ok(LiteTx {
            state: self.state.clone(),
            depth,
            finished: false,
        })
    }

    async fn commit(mut self) -> Result<(), DbErr> {
        self.finished = true;
        let mut s = self.state.lock().await;
        if self.depth == 0 {
            let r = s.send("COMMIT", None).await;
            match r {
                Ok(_) => {
                    s.conn = None; // back to the pool
                    Ok(())
                }
                Err(e) => {
                    // The transaction may still be open: end it before the connection is reused.
                    if let Some(mut conn) = s.conn.take() {
                        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    }
                    Err(exec_err(e))
                }
            }
        } else {
            s.send(&format!("RELEASE SAVEPOINT sp{}", self.depth), None)
                .await
                .map(|_| ())
                .map_err(exec_err)
        }
    }

    async fn rollback(mut self) -> Result<(), DbErr> {
        self.finished = true;
        let mut s = self.state.lock().await;
        if self.depth == 0 {
            let conn = s.conn.take();
            if let Some(mut conn) = conn
                && s.sent
            {
                sqlx::query("ROLLBACK").execute(&mut *conn).await.map_err(exec_err)?;
            }
            return Ok(());
        }
        undo_savepoint(&mut s, self.depth);
        Ok(())
    }
}

/// Forgets a savepoint's statements that were not sent yet, or queues its rollback.
fn undo_savepoint(s: &mut Lite, depth: u32) {
    if let Some(i) = s.marks.iter().position(|m| m.0 == depth) {
        let (_, sql_at, values_at) = s.marks[i];
        s.sql.truncate(sql_at);
        s.values.truncate(values_at);
        s.count = s.sql.matches(';').count();
        s.marks.truncate(i);
    } else {
        // Everything waiting was written inside this savepoint (the last send emptied the queue).
        s.sql.clear();
        s.values.clear();
        s.count = 0;
        s.marks.clear();
        s.push(
            &format!("ROLLBACK TO SAVEPOINT sp{depth}; RELEASE SAVEPOINT sp{depth}"),
            None,
        );
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let state = self.state.clone();
        let depth = self.depth;
        // Not awaited: the lock is free unless a statement of this transaction is running, and
        // then this ends right after it.
        let end = async move {
            let mut s = state.lock().await;
            if depth > 0 {
                undo_savepoint(&mut s, depth);
                return;
            }
            if let Some(mut conn) = s.conn.take()
                && s.sent
                && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
            {
                conn.close_on_drop();
            }
        };
        if depth > 0
            && let Ok(mut s) = self.state.try_lock()
        {
            undo_savepoint(&mut s, depth);
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(end);
            }
            Err(_) => {
                if let Ok(mut s) = self.state.try_lock()
                    && let Some(mut conn) = s.conn.take()
                {
                    conn.close_on_drop();
                }
            }
        }
    }
}

impl WriteTx {
    /// A savepoint inside this transaction.
    pub async fn begin(&self) -> Result<WriteTx, DbErr> {
        Ok(WriteTx {
            inner: match &self.inner {
                Inner::Pg(t) => Inner::Pg(t.begin().await?),
                Inner::Lite(t) => Inner::Lite(t.savepoint().await?),
            },
        })
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        match self.inner {
            Inner::Pg(t) => t.commit().await,
            Inner::Lite(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        match self.inner {
            Inner::Pg(t) => t.rollback().await,
            Inner::Lite(t) => t.rollback().await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> DbBackend {
        match &self.inner {
            Inner::Pg(_) => DbBackend::Postgres,
            Inner::Lite(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.inner {
            Inner::Pg(t) => t.execute_raw(stmt).await,
            Inner::Lite(t) => t.exec(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.inner {
            Inner::Pg(t) => t.execute_unprepared(sql).await,
            Inner::Lite(t) => t.exec(Statement::from_string(DbBackend::Sqlite, sql)).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.inner {
            Inner::Pg(t) => t.query_one_raw(stmt).await,
            Inner::Lite(t) => Ok(t.query(stmt).await?.into_iter().next()),
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.inner {
            Inner::Pg(t) => t.query_all_raw(stmt).await,
            Inner::Lite(t) => t.query(stmt).await,
        }
    }
}

#[async_trait::async_trait]
impl Writes for WriteTx {
    async fn execute_later(&self, stmt: Statement) -> Result<(), DbErr> {
        match &self.inner {
            Inner::Pg(t) => t.execute_raw(stmt).await.map(|_| ()),
            Inner::Lite(t) => t.later(stmt).await,
        }
    }

    fn sole_writer(&self) -> bool {
        matches!(self.inner, Inner::Lite(_))
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::*;

    async fn db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/w.db", dir.path().display()))
            .await
            .unwrap();
        db.write
            .execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")
            .await
            .unwrap();
        (db, dir)
    }

    fn ins(id: i64, v: &str) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO t (id, v) VALUES (?, ?)",
            [id.into(), v.into()],
        )
    }

    async fn ids(db: &Db) -> Vec<i64> {
        db.read
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT id FROM t ORDER BY id",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<i64>(0).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn deferred_writes_commit_together_and_bind_their_own_values() {
        let (db, _d) = db().await;
        let tx = db.begin_write().await.unwrap();
        tx.execute_later(ins(1, "a")).await.unwrap();
        tx.execute_later(ins(2, "b")).await.unwrap();
        // A query sees the deferred rows: they run first, in the same round trip.
        let n = tx
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT count(*) FROM t WHERE v IN (?, ?)",
                ["a".into(), "b".into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(n, 2);
        let r = tx
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "UPDATE t SET v = v || ? WHERE id >= ?",
                ["!".into(), 2i64.into()],
            ))
            .await
            .unwrap();
        assert_eq!(r.rows_affected(), 1, "the row count is the last statement's");
        tx.execute_later(ins(3, "c")).await.unwrap();
        assert!(ids(&db).await.is_empty(), "nothing is visible before the commit");
        tx.commit().await.unwrap();
        assert_eq!(ids(&db).await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_failing_deferred_write_fails_the_commit_and_writes_nothing() {
        let (db, _d) = db().await;
        let tx = db.begin_write().await.unwrap();
        tx.execute_later(ins(1, "a")).await.unwrap();
        tx.execute_later(ins(2, "a")).await.unwrap();
        let e = tx.commit().await.unwrap_err();
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        assert!(ids(&db).await.is_empty());
        // The writer is usable again, outside an open transaction.
        let tx = db.begin_write().await.unwrap();
        tx.execute_later(ins(5, "e")).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(ids(&db).await, vec![5]);
    }

    #[tokio::test]
    async fn savepoints_roll_back_alone_sent_or_not() {
        let (db, _d) = db().await;
        let tx = db.begin_write().await.unwrap();
        tx.execute_later(ins(1, "a")).await.unwrap();
        // Not sent yet: forgotten.
        let sp = tx.begin().await.unwrap();
        sp.execute_later(ins(2, "b")).await.unwrap();
        sp.rollback().await.unwrap();
        // Sent (a query ran inside): rolled back in the database.
        let sp = tx.begin().await.unwrap();
        sp.execute_later(ins(3, "c")).await.unwrap();
        sp.query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT 1"))
            .await
            .unwrap();
        sp.rollback().await.unwrap();
        // Dropped: the same as a rollback.
        {
            let sp = tx.begin().await.unwrap();
            sp.execute_raw(ins(4, "d")).await.unwrap();
        }
        // Committed: kept.
        let sp = tx.begin().await.unwrap();
        sp.execute_later(ins(6, "f")).await.unwrap();
        sp.commit().await.unwrap();
        // A failure inside a savepoint surfaces at its release, not later.
        let sp = tx.begin().await.unwrap();
        sp.execute_later(ins(7, "a")).await.unwrap();
        assert!(sp.commit().await.is_err());
        tx.commit().await.unwrap();
        assert_eq!(ids(&db).await, vec![1, 6]);
    }

    #[tokio::test]
    async fn many_deferred_writes_go_in_bounded_round_trips() {
        let (db, _d) = db().await;
        let tx = db.begin_write().await.unwrap();
        for i in 0..(3 * MAX_WAITING as i64 + 5) {
            tx.execute_later(ins(i, &format!("v{i}"))).await.unwrap();
            let waiting = match &tx.inner {
                Inner::Lite(t) => t.state.lock().await.count,
                Inner::Pg(_) => 0,
            };
            assert!(waiting < MAX_WAITING, "{waiting} statements waiting");
        }
        tx.commit().await.unwrap();
        assert_eq!(ids(&db).await.len(), 3 * MAX_WAITING + 5);
    }

    #[tokio::test]
    async fn a_dropped_transaction_rolls_back_before_the_writer_is_reused() {
        let (db, _d) = db().await;
        {
            let tx = db.begin_write().await.unwrap();
            tx.execute_raw(ins(1, "a")).await.unwrap();
        }
        let tx = db.begin_write().await.unwrap();
        tx.execute_later(ins(2, "b")).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(ids(&db).await, vec![2]);
        // Never sent: nothing to undo.
        drop(db.begin_write().await.unwrap());
        let tx = db.begin_write().await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(ids(&db).await, vec![2]);
    }
}
