//! `Store`: the connections to one database and every operation on raw rows.
//!
//! A file has one writer connection behind a mutex; every write is one BEGIN
//! IMMEDIATE transaction, rolled back when anything fails. Reads use a small pool
//! of query-only connections, so in WAL mode they never wait for the writer.
//! ":memory:" (and "") is a single connection: reads then take the writer's lock.
//! Mirrors the pure engine (`fast_langgraph_pure/engine.py`) call for call.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{
    params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior,
};

use super::ancestry::{self, Key, StoredChannels};
use super::schema::{self, Durability};
use super::sql::{self, PageShape, Queries};
use crate::error::{Error, Result};

const MEMORY: &str = ":memory:";
/// Idle read connections kept for reuse; more are opened under load and closed
/// when given back.
const MAX_IDLE_READERS: usize = 4;
const STATEMENT_CACHE_CAPACITY: usize = 32;
const READ_ONLY_MESSAGE: &str = "attempt to write a readonly database";

/// A checkpoints row with its pending writes, not decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointRow {
    pub thread_id: String,
    pub checkpoint_ns: String,
    pub checkpoint_id: String,
    pub parent_checkpoint_id: Option<String>,
    pub type_tag: Option<String>,
    pub checkpoint: Option<Vec<u8>>,
    pub metadata: Option<Vec<u8>>,
    /// Sorted by (task_path, task_id, idx).
    pub writes: Vec<WriteRow>,
}

/// A writes row, not decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRow {
    pub task_id: String,
    pub channel: String,
    pub type_tag: Option<String>,
    pub value: Option<Vec<u8>>,
    pub task_path: String,
    pub idx: i64,
}

impl WriteRow {
    fn sort_key(&self) -> (&str, &str, i64) {
        (&self.task_path, &self.task_id, self.idx)
    }
}

/// One write of a channel's delta history (the channel is the entry's key).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryWrite {
    pub task_id: String,
    pub type_tag: Option<String>,
    pub value: Option<Vec<u8>>,
}

/// A checkpoint to store, already encoded.
#[derive(Debug, Clone)]
pub struct NewCheckpoint<'a> {
    pub thread_id: &'a str,
    pub checkpoint_ns: &'a str,
    pub checkpoint_id: &'a str,
    pub parent_checkpoint_id: Option<&'a str>,
    pub type_tag: &'a str,
    pub checkpoint: &'a [u8],
    pub metadata: &'a [u8],
}

/// One (idx, channel, value) write, already encoded.
#[derive(Debug, Clone)]
pub struct NewWrite {
    pub idx: i64,
    pub channel: String,
    pub type_tag: String,
    pub value: Vec<u8>,
}

/// The arguments of `list_page`; see the engine protocol.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    pub thread_id: Option<String>,
    pub checkpoint_ns: Option<String>,
    pub checkpoint_id: Option<String>,
    /// (JSON path, value compared with `IS`).
    pub filters: Vec<(String, Value)>,
    pub before_id: Option<String>,
    /// (checkpoint_id, thread_id, checkpoint_ns) of the last row of the previous page.
    pub after: Option<(String, String, String)>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupCounts {
    pub checkpoints: i64,
    pub writes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStats {
    pub thread_id: String,
    pub checkpoints: i64,
    pub writes: i64,
    pub bytes: i64,
    pub latest_checkpoint_id: Option<String>,
    pub latest_created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub threads: i64,
    pub checkpoints: i64,
    pub writes: i64,
    pub bytes_on_disk: i64,
    pub data_bytes: i64,
    pub largest_threads: Vec<ThreadStats>,
}

/// Given an ancestor's type tag and blob and the channels still sought, the
/// sought channels its `channel_values` holds (the caller keeps their values).
pub type SeedsIn<'a> =
    dyn FnMut(Option<&str>, Option<&[u8]>, &[String]) -> Result<Vec<String>> + 'a;

/// The connections to one database.
pub struct Store {
    path: String,
    read_only: bool,
    /// Reads use pooled connections (a file); otherwise the single `main` one.
    pooled: bool,
    /// The writer, or the single connection; None once closed (or for a
    /// read-only file, which only has readers).
    main: Mutex<Option<Connection>>,
    /// Idle readers; None once closed.
    idle_readers: Mutex<Option<Vec<Connection>>>,
    queries: Queries,
}

/// SQLite's own message for a failed open (rusqlite appends the path).
fn plain_open_error(err: rusqlite::Error) -> Error {
    match err {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == rusqlite::ErrorCode::CannotOpen =>
        {
            Error::Sqlite(rusqlite::Error::SqliteFailure(
                failure,
                Some("unable to open database file".to_owned()),
            ))
        }
        other => Error::Sqlite(other),
    }
}

/// Open like Python's `sqlite3.connect(path)`: never as a URI.
fn connect(path: &str, flags: OpenFlags) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(plain_open_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(conn)
}

fn read_write_create() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
}

/// A blob column's bytes (TEXT is accepted too: other writers may store text).
pub(super) fn bytes_of(value: ValueRef<'_>) -> Option<&[u8]> {
    match value {
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Some(bytes),
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite inconsistent (the
    // transaction rolls back when dropped), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What Python's sqlite3 says when a write reaches a read-only database; the
/// engine says it before trying.
fn read_only_error() -> Error {
    Error::Operational(READ_ONLY_MESSAGE.to_owned())
}

fn checkpoint_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointRow> {
    Ok(CheckpointRow {
        thread_id: row.get(0)?,
        checkpoint_ns: row.get(1)?,
        checkpoint_id: row.get(2)?,
        parent_checkpoint_id: row.get(3)?,
        type_tag: row.get(4)?,
        checkpoint: bytes_of(row.get_ref(5)?).map(<[u8]>::to_vec),
        metadata: bytes_of(row.get_ref(6)?).map(<[u8]>::to_vec),
        writes: Vec::new(),
    })
}

impl Store {
    /// Open `path` (a file path, ":memory:" or "" for a private temporary database).
    /// A writable file is configured and migrated; `read_only` never writes.
    pub fn open(path: &str, durability: Durability, read_only: bool) -> Result<Store> {
        let single = path == MEMORY || path.is_empty();
        if read_only {
            let (main, pooled_first) = if single {
                (Some(connect(path, read_write_create())?), None)
            } else {
                (None, Some(Self::open_reader_for(path, true)?))
            };
            let first = main
                .as_ref()
                .or(pooled_first.as_ref())
                .expect("one connection is open");
            let (has_task_path, has_created_at) = schema::optional_columns(first)?;
            return Ok(Store {
                path: path.to_owned(),
                read_only,
                pooled: !single,
                main: Mutex::new(main),
                idle_readers: Mutex::new(Some(pooled_first.into_iter().collect())),
                queries: Queries::new(has_task_path, has_created_at),
            });
        }
        let conn = connect(path, read_write_create())?;
        schema::configure_writer(&conn, durability)?;
        schema::migrate(&conn)?;
        Ok(Store {
            path: path.to_owned(),
            read_only,
            pooled: !single,
            main: Mutex::new(Some(conn)),
            idle_readers: Mutex::new(Some(Vec::new())),
            queries: Queries::new(true, true),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Release the file. Idempotent; later calls fail with `Error::Closed`.
    pub fn close(&self) {
        let main = lock(&self.main).take();
        drop(main);
        let idle = lock(&self.idle_readers).take();
        drop(idle);
    }

    // -- connections ---------------------------------------------------------

    fn open_reader_for(path: &str, read_only: bool) -> Result<Connection> {
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            // No CREATE: a reader never brings a deleted file back.
            OpenFlags::SQLITE_OPEN_READ_WRITE
        };
        let conn = connect(path, flags)?;
        schema::configure_reader(&conn)?;
        Ok(conn)
    }

    fn checkout_reader(&self) -> Result<Connection> {
        {
            let mut idle = lock(&self.idle_readers);
            match idle.as_mut() {
                None => return Err(Error::Closed),
                Some(readers) => {
                    if let Some(reader) = readers.pop() {
                        return Ok(reader);
                    }
                }
            }
        }
        Self::open_reader_for(&self.path, self.read_only)
    }

    fn return_reader(&self, reader: Connection) {
        let mut idle = lock(&self.idle_readers);
        if let Some(readers) = idle.as_mut() {
            if readers.len() < MAX_IDLE_READERS {
                readers.push(reader);
            }
        }
    }

    /// Run `work` on a connection that sees every committed write.
    ///
    /// A short read borrows the writer connection when it is idle: its page cache
    /// is warm (it made the last changes), which keeps a single-threaded put/get
    /// loop as fast as with one connection. Otherwise, and for long reads that
    /// must not hold up writers, a pooled reader runs `work` in one read
    /// transaction (a consistent snapshot) without waiting for the writer.
    fn read<T>(&self, short: bool, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if !self.pooled {
            let main = lock(&self.main);
            let conn = main.as_ref().ok_or(Error::Closed)?;
            return work(conn);
        }
        if short {
            let idle_writer = match self.main.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(main) = idle_writer {
                if let Some(conn) = main.as_ref() {
                    return work(conn);
                }
            }
        }
        let reader = self.checkout_reader()?;
        let outcome = (|| {
            reader.execute_batch("BEGIN")?;
            let result = work(&reader);
            let ended = reader.execute_batch(sql::COMMIT);
            let value = result?;
            ended?;
            Ok(value)
        })();
        self.return_reader(reader);
        outcome
    }

    /// Run `work` in one BEGIN IMMEDIATE transaction; when anything fails the
    /// database is left as it was.
    fn write<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if self.read_only {
            return Err(read_only_error());
        }
        let mut main = lock(&self.main);
        let conn = main.as_mut().ok_or(Error::Closed)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    // -- the checkpoint contract -----------------------------------------------

    fn writes_of(&self, conn: &Connection, key: (&str, &str, &str)) -> Result<Vec<WriteRow>> {
        let mut stmt = conn.prepare_cached(&self.queries.select_writes)?;
        let rows = stmt.query_map(params![key.0, key.1, key.2], |row| {
            Ok(WriteRow {
                task_id: row.get(0)?,
                channel: row.get(1)?,
                type_tag: row.get(2)?,
                value: bytes_of(row.get_ref(3)?).map(<[u8]>::to_vec),
                task_path: row.get(4)?,
                idx: row.get(5)?,
            })
        })?;
        let mut writes = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        writes.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Ok(writes)
    }

    /// The checkpoint with that id, or the latest (greatest id) when None.
    pub fn get(
        &self,
        thread_id: &str,
        checkpoint_ns: &str,
        checkpoint_id: Option<&str>,
    ) -> Result<Option<CheckpointRow>> {
        self.read(true, |conn| {
            let found = match checkpoint_id {
                None => conn
                    .prepare_cached(sql::SELECT_LATEST_CHECKPOINT)?
                    .query_row(params![thread_id, checkpoint_ns], checkpoint_row)
                    .optional()?,
                Some(id) => conn
                    .prepare_cached(sql::SELECT_CHECKPOINT)?
                    .query_row(params![thread_id, checkpoint_ns, id], checkpoint_row)
                    .optional()?,
            };
            let Some(mut row) = found else {
                return Ok(None);
            };
            row.writes = self.writes_of(
                conn,
                (&row.thread_id, &row.checkpoint_ns, &row.checkpoint_id),
            )?;
            Ok(Some(row))
        })
    }

    /// At most `limit` rows newest first, their writes fetched in one query.
    pub fn list_page(&self, query: &PageQuery) -> Result<Vec<CheckpointRow>> {
        if query.limit <= 0 {
            return Ok(Vec::new());
        }
        let text = sql::select_page(PageShape {
            by_thread: query.thread_id.is_some(),
            by_namespace: query.checkpoint_ns.is_some(),
            by_checkpoint_id: query.checkpoint_id.is_some(),
            filters: query.filters.len(),
            before: query.before_id.is_some(),
            after: query.after.is_some(),
        });
        let mut values: Vec<Value> = Vec::new();
        for text in [&query.thread_id, &query.checkpoint_ns, &query.checkpoint_id]
            .into_iter()
            .flatten()
        {
            values.push(Value::Text(text.clone()));
        }
        for (path, value) in &query.filters {
            values.push(Value::Text(path.clone()));
            values.push(value.clone());
        }
        if let Some(before) = &query.before_id {
            values.push(Value::Text(before.clone()));
        }
        if let Some((checkpoint_id, thread_id, checkpoint_ns)) = &query.after {
            values.push(Value::Text(checkpoint_id.clone()));
            values.push(Value::Text(thread_id.clone()));
            values.push(Value::Text(checkpoint_ns.clone()));
        }
        values.push(Value::Integer(query.limit));

        self.read(true, |conn| {
            let mut rows = conn
                .prepare_cached(&text)?
                .query_map(params_from_iter(values.iter()), checkpoint_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if rows.is_empty() {
                return Ok(rows);
            }
            let keys: Vec<[&str; 3]> = rows
                .iter()
                .map(|r| {
                    [
                        r.thread_id.as_str(),
                        r.checkpoint_ns.as_str(),
                        r.checkpoint_id.as_str(),
                    ]
                })
                .collect();
            let keys = serde_json::to_string(&keys).expect("strings serialize");
            let mut by_key: HashMap<(String, String, String), Vec<WriteRow>> = HashMap::new();
            {
                let mut stmt = conn.prepare_cached(&self.queries.select_page_writes)?;
                let mut found = stmt.query(params![keys])?;
                while let Some(row) = found.next()? {
                    let key = (row.get(0)?, row.get(1)?, row.get(2)?);
                    by_key.entry(key).or_default().push(WriteRow {
                        task_id: row.get(3)?,
                        channel: row.get(4)?,
                        type_tag: row.get(5)?,
                        value: bytes_of(row.get_ref(6)?).map(<[u8]>::to_vec),
                        task_path: row.get(7)?,
                        idx: row.get(8)?,
                    });
                }
            }
            for row in &mut rows {
                let key = (
                    row.thread_id.clone(),
                    row.checkpoint_ns.clone(),
                    row.checkpoint_id.clone(),
                );
                if let Some(mut writes) = by_key.remove(&key) {
                    writes.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                    row.writes = writes;
                }
            }
            Ok(rows)
        })
    }

    /// INSERT OR REPLACE the checkpoint, created_at set to now (UTC).
    pub fn put(&self, checkpoint: &NewCheckpoint<'_>) -> Result<()> {
        self.write(|conn| {
            conn.prepare_cached(sql::INSERT_CHECKPOINT)?
                .execute(params![
                    checkpoint.thread_id,
                    checkpoint.checkpoint_ns,
                    checkpoint.checkpoint_id,
                    checkpoint.parent_checkpoint_id,
                    checkpoint.type_tag,
                    checkpoint.checkpoint,
                    checkpoint.metadata,
                ])?;
            Ok(())
        })
    }

    /// Store writes in one transaction; INSERT OR REPLACE when `replace`, else
    /// INSERT OR IGNORE (first writer wins).
    #[allow(clippy::too_many_arguments)]
    pub fn put_writes(
        &self,
        thread_id: &str,
        checkpoint_ns: &str,
        checkpoint_id: &str,
        task_id: &str,
        task_path: &str,
        writes: &[NewWrite],
        replace: bool,
    ) -> Result<()> {
        let text = if replace {
            sql::INSERT_WRITE_REPLACE
        } else {
            sql::INSERT_WRITE_IGNORE
        };
        self.write(|conn| {
            let mut stmt = conn.prepare_cached(text)?;
            for write in writes {
                stmt.execute(params![
                    thread_id,
                    checkpoint_ns,
                    checkpoint_id,
                    task_id,
                    task_path,
                    write.idx,
                    write.channel,
                    write.type_tag,
                    write.value,
                ])?;
            }
            Ok(())
        })
    }

    pub fn delete_thread(&self, thread_id: &str) -> Result<()> {
        self.write(|conn| delete_whole_thread(conn, thread_id))
    }

    /// Delete checkpoints whose metadata run_id is in `run_ids`, sparing the delta
    /// ancestry of survivors.
    pub fn delete_for_runs(
        &self,
        run_ids: &[String],
        stored: &mut StoredChannels<'_>,
    ) -> Result<()> {
        if run_ids.is_empty() {
            return Ok(());
        }
        let wanted = serde_json::to_string(run_ids).expect("strings serialize");
        self.write(|conn| {
            let candidates = select_keys(conn, sql::SELECT_RUN_CHECKPOINTS, &wanted)?;
            let doomed = ancestry::deletable(conn, candidates, stored)?;
            delete_checkpoints(conn, &doomed)
        })
    }

    /// Copy every checkpoint and write of a thread; same keys on the target are replaced.
    pub fn copy_thread(&self, source_thread_id: &str, target_thread_id: &str) -> Result<()> {
        self.write(|conn| {
            conn.prepare_cached(sql::COPY_THREAD_CHECKPOINTS)?
                .execute(params![target_thread_id, source_thread_id])?;
            conn.prepare_cached(sql::COPY_THREAD_WRITES)?
                .execute(params![target_thread_id, source_thread_id])?;
            Ok(())
        })
    }

    /// keep_latest: keep each namespace's newest checkpoint and the delta ancestry it
    /// needs; otherwise delete the threads.
    pub fn prune(
        &self,
        thread_ids: &[String],
        keep_latest: bool,
        stored: &mut StoredChannels<'_>,
    ) -> Result<()> {
        if thread_ids.is_empty() {
            return Ok(());
        }
        self.write(|conn| {
            for thread_id in thread_ids {
                if keep_latest {
                    let candidates =
                        select_keys(conn, sql::SELECT_NON_LATEST_OF_THREAD, thread_id)?;
                    let doomed = ancestry::deletable(conn, candidates, stored)?;
                    delete_checkpoints(conn, &doomed)?;
                } else {
                    delete_whole_thread(conn, thread_id)?;
                }
            }
            Ok(())
        })
    }

    /// Per channel, the writes on the parent chain of the target (oldest first) up
    /// to the seed. `seeds_in(type, blob, seeking)` decodes one ancestor and
    /// returns which of the sought channels its `channel_values` holds; the caller
    /// keeps those values as seeds.
    pub fn delta_history(
        &self,
        thread_id: &str,
        checkpoint_ns: &str,
        checkpoint_id: Option<&str>,
        channels: &[String],
        seeds_in: &mut SeedsIn<'_>,
    ) -> Result<Vec<(String, Vec<HistoryWrite>)>> {
        // Unique channels, in the order asked.
        let mut wanted: Vec<String> = Vec::new();
        for channel in channels {
            if !wanted.contains(channel) {
                wanted.push(channel.clone());
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        // Newest-first ancestor ids whose writes each channel needs.
        let mut chain_by_channel: HashMap<String, Vec<String>> =
            wanted.iter().map(|c| (c.clone(), Vec::new())).collect();
        // Long: decodes while walking.
        let found = self.read(false, |conn| {
            let target = match checkpoint_id {
                Some(id) => Some(id.to_owned()),
                None => conn
                    .prepare_cached(sql::SELECT_LATEST_CHECKPOINT_ID)?
                    .query_row(params![thread_id, checkpoint_ns], |row| {
                        row.get::<_, Option<String>>(0)
                    })?,
            };
            let Some(target) = target else {
                return Ok(Vec::new());
            };
            let mut seeking: Vec<String> = wanted.clone();
            let mut walked: HashSet<String> = HashSet::new();
            {
                let mut stmt = conn.prepare_cached(sql::SELECT_ANCESTORS)?;
                let mut rows = stmt.query(params![
                    thread_id,
                    checkpoint_ns,
                    target,
                    thread_id,
                    checkpoint_ns
                ])?;
                while let Some(row) = rows.next()? {
                    let id: String = row.get(0)?;
                    if walked.is_empty() {
                        // The first row is the target itself.
                        walked.insert(id);
                        continue;
                    }
                    if !walked.insert(id.clone()) {
                        // A parent loop made by re-put ids.
                        break;
                    }
                    for channel in &seeking {
                        chain_by_channel
                            .get_mut(channel)
                            .expect("wanted")
                            .push(id.clone());
                    }
                    let type_tag: Option<String> = row.get(1)?;
                    let seeded =
                        seeds_in(type_tag.as_deref(), bytes_of(row.get_ref(2)?), &seeking)?;
                    seeking.retain(|channel| !seeded.contains(channel));
                    if seeking.is_empty() {
                        break;
                    }
                }
            }
            let mut chain_ids: Vec<&String> = chain_by_channel.values().flatten().collect();
            chain_ids.sort();
            chain_ids.dedup();
            if chain_ids.is_empty() {
                return Ok(Vec::new());
            }
            let ids = serde_json::to_string(&chain_ids).expect("strings serialize");
            let asked = serde_json::to_string(&wanted).expect("strings serialize");
            let mut stmt = conn.prepare_cached(&self.queries.select_ancestor_writes)?;
            let rows = stmt.query_map(params![thread_id, checkpoint_ns, ids, asked], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    WriteRow {
                        task_id: row.get(2)?,
                        idx: row.get(3)?,
                        type_tag: row.get(4)?,
                        value: bytes_of(row.get_ref(5)?).map(<[u8]>::to_vec),
                        task_path: row.get(6)?,
                        channel: String::new(),
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;

        let mut by_channel_and_id: HashMap<(String, String), Vec<WriteRow>> = HashMap::new();
        for (checkpoint_id, channel, write) in found {
            by_channel_and_id
                .entry((channel, checkpoint_id))
                .or_default()
                .push(write);
        }
        let mut histories = Vec::with_capacity(wanted.len());
        for channel in wanted {
            let mut collected = Vec::new();
            for id in chain_by_channel[&channel].iter().rev() {
                if let Some(mut stored) = by_channel_and_id.remove(&(channel.clone(), id.clone())) {
                    stored.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
                    collected.extend(stored.into_iter().map(|w| HistoryWrite {
                        task_id: w.task_id,
                        type_tag: w.type_tag,
                        value: w.value,
                    }));
                }
            }
            histories.push((channel, collected));
        }
        Ok(histories)
    }

    // -- operations --------------------------------------------------------------

    /// Delete (or with `dry_run` count) checkpoints created before `created_before`
    /// and their writes, sparing each namespace's newest with `keep_latest` and the
    /// delta ancestry of every survivor.
    pub fn cleanup(
        &self,
        created_before: &str,
        keep_latest: bool,
        dry_run: bool,
        stored: &mut StoredChannels<'_>,
    ) -> Result<CleanupCounts> {
        if !self.queries.has_created_at {
            return Err(Error::Operational(
                "this database has no checkpoints.created_at column (a SqliteSaver \
                 file opened read-only): open it writable once to migrate it"
                    .to_owned(),
            ));
        }
        let select = if keep_latest {
            sql::SELECT_EXPIRED_KEEP_LATEST
        } else {
            sql::SELECT_EXPIRED
        };
        let plan =
            |conn: &Connection, stored: &mut StoredChannels<'_>| -> Result<(Vec<Key>, i64)> {
                let candidates = select_keys(conn, select, created_before)?;
                let doomed = ancestry::deletable(conn, candidates, stored)?;
                let mut writes = 0;
                let mut count = conn.prepare_cached(sql::COUNT_CHECKPOINT_WRITES)?;
                for (thread_id, checkpoint_ns, checkpoint_id) in &doomed {
                    writes += count
                        .query_row(params![thread_id, checkpoint_ns, checkpoint_id], |row| {
                            row.get::<_, i64>(0)
                        })?;
                }
                Ok((doomed, writes))
            };
        let (doomed, writes) = if dry_run {
            self.read(false, |conn| plan(conn, stored))?
        } else {
            self.write(|conn| {
                let (doomed, writes) = plan(conn, stored)?;
                delete_checkpoints(conn, &doomed)?;
                Ok((doomed, writes))
            })?
        };
        Ok(CleanupCounts {
            checkpoints: doomed.len() as i64,
            writes,
        })
    }

    /// Counts and sizes from blob lengths; `top` largest threads (all when negative).
    pub fn stats(&self, top: i64) -> Result<Stats> {
        let (totals, largest) = self.read(false, |conn| {
            let totals = conn
                .prepare_cached(&self.queries.select_totals)?
                .query_row([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?;
            let mut stmt = conn.prepare_cached(&self.queries.select_largest_threads)?;
            let largest = stmt
                .query_map(params![top], |row| {
                    Ok(ThreadStats {
                        thread_id: row.get(0)?,
                        checkpoints: row.get(1)?,
                        writes: row.get(2)?,
                        bytes: row.get(3)?,
                        latest_checkpoint_id: row.get(4)?,
                        latest_created_at: row.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((totals, largest))
        })?;
        Ok(Stats {
            threads: totals.0,
            checkpoints: totals.1,
            writes: totals.2,
            bytes_on_disk: self.db_size()?,
            data_bytes: totals.3,
            largest_threads: largest,
        })
    }

    /// Bytes on disk: the database pages plus the WAL file, if any.
    pub fn db_size(&self) -> Result<i64> {
        let mut size = self.read(true, |conn| {
            let pages: i64 = conn
                .prepare_cached(sql::PAGE_COUNT)?
                .query_row([], |row| row.get(0))?;
            let page_size: i64 = conn
                .prepare_cached(sql::PAGE_SIZE)?
                .query_row([], |row| row.get(0))?;
            Ok(pages * page_size)
        })?;
        if self.pooled {
            if let Ok(meta) = std::fs::metadata(format!("{}-wal", self.path)) {
                size += i64::try_from(meta.len()).unwrap_or(i64::MAX);
            }
        }
        Ok(size)
    }

    /// Give the space of deleted rows back to the file system.
    pub fn vacuum(&self) -> Result<()> {
        if self.read_only {
            return Err(read_only_error());
        }
        let main = lock(&self.main);
        let conn = main.as_ref().ok_or(Error::Closed)?;
        conn.execute_batch(sql::VACUUM)?;
        // Give the space back now rather than at the next checkpoint.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Copy the live database to `target_path` with SQLite's online backup API.
    pub fn backup(&self, target_path: &str) -> Result<()> {
        let copy = |source: &Connection| -> Result<()> {
            let mut target = connect(target_path, read_write_create())?;
            let backup = Backup::new(source, &mut target)?;
            backup.run_to_completion(i32::MAX, Duration::from_millis(250), None)?;
            Ok(())
        };
        if self.pooled {
            // The backup API needs no open transaction on the source.
            let reader = self.checkout_reader()?;
            let outcome = copy(&reader);
            self.return_reader(reader);
            outcome
        } else {
            let main = lock(&self.main);
            copy(main.as_ref().ok_or(Error::Closed)?)
        }
    }
}

fn select_keys(conn: &Connection, text: &str, param: &str) -> Result<Vec<Key>> {
    let mut stmt = conn.prepare_cached(text)?;
    let keys = stmt
        .query_map(params![param], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<Key>>>()?;
    Ok(keys)
}

fn delete_whole_thread(conn: &Connection, thread_id: &str) -> Result<()> {
    conn.prepare_cached(sql::DELETE_THREAD_CHECKPOINTS)?
        .execute(params![thread_id])?;
    conn.prepare_cached(sql::DELETE_THREAD_WRITES)?
        .execute(params![thread_id])?;
    Ok(())
}

fn delete_checkpoints(conn: &Connection, keys: &[Key]) -> Result<()> {
    let mut delete_writes = conn.prepare_cached(sql::DELETE_CHECKPOINT_WRITES)?;
    for (thread_id, checkpoint_ns, checkpoint_id) in keys {
        delete_writes.execute(params![thread_id, checkpoint_ns, checkpoint_id])?;
    }
    let mut delete = conn.prepare_cached(sql::DELETE_CHECKPOINT)?;
    for (thread_id, checkpoint_ns, checkpoint_id) in keys {
        delete.execute(params![thread_id, checkpoint_ns, checkpoint_id])?;
    }
    Ok(())
}
