//! Every SQL statement of the engine, and the schema.
//!
//! The text mirrors `fast_langgraph_pure/storage.py`, the source of truth for
//! the schema both engines create: the DDL below is byte for byte the same,
//! so `sqlite_master` of a file made by either engine is identical.

/// `PRAGMA user_version` of a file carrying every migration. SqliteSaver leaves it at 0.
pub const SCHEMA_VERSION: i64 = 1;

pub const BUSY_TIMEOUT_MS: u32 = 5000;

macro_rules! now_sql {
    () => {
        "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    };
}

/// Metadata is a BLOB; json functions need text. Every json_extract sits behind
/// json_valid inside a CASE (evaluated in order), so one row whose metadata is not
/// valid JSON (json.dumps writes NaN) cannot fail a whole query.
macro_rules! metadata_text {
    () => {
        "CAST(metadata AS TEXT)"
    };
}

macro_rules! checkpoint_columns {
    () => {
        "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
    };
}

// -- schema (SqliteSaver's DDL verbatim, then migration 1) --------------------

pub const CREATE_CHECKPOINTS: &str = "CREATE TABLE IF NOT EXISTS checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    type TEXT,
    checkpoint BLOB,
    metadata BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
)";

pub const CREATE_WRITES: &str = "CREATE TABLE IF NOT EXISTS writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT,
    value BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
)";

/// Files made before SqliteSaver had `task_path` lack the column.
pub const ADD_WRITES_TASK_PATH: &str =
    "ALTER TABLE writes ADD COLUMN task_path TEXT NOT NULL DEFAULT ''";

/// The tables every version starts from (what SqliteSaver 3.1 creates).
pub const BASE_SCHEMA: [&str; 2] = [CREATE_CHECKPOINTS, CREATE_WRITES];

pub const ADD_CHECKPOINTS_CREATED_AT: &str = "ALTER TABLE checkpoints ADD COLUMN created_at TEXT";

pub const CREATE_CREATED_AT_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS checkpoints_created_at ON checkpoints (created_at)";

/// Rows inserted by SqliteSaver (which knows nothing of created_at) get one too.
pub const CREATE_CREATED_AT_TRIGGER: &str = concat!(
    "CREATE TRIGGER IF NOT EXISTS checkpoints_created_at_default
AFTER INSERT ON checkpoints
FOR EACH ROW WHEN NEW.created_at IS NULL
BEGIN
    UPDATE checkpoints SET created_at = ",
    now_sql!(),
    "
    WHERE thread_id = NEW.thread_id
      AND checkpoint_ns = NEW.checkpoint_ns
      AND checkpoint_id = NEW.checkpoint_id;
END"
);

/// So that `DELETE FROM checkpoints WHERE ...` by hand leaves no orphan writes.
/// (INSERT OR REPLACE does not fire it: recursive_triggers stays off.)
pub const CREATE_DELETE_WRITES_TRIGGER: &str =
    "CREATE TRIGGER IF NOT EXISTS checkpoints_delete_writes
AFTER DELETE ON checkpoints
FOR EACH ROW
BEGIN
    DELETE FROM writes
    WHERE thread_id = OLD.thread_id
      AND checkpoint_ns = OLD.checkpoint_ns
      AND checkpoint_id = OLD.checkpoint_id;
END";

pub const SELECT_CREATED_AT_BACKFILL: &str =
    "SELECT rowid, checkpoint_id FROM checkpoints WHERE created_at IS NULL";
pub const UPDATE_CREATED_AT: &str = "UPDATE checkpoints SET created_at = ? WHERE rowid = ?";
pub const UPDATE_CREATED_AT_NOW: &str = concat!(
    "UPDATE checkpoints SET created_at = ",
    now_sql!(),
    " WHERE created_at IS NULL"
);

/// The DDL migration 1 runs once the tables, `task_path` and `created_at` exist
/// and `created_at` is backfilled.
pub const MIGRATION_1_DDL: [&str; 3] = [
    CREATE_CREATED_AT_INDEX,
    CREATE_CREATED_AT_TRIGGER,
    CREATE_DELETE_WRITES_TRIGGER,
];

pub const SELECT_USER_VERSION: &str = "PRAGMA user_version";
pub const BEGIN_IMMEDIATE: &str = "BEGIN IMMEDIATE";
pub const COMMIT: &str = "COMMIT";
pub const ROLLBACK: &str = "ROLLBACK";

// -- checkpoints ---------------------------------------------------------------

pub const SELECT_CHECKPOINT: &str = concat!(
    "SELECT ",
    checkpoint_columns!(),
    " FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
);
pub const SELECT_LATEST_CHECKPOINT: &str = concat!(
    "SELECT ",
    checkpoint_columns!(),
    " FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? ",
    "ORDER BY checkpoint_id DESC LIMIT 1"
);
pub const SELECT_LATEST_CHECKPOINT_ID: &str =
    "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?";

pub const INSERT_CHECKPOINT: &str = concat!(
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, ",
    "parent_checkpoint_id, type, checkpoint, metadata, created_at) ",
    "VALUES (?, ?, ?, ?, ?, ?, ?, ",
    now_sql!(),
    ")"
);

macro_rules! write_columns {
    () => {
        "(thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    };
}
pub const INSERT_WRITE_REPLACE: &str = concat!("INSERT OR REPLACE INTO writes ", write_columns!());
pub const INSERT_WRITE_IGNORE: &str = concat!("INSERT OR IGNORE INTO writes ", write_columns!());

pub const DELETE_THREAD_CHECKPOINTS: &str = "DELETE FROM checkpoints WHERE thread_id = ?";
pub const DELETE_THREAD_WRITES: &str = "DELETE FROM writes WHERE thread_id = ?";
pub const DELETE_CHECKPOINT: &str =
    "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?";
pub const DELETE_CHECKPOINT_WRITES: &str =
    "DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?";
pub const COUNT_CHECKPOINT_WRITES: &str =
    "SELECT COUNT(*) FROM writes WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?";

pub const COPY_THREAD_CHECKPOINTS: &str = concat!(
    "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, ",
    "parent_checkpoint_id, type, checkpoint, metadata, created_at) ",
    "SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, ",
    "checkpoint, metadata, created_at FROM checkpoints WHERE thread_id = ?"
);
pub const COPY_THREAD_WRITES: &str = concat!(
    "INSERT OR REPLACE INTO writes (thread_id, checkpoint_ns, checkpoint_id, ",
    "task_id, task_path, idx, channel, type, value) ",
    "SELECT ?, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, ",
    "type, value FROM writes WHERE thread_id = ?"
);

// -- deleting with delta ancestry ------------------------------------------------

/// Checkpoints whose metadata run_id is in the JSON array bound as the parameter.
pub const SELECT_RUN_CHECKPOINTS: &str = concat!(
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints ",
    "WHERE CASE WHEN json_valid(",
    metadata_text!(),
    ") THEN json_extract(",
    metadata_text!(),
    ", '$.run_id') END IN (SELECT value FROM json_each(?))"
);

/// Every checkpoint of a thread but the newest of each namespace.
pub const SELECT_NON_LATEST_OF_THREAD: &str = concat!(
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints AS c ",
    "WHERE thread_id = ? AND checkpoint_id < (SELECT MAX(checkpoint_id) ",
    "FROM checkpoints WHERE thread_id = c.thread_id ",
    "AND checkpoint_ns = c.checkpoint_ns)"
);

/// Checkpoints created before the parameter.
pub const SELECT_EXPIRED: &str = concat!(
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints AS c ",
    "WHERE created_at < ?"
);
/// SELECT_EXPIRED sparing the newest checkpoint of each namespace.
pub const SELECT_EXPIRED_KEEP_LATEST: &str = concat!(
    "SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints AS c ",
    "WHERE created_at < ?",
    " AND checkpoint_id < (SELECT MAX(checkpoint_id) FROM checkpoints ",
    "WHERE thread_id = c.thread_id AND checkpoint_ns = c.checkpoint_ns)"
);

/// For the delta-ancestry walk: every checkpoint of one namespace, without
/// blobs, with its DeltaChannel counters (JSON object text, or NULL).
pub const SELECT_NAMESPACE_LINEAGE: &str = concat!(
    "SELECT checkpoint_id, parent_checkpoint_id, ",
    "CASE WHEN json_valid(",
    metadata_text!(),
    ") THEN json_extract(",
    metadata_text!(),
    ", '$.counters_since_delta_snapshot') END ",
    "FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"
);
pub const SELECT_CHECKPOINT_BLOB: &str = concat!(
    "SELECT type, checkpoint FROM checkpoints ",
    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
);

// -- delta history -----------------------------------------------------------------

/// The target, then its ancestors nearest first, following parent ids. CROSS JOIN
/// keeps `ancestors` the outer loop so each step is one primary-key lookup. Rows
/// come lazily: the caller stops reading once every channel has its seed.
pub const SELECT_ANCESTORS: &str = concat!(
    "WITH RECURSIVE ancestors(checkpoint_id, parent_checkpoint_id, type, checkpoint) ",
    "AS (SELECT checkpoint_id, parent_checkpoint_id, type, checkpoint ",
    "FROM checkpoints ",
    "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ? ",
    "UNION ALL ",
    "SELECT c.checkpoint_id, c.parent_checkpoint_id, c.type, c.checkpoint ",
    "FROM ancestors AS a CROSS JOIN checkpoints AS c ",
    "ON c.checkpoint_id = a.parent_checkpoint_id ",
    "WHERE c.thread_id = ? AND c.checkpoint_ns = ?) ",
    "SELECT checkpoint_id, type, checkpoint FROM ancestors"
);

// -- sizes -----------------------------------------------------------------------------

pub const PAGE_COUNT: &str = "PRAGMA page_count";
pub const PAGE_SIZE: &str = "PRAGMA page_size";
pub const VACUUM: &str = "VACUUM";

/// Table columns, to adapt to files opened read-only that were never migrated.
pub const TABLE_INFO_CHECKPOINTS: &str = "PRAGMA table_info(checkpoints)";
pub const TABLE_INFO_WRITES: &str = "PRAGMA table_info(writes)";

/// The statements whose text depends on the columns a file has: writable files
/// always have every column (they are migrated); a file opened read-only may be a
/// SqliteSaver file without `created_at`, or an older one without `task_path`.
#[derive(Debug, Clone)]
pub struct Queries {
    pub has_task_path: bool,
    pub has_created_at: bool,
    pub select_writes: String,
    /// The writes of a whole page in one query. The page's keys come as one JSON
    /// array of [thread_id, checkpoint_ns, checkpoint_id] triples, so the text is
    /// constant and no page size hits the parameter limit.
    pub select_page_writes: String,
    /// Stage 2 of delta_history: the writes on the walked chain for the wanted
    /// channels (JSON arrays of checkpoint ids and of channels).
    pub select_ancestor_writes: String,
    /// (thread_id, checkpoints, writes, bytes, latest_checkpoint_id,
    /// latest_created_at) of the LIMIT ? largest threads.
    pub select_largest_threads: String,
    /// (threads, checkpoints, writes, bytes) over the whole file.
    pub select_totals: String,
}

impl Queries {
    pub fn new(has_task_path: bool, has_created_at: bool) -> Self {
        let task_path = if has_task_path { "task_path" } else { "''" };
        let page_task_path = if has_task_path { "w.task_path" } else { "''" };
        let created_at = if has_created_at { "created_at" } else { "NULL" };
        // One row per thread, from blob lengths only (never decoded).
        let per_thread = format!(
            "SELECT thread_id, SUM(checkpoints) AS checkpoints, \
             SUM(writes) AS writes, SUM(bytes) AS bytes, \
             MAX(latest_checkpoint_id) AS latest_checkpoint_id, \
             MAX(latest_created_at) AS latest_created_at FROM (\
             SELECT thread_id, COUNT(*) AS checkpoints, 0 AS writes, \
             SUM(COALESCE(length(checkpoint), 0) + COALESCE(length(metadata), 0)) \
             AS bytes, MAX(checkpoint_id) AS latest_checkpoint_id, \
             MAX({created_at}) AS latest_created_at \
             FROM checkpoints GROUP BY thread_id \
             UNION ALL \
             SELECT thread_id, 0, COUNT(*), SUM(COALESCE(length(value), 0)), \
             NULL, NULL FROM writes GROUP BY thread_id\
             ) GROUP BY thread_id"
        );
        Queries {
            has_task_path,
            has_created_at,
            select_writes: format!(
                "SELECT task_id, channel, type, value, {task_path}, idx FROM writes \
                 WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
            ),
            select_page_writes: format!(
                "WITH page(thread_id, checkpoint_ns, checkpoint_id) AS (\
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), \
                 json_extract(value, '$[2]') FROM json_each(?)) \
                 SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, \
                 w.channel, w.type, w.value, {page_task_path}, w.idx \
                 FROM page AS p CROSS JOIN writes AS w \
                 ON w.thread_id = p.thread_id AND w.checkpoint_ns = p.checkpoint_ns \
                 AND w.checkpoint_id = p.checkpoint_id"
            ),
            select_ancestor_writes: format!(
                "SELECT checkpoint_id, channel, task_id, idx, type, value, {task_path} \
                 FROM writes WHERE thread_id = ? AND checkpoint_ns = ? \
                 AND checkpoint_id IN (SELECT value FROM json_each(?)) \
                 AND channel IN (SELECT value FROM json_each(?))"
            ),
            select_largest_threads: format!(
                "{per_thread} ORDER BY bytes DESC, thread_id ASC LIMIT ?"
            ),
            select_totals: format!(
                "SELECT COUNT(*), COALESCE(SUM(checkpoints), 0), \
                 COALESCE(SUM(writes), 0), COALESCE(SUM(bytes), 0) \
                 FROM ({per_thread})"
            ),
        }
    }
}

/// Which filters a list query applies; the SQL text depends only on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageShape {
    pub by_thread: bool,
    pub by_namespace: bool,
    pub by_checkpoint_id: bool,
    pub filters: usize,
    pub before: bool,
    pub after: bool,
}

/// The list query. Parameters in this order: thread_id, checkpoint_ns,
/// checkpoint_id, (path, value) per filter, before_id, the page cursor
/// (checkpoint_id, thread_id, checkpoint_ns), then LIMIT.
pub fn select_page(shape: PageShape) -> String {
    let mut wheres: Vec<String> = Vec::new();
    if shape.by_thread {
        wheres.push("thread_id = ?".to_owned());
    }
    if shape.by_namespace {
        wheres.push("checkpoint_ns = ?".to_owned());
    }
    if shape.by_checkpoint_id {
        wheres.push("checkpoint_id = ?".to_owned());
    }
    if shape.filters > 0 {
        let matches = vec![concat!("json_extract(", metadata_text!(), ", ?) IS ?"); shape.filters]
            .join(" AND ");
        wheres.push(format!(
            concat!(
                "CASE WHEN json_valid(",
                metadata_text!(),
                ") THEN ({}) ELSE 0 END"
            ),
            matches
        ));
    }
    if shape.before {
        wheres.push("checkpoint_id < ?".to_owned());
    }
    if shape.after {
        wheres.push("(checkpoint_id, thread_id, checkpoint_ns) < (?, ?, ?)".to_owned());
    }
    let filter = if wheres.is_empty() {
        String::new()
    } else {
        format!("WHERE {} ", wheres.join(" AND "))
    };
    format!(
        concat!(
            "SELECT ",
            checkpoint_columns!(),
            " FROM checkpoints {}ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC LIMIT ?"
        ),
        filter
    )
}
