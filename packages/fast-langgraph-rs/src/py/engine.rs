//! `Engine`: the engine protocol of `fast_langgraph/_engine.py` over `db::Store`.
//!
//! Every storage call runs with the interpreter detached (see `unlocked`), so other
//! Python threads run while SQLite works or waits for a lock. Encoding happens
//! before a call and decoding after it, with the interpreter attached; the few
//! operations that must look inside checkpoints while the database is locked
//! (delta ancestry) re-attach only for that.

use std::collections::{HashMap, HashSet};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use rusqlite::types::Value;

use super::blobs::Codec;
use crate::db::{
    CheckpointRow, Durability, HistoryWrite, NewCheckpoint, NewWrite, PageQuery, Store,
};
use crate::error::{Error, Result};

/// Run one storage call with the interpreter detached (the GIL released).
fn unlocked<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T> + Send) -> PyResult<T> {
    py.detach(work).map_err(PyErr::from)
}

/// Like `unlocked`, for calls whose callbacks run Python code: a callback stores
/// its Python exception in `failure`, and that exception is what the caller sees.
fn unlocked_with_callbacks<T: Send>(
    py: Python<'_>,
    failure: &mut Option<PyErr>,
    work: impl FnOnce(&mut Option<PyErr>) -> Result<T> + Send,
) -> PyResult<T> {
    match py.detach(|| work(failure)) {
        Ok(value) => Ok(value),
        Err(Error::Callback) => Err(failure
            .take()
            .unwrap_or_else(|| PyRuntimeError::new_err("a decoding callback failed"))),
        Err(err) => Err(err.into()),
    }
}

/// Keep a callback's Python exception for the caller and tell the storage layer
/// to give up (rolling back whatever it started).
fn keep_failure<T>(failure: &mut Option<PyErr>, outcome: PyResult<T>) -> Result<T> {
    outcome.map_err(|err| {
        *failure = Some(err);
        Error::Callback
    })
}

/// A filter value bound as Python's sqlite3 would bind it; `position` is its
/// 1-based parameter number in the statement, for the error message.
fn sql_value(value: &Bound<'_, PyAny>, position: usize) -> PyResult<Value> {
    if value.is_none() {
        Ok(Value::Null)
    } else if let Ok(flag) = value.cast::<PyBool>() {
        Ok(Value::Integer(i64::from(flag.is_true())))
    } else if value.cast::<PyInt>().is_ok() {
        Ok(Value::Integer(value.extract()?))
    } else if let Ok(number) = value.cast::<PyFloat>() {
        Ok(Value::Real(number.value()))
    } else if let Ok(text) = value.cast::<PyString>() {
        Ok(Value::Text(text.to_str()?.to_owned()))
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        Ok(Value::Blob(bytes.as_bytes().to_vec()))
    } else {
        Err(Error::Unsupported(format!(
            "Error binding parameter {position}: type '{}' is not supported",
            value.get_type().name()?
        ))
        .into())
    }
}

/// The names in a decoded checkpoint's `channel_values` (`set(values)` in Python).
fn channel_values<'py>(checkpoint: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let values = checkpoint.call_method1("get", ("channel_values",))?;
    Ok(if values.is_truthy()? {
        Some(values)
    } else {
        None
    })
}

fn stored_channels(checkpoint: &Bound<'_, PyAny>) -> PyResult<HashSet<String>> {
    let mut names = HashSet::new();
    if let Some(values) = channel_values(checkpoint)? {
        for key in values.try_iter()? {
            // Channel names are strings; any other key can never match one.
            if let Ok(name) = key?.extract::<String>() {
                names.insert(name);
            }
        }
    }
    Ok(names)
}

#[pyclass(frozen, module = "fast_langgraph_rs._native")]
pub struct Engine {
    store: Store,
    codec: Codec,
}

impl Engine {
    fn decode_row<'py>(
        &self,
        py: Python<'py>,
        serde: &Bound<'py, PyAny>,
        row: CheckpointRow,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let codec = self.codec.for_serde(serde)?;
        let checkpoint = codec.decode(py, row.type_tag.as_deref(), row.checkpoint.as_deref())?;
        let metadata = match &row.metadata {
            Some(data) => codec.decode_metadata(py, data)?,
            None => PyDict::new(py).into_any(),
        };
        let writes = PyList::empty(py);
        for write in row.writes {
            let value = codec.decode(py, write.type_tag.as_deref(), write.value.as_deref())?;
            writes.append((write.task_id, write.channel, value))?;
        }
        (
            row.thread_id,
            row.checkpoint_ns,
            row.checkpoint_id,
            row.parent_checkpoint_id,
            checkpoint,
            metadata,
            writes,
        )
            .into_pyobject(py)
    }

    /// A callback for the storage layer: the channel names a checkpoint blob stores.
    fn channel_lister<'a>(
        &'a self,
        serde: &'a Py<PyAny>,
        failure: &'a mut Option<PyErr>,
    ) -> impl FnMut(Option<&str>, Option<&[u8]>) -> Result<HashSet<String>> + Send + 'a {
        move |tag, data| {
            let outcome = Python::attach(|py| {
                let serde = serde.bind(py);
                let codec = self.codec.for_serde(serde)?;
                stored_channels(&codec.decode(py, tag, data)?)
            });
            keep_failure(failure, outcome)
        }
    }
}

#[pymethods]
impl Engine {
    #[new]
    #[pyo3(signature = (path, *, durability = "normal", read_only = false))]
    fn new(py: Python<'_>, path: String, durability: &str, read_only: bool) -> PyResult<Self> {
        let Some(durability) = Durability::parse(durability) else {
            let shown = PyString::new(py, durability).repr()?;
            return Err(PyValueError::new_err(format!(
                "durability must be 'normal' or 'full', not {shown}"
            )));
        };
        let store = unlocked(py, || Store::open(&path, durability, read_only))?;
        Ok(Engine {
            store,
            codec: Codec::new(),
        })
    }

    #[getter]
    fn path(&self) -> &str {
        self.store.path()
    }

    /// Release the file. Idempotent; later calls raise sqlite3.ProgrammingError.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        unlocked(py, || {
            self.store.close();
            Ok(())
        })
    }

    /// The checkpoint with that id, or the latest (greatest id) when None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        thread_id: String,
        checkpoint_ns: String,
        checkpoint_id: Option<String>,
        serde: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let found = unlocked(py, || {
            self.store
                .get(&thread_id, &checkpoint_ns, checkpoint_id.as_deref())
        })?;
        found.map(|row| self.decode_row(py, serde, row)).transpose()
    }

    /// At most `limit` rows newest first; see the engine protocol.
    #[allow(clippy::too_many_arguments)]
    fn list_page<'py>(
        &self,
        py: Python<'py>,
        thread_id: Option<String>,
        checkpoint_ns: Option<String>,
        checkpoint_id: Option<String>,
        filters: &Bound<'py, PyAny>,
        before_id: Option<String>,
        after: Option<(String, String, String)>,
        limit: i64,
        serde: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        // Parameters before the filters: the given thread, namespace and id.
        let leading = [&thread_id, &checkpoint_ns, &checkpoint_id]
            .iter()
            .filter(|given| given.is_some())
            .count();
        let mut compiled = Vec::new();
        for item in filters.try_iter()? {
            let (path, value): (String, Bound<'py, PyAny>) = item?.extract()?;
            let position = leading + 2 * compiled.len() + 2;
            compiled.push((path, sql_value(&value, position)?));
        }
        let query = PageQuery {
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            filters: compiled,
            before_id,
            after,
            limit,
        };
        let rows = unlocked(py, || self.store.list_page(&query))?;
        let page = PyList::empty(py);
        for row in rows {
            page.append(self.decode_row(py, serde, row)?)?;
        }
        Ok(page)
    }

    /// INSERT OR REPLACE the row, created_at set to now (UTC).
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        thread_id: String,
        checkpoint_ns: String,
        checkpoint_id: String,
        parent_checkpoint_id: Option<String>,
        checkpoint: &Bound<'_, PyAny>,
        metadata: &Bound<'_, PyAny>,
        serde: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let codec = self.codec.for_serde(serde)?;
        let (type_tag, blob) = codec.encode(checkpoint)?;
        let metadata = codec.encode_metadata(metadata)?;
        let row = NewCheckpoint {
            thread_id: &thread_id,
            checkpoint_ns: &checkpoint_ns,
            checkpoint_id: &checkpoint_id,
            parent_checkpoint_id: parent_checkpoint_id.as_deref(),
            type_tag: &type_tag,
            checkpoint: &blob,
            metadata: &metadata,
        };
        unlocked(py, || self.store.put(&row))
    }

    /// Store (idx, channel, value) rows in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn put_writes(
        &self,
        py: Python<'_>,
        thread_id: String,
        checkpoint_ns: String,
        checkpoint_id: String,
        task_id: String,
        task_path: String,
        writes: &Bound<'_, PyAny>,
        replace: bool,
        serde: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let codec = self.codec.for_serde(serde)?;
        let mut rows = Vec::new();
        for item in writes.try_iter()? {
            let (idx, channel, value): (i64, String, Bound<'_, PyAny>) = item?.extract()?;
            let (type_tag, blob) = codec.encode(&value)?;
            rows.push(NewWrite {
                idx,
                channel,
                type_tag,
                value: blob,
            });
        }
        unlocked(py, || {
            self.store.put_writes(
                &thread_id,
                &checkpoint_ns,
                &checkpoint_id,
                &task_id,
                &task_path,
                &rows,
                replace,
            )
        })
    }

    fn delete_thread(&self, py: Python<'_>, thread_id: String) -> PyResult<()> {
        unlocked(py, || self.store.delete_thread(&thread_id))
    }

    /// Delete the runs' checkpoints except the delta ancestry survivors need.
    fn delete_for_runs(
        &self,
        py: Python<'_>,
        run_ids: Vec<String>,
        serde: Py<PyAny>,
    ) -> PyResult<()> {
        let mut failure = None;
        unlocked_with_callbacks(py, &mut failure, |failure| {
            let mut lister = self.channel_lister(&serde, failure);
            self.store.delete_for_runs(&run_ids, &mut lister)
        })
    }

    fn copy_thread(
        &self,
        py: Python<'_>,
        source_thread_id: String,
        target_thread_id: String,
    ) -> PyResult<()> {
        unlocked(py, || {
            self.store.copy_thread(&source_thread_id, &target_thread_id)
        })
    }

    fn prune(
        &self,
        py: Python<'_>,
        thread_ids: Vec<String>,
        keep_latest: bool,
        serde: Py<PyAny>,
    ) -> PyResult<()> {
        let mut failure = None;
        unlocked_with_callbacks(py, &mut failure, |failure| {
            let mut lister = self.channel_lister(&serde, failure);
            self.store.prune(&thread_ids, keep_latest, &mut lister)
        })
    }

    /// Same result as BaseCheckpointSaver.get_delta_channel_history.
    fn delta_history<'py>(
        &self,
        py: Python<'py>,
        thread_id: String,
        checkpoint_ns: String,
        checkpoint_id: Option<String>,
        channels: Vec<String>,
        serde: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let result = PyDict::new(py);
        if channels.is_empty() {
            return Ok(result);
        }
        let serde_ref = serde.clone().unbind();
        let mut seeds: HashMap<String, Py<PyAny>> = HashMap::new();
        let mut failure = None;
        let histories = unlocked_with_callbacks(py, &mut failure, |failure| {
            let mut seeds_in = |tag: Option<&str>, data: Option<&[u8]>, seeking: &[String]| {
                let outcome = Python::attach(|py| -> PyResult<Vec<String>> {
                    let serde = serde_ref.bind(py);
                    let checkpoint = self.codec.for_serde(serde)?.decode(py, tag, data)?;
                    let mut seeded = Vec::new();
                    if let Some(values) = channel_values(&checkpoint)? {
                        for channel in seeking {
                            if values.contains(channel)? {
                                seeds.insert(channel.clone(), values.get_item(channel)?.unbind());
                                seeded.push(channel.clone());
                            }
                        }
                    }
                    Ok(seeded)
                });
                keep_failure(failure, outcome)
            };
            self.store.delta_history(
                &thread_id,
                &checkpoint_ns,
                checkpoint_id.as_deref(),
                &channels,
                &mut seeds_in,
            )
        })?;
        let codec = self.codec.for_serde(&serde)?;
        for (channel, writes) in histories {
            let decoded = PyList::empty(py);
            for HistoryWrite {
                task_id,
                type_tag,
                value,
            } in writes
            {
                let value = codec.decode(py, type_tag.as_deref(), value.as_deref())?;
                decoded.append((task_id, channel.as_str(), value))?;
            }
            let history = PyDict::new(py);
            history.set_item("writes", decoded)?;
            if let Some(seed) = seeds.remove(&channel) {
                history.set_item("seed", seed)?;
            }
            result.set_item(channel, history)?;
        }
        Ok(result)
    }

    /// Delete (or count, with dry_run) checkpoints created before `created_before`.
    fn cleanup<'py>(
        &self,
        py: Python<'py>,
        created_before: String,
        keep_latest: bool,
        dry_run: bool,
        serde: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut failure = None;
        let counts = unlocked_with_callbacks(py, &mut failure, |failure| {
            let mut lister = self.channel_lister(&serde, failure);
            self.store
                .cleanup(&created_before, keep_latest, dry_run, &mut lister)
        })?;
        let result = PyDict::new(py);
        result.set_item("checkpoints", counts.checkpoints)?;
        result.set_item("writes", counts.writes)?;
        Ok(result)
    }

    /// Counts and sizes from blob lengths, never decoding blobs.
    fn stats<'py>(&self, py: Python<'py>, top: i64) -> PyResult<Bound<'py, PyDict>> {
        let stats = unlocked(py, || self.store.stats(top))?;
        let largest = PyList::empty(py);
        for thread in stats.largest_threads {
            let entry = PyDict::new(py);
            entry.set_item("thread_id", thread.thread_id)?;
            entry.set_item("checkpoints", thread.checkpoints)?;
            entry.set_item("writes", thread.writes)?;
            entry.set_item("bytes", thread.bytes)?;
            entry.set_item("latest_checkpoint_id", thread.latest_checkpoint_id)?;
            entry.set_item("latest_created_at", thread.latest_created_at)?;
            largest.append(entry)?;
        }
        let result = PyDict::new(py);
        result.set_item("threads", stats.threads)?;
        result.set_item("checkpoints", stats.checkpoints)?;
        result.set_item("writes", stats.writes)?;
        result.set_item("bytes_on_disk", stats.bytes_on_disk)?;
        result.set_item("data_bytes", stats.data_bytes)?;
        result.set_item("largest_threads", largest)?;
        Ok(result)
    }

    /// Bytes the database occupies on disk (main file plus WAL).
    fn db_size(&self, py: Python<'_>) -> PyResult<i64> {
        unlocked(py, || self.store.db_size())
    }

    fn vacuum(&self, py: Python<'_>) -> PyResult<()> {
        unlocked(py, || self.store.vacuum())
    }

    /// Copy the live database to target_path with SQLite's online backup API.
    fn backup(&self, py: Python<'_>, target_path: String) -> PyResult<()> {
        unlocked(py, || self.store.backup(&target_path))
    }
}
