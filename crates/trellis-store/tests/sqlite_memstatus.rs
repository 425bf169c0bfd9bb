//! SQLite's memory statistics off for the process (a test binary of its own: the setting only
//! takes effect before SQLite is first used in a process).

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use trellis_store::Db;

/// Bytes SQLite counts as allocated now (0 when it does not count).
fn sqlite_memory_used() -> i64 {
    let (mut current, mut high) = (0i64, 0i64);
    // SAFETY: sqlite3_status64 only reads counters into the two out-parameters.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_status64(libsqlite3_sys::SQLITE_STATUS_MEMORY_USED, &mut current, &mut high, 0)
    };
    assert_eq!(rc, libsqlite3_sys::SQLITE_OK);
    current
}

#[tokio::test]
async fn sqlite_allocates_without_counting_once_statistics_are_off() {
    // SAFETY: the only test in this binary, before any SQLite use.
    assert!(unsafe { trellis_store::db::sqlite_without_memory_statistics() });
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/s.db", dir.path().display()))
        .await
        .unwrap();
    db.raw_execute_for_tests("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x')")
        .await
        .unwrap();
    let row = db
        .read
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT v FROM t"))
        .await
        .unwrap()
        .expect("a row");
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "x");
    assert_eq!(sqlite_memory_used(), 0, "SQLite still counts its allocations");
    db.close().await;
}
