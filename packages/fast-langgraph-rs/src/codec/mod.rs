//! Pure-Rust encoding primitives, free of Python: MessagePack as langgraph's
//! `JsonPlusSerializer` (ormsgpack) writes it, and JSON as Python's `json` module
//! writes it; and `split`, which cuts a checkpoint's channel values out of its
//! MessagePack for compact storage. `crate::py::codec` maps Python objects onto these.

pub mod json;
pub mod msgpack;
pub mod split;
