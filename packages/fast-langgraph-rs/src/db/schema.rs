//! Opening a connection: pragmas, then the `user_version` migration ladder.
//!
//! Mirrors `fast_langgraph_pure/storage.py` (`configure_writer`, `configure_reader`,
//! `migrate`, `created_at_from_checkpoint_id`), so either engine upgrades a file
//! to exactly the same schema.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::sql;
use crate::error::{Error, Result};

/// How much an engine waits for a commit to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// WAL with synchronous=NORMAL: survives an application crash.
    Normal,
    /// WAL with synchronous=FULL: one fsync per commit, as SqliteSaver.
    Full,
}

impl Durability {
    pub fn parse(name: &str) -> Option<Durability> {
        match name {
            "normal" => Some(Durability::Normal),
            "full" => Some(Durability::Full),
            _ => None,
        }
    }

    fn synchronous(self) -> &'static str {
        match self {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        }
    }
}

/// Pragmas for a writable connection, outside any transaction.
pub fn configure_writer(conn: &Connection, durability: Durability) -> Result<()> {
    conn.busy_timeout(Duration::from_millis(sql::BUSY_TIMEOUT_MS.into()))?;
    enable_wal(conn)?;
    conn.pragma_update(None, "synchronous", durability.synchronous())?;
    Ok(())
}

/// Switch the file to WAL (a no-op when it already is). The switch needs the file
/// to itself and SQLite answers "database is locked" at once, without its busy
/// handler, while another process opens or switches it: retry until the busy
/// timeout has passed, as the pure engine does.
fn enable_wal(conn: &Connection) -> Result<()> {
    let deadline = Instant::now() + Duration::from_millis(sql::BUSY_TIMEOUT_MS.into());
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(())) {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return Ok(other?),
        }
    }
}

/// Pragmas for a connection that only reads.
pub fn configure_reader(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_millis(sql::BUSY_TIMEOUT_MS.into()))?;
    conn.pragma_update(None, "query_only", 1)?;
    Ok(())
}

pub fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(sql::SELECT_USER_VERSION, [], |row| row.get(0))?)
}

/// Column names of a table (empty when it does not exist).
pub fn table_columns(conn: &Connection, table_info_sql: &str) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare(table_info_sql)?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(1))?
        .collect::<rusqlite::Result<HashSet<String>>>()?;
    Ok(names)
}

/// Bring the file to `SCHEMA_VERSION`.
///
/// Always takes the write lock (BEGIN IMMEDIATE), so opening a file we cannot
/// write fails right away. The version is read inside the transaction, so when
/// two processes open one file at once the second sees the first's work.
pub fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch(sql::BEGIN_IMMEDIATE)?;
    let outcome = migrate_in_transaction(conn);
    match outcome {
        Ok(()) => conn.execute_batch(sql::COMMIT)?,
        Err(_) => {
            if !conn.is_autocommit() {
                // The original error matters more than a failed rollback.
                let _ = conn.execute_batch(sql::ROLLBACK);
            }
        }
    }
    outcome
}

fn migrate_in_transaction(conn: &Connection) -> Result<()> {
    let version = user_version(conn)?;
    if version > sql::SCHEMA_VERSION {
        return Err(Error::Operational(format!(
            "database schema version {version} is newer than this fast-langgraph supports ({})",
            sql::SCHEMA_VERSION
        )));
    }
    if version < 1 {
        migration_1(conn)?;
    }
    if version != sql::SCHEMA_VERSION {
        conn.pragma_update(None, "user_version", sql::SCHEMA_VERSION)?;
    }
    Ok(())
}

fn migration_1(conn: &Connection) -> Result<()> {
    for statement in sql::BASE_SCHEMA {
        conn.execute(statement, [])?;
    }
    if !table_columns(conn, sql::TABLE_INFO_WRITES)?.contains("task_path") {
        conn.execute(sql::ADD_WRITES_TASK_PATH, [])?;
    }
    if !table_columns(conn, sql::TABLE_INFO_CHECKPOINTS)?.contains("created_at") {
        conn.execute(sql::ADD_CHECKPOINTS_CREATED_AT, [])?;
    }
    let backfill: Vec<(String, i64)> = {
        let mut stmt = conn.prepare(sql::SELECT_CREATED_AT_BACKFILL)?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut backfill = Vec::new();
        for row in rows {
            let (rowid, checkpoint_id) = row?;
            if let Some(created_at) = created_at_from_checkpoint_id(&checkpoint_id) {
                backfill.push((created_at, rowid));
            }
        }
        backfill
    };
    {
        let mut update = conn.prepare(sql::UPDATE_CREATED_AT)?;
        for (created_at, rowid) in &backfill {
            update.execute(rusqlite::params![created_at, rowid])?;
        }
    }
    conn.execute(sql::UPDATE_CREATED_AT_NOW, [])?;
    for statement in sql::MIGRATION_1_DDL {
        conn.execute(statement, [])?;
    }
    Ok(())
}

/// Which optional columns a file has (a read-only file may never have been migrated).
pub fn optional_columns(conn: &Connection) -> Result<(bool, bool)> {
    let has_task_path = table_columns(conn, sql::TABLE_INFO_WRITES)?.contains("task_path");
    let has_created_at = table_columns(conn, sql::TABLE_INFO_CHECKPOINTS)?.contains("created_at");
    Ok((has_task_path, has_created_at))
}

// -- created_at from uuid6 ids ---------------------------------------------------------

/// 100 ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
const UUID_EPOCH_OFFSET: i64 = 0x01B2_1DD2_1381_4000;
/// 9999-12-31 23:59:59.999 UTC in Unix milliseconds.
const LAST_MILLISECOND: i64 = 253_402_300_799_999;

/// The creation time a uuid6 checkpoint id carries, as `YYYY-MM-DD HH:MM:SS.mmm`
/// (UTC, truncated to milliseconds); None when the id is not a canonical uuid6
/// (hyphenated hex, version digit 6) or its time is before 1970 or after 9999.
pub fn created_at_from_checkpoint_id(checkpoint_id: &str) -> Option<String> {
    let bytes = checkpoint_id.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => b == b'-',
            14 => b == b'6',
            _ => b.is_ascii_hexdigit(),
        };
        if !ok {
            return None;
        }
    }
    // uuid6 stores the 60-bit timestamp high bits first: 48 bits, the version
    // nibble, then the low 12 bits.
    let high: String = checkpoint_id[..13].chars().filter(|c| *c != '-').collect();
    let high = i64::from_str_radix(&high, 16).ok()?;
    let low = i64::from_str_radix(&checkpoint_id[15..18], 16).ok()?;
    let ticks = (high << 12) | low;
    let milliseconds = (ticks - UUID_EPOCH_OFFSET).div_euclid(10_000);
    if !(0..=LAST_MILLISECOND).contains(&milliseconds) {
        return None;
    }
    Some(format_utc_milliseconds(milliseconds))
}

/// Unix milliseconds (non-negative) as `YYYY-MM-DD HH:MM:SS.mmm`.
fn format_utc_milliseconds(milliseconds: i64) -> String {
    let days = milliseconds.div_euclid(86_400_000);
    let in_day = milliseconds.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let seconds = in_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        in_day % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid6_ids_carry_their_time() {
        // Expected values computed by the pure engine's storage.created_at_from_checkpoint_id.
        let cases = [
            (
                "1ef09e5b-3e5d-6f3b-bfff-6a0e0fd7e4b7",
                "2024-05-04 07:12:44.212",
            ),
            (
                "ffffffff-ffff-6fff-8000-000000000000",
                "5236-03-31 21:21:00.684",
            ),
            (
                "1F09E5B3-E5D6-6F3B-BFFF-6A0E0FD7E4B7",
                "2025-10-01 00:11:57.400",
            ),
            (
                "1f1ead8f-102e-616d-97cd-55a451e48066",
                "2026-11-28 03:08:10.252",
            ),
        ];
        for (id, expected) in cases {
            assert_eq!(
                created_at_from_checkpoint_id(id).as_deref(),
                Some(expected),
                "{id}"
            );
        }
    }

    #[test]
    fn other_ids_have_no_time() {
        assert_eq!(created_at_from_checkpoint_id("not-a-uuid"), None);
        // uuid4: version digit 4.
        assert_eq!(
            created_at_from_checkpoint_id("9f1c3f0e-8f5e-4b6e-9c3a-2f1d0e4b5a6c"),
            None
        );
        // Before 1970.
        assert_eq!(
            created_at_from_checkpoint_id("00000000-0000-6000-8000-000000000000"),
            None
        );
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(format_utc_milliseconds(0), "1970-01-01 00:00:00.000");
        assert_eq!(
            format_utc_milliseconds(951_782_400_000),
            "2000-02-29 00:00:00.000"
        );
        assert_eq!(
            format_utc_milliseconds(LAST_MILLISECOND),
            "9999-12-31 23:59:59.999"
        );
    }
}
