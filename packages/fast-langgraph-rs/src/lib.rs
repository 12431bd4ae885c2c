//! `fast_langgraph_rs._native`: the Rust engine of fast-langgraph.
//!
//! `db` is the storage layer (rusqlite, no Python), `codec` the pure-Rust
//! encoders, `py` the thin PyO3 layer that converts and calls them.

pub mod codec;
pub mod db;
pub mod error;
mod py;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
