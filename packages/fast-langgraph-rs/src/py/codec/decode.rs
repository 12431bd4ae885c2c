//! MessagePack to Python objects, as `ormsgpack.unpackb` with jsonplus's ext
//! hook builds them.
//!
//! Extension values go to the serializer's own ext hook, which applies its
//! allowlist (strict mode, `SAFE_MSGPACK_TYPES`, custom allowlists), except
//! LangChain messages listed in `SAFE_MSGPACK_TYPES`, which the hook always
//! accepts and which are rebuilt here the way the hook rebuilds them:
//! `cls(**kwargs)`, then `cls.model_construct(**kwargs)`, then the kwargs
//! themselves (see `construct` for when validation is skipped). Under the
//! same condition a `_DeltaSnapshot` (code 7) is decoded here too, as the
//! hook decodes it: its payload with the same rules, wrapped in the class.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString};
use pyo3::IntoPyObjectExt;
use pyo3::{ffi, intern};

use super::construct;
use super::plan::Known;
use super::{EXT_DELTA_SNAPSHOT, EXT_PYDANTIC_V2, MAX_DEPTH};
use crate::codec::msgpack::{MsgpackError, Reader, Token};

/// `data` decoded; None when the native decoder declines (malformed data,
/// trailing bytes, a failing hook...), and the reference then decides.
/// `rebuild_messages` is false when the serializer has an ext hook of its own,
/// which then sees every extension value.
pub(super) fn msgpack<'py>(
    known: &'static Known,
    serde: &Bound<'py, PyAny>,
    data: &[u8],
    rebuild_messages: bool,
) -> Option<Bound<'py, PyAny>> {
    let mut decoder = MsgpackDecoder {
        py: serde.py(),
        known,
        serde,
        ext_hook: None,
        rebuild_messages,
        keys: KeyCache::new(),
    };
    let mut reader = Reader::new(data);
    let _paused = CollectorPause::new(serde.py());
    match decoder.value(&mut reader, 0) {
        Ok(value) if reader.is_at_end() => Some(value),
        _ => None,
    }
}

/// Why native decoding stopped; either way the reference path takes over.
enum DecodeFailure {
    Malformed,
    Python,
}

impl From<MsgpackError> for DecodeFailure {
    fn from(_: MsgpackError) -> Self {
        DecodeFailure::Malformed
    }
}

impl From<PyErr> for DecodeFailure {
    fn from(_: PyErr) -> Self {
        DecodeFailure::Python
    }
}

struct MsgpackDecoder<'py, 'a, 'd> {
    py: Python<'py>,
    known: &'static Known,
    serde: &'a Bound<'py, PyAny>,
    /// `serde._unpack_ext_hook`, fetched on first use.
    ext_hook: Option<Bound<'py, PyAny>>,
    rebuild_messages: bool,
    keys: KeyCache<'py, 'd>,
}

impl<'py, 'd> MsgpackDecoder<'py, '_, 'd> {
    fn value(
        &mut self,
        reader: &mut Reader<'d>,
        depth: usize,
    ) -> Result<Bound<'py, PyAny>, DecodeFailure> {
        if depth > MAX_DEPTH {
            return Err(DecodeFailure::Malformed);
        }
        let py = self.py;
        let value = match reader.next_token()? {
            Token::Array(len) => {
                let mut items = Vec::with_capacity(len.min(4096));
                for _ in 0..len {
                    items.push(self.value(reader, depth + 1)?);
                }
                PyList::new(py, items)?.into_any()
            }
            Token::Map(len) => {
                let dict = PyDict::new(py);
                for _ in 0..len {
                    let key = self.key(reader)?;
                    let item = self.value(reader, depth + 1)?;
                    dict.set_item(key, item)?;
                }
                dict.into_any()
            }
            Token::Ext(code, data) => self.ext(code, data, depth)?,
            scalar => scalar_to_python(py, scalar)?,
        };
        Ok(value)
    }

    /// Map keys: scalars as ormsgpack's OPT_NON_STR_KEYS builds them; container
    /// or ext keys are rare enough to leave to the reference.
    fn key(&mut self, reader: &mut Reader<'d>) -> Result<Bound<'py, PyAny>, DecodeFailure> {
        match reader.next_token()? {
            Token::Str(text) => Ok(self.keys.get(self.py, text)?.into_any()),
            Token::Array(_) | Token::Map(_) | Token::Ext(..) => Err(DecodeFailure::Malformed),
            scalar => Ok(scalar_to_python(self.py, scalar)?),
        }
    }

    fn ext(
        &mut self,
        code: i8,
        data: &'d [u8],
        depth: usize,
    ) -> Result<Bound<'py, PyAny>, DecodeFailure> {
        if code == EXT_PYDANTIC_V2 && self.rebuild_messages {
            if let Some(message) = self.message(data, depth)? {
                return Ok(message);
            }
        }
        let py = self.py;
        if code == EXT_DELTA_SNAPSHOT && self.rebuild_messages {
            if let Some(snapshot) = &self.known.delta_snapshot {
                // The hook: `_DeltaSnapshot(unpackb(data, ext_hook=hook))`. Any
                // failure inside (trailing bytes included) fails the whole
                // value, and the reference then decides, as for the outer data.
                let mut reader = Reader::new(data);
                let value = self.value(&mut reader, depth + 1)?;
                if !reader.is_at_end() {
                    return Err(DecodeFailure::Malformed);
                }
                return Ok(snapshot.bind(py).call1((value,))?);
            }
        }
        if self.ext_hook.is_none() {
            self.ext_hook = Some(self.serde.getattr(intern!(py, "_unpack_ext_hook"))?);
        }
        let hook = self.ext_hook.as_ref().expect("set above");
        Ok(hook.call1((code, PyBytes::new(py, data)))?)
    }

    /// A message the ext hook would accept, rebuilt as it rebuilds it; None when
    /// the payload is not one (the hook then gets it).
    fn message(
        &mut self,
        data: &'d [u8],
        depth: usize,
    ) -> Result<Option<Bound<'py, PyAny>>, DecodeFailure> {
        let py = self.py;
        let mut reader = Reader::new(data);
        let (Ok(Token::Array(4)), Ok(Token::Str(module)), Ok(Token::Str(name))) = (
            reader.next_token(),
            reader.next_token(),
            reader.next_token(),
        ) else {
            return Ok(None);
        };
        let Some(class) = self.known.message_class_named(module, name) else {
            return Ok(None);
        };
        if !class.safe {
            return Ok(None);
        }
        let Ok(Token::Map(len)) = reader.next_token() else {
            return Ok(None);
        };
        // The kwargs in stored order, and for each field where it was stored.
        let mut stored: Vec<(&'d [u8], Bound<'py, PyAny>)> = Vec::with_capacity(len.min(64));
        let mut stored_at: Vec<Option<usize>> = vec![None; class.fields.len()];
        let mut fields_once = true;
        for index in 0..len {
            let Token::Str(key) = reader.next_token()? else {
                return Ok(None);
            };
            let item = self.value(&mut reader, depth + 2)?;
            match class.field_index(key, index) {
                Some(field) => fields_once &= stored_at[field].replace(index).is_none(),
                None => fields_once = false,
            }
            stored.push((key, item));
        }
        // The method name is never read, but the hook decodes it: invalid
        // UTF-8 there makes its whole payload undecodable (the hook then gives None).
        let method_is_text = match reader.next_token() {
            Ok(Token::Str(method)) => std::str::from_utf8(method).is_ok(),
            _ => false,
        };
        if !method_is_text || !reader.is_at_end() {
            return Ok(None);
        }
        // An unknown key, or one stored twice (never written by jsonplus), skips
        // the shortcuts: the hook's own sequence below then decides.
        let skip_validation = match class.construct {
            Some(profile) if fields_once => {
                construct::validates_to_itself(self.known, class, profile, &stored, &stored_at)?
            }
            _ => false,
        };
        if skip_validation && class.direct_construct && stored.len() == class.fields.len() {
            return Ok(Some(construct::construct_directly(
                class, &stored, &stored_at,
            )?));
        }
        let kwargs = PyDict::new(py);
        for (key, item) in stored {
            kwargs.set_item(self.keys.get(py, key)?, item)?;
        }
        let class = class.class.bind(py);
        if skip_validation {
            return Ok(Some(class.call_method(
                intern!(py, "model_construct"),
                (),
                Some(&kwargs),
            )?));
        }
        // The hook's own sequence: validate, else construct unvalidated, else the raw kwargs.
        if let Ok(message) = class.call((), Some(&kwargs)) {
            return Ok(Some(message));
        }
        if let Ok(message) = class.call_method(intern!(py, "model_construct"), (), Some(&kwargs)) {
            return Ok(Some(message));
        }
        Ok(Some(kwargs.into_any()))
    }
}

/// Python strings made from map keys, for the length of one decode: a
/// checkpoint repeats the same few keys (message fields, tool-call keys...), and
/// a reused string also carries its computed hash. Direct-mapped, so a key that
/// collides simply replaces the older one.
struct KeyCache<'py, 'd> {
    slots: Vec<Option<(&'d [u8], Bound<'py, PyString>)>>,
}

impl<'py, 'd> KeyCache<'py, 'd> {
    const SLOTS: usize = 256;
    /// Longer keys are rarely repeated names: they are not cached.
    const MAX_LEN: usize = 64;

    fn new() -> Self {
        KeyCache {
            slots: vec![None; Self::SLOTS],
        }
    }

    /// The string of a key's UTF-8 bytes (an error if they are not UTF-8).
    fn get(&mut self, py: Python<'py>, text: &'d [u8]) -> PyResult<Bound<'py, PyString>> {
        if text.len() > Self::MAX_LEN {
            return PyString::from_bytes(py, text);
        }
        // FNV-1a over the bytes.
        let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
        let slot = &mut self.slots[(hash as usize) % Self::SLOTS];
        match slot {
            Some((cached, string)) if *cached == text => Ok(string.clone()),
            _ => {
                let string = PyString::from_bytes(py, text)?;
                *slot = Some((text, string.clone()));
                Ok(string)
            }
        }
    }
}

fn scalar_to_python<'py>(py: Python<'py>, token: Token<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match token {
        Token::Nil => py.None().into_bound(py),
        Token::Bool(flag) => PyBool::new(py, flag).to_owned().into_any(),
        Token::Int(value) => value.into_bound_py_any(py)?,
        Token::BigUInt(value) => value.into_bound_py_any(py)?,
        Token::Float(value) => PyFloat::new(py, value).into_any(),
        Token::Str(text) => PyString::from_bytes(py, text)?.into_any(),
        Token::Bin(bytes) => PyBytes::new(py, bytes).into_any(),
        Token::Array(_) | Token::Map(_) | Token::Ext(..) => {
            unreachable!("containers and ext values are handled by the decoder")
        }
    })
}

/// Pauses Python's cyclic garbage collector for one decode. A checkpoint's
/// decode allocates thousands of containers that all survive it; with the
/// collector on, every few hundred allocations start a pass over the young
/// ones, which on large states costs as much as the decode itself (and more
/// while `list()` keeps a page of decoded checkpoints alive). Allocations still
/// count, so the collector runs once, on the first allocation after the pause.
/// It is left off if something else had turned it off.
struct CollectorPause {
    resume: bool,
}

impl CollectorPause {
    fn new(_attached: Python<'_>) -> Self {
        // SAFETY: the interpreter is attached (a `Python` token exists);
        // PyGC_Disable only flips the collector's flag and returns the old one.
        let was_enabled = unsafe { ffi::PyGC_Disable() };
        CollectorPause {
            resume: was_enabled == 1,
        }
    }
}

impl Drop for CollectorPause {
    fn drop(&mut self) {
        if self.resume {
            // SAFETY: dropped where it was made, with the interpreter attached.
            unsafe {
                ffi::PyGC_Enable();
            }
        }
    }
}
