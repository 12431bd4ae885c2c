//! The Python-visible API of `fast_langgraph_rs._native`: thin bindings over
//! `codec`, which maps Python objects onto the pure-Rust encoders.

mod codec;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(probe, m)?)?;
    m.add_function(wrap_pyfunction!(dumps_typed, m)?)?;
    m.add_function(wrap_pyfunction!(loads_typed, m)?)?;
    m.add_function(wrap_pyfunction!(dumps_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(loads_metadata, m)?)?;
    m.add_class::<Codec>()?;
    Ok(())
}

/// Load and check, now, everything the codec otherwise loads on first use;
/// RuntimeError naming every name it relies on that is missing or changed.
#[pyfunction]
fn probe(py: Python<'_>) -> PyResult<()> {
    codec::probe(py)
}

/// `JsonPlusSerializer.dumps_typed(serde, obj)`, natively: the same bytes.
#[pyfunction]
fn dumps_typed<'py>(
    serde: &Bound<'py, PyAny>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    codec::check_serde(serde)?;
    codec::dumps_typed(serde, obj)
}

/// `JsonPlusSerializer.loads_typed(serde, data)`, natively: the same objects.
/// `trusted_hook`: the caller vouches that `serde._unpack_ext_hook` treats the
/// messages of `SAFE_MSGPACK_TYPES` and `_DeltaSnapshot` values as langgraph's
/// default hook does, so they are rebuilt natively whatever the hook is (see
/// `codec::loads_typed`).
#[pyfunction]
#[pyo3(signature = (serde, data, *, trusted_hook = false))]
fn loads_typed<'py>(
    serde: &Bound<'py, PyAny>,
    data: &Bound<'py, PyAny>,
    trusted_hook: bool,
) -> PyResult<Bound<'py, PyAny>> {
    codec::check_serde(serde)?;
    codec::loads_typed(serde, data, trusted_hook)
}

/// `json.dumps(metadata, ensure_ascii=False).encode("utf-8", "ignore")`.
#[pyfunction]
fn dumps_metadata<'py>(metadata: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    codec::dumps_metadata(metadata)
}

/// `json.loads(data)`.
#[pyfunction]
fn loads_metadata<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    codec::loads_metadata(data)
}

/// The codec bound to one serializer: what the storage engine calls.
#[pyclass(frozen, module = "fast_langgraph_rs._native")]
struct Codec {
    serde: Py<PyAny>,
    trusted_hook: bool,
}

#[pymethods]
impl Codec {
    #[new]
    #[pyo3(signature = (serde, *, trusted_hook = false))]
    fn new(serde: &Bound<'_, PyAny>, trusted_hook: bool) -> PyResult<Self> {
        codec::check_serde(serde)?;
        Ok(Codec {
            serde: serde.clone().unbind(),
            trusted_hook,
        })
    }

    /// The serializer this codec was made with.
    #[getter]
    fn serde(&self, py: Python<'_>) -> Py<PyAny> {
        self.serde.clone_ref(py)
    }

    /// Whether the serializer's ext hook is vouched for (see `loads_typed`).
    #[getter]
    fn trusted_hook(&self) -> bool {
        self.trusted_hook
    }

    fn dumps_typed<'py>(&self, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        codec::dumps_typed(self.serde.bind(obj.py()), obj)
    }

    fn loads_typed<'py>(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        codec::loads_typed(self.serde.bind(data.py()), data, self.trusted_hook)
    }

    fn dumps_metadata<'py>(&self, metadata: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        codec::dumps_metadata(metadata)
    }

    fn loads_metadata<'py>(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        codec::loads_metadata(data)
    }

    /// `fast_langgraph_pure.compact.split`, natively: (skeleton, [(offset in
    /// the skeleton, [piece, ...]), ...]), or None when nothing is cut.
    #[allow(clippy::type_complexity)]
    fn split_checkpoint<'py>(
        &self,
        py: Python<'py>,
        data: &[u8],
    ) -> Option<(Bound<'py, PyBytes>, Vec<(usize, Vec<Bound<'py, PyBytes>>)>)> {
        let cuts = crate::codec::split::channel_value_cuts(data);
        if cuts.is_empty() {
            return None;
        }
        let mut skeleton =
            Vec::with_capacity(data.len() - cuts.iter().map(|c| c.end - c.start).sum::<usize>());
        let mut kept = 0;
        let mut placed = Vec::with_capacity(cuts.len());
        for cut in &cuts {
            skeleton.extend_from_slice(&data[kept..cut.start]);
            let pieces = cut
                .pieces
                .iter()
                .map(|&(start, end)| PyBytes::new(py, &data[start..end]))
                .collect();
            placed.push((skeleton.len(), pieces));
            kept = cut.end;
        }
        skeleton.extend_from_slice(&data[kept..]);
        Some((PyBytes::new(py, &skeleton), placed))
    }
}
