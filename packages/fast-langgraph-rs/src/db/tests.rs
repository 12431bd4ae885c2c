//! Tests of the storage layer on real files, without Python.
//!
//! Blobs here are JSON (`{"channel_values": {...}}`), decoded by the test's own
//! callbacks: the storage layer never looks inside a blob by itself.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode};
use serde_json::json;
use tempfile::TempDir;

use super::sql;
use super::*;
use crate::error::{Error, Result};

fn db_path(dir: &TempDir) -> String {
    dir.path()
        .join("checkpoints.db")
        .to_str()
        .unwrap()
        .to_owned()
}

fn open(path: &str) -> Store {
    Store::open(path, Durability::Normal, false).unwrap()
}

fn error_code(err: &Error) -> Option<ErrorCode> {
    match err {
        Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => Some(failure.code),
        _ => None,
    }
}

fn blob(channel_values: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "channel_values": channel_values })).unwrap()
}

fn put(
    store: &Store,
    thread: &str,
    id: &str,
    parent: Option<&str>,
    values: serde_json::Value,
    metadata: serde_json::Value,
) {
    put_ns(store, thread, "", id, parent, values, metadata);
}

fn put_ns(
    store: &Store,
    thread: &str,
    ns: &str,
    id: &str,
    parent: Option<&str>,
    values: serde_json::Value,
    metadata: serde_json::Value,
) {
    let checkpoint = blob(values);
    let metadata = serde_json::to_vec(&metadata).unwrap();
    store
        .put(&NewCheckpoint {
            thread_id: thread,
            checkpoint_ns: ns,
            checkpoint_id: id,
            parent_checkpoint_id: parent,
            type_tag: "json",
            checkpoint: &checkpoint,
            metadata: &metadata,
        })
        .unwrap();
}

fn write(idx: i64, channel: &str, value: &str) -> NewWrite {
    NewWrite {
        idx,
        channel: channel.to_owned(),
        type_tag: "str".to_owned(),
        value: value.as_bytes().to_vec(),
    }
}

fn put_writes(
    store: &Store,
    thread: &str,
    id: &str,
    task_id: &str,
    task_path: &str,
    writes: &[NewWrite],
) {
    store
        .put_writes(thread, "", id, task_id, task_path, writes, false)
        .unwrap();
}

/// The channel names a test blob stores.
fn stored_channels(_tag: Option<&str>, data: Option<&[u8]>) -> Result<HashSet<String>> {
    let value: serde_json::Value = serde_json::from_slice(data.unwrap()).unwrap();
    Ok(value["channel_values"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect())
}

fn ids_of(store: &Store, thread: &str) -> Vec<String> {
    let page = store
        .list_page(&PageQuery {
            thread_id: Some(thread.to_owned()),
            limit: 1000,
            ..PageQuery::default()
        })
        .unwrap();
    page.into_iter().map(|row| row.checkpoint_id).collect()
}

fn write_values(row: &CheckpointRow) -> Vec<String> {
    row.writes
        .iter()
        .map(|w| String::from_utf8(w.value.clone().unwrap()).unwrap())
        .collect()
}

fn raw(path: &str) -> Connection {
    Connection::open(path).unwrap()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// A chain 1 <- 2 <- 3 <- 4 where channel "messages" is a delta channel whose
/// value is stored (seeded) only at checkpoint 1; every later checkpoint names
/// it in its counters.
fn delta_chain(store: &Store, thread: &str) {
    let counters = json!({"counters_since_delta_snapshot": {"messages": [1, 1]}});
    put(
        store,
        thread,
        "1",
        None,
        json!({"messages": "snapshot"}),
        json!({"run_id": "r1"}),
    );
    put(store, thread, "2", Some("1"), json!({}), counters.clone());
    put(store, thread, "3", Some("2"), json!({}), counters.clone());
    put(store, thread, "4", Some("3"), json!({}), counters);
    for id in ["1", "2", "3", "4"] {
        put_writes(
            store,
            thread,
            id,
            "task",
            "",
            &[write(0, "messages", &format!("m{id}"))],
        );
    }
}

// -- opening -------------------------------------------------------------------

#[test]
fn a_new_file_gets_wal_and_the_current_schema() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let store = open(&path);
    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(count(&conn, "PRAGMA user_version"), sql::SCHEMA_VERSION);
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    names.sort();
    assert_eq!(
        names,
        [
            "checkpoints",
            "checkpoints_created_at",
            "checkpoints_created_at_default",
            "checkpoints_delete_writes",
            "writes"
        ]
    );
    store.close();
}

#[test]
fn a_path_in_a_missing_folder_creates_nothing() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing");
    let path = missing.join("x.db");
    let err = Store::open(path.to_str().unwrap(), Durability::Normal, false)
        .err()
        .unwrap();
    assert_eq!(error_code(&err), Some(ErrorCode::CannotOpen));
    assert!(err.to_string().contains("unable to open database file"));
    assert!(!missing.exists());
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let garbage =
        b"this is not a database, just some text long enough to look like a header....".repeat(20);
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path, Durability::Normal, false).err().unwrap();
    assert_eq!(error_code(&err), Some(ErrorCode::NotADatabase));
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
    assert!(!Path::new(&format!("{path}-wal")).exists());
}

#[test]
fn a_sqlitesaver_file_is_migrated_and_its_rows_dated() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    {
        let conn = raw(&path);
        conn.execute(sql::CREATE_CHECKPOINTS, []).unwrap();
        conn.execute(sql::CREATE_WRITES, []).unwrap();
        conn.execute(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type, checkpoint, metadata) \
             VALUES ('t', '', '1ef09e5b-3e5d-6f3b-bfff-6a0e0fd7e4b7', 'json', x'00', x'7b7d'), \
                    ('t', '', 'plain-id', 'json', x'00', x'7b7d')",
            [],
        )
        .unwrap();
    }
    let _store = open(&path);
    let conn = raw(&path);
    assert_eq!(count(&conn, "PRAGMA user_version"), 1);
    let dated: String = conn
        .query_row(
            "SELECT created_at FROM checkpoints WHERE checkpoint_id LIKE '1ef%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(dated, "2024-05-04 07:12:44.212");
    let now: Option<String> = conn
        .query_row(
            "SELECT created_at FROM checkpoints WHERE checkpoint_id = 'plain-id'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(now.unwrap().starts_with("20"));

    // A row inserted the way SqliteSaver inserts gets a created_at from the trigger,
    // and deleting a checkpoint by hand takes its writes along.
    conn.execute(
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type, checkpoint, metadata) \
         VALUES ('u', '', 'x', 'json', x'00', x'7b7d')",
        [],
    )
    .unwrap();
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM checkpoints WHERE created_at IS NULL"
        ),
        0
    );
    conn.execute(
        "INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value) \
         VALUES ('u', '', 'x', 'task', 0, 'c', 'json', x'00')",
        [],
    )
    .unwrap();
    conn.execute("DELETE FROM checkpoints WHERE thread_id = 'u'", [])
        .unwrap();
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM writes WHERE thread_id = 'u'"),
        0
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    raw(&path).pragma_update(None, "user_version", 7).unwrap();
    let err = Store::open(&path, Durability::Full, false).err().unwrap();
    assert!(err.to_string().contains("newer"), "{err}");
}

// -- read-only -----------------------------------------------------------------

#[test]
fn read_only_never_creates_nor_writes() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let err = Store::open(&path, Durability::Normal, true).err().unwrap();
    assert_eq!(error_code(&err), Some(ErrorCode::CannotOpen));
    assert!(!Path::new(&path).exists());

    let store = open(&path);
    put(&store, "t", "1", None, json!({"a": 1}), json!({}));
    store.close();
    let reader = Store::open(&path, Durability::Normal, true).unwrap();
    assert_eq!(ids_of(&reader, "t"), ["1"]);
    // Refused by the engine itself, before SQLite is asked.
    let refused =
        |err: Option<Error>| matches!(err, Some(Error::Operational(m)) if m.contains("readonly"));
    assert!(refused(reader.delete_thread("t").err()));
    assert!(refused(reader.vacuum().err()));
    assert_eq!(ids_of(&reader, "t"), ["1"]);
}

#[test]
fn read_only_reads_an_unmigrated_file() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    {
        let conn = raw(&path);
        conn.execute(sql::CREATE_CHECKPOINTS, []).unwrap();
        // Before SqliteSaver had task_path.
        conn.execute(
            "CREATE TABLE writes (thread_id TEXT NOT NULL, checkpoint_ns TEXT NOT NULL DEFAULT '', \
             checkpoint_id TEXT NOT NULL, task_id TEXT NOT NULL, idx INTEGER NOT NULL, \
             channel TEXT NOT NULL, type TEXT, value BLOB, \
             PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx))",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO checkpoints VALUES ('t', '', '1', NULL, 'json', x'00', x'7b7d')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO writes VALUES ('t', '', '1', 'b', 0, 'c', 'str', 'x')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO writes VALUES ('t', '', '1', 'a', 0, 'c', 'str', 'y')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path, Durability::Normal, true).unwrap();
    let row = store.get("t", "", None).unwrap().unwrap();
    assert_eq!(write_values(&row), ["y", "x"]);
    let stats = store.stats(10).unwrap();
    assert_eq!(stats.largest_threads[0].latest_created_at, None);
    let mut stored = stored_channels;
    assert!(store.cleanup("9999", false, true, &mut stored).is_err());
    assert_eq!(count(&raw(&path), "PRAGMA user_version"), 0);
}

// -- the checkpoint contract -------------------------------------------------------

#[test]
fn get_finds_latest_by_id_and_sorts_writes() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    put(&store, "t", "b", None, json!({}), json!({}));
    put(&store, "t", "a", None, json!({}), json!({}));
    put(&store, "t", "c", Some("b"), json!({}), json!({}));
    put_writes(&store, "t", "c", "task2", "~a", &[write(0, "x", "late")]);
    put_writes(
        &store,
        "t",
        "c",
        "task1",
        "",
        &[write(1, "x", "second"), write(0, "x", "first")],
    );
    put_writes(
        &store,
        "t",
        "c",
        "task0",
        "~a",
        &[write(-1, "__error__", "err")],
    );

    let latest = store.get("t", "", None).unwrap().unwrap();
    assert_eq!(latest.checkpoint_id, "c");
    assert_eq!(latest.parent_checkpoint_id.as_deref(), Some("b"));
    assert_eq!(write_values(&latest), ["first", "second", "err", "late"]);
    assert_eq!(
        store
            .get("t", "", Some("a"))
            .unwrap()
            .unwrap()
            .checkpoint_id,
        "a"
    );
    assert!(store.get("t", "", Some("zzz")).unwrap().is_none());
    assert!(store.get("t", "other-ns", None).unwrap().is_none());
}

#[test]
fn ordinary_writes_keep_the_first_and_replace_overwrites() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    put(&store, "t", "1", None, json!({}), json!({}));
    put_writes(&store, "t", "1", "task", "", &[write(0, "x", "one")]);
    put_writes(&store, "t", "1", "task", "", &[write(0, "x", "two")]);
    assert_eq!(
        write_values(&store.get("t", "", None).unwrap().unwrap()),
        ["one"]
    );
    store
        .put_writes("t", "", "1", "task", "", &[write(0, "x", "three")], true)
        .unwrap();
    assert_eq!(
        write_values(&store.get("t", "", None).unwrap().unwrap()),
        ["three"]
    );
}

#[test]
fn list_pages_through_every_thread_newest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    for (thread, id) in [
        ("t1", "1"),
        ("t2", "2"),
        ("t1", "3"),
        ("t2", "3"),
        ("t1", "4"),
    ] {
        put(
            &store,
            thread,
            id,
            None,
            json!({}),
            json!({"thread": thread}),
        );
        put_writes(
            &store,
            thread,
            id,
            "task",
            "",
            &[write(0, "w", &format!("{thread}/{id}"))],
        );
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_page(&PageQuery {
                after: after.clone(),
                limit: 2,
                ..PageQuery::default()
            })
            .unwrap();
        for row in &page {
            assert_eq!(
                write_values(row),
                [format!("{}/{}", row.thread_id, row.checkpoint_id)]
            );
            seen.push(format!("{}/{}", row.thread_id, row.checkpoint_id));
        }
        if page.len() < 2 {
            break;
        }
        let last = page.last().unwrap();
        after = Some((
            last.checkpoint_id.clone(),
            last.thread_id.clone(),
            last.checkpoint_ns.clone(),
        ));
    }
    assert_eq!(seen, ["t1/4", "t2/3", "t1/3", "t2/2", "t1/1"]);

    let before = store
        .list_page(&PageQuery {
            thread_id: Some("t1".to_owned()),
            before_id: Some("4".to_owned()),
            limit: 10,
            ..PageQuery::default()
        })
        .unwrap();
    assert_eq!(
        before
            .iter()
            .map(|r| r.checkpoint_id.as_str())
            .collect::<Vec<_>>(),
        ["3", "1"]
    );
    assert!(store
        .list_page(&PageQuery {
            limit: 0,
            ..PageQuery::default()
        })
        .unwrap()
        .is_empty());
}

#[test]
fn filters_compare_metadata_and_skip_invalid_json() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let store = open(&path);
    put(
        &store,
        "t",
        "1",
        None,
        json!({}),
        json!({"source": "input", "step": 1, "ok": true}),
    );
    put(
        &store,
        "t",
        "2",
        None,
        json!({}),
        json!({"source": "loop", "step": 2, "nested": {"a": "b"}}),
    );
    // json.dumps writes NaN, which is not JSON: such a row never matches a filter.
    raw(&path)
        .execute(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, type, checkpoint, metadata) \
             VALUES ('t', '', '3', 'json', x'00', CAST('{\"score\": NaN}' AS BLOB))",
            [],
        )
        .unwrap();
    let matching = |filters: Vec<(&str, Value)>| -> Vec<String> {
        store
            .list_page(&PageQuery {
                filters: filters
                    .into_iter()
                    .map(|(p, v)| (p.to_owned(), v))
                    .collect(),
                limit: 10,
                ..PageQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| r.checkpoint_id)
            .collect()
    };
    assert_eq!(
        matching(vec![("$.source", Value::Text("loop".into()))]),
        ["2"]
    );
    assert_eq!(matching(vec![("$.ok", Value::Integer(1))]), ["1"]);
    assert_eq!(
        matching(vec![("$.nested.a", Value::Text("b".into()))]),
        ["2"]
    );
    assert_eq!(matching(vec![("$.missing", Value::Null)]), ["2", "1"]);
    assert_eq!(
        matching(vec![
            ("$.source", Value::Text("input".into())),
            ("$.step", Value::Integer(2))
        ]),
        Vec::<String>::new()
    );
    assert_eq!(matching(vec![]), ["3", "2", "1"]);
}

#[test]
fn copy_and_delete_threads() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    put(&store, "src", "1", None, json!({}), json!({}));
    put_ns(&store, "src", "child", "2", None, json!({}), json!({}));
    put_writes(&store, "src", "1", "task", "", &[write(0, "x", "v")]);
    store.copy_thread("src", "dst").unwrap();
    assert_eq!(ids_of(&store, "dst"), ["2", "1"]);
    assert_eq!(
        write_values(&store.get("dst", "", None).unwrap().unwrap()),
        ["v"]
    );
    store.delete_thread("src").unwrap();
    assert!(ids_of(&store, "src").is_empty());
    assert_eq!(ids_of(&store, "dst"), ["2", "1"]);
}

// -- delta ancestry ------------------------------------------------------------------

#[test]
fn prune_keep_latest_spares_the_delta_chain() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    delta_chain(&store, "t");
    put(&store, "plain", "1", None, json!({"a": 1}), json!({}));
    put(&store, "plain", "2", Some("1"), json!({"a": 2}), json!({}));
    let mut stored = stored_channels;
    store
        .prune(&["t".to_owned(), "plain".to_owned()], true, &mut stored)
        .unwrap();
    // 4 needs 3, 2 and the seed at 1: nothing may go.
    assert_eq!(ids_of(&store, "t"), ["4", "3", "2", "1"]);
    assert_eq!(ids_of(&store, "plain"), ["2"]);
    store.prune(&["t".to_owned()], false, &mut stored).unwrap();
    assert!(ids_of(&store, "t").is_empty());
}

#[test]
fn delete_for_runs_spares_what_survivors_need() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    let counters = json!({"run_id": "r2", "counters_since_delta_snapshot": {"messages": [1, 1]}});
    put(
        &store,
        "t",
        "1",
        None,
        json!({"messages": "seed"}),
        json!({"run_id": "r0"}),
    );
    put(
        &store,
        "t",
        "2",
        Some("1"),
        json!({"messages": "snapshot"}),
        json!({"run_id": "r1"}),
    );
    put(
        &store,
        "t",
        "3",
        Some("2"),
        json!({}),
        json!({"run_id": "r1"}),
    );
    put(&store, "t", "4", Some("3"), json!({}), counters);
    put_writes(&store, "t", "3", "task", "", &[write(0, "messages", "m3")]);
    let mut stored = stored_channels;
    store
        .delete_for_runs(&["r0".to_owned(), "r1".to_owned()], &mut stored)
        .unwrap();
    // 4 needs 3 and the snapshot at 2; 1 is beyond the snapshot.
    assert_eq!(ids_of(&store, "t"), ["4", "3", "2"]);
    assert_eq!(
        write_values(&store.get("t", "", Some("3")).unwrap().unwrap()),
        ["m3"]
    );
}

#[test]
fn cleanup_counts_then_deletes_old_checkpoints_and_writes() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let store = open(&path);
    for id in ["1", "2", "3"] {
        put(&store, "t", id, None, json!({}), json!({}));
        put_writes(
            &store,
            "t",
            id,
            "task",
            "",
            &[write(0, "x", "v"), write(1, "y", "w")],
        );
    }
    raw(&path)
        .execute(
            "UPDATE checkpoints SET created_at = '2000-01-01 00:00:00.000'",
            [],
        )
        .unwrap();
    let mut stored = stored_channels;
    let counts = store
        .cleanup("2001-01-01 00:00:00", true, true, &mut stored)
        .unwrap();
    assert_eq!(
        counts,
        CleanupCounts {
            checkpoints: 2,
            writes: 4
        }
    );
    assert_eq!(ids_of(&store, "t"), ["3", "2", "1"]);
    let counts = store
        .cleanup("2001-01-01 00:00:00", true, false, &mut stored)
        .unwrap();
    assert_eq!(
        counts,
        CleanupCounts {
            checkpoints: 2,
            writes: 4
        }
    );
    assert_eq!(ids_of(&store, "t"), ["3"]);
    let counts = store
        .cleanup("1999-01-01 00:00:00", false, false, &mut stored)
        .unwrap();
    assert_eq!(counts, CleanupCounts::default());
    let counts = store
        .cleanup("2001-01-01 00:00:00", false, false, &mut stored)
        .unwrap();
    assert_eq!(
        counts,
        CleanupCounts {
            checkpoints: 1,
            writes: 2
        }
    );
}

#[test]
fn delta_history_walks_to_the_seed_oldest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    delta_chain(&store, "t");
    put_writes(
        &store,
        "t",
        "3",
        "a-task",
        "",
        &[write(0, "messages", "m3-first")],
    );
    put_writes(
        &store,
        "t",
        "3",
        "z-task",
        "",
        &[write(0, "other", "ignored")],
    );
    let mut visited = Vec::new();
    let mut seeds_in =
        |_: Option<&str>, data: Option<&[u8]>, seeking: &[String]| -> Result<Vec<String>> {
            let stored = stored_channels(None, data)?;
            visited.push(seeking.to_vec());
            Ok(seeking
                .iter()
                .filter(|c| stored.contains(*c))
                .cloned()
                .collect())
        };
    let history = store
        .delta_history(
            "t",
            "",
            None,
            &["messages".to_owned(), "never".to_owned()],
            &mut seeds_in,
        )
        .unwrap();
    // The target's own writes are pending, not history; the walk reached the root.
    assert_eq!(visited.len(), 3);
    let values = |writes: &[HistoryWrite]| -> Vec<String> {
        writes
            .iter()
            .map(|w| String::from_utf8(w.value.clone().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(history[0].0, "messages");
    assert_eq!(values(&history[0].1), ["m1", "m2", "m3-first", "m3"]);
    assert_eq!(history[1].0, "never");
    assert!(history[1].1.is_empty());

    let mut none =
        |_: Option<&str>, _: Option<&[u8]>, _: &[String]| -> Result<Vec<String>> { Ok(Vec::new()) };
    let missing = store
        .delta_history("t", "", Some("404"), &["messages".to_owned()], &mut none)
        .unwrap();
    assert!(missing.iter().all(|(_, writes)| writes.is_empty()));
}

// -- operations ------------------------------------------------------------------------

#[test]
fn stats_sizes_vacuum_and_backup() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    put(&store, "small", "1", None, json!({}), json!({}));
    put(
        &store,
        "big",
        "1",
        None,
        json!({"text": "x".repeat(5000)}),
        json!({}),
    );
    put_writes(&store, "big", "1", "task", "", &[write(0, "x", "12345")]);
    let stats = store.stats(1).unwrap();
    assert_eq!((stats.threads, stats.checkpoints, stats.writes), (2, 2, 1));
    assert_eq!(stats.largest_threads.len(), 1);
    assert_eq!(stats.largest_threads[0].thread_id, "big");
    assert_eq!(
        stats.largest_threads[0].bytes,
        blob(json!({"text": "x".repeat(5000)})).len() as i64 + 2 + 5
    );
    assert!(stats.bytes_on_disk >= 4096);
    assert_eq!(store.stats(-1).unwrap().largest_threads.len(), 2);

    store.vacuum().unwrap();
    let target: PathBuf = dir.path().join("copy.db");
    store.backup(target.to_str().unwrap()).unwrap();
    let copy = open(target.to_str().unwrap());
    assert_eq!(ids_of(&copy, "big"), ["1"]);
    assert!(store.db_size().unwrap() > 0);
}

#[test]
fn memory_databases_work_on_one_connection() {
    let store = open(":memory:");
    put(&store, "t", "1", None, json!({}), json!({}));
    assert_eq!(ids_of(&store, "t"), ["1"]);
    let target = TempDir::new().unwrap();
    let copy_path = target.path().join("m.db");
    store.backup(copy_path.to_str().unwrap()).unwrap();
    assert_eq!(ids_of(&open(copy_path.to_str().unwrap()), "t"), ["1"]);
}

#[test]
fn readers_do_not_wait_for_a_writer() {
    let dir = TempDir::new().unwrap();
    let path = db_path(&dir);
    let store = open(&path);
    put(&store, "t", "1", None, json!({}), json!({}));
    let other = raw(&path);
    other
        .execute_batch("BEGIN IMMEDIATE; DELETE FROM checkpoints;")
        .unwrap();
    // The other connection holds the write lock: reads still see the last commit.
    assert_eq!(ids_of(&store, "t"), ["1"]);
    other.execute_batch("COMMIT").unwrap();
    assert!(ids_of(&store, "t").is_empty());
}

#[test]
fn a_closed_store_refuses_everything() {
    let dir = TempDir::new().unwrap();
    let store = open(&db_path(&dir));
    store.close();
    store.close();
    assert!(matches!(store.get("t", "", None), Err(Error::Closed)));
    assert!(matches!(store.delete_thread("t"), Err(Error::Closed)));
    assert!(matches!(store.db_size(), Err(Error::Closed)));
    assert!(matches!(store.vacuum(), Err(Error::Closed)));
}
