//! `fast_langgraph_rs._native`: the native codec of fast-langgraph.
//!
//! `codec` holds the pure-Rust encoders (MessagePack, JSON), `py` the PyO3
//! layer that maps Python objects onto them.

pub mod codec;
mod py;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
