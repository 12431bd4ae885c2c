//! What the codec imports once per process: langgraph's `_msgpack_enc` and
//! `SAFE_MSGPACK_TYPES`, and the LangChain message classes with what was
//! verified about each.
//!
//! Every name a fast path reads from langgraph, pydantic or langchain-core is
//! checked here. One that is missing or holds another type is noted (`probe()`
//! reports it) and the fast paths relying on it stay off; a message class
//! absent from the installed langchain-core simply has none.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFrozenSet, PySet, PyString, PyType};

use super::construct;

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

/// The `__init__` methods known to only handle `content_blocks` (never a stored key).
const PLAIN_INITS: [&str; 5] = [
    "BaseMessage.__init__",
    "HumanMessage.__init__",
    "SystemMessage.__init__",
    "AIMessage.__init__",
    "ToolMessage.__init__",
];

/// RemoveMessage's `__init__`, which takes `id` by name and replaces a falsy
/// `content` (or none) with `""` (a truthy one raises).
const REMOVE_INIT: &str = "RemoveMessage.__init__";

/// A LangChain message class and what was verified about it.
pub(super) struct MessageClass {
    pub class: Py<PyType>,
    pub module: &'static str,
    pub name: &'static str,
    /// Field names in declaration order.
    pub fields: Vec<String>,
    /// The same names as interned Python strings, to build `__dict__` with.
    pub field_names: Vec<Py<PyString>>,
    /// What each field holds, for `validates_to_itself`.
    pub field_kinds: Vec<FieldKind>,
    /// `{field: None}` in field order: a copy is a `__dict__` already sized
    /// for every field, whose values are then replaced.
    pub dict_template: Py<PyDict>,
    /// `model_dump()` provably equals the instance `__dict__` plus extras when
    /// every value is plain data: pydantic v2 model, `model_dump` and the core
    /// schema hook not overridden, no computed fields, no serializers, no
    /// excluded or aliased-on-output fields.
    pub dump_from_dict: bool,
    /// Listed in `SAFE_MSGPACK_TYPES`: the ext hook accepts it in every mode,
    /// so rebuilding it here decides nothing the hook would decide otherwise.
    pub safe: bool,
    /// Which validation the class runs, when it is one whose effect on stored
    /// kwargs is known (see `validates_to_itself`); None: always validate.
    pub construct: Option<ConstructProfile>,
    /// The default of the `type` field ("human", "ai"...).
    pub type_literal: Option<String>,
    /// `model_construct` with every field given reduces to `object.__new__` and
    /// setting four attributes (see `construct_directly`): extra="allow", no
    /// aliases, no private attributes, no post-init hook, not a root model, no
    /// `__new__` of its own.
    pub direct_construct: bool,
}

impl MessageClass {
    /// The position of the field named `key`; `guess` is tried first (stored
    /// messages list their fields in declaration order).
    pub fn field_index(&self, key: &[u8], guess: usize) -> Option<usize> {
        match self.fields.get(guess) {
            Some(field) if field.as_bytes() == key => Some(guess),
            _ => self.fields.iter().position(|field| field.as_bytes() == key),
        }
    }
}

/// The message fields `validates_to_itself` knows, by name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
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
pub(super) enum ConstructProfile {
    /// No validators: only the field types.
    Plain,
    /// ToolMessage's `coerce_args`.
    Tool,
    /// AIMessage's `_backwards_compat_tool_calls`.
    Ai,
    /// No validators, RemoveMessage's `__init__`.
    Remove,
}

/// Key orders of the TypedDicts inside AIMessage, in declaration order (the
/// order pydantic's validation writes them in).
pub(super) struct AiShapes {
    pub usage: Vec<String>,
    pub input_details: Vec<String>,
    pub output_details: Vec<String>,
}

pub(super) struct Known {
    /// `jsonplus._msgpack_enc`: ormsgpack with jsonplus's default and options.
    pub msgpack_enc: Py<PyAny>,
    /// The code of the ext hook every `JsonPlusSerializer` makes for itself
    /// (one closure per allowlist, all sharing this code).
    pub default_hook_code: Py<PyAny>,
    pub messages: Vec<MessageClass>,
    pub ai_shapes: Option<AiShapes>,
    /// `types._DeltaSnapshot`, when jsonplus stores it as extension value
    /// `EXT_DELTA_SNAPSHOT` (7): `_msgpack_default` writes
    /// `Ext(7, _msgpack_enc(obj.value))` and the default hook reads it back as
    /// `_DeltaSnapshot(unpackb(data, ext_hook=hook))`. None with a langgraph
    /// that predates it: such values then take the reference path.
    pub delta_snapshot: Option<Py<PyType>>,
}

/// The outcome of loading, kept for the process: the names checked do not change.
struct Loaded {
    /// None when langgraph's own pieces are missing: every call then takes the
    /// reference path.
    known: Option<Known>,
    problems: Vec<String>,
}

static LOADED: PyOnceLock<Loaded> = PyOnceLock::new();

fn loaded(py: Python<'_>) -> &'static Loaded {
    LOADED.get_or_init(py, || load(py))
}

impl Known {
    pub fn get(py: Python<'_>) -> Option<&'static Known> {
        loaded(py).known.as_ref()
    }

    pub fn message_class_of(&self, object_type: &Bound<'_, PyType>) -> Option<&MessageClass> {
        self.messages
            .iter()
            .find(|message| object_type.is(message.class.bind(object_type.py())))
    }

    pub fn message_class_named(&self, module: &[u8], name: &[u8]) -> Option<&MessageClass> {
        self.messages
            .iter()
            .find(|message| message.name.as_bytes() == name && message.module.as_bytes() == module)
    }
}

/// Every name found missing or changed, as "library: Owner.name problem".
pub(super) fn problems(py: Python<'_>) -> &'static [String] {
    &loaded(py).problems
}

fn load(py: Python<'_>) -> Loaded {
    let mut audit = Audit::default();
    let jsonplus = audit.module(py, "langgraph", "langgraph.checkpoint.serde.jsonplus");
    let msgpack_enc = jsonplus.as_ref().and_then(|module| {
        audit.attr(
            module,
            "langgraph: jsonplus",
            "_msgpack_enc",
            Expect::Callable,
        )
    });
    let safe_types = audit
        .module(py, "langgraph", "langgraph.checkpoint.serde._msgpack")
        .and_then(|module| {
            audit.attr(
                &module,
                "langgraph: _msgpack",
                "SAFE_MSGPACK_TYPES",
                Expect::Set,
            )
        });
    let serializer = jsonplus
        .as_ref()
        .and_then(|module| check_serializer(&mut audit, module));
    let base_model = check_base_model(py, &mut audit);
    let mut messages = Vec::new();
    if let (Some(safe_types), Some(base_model)) = (&safe_types, &base_model) {
        for (module, name) in MESSAGE_CLASSES {
            messages.extend(analyse_message(
                &mut audit, base_model, safe_types, module, name,
            ));
        }
    }
    let ai_shapes = ai_shapes(py, &mut audit);
    let delta_snapshot = jsonplus.as_ref().and_then(delta_snapshot_type);
    let known = match (msgpack_enc, safe_types, serializer) {
        (Some(msgpack_enc), Some(_), Some(default_hook_code)) => Some(Known {
            msgpack_enc: msgpack_enc.unbind(),
            default_hook_code: default_hook_code.unbind(),
            messages,
            ai_shapes,
            delta_snapshot,
        }),
        _ => None,
    };
    Loaded {
        known,
        problems: audit.problems,
    }
}

/// jsonplus's `_DeltaSnapshot` when it has one stored under extension code 7
/// (`EXT_DELTA_SNAPSHOT`). Optional: older langgraph releases have neither
/// name, and their values then never hold one.
fn delta_snapshot_type(jsonplus: &Bound<'_, PyModule>) -> Option<Py<PyType>> {
    let code = jsonplus.getattr_opt("EXT_DELTA_SNAPSHOT").ok()??;
    if !code
        .extract::<i64>()
        .is_ok_and(|code| code == i64::from(super::EXT_DELTA_SNAPSHOT))
    {
        return None;
    }
    let class = jsonplus.getattr_opt("_DeltaSnapshot").ok()??;
    Some(class.cast_into::<PyType>().ok()?.unbind())
}

/// The instance attributes every call reads, on a fresh `JsonPlusSerializer()`;
/// the code of its default ext hook.
fn check_serializer<'py>(
    audit: &mut Audit,
    jsonplus: &Bound<'py, PyModule>,
) -> Option<Bound<'py, PyAny>> {
    const WHAT: &str = "langgraph: JsonPlusSerializer()";
    let class = audit.attr(
        jsonplus,
        "langgraph: jsonplus",
        "JsonPlusSerializer",
        Expect::Type,
    )?;
    let serde = match class.call0() {
        Ok(serde) => serde,
        Err(err) => {
            audit.note(format!("{WHAT} raised {err}"));
            return None;
        }
    };
    let hook = audit.attr(&serde, WHAT, "_unpack_ext_hook", Expect::Callable);
    let custom = audit.attr(&serde, WHAT, "_custom_unpack_ext_hook", Expect::Bool);
    let code = hook.and_then(|hook| {
        audit.attr(
            &hook,
            "langgraph: JsonPlusSerializer()._unpack_ext_hook",
            "__code__",
            Expect::Any,
        )
    });
    custom.and(code)
}

/// `pydantic.BaseModel` when every name the message fast paths read is on it.
fn check_base_model<'py>(py: Python<'py>, audit: &mut Audit) -> Option<Bound<'py, PyAny>> {
    const WHAT: &str = "pydantic: BaseModel";
    let pydantic = audit.module(py, "pydantic", "pydantic")?;
    let base = audit.attr(&pydantic, "pydantic", "BaseModel", Expect::Type)?;
    let mut complete = true;
    for (name, expect) in [
        ("model_fields", Expect::Dict),
        ("model_computed_fields", Expect::Dict),
        ("model_config", Expect::Dict),
        ("__pydantic_root_model__", Expect::Bool),
        // Instance slots, written by direct construction.
        ("__pydantic_fields_set__", Expect::Any),
        ("__pydantic_extra__", Expect::Any),
        ("__pydantic_private__", Expect::Any),
        ("model_construct", Expect::Callable),
        ("model_post_init", Expect::Callable),
        ("model_dump", Expect::Callable),
        ("__get_pydantic_core_schema__", Expect::Callable),
    ] {
        complete &= audit.attr(&base, WHAT, name, expect).is_some();
    }
    complete &= decorators(audit, &base, WHAT).is_some();
    complete.then_some(base)
}

/// A class's `__pydantic_decorators__` tables.
struct Decorators<'py> {
    field_validators: Bound<'py, PyDict>,
    model_validators: Bound<'py, PyDict>,
    field_serializers: Bound<'py, PyDict>,
    model_serializers: Bound<'py, PyDict>,
}

fn decorators<'py>(
    audit: &mut Audit,
    class: &Bound<'py, PyAny>,
    what: &str,
) -> Option<Decorators<'py>> {
    let infos = audit.attr(class, what, "__pydantic_decorators__", Expect::Any)?;
    let what = format!("{what}.__pydantic_decorators__");
    let field_validators = audit.dict(&infos, &what, "field_validators");
    let model_validators = audit.dict(&infos, &what, "model_validators");
    let field_serializers = audit.dict(&infos, &what, "field_serializers");
    let model_serializers = audit.dict(&infos, &what, "model_serializers");
    Some(Decorators {
        field_validators: field_validators?,
        model_validators: model_validators?,
        field_serializers: field_serializers?,
        model_serializers: model_serializers?,
    })
}

/// A message class and its verdicts; None when it is absent (an older
/// langchain-core) or a name it needs is missing (noted).
fn analyse_message(
    audit: &mut Audit,
    base_model: &Bound<'_, PyAny>,
    safe_types: &Bound<'_, PyAny>,
    module: &'static str,
    name: &'static str,
) -> Option<MessageClass> {
    let py = base_model.py();
    let class = PyModule::import(py, module)
        .and_then(|m| m.getattr(name))
        .ok()?;
    let Ok(class) = class.cast_into::<PyType>() else {
        audit.note(format!("langchain-core: {module}.{name} is not a class"));
        return None;
    };
    if !class.is_subclass(base_model).unwrap_or(false) {
        audit.note(format!("langchain-core: {name} is not a pydantic model"));
        return None;
    }
    let what = format!("pydantic: {name}");
    let model_fields = audit.dict(&class, &what, "model_fields")?;
    let fields: Vec<String> = model_fields.keys().extract().ok()?;
    let infos = field_infos(audit, &model_fields)?;
    let type_literal = infos
        .iter()
        .find(|info| info.name == "type")
        .and_then(|info| info.default.extract::<String>().ok());
    let decorators = decorators(audit, class.as_any(), &what);
    let field_names: Vec<Py<PyString>> = fields
        .iter()
        .map(|field| PyString::intern(py, field).unbind())
        .collect();
    let dict_template = PyDict::new(py);
    for field in &field_names {
        dict_template.set_item(field, py.None()).ok()?;
    }
    let verdicts = Verdicts {
        audit,
        base_model,
        class: class.as_any(),
        what: &what,
        infos: &infos,
        decorators: decorators.as_ref(),
    };
    let (dump_from_dict, construct, direct_construct) = verdicts.all();
    let mut message = MessageClass {
        class: class.clone().unbind(),
        module,
        name,
        field_kinds: fields.iter().map(|field| FieldKind::of(field)).collect(),
        fields,
        field_names,
        dict_template: dict_template.unbind(),
        dump_from_dict,
        safe: safe_types.contains((module, name)).ok()?,
        construct,
        type_literal,
        direct_construct,
    };
    if message.direct_construct
        && !construct::matches_model_construct(py, &message).unwrap_or(false)
    {
        audit.note(format!(
            "pydantic: {name}.model_construct no longer builds what direct construction builds"
        ));
        message.direct_construct = false;
    }
    Some(message)
}

/// What the verdicts read of one field's `FieldInfo`.
struct FieldInfo<'py> {
    name: String,
    default: Bound<'py, PyAny>,
    /// Given an alias or validation alias (`model_construct` would read it).
    aliased: bool,
    /// Excluded from dumps, always or conditionally.
    excluded: bool,
}

fn field_infos<'py>(
    audit: &mut Audit,
    model_fields: &Bound<'py, PyDict>,
) -> Option<Vec<FieldInfo<'py>>> {
    const WHAT: &str = "pydantic: FieldInfo";
    let mut infos = Vec::with_capacity(model_fields.len());
    for (name, info) in model_fields.iter() {
        let default = audit.attr(&info, WHAT, "default", Expect::Any)?;
        let aliased = !audit.attr(&info, WHAT, "alias", Expect::Any)?.is_none()
            || !audit
                .attr(&info, WHAT, "validation_alias", Expect::Any)?
                .is_none();
        let mut excluded = audit
            .attr(&info, WHAT, "exclude", Expect::Any)?
            .is_truthy()
            .ok()?;
        // `exclude_if` is newer than some supported pydantic versions.
        if let Ok(Some(exclude_if)) = info.getattr_opt("exclude_if") {
            excluded |= !exclude_if.is_none();
        }
        infos.push(FieldInfo {
            name: name.extract().ok()?,
            default,
            aliased,
            excluded,
        });
    }
    Some(infos)
}

/// The per-class halves of the fast paths' proofs; every name read goes
/// through the audit, and a missing one makes the verdict "no".
struct Verdicts<'a, 'py> {
    audit: &'a mut Audit,
    base_model: &'a Bound<'py, PyAny>,
    class: &'a Bound<'py, PyAny>,
    what: &'a str,
    infos: &'a [FieldInfo<'py>],
    decorators: Option<&'a Decorators<'py>>,
}

impl Verdicts<'_, '_> {
    /// (dump_from_dict, construct, direct_construct), see `MessageClass`.
    fn all(mut self) -> (bool, Option<ConstructProfile>, bool) {
        (
            self.dump_equals_dict().unwrap_or(false),
            self.construct_profile().flatten(),
            self.construct_is_plain().unwrap_or(false),
        )
    }

    /// Whether the class uses `BaseModel`'s own `attribute`.
    fn inherits(&mut self, attribute: &str) -> Option<bool> {
        let own = function_of(self.audit, self.class, self.what, attribute)?;
        let base = function_of(
            self.audit,
            self.base_model,
            "pydantic: BaseModel",
            attribute,
        )?;
        Some(own.is(&base))
    }

    /// The per-class half of the proof that `model_dump()` is the instance
    /// dict (see `MessageClass::dump_from_dict`); the per-value half (plain
    /// data only) is checked while encoding.
    fn dump_equals_dict(&mut self) -> Option<bool> {
        let decorators = self.decorators?;
        let (class, what) = (self.class, self.what);
        Some(
            self.inherits("model_dump")?
                && self.inherits("__get_pydantic_core_schema__")?
                && !self.audit.flag(class, what, "__pydantic_root_model__")?
                && self
                    .audit
                    .dict(class, what, "model_computed_fields")?
                    .is_empty()
                && decorators.field_serializers.is_empty()
                && decorators.model_serializers.is_empty()
                && !config_item(self.audit, class, what, "serialize_by_alias")?
                    .is_truthy()
                    .ok()?
                && self.infos.iter().all(|info| !info.excluded),
        )
    }

    /// Which known validation the class runs, if building it with
    /// `model_construct` can be proven equal to `cls(**kwargs)` for suitable
    /// kwargs: pydantic's own `model_construct` and `model_post_init`, no
    /// field validators, an `__init__` that only handles `content_blocks` (or
    /// is RemoveMessage's), and model validators that are exactly one of the
    /// profiles `construct::validates_to_itself` knows.
    fn construct_profile(&mut self) -> Option<Option<ConstructProfile>> {
        let decorators = self.decorators?;
        if !self.inherits("model_construct")? || !self.inherits("model_post_init")? {
            return Some(None);
        }
        let init = self
            .audit
            .attr(self.class, self.what, "__init__", Expect::Callable)?;
        let init: String = init.getattr("__qualname__").ok()?.extract().ok()?;
        let remove = init == REMOVE_INIT;
        if !(remove || PLAIN_INITS.contains(&init.as_str()))
            || !decorators.field_validators.is_empty()
        {
            return Some(None);
        }
        let validators: Vec<String> = decorators.model_validators.keys().extract().ok()?;
        let names: Vec<&str> = validators.iter().map(String::as_str).collect();
        Some(match (remove, names.as_slice()) {
            (false, []) => Some(ConstructProfile::Plain),
            (true, []) => Some(ConstructProfile::Remove),
            (false, ["coerce_args"]) => Some(ConstructProfile::Tool),
            (false, ["_backwards_compat_tool_calls"]) => Some(ConstructProfile::Ai),
            _ => None,
        })
    }

    /// See `MessageClass::direct_construct`.
    fn construct_is_plain(&mut self) -> Option<bool> {
        let (class, what) = (self.class, self.what);
        let py = class.py();
        let extra = config_item(self.audit, class, what, "extra")?;
        let post_init =
            self.audit
                .attr(class, what, "__pydantic_post_init__", Expect::NoneOrStr)?;
        let new = self.audit.attr(class, what, "__new__", Expect::Callable)?;
        let object_new = py.get_type::<PyAny>().getattr("__new__").ok()?;
        Some(
            extra.extract::<String>().ok().as_deref() == Some("allow")
                && !self.audit.flag(class, what, "__pydantic_root_model__")?
                && post_init.is_none()
                && self
                    .audit
                    .dict(class, what, "__private_attributes__")?
                    .is_empty()
                && new.is(&object_new)
                && self.infos.iter().all(|info| !info.aliased),
        )
    }
}

/// `class.model_config.get(key)`.
fn config_item<'py>(
    audit: &mut Audit,
    class: &Bound<'py, PyAny>,
    what: &str,
    key: &str,
) -> Option<Bound<'py, PyAny>> {
    audit
        .dict(class, what, "model_config")?
        .get_item(key)
        .ok()
        .map(|item| item.unwrap_or_else(|| class.py().None().into_bound(class.py())))
}

/// `owner.attribute`, unwrapped from its method binding so identity compares.
fn function_of<'py>(
    audit: &mut Audit,
    owner: &Bound<'py, PyAny>,
    what: &str,
    attribute: &str,
) -> Option<Bound<'py, PyAny>> {
    let value = audit.attr(owner, what, attribute, Expect::Callable)?;
    Some(
        value
            .getattr_opt("__func__")
            .ok()
            .flatten()
            .unwrap_or(value),
    )
}

/// The key orders of AIMessage's TypedDicts; None when langchain-core has no
/// AIMessage (nothing to note) or they changed (noted).
fn ai_shapes(py: Python<'_>, audit: &mut Audit) -> Option<AiShapes> {
    let ai = PyModule::import(py, "langchain_core.messages.ai").ok()?;
    let mut keys = |name: &str| -> Option<Vec<String>> {
        let typed_dict = audit.attr(&ai, "langchain-core: messages.ai", name, Expect::Type)?;
        let what = format!("langchain-core: {name}");
        audit
            .dict(&typed_dict, &what, "__annotations__")?
            .keys()
            .extract()
            .ok()
    };
    let usage = keys("UsageMetadata");
    let input_details = keys("InputTokenDetails");
    let output_details = keys("OutputTokenDetails");
    Some(AiShapes {
        usage: usage?,
        input_details: input_details?,
        output_details: output_details?,
    })
}

// ---------------------------------------------------------------------------
// Checking names.

/// What a name must hold for the code reading it to be right.
#[derive(Clone, Copy)]
enum Expect {
    Any,
    Callable,
    Type,
    Dict,
    Bool,
    Set,
    NoneOrStr,
}

impl Expect {
    fn accepts(self, value: &Bound<'_, PyAny>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Callable => value.is_callable(),
            Expect::Type => value.is_instance_of::<PyType>(),
            Expect::Dict => value.is_instance_of::<PyDict>(),
            Expect::Bool => value.is_instance_of::<PyBool>(),
            Expect::Set => value.is_instance_of::<PyFrozenSet>() || value.is_instance_of::<PySet>(),
            Expect::NoneOrStr => value.is_none() || value.is_instance_of::<PyString>(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Expect::Any => "anything",
            Expect::Callable => "callable",
            Expect::Type => "a class",
            Expect::Dict => "a dict",
            Expect::Bool => "a bool",
            Expect::Set => "a set",
            Expect::NoneOrStr => "None or a str",
        }
    }
}

/// Reads names, noting each one that is missing or holds another type.
#[derive(Default)]
struct Audit {
    problems: Vec<String>,
}

impl Audit {
    fn note(&mut self, problem: String) {
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    fn module<'py>(
        &mut self,
        py: Python<'py>,
        library: &str,
        name: &str,
    ) -> Option<Bound<'py, PyModule>> {
        match PyModule::import(py, name) {
            Ok(module) => Some(module),
            Err(err) => {
                self.note(format!("{library}: cannot import {name} ({err})"));
                None
            }
        }
    }

    /// `owner.name`; `what` names the owner in notes ("pydantic: BaseModel").
    fn attr<'py, T>(
        &mut self,
        owner: &Bound<'py, T>,
        what: &str,
        name: &str,
        expect: Expect,
    ) -> Option<Bound<'py, PyAny>> {
        match owner.as_any().getattr_opt(name) {
            Ok(Some(value)) if expect.accepts(&value) => Some(value),
            Ok(Some(value)) => {
                let found = value
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |name| name.to_string());
                self.note(format!(
                    "{what}.{name} is {found}, expected {}",
                    expect.describe()
                ));
                None
            }
            Ok(None) => {
                self.note(format!("{what}.{name} missing"));
                None
            }
            Err(err) => {
                self.note(format!("{what}.{name} raised {err}"));
                None
            }
        }
    }

    fn dict<'py, T>(
        &mut self,
        owner: &Bound<'py, T>,
        what: &str,
        name: &str,
    ) -> Option<Bound<'py, PyDict>> {
        self.attr(owner, what, name, Expect::Dict)?
            .cast_into::<PyDict>()
            .ok()
    }

    fn flag<T>(&mut self, owner: &Bound<'_, T>, what: &str, name: &str) -> Option<bool> {
        self.attr(owner, what, name, Expect::Bool)?.extract().ok()
    }
}
