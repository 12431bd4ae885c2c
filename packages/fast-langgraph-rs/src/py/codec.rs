//! Python objects to bytes and back, as langgraph's `JsonPlusSerializer` does it.
//!
//! A `CodecPlan` is made once per serializer object. Only a serializer whose type
//! is exactly `JsonPlusSerializer` is handled natively; any other (custom,
//! encrypted, subclassed) goes through its own `dumps_typed` / `loads_typed`.
//!
//! Natively, plain data (dict, list, tuple, str, int, float, bool, None, bytes)
//! is written with the same MessagePack encodings ormsgpack picks, and LangChain
//! messages are written as the same extension values `_msgpack_default` builds,
//! taking the fields from the instance `__dict__` when that provably equals
//! `model_dump()`. Any other object is handed to jsonplus's own `_msgpack_enc` and
//! its bytes spliced in, so output stays byte-identical. If anything fails, the
//! whole value goes through `serde.dumps_typed`, which then decides (error,
//! pickle fallback...) exactly as SqliteSaver would.
//!
//! Decoding parses MessagePack natively. Extension values go to the serializer's
//! own ext hook, which applies its allowlist (strict mode, `SAFE_MSGPACK_TYPES`,
//! custom allowlists), except LangChain messages listed in `SAFE_MSGPACK_TYPES`,
//! which the hook always accepts and which are rebuilt here the way the hook
//! rebuilds them: `cls(**kwargs)`, then `cls.model_construct(**kwargs)`, then the
//! kwargs themselves. Malformed input goes to `serde.loads_typed`, which raises
//! its own error.

use std::mem;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType,
};
use pyo3::{ffi, intern, IntoPyObjectExt};

use super::serde_fallback as fallback;
use crate::codec::json::{self as json_text, JsonValue};
use crate::codec::msgpack::{self, MsgpackError, Reader, Token};

/// jsonplus's extension code for pydantic v2 models (`EXT_PYDANTIC_V2`).
const EXT_PYDANTIC_V2: i8 = 5;
/// The method name jsonplus writes as the fourth element of a pydantic v2 ext value.
const PYDANTIC_V2_METHOD: &str = "model_validate_json";
/// Nesting beyond this goes to the Python path, which applies its own limits
/// (ormsgpack's recursion limit, json's circular-reference check).
const MAX_DEPTH: usize = 200;

/// The LangChain message classes with a native fast path, as (module, class name).
const MESSAGE_CLASSES: [(&str, &str); 15] = [
    ("langchain_core.messages.human", "HumanMessage"),
    ("langchain_core.messages.human", "HumanMessageChunk"),
    ("langchain_core.messages.ai", "AIMessage"),
    ("langchain_core.messages.ai", "AIMessageChunk"),
    ("langchain_core.messages.system", "SystemMessage"),
    ("langchain_core.messages.system", "SystemMessageChunk"),
    ("langchain_core.messages.chat", "ChatMessage"),
    ("langchain_core.messages.chat", "ChatMessageChunk"),
    ("langchain_core.messages.tool", "ToolMessage"),
    ("langchain_core.messages.tool", "ToolMessageChunk"),
    ("langchain_core.messages.function", "FunctionMessage"),
    ("langchain_core.messages.function", "FunctionMessageChunk"),
    ("langchain_core.messages.modifier", "RemoveMessage"),
    ("langchain_core.messages.base", "BaseMessage"),
    ("langchain_core.messages.base", "BaseMessageChunk"),
];

/// What one serializer object needs: made once, shared between threads.
pub struct CodecPlan {
    native: Option<NativePlan>,
}

/// How a plain `JsonPlusSerializer` is handled. Its allowlist and pickle_fallback
/// need no copy here: allowlist decisions are left to its own ext hook (the
/// message classes rebuilt natively are in `SAFE_MSGPACK_TYPES`, which every
/// allowlist mode accepts), and whatever cannot be encoded natively goes through
/// its own `dumps_typed`, which applies pickle_fallback.
struct NativePlan {
    /// False when the serializer was given its own `__unpack_ext_hook__`: then
    /// every extension value goes to that hook.
    rebuild_messages: bool,
}

impl CodecPlan {
    pub fn for_serde(serde: &Bound<'_, PyAny>) -> PyResult<CodecPlan> {
        let known = Known::get(serde.py())?;
        if !serde.get_type().is(known.jsonplus_type.bind(serde.py())) {
            return Ok(CodecPlan { native: None });
        }
        let custom_hook = serde
            .getattr(intern!(serde.py(), "_custom_unpack_ext_hook"))?
            .is_truthy()?;
        Ok(CodecPlan {
            native: Some(NativePlan {
                rebuild_messages: !custom_hook,
            }),
        })
    }

    /// True when values are encoded natively (for tests and diagnostics).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }
}

/// `serde.dumps_typed(value)`, as (type tag, bytes).
pub fn encode_value(
    plan: &CodecPlan,
    serde: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<(String, Vec<u8>)> {
    if plan.native.is_none() {
        return fallback::encode_value(serde, value);
    }
    if value.is_none() {
        return Ok(("null".to_owned(), Vec::new()));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(("bytes".to_owned(), bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(("bytearray".to_owned(), bytes.to_vec()));
    }
    let mut encoder = MsgpackEncoder {
        known: Known::get(value.py())?,
        out: Vec::new(),
        plain_only: false,
    };
    match encoder.value(value, 0) {
        Ok(()) => Ok(("msgpack".to_owned(), encoder.out)),
        // The reference path raises the error users would see, or pickles.
        Err(_) => fallback::encode_value(serde, value),
    }
}

/// `serde.loads_typed((tag, data))`.
pub fn decode_value<'py>(
    py: Python<'py>,
    plan: &CodecPlan,
    serde: &Bound<'py, PyAny>,
    tag: &str,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    let Some(native) = &plan.native else {
        return fallback::decode_value(py, serde, Some(tag), Some(data));
    };
    match tag {
        "null" => Ok(py.None().into_bound(py)),
        "bytes" => Ok(PyBytes::new(py, data).into_any()),
        "bytearray" => Ok(PyByteArray::new(py, data).into_any()),
        "msgpack" => {
            let mut decoder = MsgpackDecoder {
                py,
                known: Known::get(py)?,
                serde,
                ext_hook: None,
                rebuild_messages: native.rebuild_messages,
                keys: KeyCache::new(),
            };
            let mut reader = Reader::new(data);
            match decoder.value(&mut reader, 0) {
                Ok(value) if reader.is_at_end() => Ok(value),
                // Malformed data, trailing bytes or a failing hook: let the
                // reference decide (it raises, or tolerates what ormsgpack tolerates).
                _ => fallback::decode_value(py, serde, Some(tag), Some(data)),
            }
        }
        // "json" (legacy rows), "pickle" and unknown tags: the serializer's own rules.
        _ => fallback::decode_value(py, serde, Some(tag), Some(data)),
    }
}

/// Metadata as SqliteSaver writes it: `json.dumps(value, ensure_ascii=False)` in UTF-8.
pub fn encode_metadata(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut out = Vec::new();
    match write_json(&mut out, value, 0) {
        Ok(()) => Ok(out),
        // Anything unusual (subclasses, non-str keys, surrogates, non-JSON values,
        // cycles): json.dumps itself, with its own result or error.
        Err(_) => fallback::encode_metadata(value),
    }
}

/// Metadata as SqliteSaver reads it: `json.loads(data)`.
pub fn decode_metadata<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    match json_text::parse(data) {
        Ok(parsed) => match json_to_python(py, &parsed) {
            Ok(value) => Ok(value),
            Err(_) => fallback::decode_metadata(py, data),
        },
        Err(_) => fallback::decode_metadata(py, data),
    }
}

// ---------------------------------------------------------------------------
// Objects imported once per process.

/// A LangChain message class and what was verified about it.
struct MessageClass {
    class: Py<PyType>,
    module: &'static str,
    name: &'static str,
    /// Field names in declaration order.
    fields: Vec<String>,
    /// The same names as interned Python strings, to build `__dict__` with.
    field_names: Vec<Py<PyString>>,
    /// What each field holds, for `validates_to_itself`.
    field_kinds: Vec<FieldKind>,
    /// `{field: None}` in field order: a copy is a `__dict__` already sized
    /// for every field, whose values are then replaced.
    dict_template: Py<PyDict>,
    /// `model_dump()` provably equals the instance `__dict__` plus extras when
    /// every value is plain data: pydantic v2 model, `model_dump` and the core
    /// schema hook not overridden, no computed fields, no serializers, no
    /// excluded or aliased-on-output fields.
    dump_from_dict: bool,
    /// Listed in `SAFE_MSGPACK_TYPES`: the ext hook accepts it in every mode,
    /// so rebuilding it here decides nothing the hook would decide otherwise.
    safe: bool,
    /// Which validation the class runs, when it is one whose effect on stored
    /// kwargs is known (see `validates_to_itself`); None: always validate.
    construct: Option<ConstructProfile>,
    /// The default of the `type` field ("human", "ai"...).
    type_literal: Option<String>,
    /// `model_construct` with every field given reduces to `object.__new__` and
    /// setting four attributes (see `construct_directly`): extra="allow", no
    /// aliases, no private attributes, no post-init hook, not a root model, no
    /// `__new__` of its own.
    direct_construct: bool,
}

impl MessageClass {
    /// The position of the field named `key`; `guess` is tried first (stored
    /// messages list their fields in declaration order).
    fn field_index(&self, key: &[u8], guess: usize) -> Option<usize> {
        match self.fields.get(guess) {
            Some(field) if field.as_bytes() == key => Some(guess),
            _ => self.fields.iter().position(|field| field.as_bytes() == key),
        }
    }
}

/// The message fields `validates_to_itself` knows, by name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Content,
    AdditionalKwargs,
    ResponseMetadata,
    Type,
    /// name, id, role, status: an optional str.
    OptionalStr,
    ToolCallId,
    Artifact,
    ToolCalls,
    InvalidToolCalls,
    UsageMetadata,
    /// Any other field: validation is never skipped when it is stored.
    Unknown,
}

impl FieldKind {
    fn of(name: &str) -> FieldKind {
        match name {
            "content" => FieldKind::Content,
            "additional_kwargs" => FieldKind::AdditionalKwargs,
            "response_metadata" => FieldKind::ResponseMetadata,
            "type" => FieldKind::Type,
            "name" | "id" | "role" | "status" => FieldKind::OptionalStr,
            "tool_call_id" => FieldKind::ToolCallId,
            "artifact" => FieldKind::Artifact,
            "tool_calls" => FieldKind::ToolCalls,
            "invalid_tool_calls" => FieldKind::InvalidToolCalls,
            "usage_metadata" => FieldKind::UsageMetadata,
            _ => FieldKind::Unknown,
        }
    }
}

/// The validation a message class performs beyond its field types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConstructProfile {
    /// No validators: only the field types.
    Plain,
    /// ToolMessage's `coerce_args`.
    Tool,
    /// AIMessage's `_backwards_compat_tool_calls`.
    Ai,
}

/// Key orders of the TypedDicts inside AIMessage, in declaration order (the
/// order pydantic's validation writes them in).
struct AiShapes {
    usage: Vec<String>,
    input_details: Vec<String>,
    output_details: Vec<String>,
}

struct Known {
    jsonplus_type: Py<PyType>,
    /// `jsonplus._msgpack_enc`: ormsgpack with jsonplus's default and options.
    msgpack_enc: Py<PyAny>,
    messages: Vec<MessageClass>,
    ai_shapes: Option<AiShapes>,
}

static KNOWN: PyOnceLock<Known> = PyOnceLock::new();

impl Known {
    fn get(py: Python<'_>) -> PyResult<&'static Known> {
        KNOWN.get_or_try_init(py, || Known::load(py))
    }

    fn load(py: Python<'_>) -> PyResult<Known> {
        let jsonplus = PyModule::import(py, "langgraph.checkpoint.serde.jsonplus")?;
        let safe_types = PyModule::import(py, "langgraph.checkpoint.serde._msgpack")?
            .getattr("SAFE_MSGPACK_TYPES")?;
        let mut messages = Vec::new();
        for (module, name) in MESSAGE_CLASSES {
            // A missing class (older or newer langchain-core) simply has no fast path.
            let Ok(class) = PyModule::import(py, module).and_then(|m| m.getattr(name)) else {
                continue;
            };
            let Ok(class) = class.cast_into::<PyType>() else {
                continue;
            };
            let fields: Vec<String> = match class.getattr("model_fields") {
                Ok(fields) => fields.cast::<PyDict>()?.keys().extract()?,
                Err(_) => continue,
            };
            let type_literal = class
                .getattr("model_fields")
                .and_then(|fields| fields.get_item("type"))
                .and_then(|field| field.getattr("default"))
                .and_then(|default| default.extract::<String>())
                .ok();
            let field_names = fields
                .iter()
                .map(|field| PyString::intern(py, field).unbind())
                .collect();
            let field_kinds = fields.iter().map(|field| FieldKind::of(field)).collect();
            let dict_template = PyDict::new(py);
            for name in &field_names {
                dict_template.set_item(name, py.None())?;
            }
            messages.push(MessageClass {
                dump_from_dict: dump_equals_dict(&class).unwrap_or(false),
                construct: construct_profile(&class).unwrap_or(None),
                direct_construct: construct_is_plain(&class).unwrap_or(false),
                type_literal,
                safe: safe_types.contains((module, name))?,
                class: class.unbind(),
                module,
                name,
                fields,
                field_names,
                field_kinds,
                dict_template: dict_template.unbind(),
            });
        }
        Ok(Known {
            jsonplus_type: jsonplus
                .getattr("JsonPlusSerializer")?
                .cast_into::<PyType>()?
                .unbind(),
            msgpack_enc: jsonplus.getattr("_msgpack_enc")?.unbind(),
            messages,
            ai_shapes: ai_shapes(py).ok(),
        })
    }

    fn message_class_of(&self, object_type: &Bound<'_, PyType>) -> Option<&MessageClass> {
        self.messages
            .iter()
            .find(|message| object_type.is(message.class.bind(object_type.py())))
    }

    fn message_class_named(&self, module: &[u8], name: &[u8]) -> Option<&MessageClass> {
        self.messages
            .iter()
            .find(|message| message.name.as_bytes() == name && message.module.as_bytes() == module)
    }
}

/// The per-class half of the proof that `model_dump()` is the instance dict (see
/// `MessageClass::dump_from_dict`); the per-value half (plain data only) is
/// checked while encoding.
fn dump_equals_dict(class: &Bound<'_, PyType>) -> PyResult<bool> {
    let py = class.py();
    let base_model = PyModule::import(py, "pydantic")?.getattr("BaseModel")?;
    if !class.is_subclass(&base_model)? {
        return Ok(false);
    }
    let same_as_base = |attribute: &str| -> PyResult<bool> {
        let own = class.getattr(attribute)?;
        let base = base_model.getattr(attribute)?;
        let own = own.getattr_opt("__func__")?.unwrap_or(own);
        let base = base.getattr_opt("__func__")?.unwrap_or(base);
        Ok(own.is(&base))
    };
    if !same_as_base("model_dump")? || !same_as_base("__get_pydantic_core_schema__")? {
        return Ok(false);
    }
    if class.getattr("__pydantic_root_model__")?.is_truthy()?
        || !class.getattr("model_computed_fields")?.is_empty()?
    {
        return Ok(false);
    }
    let decorators = class.getattr("__pydantic_decorators__")?;
    if !decorators.getattr("field_serializers")?.is_empty()?
        || !decorators.getattr("model_serializers")?.is_empty()?
    {
        return Ok(false);
    }
    let config = class.getattr("model_config")?;
    if config
        .call_method1("get", ("serialize_by_alias",))?
        .is_truthy()?
    {
        return Ok(false);
    }
    for field in class.getattr("model_fields")?.cast::<PyDict>()?.values() {
        if field.getattr("exclude")?.is_truthy()? {
            return Ok(false);
        }
        if let Some(exclude_if) = field.getattr_opt("exclude_if")? {
            if !exclude_if.is_none() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Which known validation a class runs, if building it with `model_construct`
/// can be proven equal to `cls(**kwargs)` for suitable kwargs: pydantic's own
/// `model_construct` and `model_post_init`, no field validators, an `__init__`
/// that only handles `content_blocks` (never a stored key), and model
/// validators that are exactly one of the profiles `validates_to_itself` knows.
fn construct_profile(class: &Bound<'_, PyType>) -> PyResult<Option<ConstructProfile>> {
    const INITS: [&str; 6] = [
        "BaseMessage.__init__",
        "HumanMessage.__init__",
        "SystemMessage.__init__",
        "AIMessage.__init__",
        "ToolMessage.__init__",
        "RemoveMessage.__init__",
    ];
    let py = class.py();
    let base_model = PyModule::import(py, "pydantic")?.getattr("BaseModel")?;
    let class_any = class.as_any();
    if !function_of(class_any, "model_construct")?.is(&function_of(&base_model, "model_construct")?)
        || !function_of(class_any, "model_post_init")?
            .is(&function_of(&base_model, "model_post_init")?)
    {
        return Ok(None);
    }
    let init: String = class
        .getattr("__init__")?
        .getattr("__qualname__")?
        .extract()?;
    if !INITS.contains(&init.as_str()) {
        return Ok(None);
    }
    let decorators = class.getattr("__pydantic_decorators__")?;
    if !decorators.getattr("field_validators")?.is_empty()? {
        return Ok(None);
    }
    let validators: Vec<String> = decorators
        .getattr("model_validators")?
        .cast::<PyDict>()?
        .keys()
        .extract()?;
    let names: Vec<&str> = validators.iter().map(String::as_str).collect();
    Ok(match names.as_slice() {
        [] => Some(ConstructProfile::Plain),
        ["coerce_args"] => Some(ConstructProfile::Tool),
        ["_backwards_compat_tool_calls"] => Some(ConstructProfile::Ai),
        _ => None,
    })
}

/// See `MessageClass::direct_construct`.
fn construct_is_plain(class: &Bound<'_, PyType>) -> PyResult<bool> {
    let py = class.py();
    let extra = class
        .getattr("model_config")?
        .call_method1("get", ("extra",))?;
    if extra.extract::<String>().ok().as_deref() != Some("allow")
        || class.getattr("__pydantic_root_model__")?.is_truthy()?
        || !class.getattr("__pydantic_post_init__")?.is_none()
        || !class.getattr("__private_attributes__")?.is_empty()?
        || !class
            .getattr("__new__")?
            .is(PyModule::import(py, "builtins")?
                .getattr("object")?
                .getattr("__new__")?)
    {
        return Ok(false);
    }
    for field in class.getattr("model_fields")?.cast::<PyDict>()?.values() {
        if !field.getattr("alias")?.is_none() || !field.getattr("validation_alias")?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A class's attribute, unwrapped from its method binding so identity compares.
fn function_of<'py>(owner: &Bound<'py, PyAny>, attribute: &str) -> PyResult<Bound<'py, PyAny>> {
    let value = owner.getattr(attribute)?;
    Ok(value.getattr_opt("__func__")?.unwrap_or(value))
}

fn ai_shapes(py: Python<'_>) -> PyResult<AiShapes> {
    let ai = PyModule::import(py, "langchain_core.messages.ai")?;
    let keys = |name: &str| -> PyResult<Vec<String>> {
        ai.getattr(name)?
            .getattr("__annotations__")?
            .cast::<PyDict>()?
            .keys()
            .extract()
    };
    Ok(AiShapes {
        usage: keys("UsageMetadata")?,
        input_details: keys("InputTokenDetails")?,
        output_details: keys("OutputTokenDetails")?,
    })
}

// ---------------------------------------------------------------------------
// Proof that validation would return stored kwargs unchanged.
//
// The ext hook builds a message with `cls(**kwargs)` and, if validation fails,
// with `cls.model_construct(**kwargs)`. So `model_construct` gives the very
// same object whenever validation would either fail or change nothing. These
// checks accept only kwargs for which a successful validation is the identity:
// known field names only, exact built-in types where pydantic would coerce, and
// for AIMessage, tool-call dicts already in the exact shape its validator writes.

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
fn validates_to_itself(
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
    for (kind, at) in class.field_kinds.iter().zip(stored_at) {
        let Some(at) = at else {
            continue;
        };
        let value = &stored[*at].1;
        let acceptable = match kind {
            FieldKind::Content => {
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
    if profile == ConstructProfile::Tool && !has_tool_call_id {
        return Ok(false);
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

// ---------------------------------------------------------------------------
// MessagePack encoding.

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
        } else {
            self.splice(value)?;
        }
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
        let outer = mem::take(&mut self.out);
        let built = self.message_payload(message, class, depth);
        let payload = mem::replace(&mut self.out, outer);
        built?;
        msgpack::write_ext(&mut self.out, EXT_PYDANTIC_V2, &payload)?;
        Ok(())
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
        for (key, value) in fields.iter() {
            let key = key
                .cast_exact::<PyString>()
                .map_err(|_| EncodeFailure::NotPlain)?;
            let key = key.to_str().map_err(|_| EncodeFailure::NotPlain)?;
            if !class.fields.iter().any(|field| field == key) {
                return Err(EncodeFailure::NotPlain);
            }
            msgpack::write_str(&mut self.out, key)?;
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

// ---------------------------------------------------------------------------
// MessagePack decoding.

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
        if !matches!(reader.next_token(), Ok(Token::Str(_))) || !reader.is_at_end() {
            return Ok(None);
        }
        // An unknown key, or one stored twice (never written by jsonplus), skips
        // the shortcuts: the hook's own sequence below then decides.
        let skip_validation = match class.construct {
            Some(profile) if fields_once => {
                validates_to_itself(self.known, class, profile, &stored, &stored_at)?
            }
            _ => false,
        };
        if skip_validation && class.direct_construct && stored.len() == class.fields.len() {
            return Ok(Some(construct_directly(class, &stored, &stored_at)?));
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

/// What pydantic's `model_construct(**kwargs)` does when every field is given
/// once and nothing else: `object.__new__(cls)`, then through
/// `object.__setattr__`: `__dict__` in field order, every field set, an empty
/// extras dict (extra="allow"), no private values.
fn construct_directly<'py>(
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

// ---------------------------------------------------------------------------
// JSON (metadata).

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
        json_text::write_float(out, float.value());
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

// ---------------------------------------------------------------------------
// Test hooks, exposed as `_native._codec_*`.

/// `encode_value` with a plan made on the spot.
#[pyfunction]
fn _codec_dumps(
    serde: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<(String, Py<PyBytes>)> {
    let plan = CodecPlan::for_serde(serde)?;
    let (tag, data) = encode_value(&plan, serde, value)?;
    Ok((tag, PyBytes::new(value.py(), &data).unbind()))
}

/// `decode_value` with a plan made on the spot.
#[pyfunction]
fn _codec_loads<'py>(
    serde: &Bound<'py, PyAny>,
    tag: &str,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    let plan = CodecPlan::for_serde(serde)?;
    decode_value(serde.py(), &plan, serde, tag, data)
}

/// Whether `serde` is handled natively.
#[pyfunction]
fn _codec_is_native(serde: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(CodecPlan::for_serde(serde)?.is_native())
}

#[pyfunction]
fn _codec_dumps_metadata(value: &Bound<'_, PyAny>) -> PyResult<Py<PyBytes>> {
    Ok(PyBytes::new(value.py(), &encode_metadata(value)?).unbind())
}

#[pyfunction]
fn _codec_loads_metadata<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    decode_metadata(py, data)
}

pub fn register_test_hooks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_codec_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(_codec_loads, m)?)?;
    m.add_function(wrap_pyfunction!(_codec_is_native, m)?)?;
    m.add_function(wrap_pyfunction!(_codec_dumps_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(_codec_loads_metadata, m)?)?;
    Ok(())
}
