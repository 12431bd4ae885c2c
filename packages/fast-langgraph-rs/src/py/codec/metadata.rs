//! Checkpoint metadata as SqliteSaver stores it: `json.dumps(value,
//! ensure_ascii=False)` in UTF-8, read back with `json.loads`. Plain JSON data
//! is written and parsed natively; anything else goes to `json` itself, which
//! returns its own result or raises its own error.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

use super::{fallback, MAX_DEPTH};
use crate::codec::json::{self as json_text, JsonValue};

/// `json.dumps(value, ensure_ascii=False).encode("utf-8", "ignore")`.
pub fn dumps<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let mut out = Vec::new();
    match write_json(&mut out, value, 0) {
        Ok(()) => Ok(PyBytes::new(value.py(), &out).into_any()),
        // Subclasses, non-str keys, surrogates, non-JSON values, cycles...
        Err(()) => fallback::dumps_metadata(value),
    }
}

/// `json.loads(data)`.
pub fn loads<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(bytes) = data.cast_exact::<PyBytes>() {
        if let Ok(parsed) = json_text::parse(bytes.as_bytes()) {
            if let Ok(value) = json_to_python(data.py(), &parsed) {
                return Ok(value);
            }
        }
    }
    fallback::loads_metadata(data)
}

/// Declines (Err) anything json.dumps would treat differently from plain data.
fn write_json(out: &mut Vec<u8>, value: &Bound<'_, PyAny>, depth: usize) -> Result<(), ()> {
    if depth > MAX_DEPTH {
        return Err(());
    }
    if let Ok(text) = value.cast_exact::<PyString>() {
        json_text::write_str(out, text.to_str().map_err(|_| ())?);
    } else if let Ok(dict) = value.cast_exact::<PyDict>() {
        out.push(b'{');
        for (index, (key, item)) in dict.iter().enumerate() {
            if index > 0 {
                out.extend_from_slice(json_text::ITEM_SEPARATOR.as_bytes());
            }
            let key = key.cast_exact::<PyString>().map_err(|_| ())?;
            json_text::write_str(out, key.to_str().map_err(|_| ())?);
            out.extend_from_slice(json_text::KEY_SEPARATOR.as_bytes());
            write_json(out, &item, depth + 1)?;
        }
        out.push(b'}');
    } else if value.is_exact_instance_of::<PyList>() || value.is_exact_instance_of::<PyTuple>() {
        out.push(b'[');
        for (index, item) in value.try_iter().map_err(|_| ())?.enumerate() {
            if index > 0 {
                out.extend_from_slice(json_text::ITEM_SEPARATOR.as_bytes());
            }
            write_json(out, &item.map_err(|_| ())?, depth + 1)?;
        }
        out.push(b']');
    } else if let Ok(flag) = value.cast_exact::<PyBool>() {
        json_text::write_bool(out, flag.is_true());
    } else if value.is_exact_instance_of::<PyInt>() {
        match value.extract::<i64>() {
            Ok(small) => json_text::write_int(out, small),
            Err(_) => out.extend_from_slice(
                value
                    .str()
                    .map_err(|_| ())?
                    .to_str()
                    .map_err(|_| ())?
                    .as_bytes(),
            ),
        }
    } else if let Ok(float) = value.cast_exact::<PyFloat>() {
        match json_text::non_finite_name(float.value()) {
            Some(name) => out.extend_from_slice(name.as_bytes()),
            // float.__repr__, as json.dumps writes it (see `non_finite_name`).
            None => out.extend_from_slice(
                float
                    .repr()
                    .map_err(|_| ())?
                    .to_str()
                    .map_err(|_| ())?
                    .as_bytes(),
            ),
        }
    } else if value.is_none() {
        json_text::write_null(out);
    } else {
        return Err(());
    }
    Ok(())
}

fn json_to_python<'py>(py: Python<'py>, value: &JsonValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        JsonValue::Null => py.None().into_bound(py),
        JsonValue::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        JsonValue::Int(number) => number.into_bound_py_any(py)?,
        JsonValue::BigInt(text) => py.get_type::<PyInt>().call1((text.as_str(),))?,
        JsonValue::Float(number) => PyFloat::new(py, *number).into_any(),
        JsonValue::Str(text) => PyString::new(py, text).into_any(),
        JsonValue::Array(items) => {
            let items = items
                .iter()
                .map(|item| json_to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        JsonValue::Object(members) => {
            let dict = PyDict::new(py);
            for (key, item) in members {
                dict.set_item(key, json_to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
