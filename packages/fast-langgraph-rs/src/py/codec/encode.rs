//! Python objects to MessagePack, byte-identical to jsonplus's `_msgpack_enc`.
//!
//! Plain data (dict, list, tuple, str, int, float, bool, None, bytes) is
//! written with the encodings ormsgpack picks, and LangChain messages as the
//! extension values `_msgpack_default` builds, taking the fields from the
//! instance `__dict__` when that provably equals `model_dump()`; a
//! `_DeltaSnapshot` as `Ext(7, <its value, encoded the same way>)`. Any other
//! object is handed to `_msgpack_enc` itself and its bytes spliced in.

use std::cell::Cell;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::plan::{Known, MessageClass};
use super::{EXT_DELTA_SNAPSHOT, EXT_PYDANTIC_V2, MAX_DEPTH, PYDANTIC_V2_METHOD};
use crate::codec::msgpack::{self, MsgpackError};

/// Marker, 16-bit length and type: the header of most messages' ext values.
const USUAL_EXT_HEADER_BYTES: usize = 4;

/// The bytes `_msgpack_enc(value)` returns; None when the native encoder
/// declines, and the reference then decides (error, pickle fallback...).
pub(super) fn msgpack<'py>(
    known: &Known,
    value: &Bound<'py, PyAny>,
) -> Option<Bound<'py, PyBytes>> {
    // Encoded into this thread's reused buffer: a state of a few hundred KB
    // would otherwise take fresh pages from the system at every call. (A
    // nested call, from Python code the encoder runs, finds it taken and
    // starts an empty one.)
    let mut out = SCRATCH.take();
    out.clear();
    let mut encoder = MsgpackEncoder {
        known,
        out,
        plain_only: false,
    };
    let encoded = encoder
        .value(value, 0)
        .ok()
        .map(|()| PyBytes::new(value.py(), &encoder.out));
    if encoder.out.capacity() <= MAX_SCRATCH_BYTES {
        SCRATCH.set(encoder.out);
    }
    encoded
}

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer grown beyond this is not kept for the next call.
const MAX_SCRATCH_BYTES: usize = 16 * 1024 * 1024;

enum EncodeFailure {
    /// A value that is not plain data inside a `__dict__`-built message dump:
    /// the message is dumped again through `model_dump()`.
    NotPlain,
    /// Anything else; the reference path then reports the real error, if any.
    Failed,
}

impl From<PyErr> for EncodeFailure {
    fn from(_: PyErr) -> Self {
        EncodeFailure::Failed
    }
}

impl From<MsgpackError> for EncodeFailure {
    fn from(_: MsgpackError) -> Self {
        EncodeFailure::Failed
    }
}

struct MsgpackEncoder<'k> {
    known: &'k Known,
    out: Vec<u8>,
    /// Set while a message dump is built from `__dict__`: only plain data allowed.
    plain_only: bool,
}

impl MsgpackEncoder<'_> {
    fn value(&mut self, value: &Bound<'_, PyAny>, depth: usize) -> Result<(), EncodeFailure> {
        if depth > MAX_DEPTH {
            return Err(EncodeFailure::Failed);
        }
        // Exact types only: ormsgpack's handling of subclasses is left to ormsgpack.
        if let Ok(text) = value.cast_exact::<PyString>() {
            match text.to_str() {
                Ok(text) => msgpack::write_str(&mut self.out, text)?,
                // Lone surrogates: ormsgpack replaces them (OPT_REPLACE_SURROGATES).
                Err(_) => self.splice(value)?,
            }
        } else if let Ok(dict) = value.cast_exact::<PyDict>() {
            let start = self.out.len();
            msgpack::write_map_len(&mut self.out, dict.len())?;
            for (key, item) in dict.iter() {
                let Ok(key) = key.cast_exact::<PyString>() else {
                    // Non-str keys (OPT_NON_STR_KEYS): the whole dict goes to ormsgpack.
                    self.out.truncate(start);
                    return self.splice(value);
                };
                match key.to_str() {
                    Ok(key) => msgpack::write_str(&mut self.out, key)?,
                    Err(_) => {
                        self.out.truncate(start);
                        return self.splice(value);
                    }
                }
                self.value(&item, depth + 1)?;
            }
        } else if let Ok(list) = value.cast_exact::<PyList>() {
            msgpack::write_array_len(&mut self.out, list.len())?;
            for item in list.iter() {
                self.value(&item, depth + 1)?;
            }
        } else if let Ok(tuple) = value.cast_exact::<PyTuple>() {
            msgpack::write_array_len(&mut self.out, tuple.len())?;
            for item in tuple.iter() {
                self.value(&item, depth + 1)?;
            }
        } else if let Ok(flag) = value.cast_exact::<PyBool>() {
            msgpack::write_bool(&mut self.out, flag.is_true());
        } else if value.is_exact_instance_of::<PyInt>() {
            if let Ok(small) = value.extract::<i64>() {
                msgpack::write_int(&mut self.out, small);
            } else if let Ok(large) = value.extract::<u64>() {
                msgpack::write_uint(&mut self.out, large);
            } else {
                // Beyond 64 bits ormsgpack raises; the reference path reports it.
                self.splice(value)?;
            }
        } else if let Ok(float) = value.cast_exact::<PyFloat>() {
            msgpack::write_float(&mut self.out, float.value());
        } else if value.is_none() {
            msgpack::write_nil(&mut self.out);
        } else if let Ok(bytes) = value.cast_exact::<PyBytes>() {
            msgpack::write_bin(&mut self.out, bytes.as_bytes())?;
        } else if let Some(class) = self.known.message_class_of(&value.get_type()) {
            if self.plain_only {
                return Err(EncodeFailure::NotPlain);
            }
            self.message(value, class, depth)?;
        } else if self.is_delta_snapshot(value) {
            if self.plain_only {
                return Err(EncodeFailure::NotPlain);
            }
            self.delta_snapshot(value, depth)?;
        } else {
            self.splice(value)?;
        }
        Ok(())
    }

    /// Exactly `_DeltaSnapshot` (a subclass goes to the reference).
    fn is_delta_snapshot(&self, value: &Bound<'_, PyAny>) -> bool {
        self.known
            .delta_snapshot
            .as_ref()
            .is_some_and(|class| value.get_type().is(class.bind(value.py())))
    }

    /// `Ext(7, _msgpack_enc(obj.value))`, as `_msgpack_default` writes it.
    fn delta_snapshot(
        &mut self,
        snapshot: &Bound<'_, PyAny>,
        depth: usize,
    ) -> Result<(), EncodeFailure> {
        let inner = snapshot.getattr(intern!(snapshot.py(), "value"))?;
        self.ext(EXT_DELTA_SNAPSHOT, |encoder| {
            encoder.value(&inner, depth + 1)
        })
    }

    /// An ext value whose payload `write_payload` writes straight into the
    /// output, after room for the usual header (ext16: payloads of 256 to
    /// 65535 bytes), which is then filled in; a payload of another size moves
    /// once to fit its header. On failure nothing of it is left in the output.
    fn ext(
        &mut self,
        code: i8,
        write_payload: impl FnOnce(&mut Self) -> Result<(), EncodeFailure>,
    ) -> Result<(), EncodeFailure> {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; USUAL_EXT_HEADER_BYTES]);
        let payload_start = self.out.len();
        let mut header = Vec::with_capacity(USUAL_EXT_HEADER_BYTES + 2);
        let written = write_payload(self).and_then(|()| {
            let payload_len = self.out.len() - payload_start;
            Ok(msgpack::write_ext_header(&mut header, code, payload_len)?)
        });
        if let Err(failure) = written {
            self.out.truncate(start);
            return Err(failure);
        }
        self.out.splice(start..payload_start, header);
        Ok(())
    }

    /// Exactly the bytes jsonplus writes for `value` on its own; msgpack values
    /// are self-delimiting, so they can be spliced into any container.
    fn splice(&mut self, value: &Bound<'_, PyAny>) -> Result<(), EncodeFailure> {
        if self.plain_only {
            return Err(EncodeFailure::NotPlain);
        }
        let encoded = self.known.msgpack_enc.bind(value.py()).call1((value,))?;
        self.out
            .extend_from_slice(encoded.cast::<PyBytes>().map_err(PyErr::from)?.as_bytes());
        Ok(())
    }

    /// `Ext(5, packb((module, name, obj.model_dump(), "model_validate_json")))`.
    fn message(
        &mut self,
        message: &Bound<'_, PyAny>,
        class: &MessageClass,
        depth: usize,
    ) -> Result<(), EncodeFailure> {
        self.ext(EXT_PYDANTIC_V2, |encoder| {
            encoder.message_payload(message, class, depth)
        })
    }

    fn message_payload(
        &mut self,
        message: &Bound<'_, PyAny>,
        class: &MessageClass,
        depth: usize,
    ) -> Result<(), EncodeFailure> {
        msgpack::write_array_len(&mut self.out, 4)?;
        msgpack::write_str(&mut self.out, class.module)?;
        msgpack::write_str(&mut self.out, class.name)?;
        let dump_start = self.out.len();
        let mut dumped = false;
        if class.dump_from_dict {
            self.plain_only = true;
            let attempt = self.dump_from_dict(message, class, depth);
            self.plain_only = false;
            match attempt {
                Ok(()) => dumped = true,
                Err(EncodeFailure::NotPlain) => self.out.truncate(dump_start),
                Err(err) => return Err(err),
            }
        }
        if !dumped {
            let dump = message.call_method0(intern!(message.py(), "model_dump"))?;
            self.value(&dump, depth + 1)?;
        }
        msgpack::write_str(&mut self.out, PYDANTIC_V2_METHOD)?;
        Ok(())
    }

    /// What `model_dump()` returns for such a class: the fields in `__dict__`
    /// order, then the extras, when every value is plain data.
    fn dump_from_dict(
        &mut self,
        message: &Bound<'_, PyAny>,
        class: &MessageClass,
        depth: usize,
    ) -> Result<(), EncodeFailure> {
        let py = message.py();
        let fields = message.getattr(intern!(py, "__dict__"))?;
        let Ok(fields) = fields.cast::<PyDict>() else {
            return Err(EncodeFailure::NotPlain);
        };
        if fields.len() != class.fields.len() {
            return Err(EncodeFailure::NotPlain);
        }
        let extra = message.getattr(intern!(py, "__pydantic_extra__"))?;
        let extra = if extra.is_none() {
            None
        } else {
            Some(
                extra
                    .cast_into::<PyDict>()
                    .map_err(|_| EncodeFailure::NotPlain)?,
            )
        };
        let extra_len = extra.as_ref().map_or(0, |extra| extra.len());
        msgpack::write_map_len(&mut self.out, fields.len() + extra_len)?;
        for (index, (key, value)) in fields.iter().enumerate() {
            // pydantic keys `__dict__` with the class's own field-name objects,
            // in declaration order: one pointer comparison each, mostly.
            let declared = class.field_names[index].bind(py);
            if key.is(declared) {
                msgpack::write_str(&mut self.out, &class.fields[index])?;
            } else {
                let key = key
                    .cast_exact::<PyString>()
                    .map_err(|_| EncodeFailure::NotPlain)?;
                let key = key.to_str().map_err(|_| EncodeFailure::NotPlain)?;
                if !class.fields.iter().any(|field| field == key) {
                    return Err(EncodeFailure::NotPlain);
                }
                msgpack::write_str(&mut self.out, key)?;
            }
            self.value(&value, depth + 2)?;
        }
        if let Some(extra) = extra {
            for (key, value) in extra.iter() {
                let key = key
                    .cast_exact::<PyString>()
                    .map_err(|_| EncodeFailure::NotPlain)?;
                let key = key.to_str().map_err(|_| EncodeFailure::NotPlain)?;
                msgpack::write_str(&mut self.out, key)?;
                self.value(&value, depth + 2)?;
            }
        }
        Ok(())
    }
}
