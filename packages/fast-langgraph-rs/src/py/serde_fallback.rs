//! Encoding through the Python objects themselves: `serde.dumps_typed` /
//! `serde.loads_typed` for values and `json` for metadata. The path for any
//! serializer the native codec does not cover, and its reference behaviour.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static JSON_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn json_function<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let function = cell.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(PyModule::import(py, "json")?.getattr(name)?.unbind())
    })?;
    Ok(function.bind(py).clone())
}

/// `serde.dumps_typed(value)` as (type tag, bytes).
pub fn encode_value(
    serde: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<(String, Vec<u8>)> {
    let typed = serde.call_method1("dumps_typed", (value,))?;
    let (tag, data): (String, Bound<'_, PyAny>) = typed.extract()?;
    Ok((tag, bytes_of(&data)?))
}

/// The content of a bytes-like object (bytes fast, anything else through extract).
fn bytes_of(data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match data.cast::<PyBytes>() {
        Ok(bytes) => Ok(bytes.as_bytes().to_vec()),
        Err(_) => data.extract(),
    }
}

/// `serde.loads_typed((tag, data))`; NULL columns are passed on as None.
pub fn decode_value<'py>(
    py: Python<'py>,
    serde: &Bound<'py, PyAny>,
    tag: Option<&str>,
    data: Option<&[u8]>,
) -> PyResult<Bound<'py, PyAny>> {
    let data = data.map(|bytes| PyBytes::new(py, bytes));
    let typed = PyTuple::new(
        py,
        [
            tag.into_pyobject(py)?.into_any(),
            data.into_pyobject(py)?.into_any(),
        ],
    )?;
    serde.call_method1("loads_typed", (typed,))
}

/// Metadata as SqliteSaver stores it: `json.dumps(v, ensure_ascii=False)` as UTF-8.
pub fn encode_metadata(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let py = value.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    let text = json_function(py, &JSON_DUMPS, "dumps")?.call((value,), Some(&kwargs))?;
    let encoded = text.call_method1("encode", ("utf-8", "ignore"))?;
    bytes_of(&encoded)
}

/// `json.loads(data)`.
pub fn decode_metadata<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    json_function(py, &JSON_LOADS, "loads")?.call1((PyBytes::new(py, data),))
}
