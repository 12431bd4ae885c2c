//! Pure-Rust encoding primitives, free of Python: MessagePack as langgraph's
//! `JsonPlusSerializer` (ormsgpack) writes it, and JSON as Python's `json` module
//! writes it. `crate::py::codec` maps Python objects onto these.

pub mod json;
pub mod msgpack;
