//! The storage layer: SQLite through rusqlite, with no knowledge of Python.
//!
//! `Store` owns the connections and runs every operation of the engine protocol
//! on raw rows (strings and blobs). Decoding blobs is the caller's business; the
//! few operations that must look inside a checkpoint (delta ancestry) take a
//! callback for it.

mod ancestry;
mod schema;
pub mod sql;
mod store;

pub use schema::{created_at_from_checkpoint_id, Durability};
pub use store::{
    CheckpointRow, CleanupCounts, HistoryWrite, NewCheckpoint, NewWrite, PageQuery, Stats, Store,
    ThreadStats, WriteRow,
};

#[cfg(test)]
mod tests;
