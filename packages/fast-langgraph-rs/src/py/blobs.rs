//! How the engine turns Python values into stored bytes and back, for one serde.
//!
//! The native codec (`codec`) does the work; a `CodecPlan` is built once per
//! serializer object and cached here by identity, because the saver passes its
//! `serde` on every call and `with_allowlist` clones carry a different one.
//! NULL columns (never written by SqliteSaver or us) go to the serializer itself.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use super::codec::{self, CodecPlan};
use super::serde_fallback as fallback;

/// Plans kept at once: the saver's serde plus a few `with_allowlist` clones.
const MAX_PLANS: usize = 8;

/// Per-engine encoding state, shared by all threads.
pub struct Codec {
    /// (serializer, its plan); the strong reference keeps the identity unique.
    plans: Mutex<Vec<(Py<PyAny>, Arc<CodecPlan>)>>,
}

impl Codec {
    pub fn new() -> Self {
        Codec {
            plans: Mutex::new(Vec::new()),
        }
    }

    /// The encoder for the serializer of this call (the GIL is held: nothing
    /// here waits for it while holding the lock).
    pub fn for_serde<'a, 'py>(
        &'a self,
        serde: &'a Bound<'py, PyAny>,
    ) -> PyResult<SerdeCodec<'a, 'py>> {
        let cached = {
            let plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
            plans
                .iter()
                .find(|(known, _)| known.as_ptr() == serde.as_ptr())
                .map(|(_, plan)| Arc::clone(plan))
        };
        let plan = match cached {
            Some(plan) => plan,
            None => {
                let plan = Arc::new(CodecPlan::for_serde(serde)?);
                let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
                if plans.len() >= MAX_PLANS {
                    plans.remove(0);
                }
                plans.push((serde.clone().unbind(), Arc::clone(&plan)));
                plan
            }
        };
        Ok(SerdeCodec { serde, plan })
    }
}

/// Encoding with one serializer.
pub struct SerdeCodec<'a, 'py> {
    serde: &'a Bound<'py, PyAny>,
    plan: Arc<CodecPlan>,
}

impl<'py> SerdeCodec<'_, 'py> {
    /// (type tag, bytes), as `serde.dumps_typed(value)`.
    pub fn encode(&self, value: &Bound<'_, PyAny>) -> PyResult<(String, Vec<u8>)> {
        codec::encode_value(&self.plan, self.serde, value)
    }

    /// The value of a stored (type, blob) pair, as `serde.loads_typed`.
    pub fn decode(
        &self,
        py: Python<'py>,
        tag: Option<&str>,
        data: Option<&[u8]>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match (tag, data) {
            (Some(tag), Some(data)) => codec::decode_value(py, &self.plan, self.serde, tag, data),
            _ => fallback::decode_value(py, self.serde, tag, data),
        }
    }

    /// Metadata as UTF-8 JSON, exactly as `json.dumps(value, ensure_ascii=False)`.
    pub fn encode_metadata(&self, value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        codec::encode_metadata(value)
    }

    /// `json.loads(data)`.
    pub fn decode_metadata(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        codec::decode_metadata(py, data)
    }
}
