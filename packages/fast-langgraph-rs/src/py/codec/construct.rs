//! Building a stored LangChain message without running validation, and the
//! proof that this builds the very object validation would.
//!
//! The ext hook builds a message with `cls(**kwargs)` and, if validation fails,
//! with `cls.model_construct(**kwargs)`. So `model_construct` gives the very
//! same object whenever validation would either fail or change nothing. The
//! checks below accept only kwargs for which a successful validation is the
//! identity: known field names only, exact built-in types where pydantic would
//! coerce, for AIMessage, tool-call dicts already in the exact shape its
//! validator writes, and for ToolMessage and RemoveMessage a stored content
//! that their validator or `__init__` keeps. The per-class half of the proof is
//! in `plan`.

use std::mem;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern};

use super::plan::{AiShapes, ConstructProfile, FieldKind, Known, MessageClass};

fn is_exact_str(value: &Bound<'_, PyAny>) -> bool {
    value.is_exact_instance_of::<PyString>()
}

fn is_none_or_str(value: &Bound<'_, PyAny>) -> bool {
    value.is_none() || is_exact_str(value)
}

fn is_exact_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_exact_instance_of::<PyInt>()
}

/// A value check, for the shapes below.
type Check = fn(&Bound<'_, PyAny>) -> bool;

/// An exact dict whose keys are exactly the names of `shape`, in that order,
/// each value passing its check.
fn has_shape(value: &Bound<'_, PyAny>, shape: &[(&str, Check)]) -> bool {
    let Ok(dict) = value.cast_exact::<PyDict>() else {
        return false;
    };
    dict.len() == shape.len()
        && dict
            .iter()
            .zip(shape)
            .all(|((key, item), (name, check))| is_text(&key, name) && check(&item))
}

/// An exact dict of exact ints whose keys follow `order` (a subsequence of it).
fn is_ordered_int_dict(value: &Bound<'_, PyAny>, order: &[String]) -> bool {
    let Ok(dict) = value.cast_exact::<PyDict>() else {
        return false;
    };
    let mut allowed = order.iter();
    dict.iter().all(|(key, item)| {
        let Some(key) = exact_str(&key) else {
            return false;
        };
        allowed.any(|name| name == key) && is_exact_int(&item)
    })
}

/// The text of an exact str (None for anything else, or for surrogates).
fn exact_str<'a>(value: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    value.cast_exact::<PyString>().ok()?.to_str().ok()
}

const TOOL_CALL_SHAPE: [(&str, Check); 4] = [
    ("name", is_exact_str),
    ("args", |args| {
        args.cast_exact::<PyDict>()
            .is_ok_and(|args| args.keys().iter().all(|key| is_exact_str(&key)))
    }),
    ("id", is_none_or_str),
    ("type", |kind| is_text(kind, "tool_call")),
];

const INVALID_TOOL_CALL_SHAPE: [(&str, Check); 5] = [
    ("type", |kind| is_text(kind, "invalid_tool_call")),
    ("id", is_none_or_str),
    ("name", is_none_or_str),
    ("args", is_none_or_str),
    ("error", is_none_or_str),
];

/// `stored`: the message's kwargs as stored; `stored_at`: for each field of
/// `class`, where its value is in `stored` (every stored key being a field,
/// stored once).
pub(super) fn validates_to_itself(
    known: &Known,
    class: &MessageClass,
    profile: ConstructProfile,
    stored: &[(&[u8], Bound<'_, PyAny>)],
    stored_at: &[Option<usize>],
) -> PyResult<bool> {
    let ai = profile == ConstructProfile::Ai;
    let mut has_tool_call_id = false;
    let mut has_calls = false;
    let mut additional_kwargs = None;
    let mut content = None;
    for (kind, at) in class.field_kinds.iter().zip(stored_at) {
        let Some(at) = at else {
            continue;
        };
        let value = &stored[*at].1;
        let acceptable = match kind {
            FieldKind::Content => {
                content = Some(value);
                is_exact_str(value)
                    || value.cast_exact::<PyList>().is_ok_and(|items| {
                        items.iter().all(|item| {
                            is_exact_str(&item) || item.is_exact_instance_of::<PyDict>()
                        })
                    })
            }
            FieldKind::AdditionalKwargs => {
                additional_kwargs = Some(value);
                value.is_exact_instance_of::<PyDict>()
            }
            FieldKind::ResponseMetadata => value.is_exact_instance_of::<PyDict>(),
            FieldKind::Type => {
                exact_str(value).is_some_and(|text| Some(text) == class.type_literal.as_deref())
            }
            FieldKind::OptionalStr => is_none_or_str(value),
            FieldKind::ToolCallId => {
                has_tool_call_id = true;
                is_none_or_str(value)
            }
            FieldKind::Artifact => true, // typed Any; coerce_args leaves it alone
            FieldKind::ToolCalls if ai => {
                all_items(value, |call| has_shape(call, &TOOL_CALL_SHAPE))
                    && mark_calls(&mut has_calls, value)?
            }
            FieldKind::InvalidToolCalls if ai => {
                all_items(value, |call| has_shape(call, &INVALID_TOOL_CALL_SHAPE))
                    && mark_calls(&mut has_calls, value)?
            }
            FieldKind::UsageMetadata if ai => {
                let Some(shapes) = &known.ai_shapes else {
                    return Ok(false);
                };
                value.is_none() || usage_validates_to_itself(value, shapes)
            }
            _ => false,
        };
        if !acceptable {
            return Ok(false);
        }
    }
    // Every `__init__` passes content=None when none is stored: validation
    // then fails (the same object either way), except that coerce_args turns
    // it into "None".
    if profile == ConstructProfile::Tool && (!has_tool_call_id || content.is_none()) {
        return Ok(false);
    }
    if profile == ConstructProfile::Remove {
        // Its __init__ passes content="" in place of a falsy or missing one:
        // only a str (kept, or "") or a non-empty list (which makes it raise)
        // come out as stored.
        let kept = content.is_some_and(|content| {
            is_exact_str(content)
                || content
                    .cast_exact::<PyList>()
                    .is_ok_and(|items| !items.is_empty())
        });
        if !kept {
            return Ok(false);
        }
    }
    if ai && !has_calls {
        // Without tool calls, the validator would parse raw ones from additional_kwargs.
        if let Some(extra) = additional_kwargs {
            let py = extra.py();
            if extra
                .cast::<PyDict>()?
                .contains(intern!(py, "tool_calls"))?
            {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Notes whether a (valid) list of tool calls is non-empty; always true.
fn mark_calls(has_calls: &mut bool, calls: &Bound<'_, PyAny>) -> PyResult<bool> {
    *has_calls |= calls.is_truthy()?;
    Ok(true)
}

fn is_text(value: &Bound<'_, PyAny>, expected: &str) -> bool {
    exact_str(value) == Some(expected)
}

/// An exact list whose every item passes `check`.
fn all_items(value: &Bound<'_, PyAny>, check: impl Fn(&Bound<'_, PyAny>) -> bool) -> bool {
    value
        .cast_exact::<PyList>()
        .is_ok_and(|items| items.iter().all(|item| check(&item)))
}

fn usage_validates_to_itself(value: &Bound<'_, PyAny>, shapes: &AiShapes) -> bool {
    let Ok(usage) = value.cast_exact::<PyDict>() else {
        return false;
    };
    let mut allowed = shapes.usage.iter();
    usage.iter().all(|(key, item)| {
        let Some(key) = exact_str(&key) else {
            return false;
        };
        if !allowed.any(|name| name == key) {
            return false;
        }
        match key {
            "input_token_details" => is_ordered_int_dict(&item, &shapes.input_details),
            "output_token_details" => is_ordered_int_dict(&item, &shapes.output_details),
            _ => is_exact_int(&item),
        }
    })
}

/// What pydantic's `model_construct(**kwargs)` does when every field is given
/// once and nothing else: `object.__new__(cls)`, then through
/// `object.__setattr__`: `__dict__` in field order, every field set, an empty
/// extras dict (extra="allow"), no private values.
pub(super) fn construct_directly<'py>(
    class: &MessageClass,
    stored: &[(&[u8], Bound<'py, PyAny>)],
    stored_at: &[Option<usize>],
) -> PyResult<Bound<'py, PyAny>> {
    let Some((_, first)) = stored.first() else {
        return Err(PyValueError::new_err("a message without fields"));
    };
    let py = first.py();
    let fields = class.dict_template.bind(py).copy()?;
    for (name, at) in class.field_names.iter().zip(stored_at) {
        let (_, value) = &stored[at.ok_or_else(|| PyValueError::new_err("missing field"))?];
        fields.set_item(name.bind(py), value)?;
    }
    let fields_set = set_of_keys(&fields)?;
    let instance = object_new(class.class.bind(py))?;
    set_attribute_plainly(&instance, intern!(py, "__dict__"), &fields)?;
    set_attribute_plainly(
        &instance,
        intern!(py, "__pydantic_fields_set__"),
        &fields_set,
    )?;
    set_attribute_plainly(
        &instance,
        intern!(py, "__pydantic_extra__"),
        &PyDict::new(py),
    )?;
    set_attribute_plainly(
        &instance,
        intern!(py, "__pydantic_private__"),
        py.None().bind(py),
    )?;
    Ok(instance)
}

/// Whether `construct_directly` builds what `model_construct` builds for the
/// class (checked once per class, with every field set to None): the same
/// type, `__dict__` in the same order, the same fields set, extras and
/// private values.
pub(super) fn matches_model_construct(py: Python<'_>, class: &MessageClass) -> PyResult<bool> {
    let stored: Vec<(&[u8], Bound<'_, PyAny>)> = class
        .fields
        .iter()
        .map(|field| (field.as_bytes(), py.None().into_bound(py)))
        .collect();
    let stored_at: Vec<Option<usize>> = (0..stored.len()).map(Some).collect();
    let ours = construct_directly(class, &stored, &stored_at)?;
    let kwargs = PyDict::new(py);
    for name in &class.field_names {
        kwargs.set_item(name.bind(py), py.None())?;
    }
    let theirs = class
        .class
        .bind(py)
        .call_method("model_construct", (), Some(&kwargs))?;
    if !ours.get_type().is(theirs.get_type()) {
        return Ok(false);
    }
    let dict_of = |object: &Bound<'_, PyAny>| -> PyResult<Vec<String>> {
        object
            .getattr("__dict__")?
            .cast_into::<PyDict>()?
            .keys()
            .extract()
    };
    if dict_of(&ours)? != dict_of(&theirs)? {
        return Ok(false);
    }
    for attribute in [
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    ] {
        if !ours.getattr(attribute)?.eq(theirs.getattr(attribute)?)? {
            return Ok(false);
        }
    }
    Ok(true)
}

// Direct calls into CPython for `construct_directly`: each does exactly what the
// Python-level call it replaces does, without the call's own overhead.

/// `object.__new__(class)`, for a class whose `__new__` is `object.__new__`:
/// its inherited `tp_new` slot, called with no arguments.
fn object_new<'py>(class: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let py = class.py();
    let no_args = PyTuple::empty(py);
    // SAFETY: the class pointer is a live type object while `class` is borrowed;
    // a non-null Py_tp_new slot holds a `newfunc`, which is called with a valid
    // tuple and no kwargs, and returns a new reference or null with an error set.
    unsafe {
        let slot = ffi::PyType_GetSlot(class.as_type_ptr(), ffi::Py_tp_new);
        if slot.is_null() {
            return Err(PyTypeError::new_err("type has no tp_new"));
        }
        let new: ffi::newfunc = mem::transmute::<*mut std::ffi::c_void, ffi::newfunc>(slot);
        let object = new(class.as_type_ptr(), no_args.as_ptr(), std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(py, object)
    }
}

/// `object.__setattr__(object, name, value)`: the generic attribute setter,
/// bypassing any `__setattr__` of the class (pydantic's refuses these names).
fn set_attribute_plainly(
    object: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: three live objects; the call borrows them and returns 0 or -1 with an error set.
    let status =
        unsafe { ffi::PyObject_GenericSetAttr(object.as_ptr(), name.as_ptr(), value.as_ptr()) };
    if status == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(object.py()))
    }
}

/// `set(dict)`: the set of a dict's keys.
fn set_of_keys<'py>(dict: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: a live dict; PySet_New returns a new reference or null with an error set.
    unsafe { Bound::from_owned_ptr_or_err(dict.py(), ffi::PySet_New(dict.as_ptr())) }
}
