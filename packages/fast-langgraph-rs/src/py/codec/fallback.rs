//! The reference: langgraph's own `JsonPlusSerializer.dumps_typed` and
//! `loads_typed`, and Python's `json`. Whatever the native codec declines goes
//! here, so results and errors are the reference's own.
//!
//! The serializer methods are the base class's functions, fetched from
//! langgraph's class, never looked up on the serializer: a subclass whose
//! `dumps_typed` calls this codec would otherwise be called back forever.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

pub(super) struct Reference {
    /// `langgraph.checkpoint.serde.jsonplus.JsonPlusSerializer`.
    pub jsonplus_type: Py<PyType>,
    dumps_typed: Py<PyAny>,
    loads_typed: Py<PyAny>,
}

static REFERENCE: PyOnceLock<Reference> = PyOnceLock::new();

/// `json.dumps` and `json.loads`, apart so metadata never depends on langgraph.
struct Json {
    dumps: Py<PyAny>,
    loads: Py<PyAny>,
}

static JSON: PyOnceLock<Json> = PyOnceLock::new();

impl Json {
    fn get(py: Python<'_>) -> PyResult<&'static Json> {
        JSON.get_or_try_init(py, || {
            let json = PyModule::import(py, "json")?;
            Ok(Json {
                dumps: json.getattr("dumps")?.unbind(),
                loads: json.getattr("loads")?.unbind(),
            })
        })
    }
}

impl Reference {
    pub fn get(py: Python<'_>) -> PyResult<&'static Reference> {
        REFERENCE.get_or_try_init(py, || {
            let jsonplus_type = PyModule::import(py, "langgraph.checkpoint.serde.jsonplus")?
                .getattr("JsonPlusSerializer")?
                .cast_into::<PyType>()?;
            Ok(Reference {
                dumps_typed: jsonplus_type.getattr("dumps_typed")?.unbind(),
                loads_typed: jsonplus_type.getattr("loads_typed")?.unbind(),
                jsonplus_type: jsonplus_type.unbind(),
            })
        })
    }
}

/// `JsonPlusSerializer.dumps_typed(serde, obj)`.
pub(super) fn dumps_typed<'py>(
    serde: &Bound<'py, PyAny>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = serde.py();
    Reference::get(py)?.dumps_typed.bind(py).call1((serde, obj))
}

/// `JsonPlusSerializer.loads_typed(serde, data)`.
pub(super) fn loads_typed<'py>(
    serde: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = serde.py();
    Reference::get(py)?
        .loads_typed
        .bind(py)
        .call1((serde, data))
}

/// `json.dumps(value, ensure_ascii=False).encode("utf-8", "ignore")`.
pub(super) fn dumps_metadata<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = value.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    let text = Json::get(py)?
        .dumps
        .bind(py)
        .call((value,), Some(&kwargs))?;
    text.call_method1("encode", ("utf-8", "ignore"))
}

/// `json.loads(data)`.
pub(super) fn loads_metadata<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = data.py();
    Json::get(py)?.loads.bind(py).call1((data,))
}
