//! Connections: SQLite (WAL, one writer connection, a pool of readers) or PostgreSQL (one pool),
//! behind the same two handles so the rest of the code never asks which. The pools are the
//! store's own: callers hand the read [`Pool`] to the store's named reads, and write only in a
//! write transaction ([`Db::begin_write`]): the store's writing functions take a [`crate::Writes`],
//! which a pool is not, and the write pool is not reachable outside the store.

use std::path::Path;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, ExecResult, FromQueryResult,
    QueryResult, Statement, Value,
};

use crate::error::StoreError;

/// The database of a Trellis node.
#[derive(Debug, Clone)]
pub struct Db {
    /// For reads outside a write transaction.
    pub read: Pool,
    /// Behind [`Db::begin_write`] and the store's maintenance (on SQLite a single connection,
    /// so writers queue instead of retrying). Private: every write goes through a [`WriteTx`].
    ///
    /// [`WriteTx`]: crate::WriteTx
    pub(crate) write: Pool,
    pub backend: DbBackend,
}

/// A pool of connections, usable only as the connection argument of the store's reading
/// functions (it is not a [`crate::Writes`]).
#[derive(Debug, Clone)]
pub struct Pool(DatabaseConnection);

impl Pool {
    /// The connections themselves, for the store alone (transactions, the SQLite writer).
    pub(crate) fn conn(&self) -> &DatabaseConnection {
        &self.0
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Pool {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.0.support_returning()
    }
}

impl Db {
    /// Connects to `sqlite://path` or `postgres://...`, creating an SQLite file (and its folder).
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
            }
            let url = if url.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            let write = connect_sqlite(&url, 1, 400).await?;
            let read = connect_sqlite(&url, 4, 100).await?;
            Ok(Db {
                read: Pool(read),
                write: Pool(write),
                backend: DbBackend::Sqlite,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts = ConnectOptions::new(url.to_string());
            opts.max_connections(16)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                // sqlx pings a connection as it goes back to the pool; pinging it again on
                // every acquire is one more round trip per use. Only a connection idle for a
                // while (the one a restart, proxy or firewall may have cut) is checked first.
                .test_before_acquire_if_idle_for(Duration::from_secs(30))
                .sqlx_logging(false)
                .map_sqlx_postgres_pool_opts(|pool| {
                    pool.after_connect(|_, _| {
                        Box::pin(async {
                            tcp_without_delay();
                            Ok(())
                        })
                    })
                });
            let conn = Database::connect(opts).await.map_err(StoreError::from_connect)?;
            Ok(Db {
                read: Pool(conn.clone()),
                write: Pool(conn),
                backend: DbBackend::Postgres,
            })
        } else {
            Err(StoreError::Config(
                "database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend == DbBackend::Sqlite
    }

    /// Folds the SQLite write-ahead log back into the database file (no-op on PostgreSQL).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.is_sqlite() {
            self.write.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        Ok(())
    }

    /// Refreshes the query planner's statistics of tables never analysed or grown a lot since
    /// (SQLite's `PRAGMA optimize`); PostgreSQL's autovacuum does this itself.
    /// Without statistics SQLite prefers an equality index and sorts, instead of walking the
    /// sort key's index and stopping at the page size: 60× slower on filtered, sorted lists.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        if !self.is_sqlite() {
            return Ok(());
        }
        let before = self.stats_fingerprint().await?;
        self.write.execute_unprepared("PRAGMA optimize=0x10002").await?;
        if self.stats_fingerprint().await? != before {
            self.reload_schema_everywhere().await?;
        }
        Ok(())
    }

    /// Refreshes the planner statistics of one table (a name derived from a storage id).
    pub async fn analyze_table(&self, table: &str) -> Result<(), StoreError> {
        if !table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Config(format!("not a table name: {table}")));
        }
        self.write.execute_unprepared(&format!("ANALYZE \"{table}\"")).await?;
        if self.is_sqlite() {
            self.reload_schema_everywhere().await?;
        }
        Ok(())
    }

    /// SQLite connections load statistics only with the schema: change the schema cookie (an
    /// empty table created and dropped) so each reloads both at its next statement.
    async fn reload_schema_everywhere(&self) -> Result<(), StoreError> {
        self.write
            .execute_unprepared("CREATE TABLE IF NOT EXISTS sys_stats_epoch (x INTEGER)")
            .await?;
        self.write.execute_unprepared("DROP TABLE sys_stats_epoch").await?;
        Ok(())
    }

    async fn stats_fingerprint(&self) -> Result<String, StoreError> {
        let exists = self
            .write
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1'",
            ))
            .await?
            .map(|r| crate::rows::Count::from_query_result(&r, ""))
            .transpose()?
            .map_or(0, |c| c.n);
        if exists == 0 {
            return Ok(String::new());
        }
        let row = self
            .write
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT group_concat(tbl || idx || stat, ';') AS f FROM sqlite_stat1",
            ))
            .await?;
        #[derive(FromQueryResult)]
        struct Fingerprint {
            f: Option<String>,
        }
        Ok(row
            .and_then(|r| Fingerprint::from_query_result(&r, "").ok())
            .and_then(|r| r.f)
            .unwrap_or_default())
    }

    pub async fn close(self) {
        let _ = self.read.0.close().await;
        let _ = self.write.0.close().await;
    }

    /// The rows of a raw statement on the read pool. For tests and the benchmark, which look at
    /// the database itself (plans, statistics, rows no route shows); the engine calls the
    /// store's named functions instead. `values` bind `?` (SQLite) or `$n` (PostgreSQL).
    #[doc(hidden)]
    pub async fn raw_rows_for_tests(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>, DbErr> {
        self.read
            .0
            .query_all_raw(Statement::from_sql_and_values(self.backend, sql, values))
            .await
    }

    /// Runs raw SQL on the write pool, outside any transaction. For tests that put the database
    /// in a state no route makes (an older schema, fresh statistics); never for the engine.
    #[doc(hidden)]
    pub async fn raw_execute_for_tests(&self, sql: &str) -> Result<(), DbErr> {
        self.write.0.execute_unprepared(sql).await.map(|_| ())
    }
}

/// Turns Nagle's algorithm off on the process's TCP sockets, as each PostgreSQL connection is
/// made (sqlx has no option for it). With it on, a statement whose message spans several
/// segments (a batch of rows as one parameter) waited for the server's delayed
/// acknowledgement, up to 40 ms a statement: an import ran at 6,000 rows/s over TCP and
/// 16,500 over a Unix socket (`docs/BENCHMARKS.md`). Setting it on a socket that is not TCP,
/// or on a descriptor closed meanwhile, fails and changes nothing; small writes on the
/// process's other connections (HTTP, SMTP) go out at once too.
fn tcp_without_delay() {
    #[cfg(target_os = "linux")]
    {
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for fd in fds.flatten() {
            let Some(n) = fd.file_name().to_str().and_then(|s| s.parse::<std::ffi::c_int>().ok()) else {
                continue;
            };
            let is_socket = std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
            if !is_socket {
                continue;
            }
            let one: std::ffi::c_int = 1;
            // SAFETY: `one` outlives the call and its size is passed; a descriptor that is not
            // (or no longer) a TCP socket makes the call fail without effect.
            unsafe {
                libc::setsockopt(
                    n,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&one as *const std::ffi::c_int).cast(),
                    std::mem::size_of::<std::ffi::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

/// Turns off SQLite's memory statistics in this process: with them on (the default), every
/// allocation and free inside SQLite takes one process-wide mutex to count them, contended by
/// the reader connections' threads and the writer's on every page-cache miss and every value
/// read. Trellis never reads those statistics. Answers whether the setting took effect: it
/// does only before SQLite is first used in the process.
///
/// # Safety
///
/// No other thread may use SQLite while this runs (`sqlite3_config` is not thread-safe): call
/// it first thing in `main`.
pub unsafe fn sqlite_without_memory_statistics() -> bool {
    // SAFETY: the caller guarantees no concurrent SQLite use; MEMSTATUS takes one int.
    let rc = unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
    rc == libsqlite3_sys::SQLITE_OK
}

/// Routes SQLite's own allocations (each value a row returns is copied into one, and every
/// page-cache buffer) to the process's global Rust allocator (mimalloc in the server) instead
/// of glibc's malloc: exporting 300,000 records spent a fifth of its CPU time in glibc's
/// `malloc_consolidate`, `malloc` and `free` on SQLite's thread (`docs/BENCHMARKS.md`). Answers
/// whether the setting took effect: it does only before SQLite is first used in the process.
///
/// # Safety
///
/// As [`sqlite_without_memory_statistics`]: first thing in `main`, no other thread using SQLite.
pub unsafe fn sqlite_on_the_global_allocator() -> bool {
    let methods = libsqlite3_sys::sqlite3_mem_methods {
        xMalloc: Some(sqlite_alloc::malloc),
        xFree: Some(sqlite_alloc::free),
        xRealloc: Some(sqlite_alloc::realloc),
        xSize: Some(sqlite_alloc::size),
        xRoundup: Some(sqlite_alloc::roundup),
        xInit: Some(sqlite_alloc::init),
        xShutdown: Some(sqlite_alloc::shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: the caller guarantees no concurrent SQLite use; SQLite copies the methods before
    // the call returns, and they keep its contract (8-byte aligned blocks, sizes they hold).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_config(
            libsqlite3_sys::SQLITE_CONFIG_MALLOC,
            &methods as *const libsqlite3_sys::sqlite3_mem_methods,
        )
    };
    rc == libsqlite3_sys::SQLITE_OK
}

/// SQLite's allocation methods over `std::alloc`: each block starts with a 16-byte header that
/// holds its size (SQLite frees by pointer alone), and is 16-byte aligned.
mod sqlite_alloc {
    use std::alloc::Layout;
    use std::ffi::{c_int, c_void};

    const HEAD: usize = 16;

    fn layout(n: usize) -> Option<Layout> {
        Layout::from_size_align(n.checked_add(HEAD)?, HEAD).ok()
    }

    /// The block's start and its size, from the pointer SQLite holds.
    ///
    /// # Safety
    ///
    /// `p` came from [`malloc`] or [`realloc`] and was not freed.
    unsafe fn base(p: *mut c_void) -> (*mut u8, usize) {
        // SAFETY: the header lies `HEAD` bytes before every pointer handed out.
        unsafe {
            let b = p.cast::<u8>().sub(HEAD);
            (b, b.cast::<usize>().read())
        }
    }

    pub(super) unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        let n = n.max(0) as usize;
        let Some(l) = layout(n) else {
            return std::ptr::null_mut();
        };
        // SAFETY: the layout's size is at least HEAD, never zero.
        unsafe {
            let b = std::alloc::alloc(l);
            if b.is_null() {
                return std::ptr::null_mut();
            }
            b.cast::<usize>().write(n);
            b.add(HEAD).cast()
        }
    }

    pub(super) unsafe extern "C" fn free(p: *mut c_void) {
        if p.is_null() {
            return;
        }
        // SAFETY: SQLite frees only what these methods allocated, once.
        unsafe {
            let (b, n) = base(p);
            if let Some(l) = layout(n) {
                std::alloc::dealloc(b, l);
            }
        }
    }

    pub(super) unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        if p.is_null() {
            // SAFETY: as malloc.
            return unsafe { malloc(n) };
        }
        let n = n.max(0) as usize;
        // SAFETY: `p` is a live block of these methods; the new size is checked as malloc's.
        unsafe {
            let (b, old) = base(p);
            let (Some(l), Some(_)) = (layout(old), layout(n)) else {
                return std::ptr::null_mut();
            };
            let nb = std::alloc::realloc(b, l, n + HEAD);
            if nb.is_null() {
                return std::ptr::null_mut();
            }
            nb.cast::<usize>().write(n);
            nb.add(HEAD).cast()
        }
    }

    pub(super) unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        if p.is_null() {
            return 0;
        }
        // SAFETY: `p` is a live block of these methods.
        unsafe { base(p).1 as c_int }
    }

    pub(super) unsafe extern "C" fn roundup(n: c_int) -> c_int {
        (n.max(0) + 7) & !7
    }

    pub(super) unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        libsqlite3_sys::SQLITE_OK
    }

    pub(super) unsafe extern "C" fn shutdown(_: *mut c_void) {}

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn blocks_keep_their_size_alignment_and_content_through_realloc() {
            // SAFETY: the methods' own contract, as SQLite uses them.
            unsafe {
                let p = malloc(10);
                assert!(!p.is_null());
                assert_eq!(p as usize % 8, 0);
                assert_eq!(size(p), 10);
                std::ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p.cast::<u8>(), 10);
                let q = realloc(p, 100_000);
                assert_eq!(size(q), 100_000);
                assert_eq!(std::slice::from_raw_parts(q.cast::<u8>(), 10), b"0123456789");
                let r = realloc(q, 4);
                assert_eq!(std::slice::from_raw_parts(r.cast::<u8>(), 4), b"0123");
                free(r);
                free(std::ptr::null_mut());
                assert_eq!(size(std::ptr::null_mut()), 0);
                assert_eq!(roundup(13), 16);
                let s = realloc(std::ptr::null_mut(), 3);
                assert_eq!(size(s), 3);
                free(s);
            }
        }
    }
}

/// How much of an SQLite database file each connection reads through a memory map.
///
/// Without it every page not in a connection's own page cache (2 MiB by default, one per
/// connection) is a `pread` into a fresh buffer of that cache, under SQLite's global page-cache
/// mutex. A sorted, filtered list of 50 on 100,000 rows looks up a few hundred table rows
/// scattered over the file: it was a page-cache miss each, most of the list's CPU time. Mapped,
/// those pages are read where the kernel's page cache holds them, shared by every connection
/// and with no copy (pages still in the write-ahead log are read from it as before). It is
/// address space, not heap: the resident size counts the mapped pages read, which the kernel
/// can drop at will. A larger file is mapped up to this size and read as before past it.
pub const SQLITE_MMAP_BYTES: u64 = 256 << 20;

/// `statements`: prepared statements kept per connection (the writer sends recurring
/// combinations of statements, see `writer`).
async fn connect_sqlite(url: &str, max: u32, statements: usize) -> Result<DatabaseConnection, StoreError> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(max)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        // An SQLite connection lives in this process: nothing can cut it between uses, and a
        // ping on every acquire is a round trip to its thread (sqlx still pings on release).
        .test_before_acquire(false)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.statement_cache_capacity(statements)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("wal_autocheckpoint", "2000")
                .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
        });
    Database::connect(opts).await.map_err(StoreError::from_connect)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn tcp_sockets_of_the_process_send_without_delay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(!client.nodelay().unwrap(), "Nagle's algorithm is on by default");
        tcp_without_delay();
        assert!(client.nodelay().unwrap());
        assert!(server.nodelay().unwrap());
    }

    async fn mmap_size(conn: &DatabaseConnection) -> i64 {
        conn.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA mmap_size"))
            .await
            .unwrap()
            .expect("a row")
            .try_get_by_index::<i64>(0)
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_connections_read_the_file_through_a_memory_map_unpinged() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/m.db", dir.path().display()))
            .await
            .unwrap();
        assert_eq!(mmap_size(db.read.conn()).await, SQLITE_MMAP_BYTES as i64);
        assert_eq!(mmap_size(db.write.conn()).await, SQLITE_MMAP_BYTES as i64);
        // Built without STAT4 (.cargo/config.toml), so bound values never make a statement
        // be planned again.
        let options = db
            .read
            .conn()
            .query_all_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA compile_options"))
            .await
            .unwrap();
        let options: Vec<String> = options.iter().map(|r| r.try_get_by_index(0).unwrap()).collect();
        assert!(options.iter().any(|o| o == "ENABLE_DBSTAT_VTAB"), "{options:?}");
        assert!(!options.iter().any(|o| o.contains("STAT4")), "{options:?}");
        // And hand out connections without pinging them first.
        for pool in [&db.read, &db.write] {
            assert!(
                !pool
                    .conn()
                    .get_sqlite_connection_pool()
                    .options()
                    .get_test_before_acquire()
            );
        }
        db.close().await;
    }
}
