//! The PyO3 binding layer: Python objects in, `db` calls, Python objects out.

mod blobs;
mod codec;
mod engine;
mod serde_fallback;

use pyo3::prelude::*;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<engine::Engine>()?;
    m.add_function(wrap_pyfunction!(sqlite_libversion_address, m)?)?;
    m.add_function(wrap_pyfunction!(sqlite_version, m)?)?;
    codec::register_test_hooks(m)?;
    Ok(())
}

/// The address of `sqlite3_libversion` in the SQLite library this module uses:
/// equal to the one Python's `_sqlite3` resolves exactly when both share one copy.
#[pyfunction]
fn sqlite_libversion_address() -> usize {
    rusqlite::ffi::sqlite3_libversion as *const () as usize
}

/// The version of the SQLite library this module runs on.
#[pyfunction]
fn sqlite_version() -> &'static str {
    rusqlite::version()
}
