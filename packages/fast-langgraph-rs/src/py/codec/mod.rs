//! Python objects to stored bytes and back, exactly as langgraph's
//! `JsonPlusSerializer` does it, for any instance of it (subclasses included).
//!
//! Each entry point either does the job natively or hands its arguments,
//! untouched, to the reference (`fallback`: langgraph's own base-class
//! functions and Python's `json`). The native paths run only where their
//! result is provably the reference's: byte-identical output, the same objects
//! back, the same allowlist decisions. Errors always come from the reference.
//!
//! - `plan`: what is imported and verified once per process (`Known`);
//! - `encode` / `decode`: MessagePack from and to Python objects;
//! - `construct`: building stored messages without running validation;
//! - `metadata`: checkpoint metadata as JSON;
//! - `fallback`: the reference.

mod construct;
mod decode;
mod encode;
mod fallback;
mod metadata;
mod plan;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString, PyTuple};

pub use metadata::{dumps as dumps_metadata, loads as loads_metadata};

use fallback::Reference;
use plan::Known;

/// jsonplus's extension code for pydantic v2 models (`EXT_PYDANTIC_V2`).
const EXT_PYDANTIC_V2: i8 = 5;
/// jsonplus's extension code for `_DeltaSnapshot` (`EXT_DELTA_SNAPSHOT`).
const EXT_DELTA_SNAPSHOT: i8 = 7;
/// The method name jsonplus writes as the fourth element of a pydantic v2 ext value.
const PYDANTIC_V2_METHOD: &str = "model_validate_json";
/// Nesting beyond this goes to the reference, which applies its own limits
/// (ormsgpack's recursion limit, json's circular-reference check).
const MAX_DEPTH: usize = 200;

/// TypeError unless `serde` is a langgraph `JsonPlusSerializer` or a subclass:
/// the native paths reproduce that class's methods and nothing else.
pub fn check_serde(serde: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = serde.py();
    if serde.is_instance(Reference::get(py)?.jsonplus_type.bind(py))? {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "serde must be a langgraph JsonPlusSerializer (or a subclass), not {}",
        serde.get_type().name()?
    )))
}

/// `JsonPlusSerializer.dumps_typed(serde, obj)`, for a checked `serde`.
pub fn dumps_typed<'py>(
    serde: &Bound<'py, PyAny>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = serde.py();
    // As the reference does: bytes and bytearray are stored as they are.
    if obj.is_none() {
        return typed(intern!(py, "null"), PyBytes::new(py, b"").as_any());
    }
    if obj.is_instance_of::<PyBytes>() {
        return typed(intern!(py, "bytes"), obj);
    }
    if obj.is_instance_of::<PyByteArray>() {
        return typed(intern!(py, "bytearray"), obj);
    }
    if let Some(known) = Known::get(py) {
        if let Some(data) = encode::msgpack(known, obj) {
            return typed(intern!(py, "msgpack"), data.as_any());
        }
    }
    fallback::dumps_typed(serde, obj)
}

fn typed<'py>(tag: &Bound<'py, PyString>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyTuple::new(tag.py(), [tag.as_any(), data])?.into_any())
}

/// `JsonPlusSerializer.loads_typed(serde, data)`, for a checked `serde`.
///
/// Messages of `SAFE_MSGPACK_TYPES` (and `_DeltaSnapshot` values) are rebuilt
/// natively only when the serializer's ext hook is known to rebuild them as
/// langgraph's default hook does: it is that hook, or `trusted_hook` says so (a
/// hook of fast-langgraph's own that handles those as langgraph does and
/// guards everything else).
/// Every other extension value goes to the serializer's hook.
pub fn loads_typed<'py>(
    serde: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    trusted_hook: bool,
) -> PyResult<Bound<'py, PyAny>> {
    match loads_natively(serde, data, trusted_hook) {
        Some(value) => Ok(value),
        None => fallback::loads_typed(serde, data),
    }
}

/// None for anything but a (str, bytes-like) pair with a tag decoded here,
/// and whenever the native decoder declines.
fn loads_natively<'py>(
    serde: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    trusted_hook: bool,
) -> Option<Bound<'py, PyAny>> {
    let py = serde.py();
    let pair = data.cast_exact::<PyTuple>().ok()?;
    if pair.len() != 2 {
        return None;
    }
    let tag = pair.get_item(0).ok()?;
    let blob = pair.get_item(1).ok()?;
    if !(blob.is_exact_instance_of::<PyBytes>()
        || blob.is_exact_instance_of::<PyByteArray>()
        || blob.is_exact_instance_of::<PyMemoryView>())
    {
        return None;
    }
    match tag.cast_exact::<PyString>().ok()?.to_str().ok()? {
        "null" => Some(py.None().into_bound(py)),
        "bytes" => Some(blob),
        "bytearray" => PyByteArray::from(&blob).ok().map(Bound::into_any),
        "msgpack" => {
            let known = Known::get(py)?;
            let rebuild_messages = trusted_hook || has_default_hook(known, serde)?;
            if let Ok(bytes) = blob.cast_exact::<PyBytes>() {
                return decode::msgpack(known, serde, bytes.as_bytes(), rebuild_messages);
            }
            // Decoding runs Python code (ext hooks, validators), which could
            // change a mutable buffer: decode a copy.
            let copy = contiguous_copy(&blob)?;
            decode::msgpack(known, serde, copy.as_bytes(), rebuild_messages)
        }
        // "json" (legacy rows), "pickle" and unknown tags: the reference's rules.
        _ => None,
    }
}

/// The per-call plan: whether messages may be rebuilt natively, which is
/// right only when langgraph's own ext hook would get them (it accepts safe
/// messages in every allowlist mode). A hook given to the constructor sets
/// `_custom_unpack_ext_hook`; one a subclass sets by itself is caught by its
/// code. Either one then gets every extension value. None: attributes missing.
fn has_default_hook(known: &Known, serde: &Bound<'_, PyAny>) -> Option<bool> {
    let py = serde.py();
    if serde
        .getattr_opt(intern!(py, "_custom_unpack_ext_hook"))
        .ok()??
        .is_truthy()
        .ok()?
    {
        return Some(false);
    }
    let hook = serde.getattr_opt(intern!(py, "_unpack_ext_hook")).ok()??;
    let code = hook.getattr_opt(intern!(py, "__code__")).ok()?;
    Some(code.is_some_and(|code| code.is(known.default_hook_code.bind(py))))
}

/// The bytes of a bytearray or of a C-contiguous memoryview (ormsgpack refuses
/// any other memoryview: the reference then raises its error).
fn contiguous_copy<'py>(blob: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBytes>> {
    let py = blob.py();
    if let Ok(array) = blob.cast_exact::<PyByteArray>() {
        return Some(PyBytes::new(py, &array.to_vec()));
    }
    if !blob
        .getattr(intern!(py, "c_contiguous"))
        .ok()?
        .is_truthy()
        .ok()?
    {
        return None;
    }
    blob.call_method0(intern!(py, "tobytes"))
        .ok()?
        .cast_into::<PyBytes>()
        .ok()
}

/// RuntimeError naming every name the codec relies on that is missing or
/// changed; Ok when there is none. Loads everything otherwise loaded lazily.
pub fn probe(py: Python<'_>) -> PyResult<()> {
    let mut problems = Vec::new();
    if let Err(err) = Reference::get(py) {
        problems.push(format!(
            "langgraph: JsonPlusSerializer.dumps_typed/loads_typed unavailable ({err})"
        ));
    }
    problems.extend(plan::problems(py).iter().cloned());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PyRuntimeError::new_err(problems.join("; ")))
    }
}
