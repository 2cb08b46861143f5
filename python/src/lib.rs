//! # portcullis (Python)
//!
//! The Portcullis engine as a Python extension module (pyo3, abi3: one wheel for
//! every CPython from 3.8 on), built with maturin. It wraps the Rust engine directly,
//! not the C ABI: pyo3 gives exceptions, the GIL and Python objects their natural form.
//!
//! Events are given as JSON text or as a `dict` of the same shape; decisions come back
//! as `dict`s with the keys of a decision's JSON. Compiles, deploys, inspects and
//! batches of decisions run with the GIL released.
#![deny(missing_docs)]

use portcullis_engine::identity::{self, FileIdentity, TrustRoots};
use portcullis_engine::model::{
    DistinguishedName, MaintenanceMode, Sha256, Signature, SignatureStatus, Signer, Timestamp,
};
use portcullis_engine::{BundleChange, CompileErrors, Decision, Event, RequestKind, Snapshot};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use pyo3::{create_exception, intern};
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::sync::Arc;

create_exception!(
    portcullis,
    PortcullisError,
    PyException,
    "Every error of the package. `line` and `column` (1-based, or None) say where in \
     the text it is."
);
create_exception!(
    portcullis,
    BundleError,
    PortcullisError,
    "A bundle or change that does not compile; nothing changed. `errors` lists every \
     problem as a dict (`path`, `id`, `message`, `line`, `column`)."
);
create_exception!(
    portcullis,
    EventError,
    PortcullisError,
    "An event that cannot be read; the message names the field."
);
create_exception!(
    portcullis,
    NoHistoryError,
    PortcullisError,
    "There is no earlier snapshot to roll back to."
);
create_exception!(
    portcullis,
    InspectError,
    PortcullisError,
    "A file whose identity could not be read."
);

/// Sets `line` and `column` on a new exception.
fn located(err: PyErr, py: Python<'_>, location: Option<(usize, usize)>) -> PyErr {
    let value = err.value(py);
    let (line, column) = location.unzip();
    // Setting attributes on a fresh exception instance cannot fail short of memory.
    let _ = value.setattr("line", line);
    let _ = value.setattr("column", column);
    err
}

fn bundle_error(py: Python<'_>, errors: &CompileErrors) -> PyErr {
    let err = BundleError::new_err(errors.to_string());
    let list = PyList::empty(py);
    for error in errors.errors() {
        let entry = PyDict::new(py);
        let (line, column) = error.location.unzip();
        let _ = entry.set_item("path", &error.path);
        let _ = entry.set_item("id", error.id.as_deref());
        let _ = entry.set_item("message", &error.message);
        let _ = entry.set_item("line", line);
        let _ = entry.set_item("column", column);
        let _ = list.append(entry);
    }
    let _ = err.value(py).setattr("errors", list);
    let location = errors.errors().iter().find_map(|e| e.location);
    located(err, py, location)
}

fn event_error(py: Python<'_>, error: &portcullis_engine::EventError) -> PyErr {
    located(
        EventError::new_err(error.to_string()),
        py,
        error.line.zip(error.column),
    )
}

/// A Python value as JSON, for events given as dicts.
fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| EventError::new_err("invalid event: keys must be strings"))?;
            map.insert(key.to_cow()?.into_owned(), to_json(&v)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(serde_json::Number::from_f64(f.value()).map_or(Value::Null, Value::Number));
    }
    if let Ok(i) = value.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(i) = value.extract::<u64>() {
        return Ok(Value::from(i));
    }
    if let Ok(items) = value.try_iter() {
        return items
            .map(|item| to_json(&item?))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    Err(EventError::new_err(format!(
        "invalid event: cannot be written as JSON: `{}`",
        value.get_type().name()?
    )))
}

/// JSON as a Python value.
fn from_json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, from_json(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Any serializable value as a Python value.
fn to_python<'py>(py: Python<'py>, value: &impl Serialize) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| PortcullisError::new_err(e.to_string()))?;
    from_json(py, &value)
}

/// Reads an event given as JSON text or as a dict of the same shape.
fn read_event(py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Event> {
    if let Ok(dict) = event.cast::<PyDict>() {
        if let Some(event) = event_from_dict(dict)? {
            return Ok(event);
        }
    }
    let parsed = if let Ok(text) = event.cast::<PyString>() {
        Event::from_json(&text.to_cow()?)
    } else {
        let text = to_json(event)?.to_string();
        Event::from_json(&text)
    };
    parsed.map_err(|e| event_error(py, &e))
}

/// How many distinguished names a thread keeps parsed: an endpoint sees few publishers.
const KNOWN_NAMES: usize = 64;

thread_local! {
    /// The names this thread parsed lately, by their text.
    static NAMES: RefCell<Vec<(String, DistinguishedName)>> = const { RefCell::new(Vec::new()) };
}

/// `text` parsed as a distinguished name, from the thread's recent names when it is
/// there; `None` when it is not a name.
fn name(text: &str) -> Option<DistinguishedName> {
    let cached = NAMES
        .try_with(|names| {
            names
                .borrow()
                .iter()
                .find(|(known, _)| known == text)
                .map(|(_, dn)| dn.clone())
        })
        .ok()
        .flatten();
    if cached.is_some() {
        return cached;
    }
    let dn = DistinguishedName::parse(text).ok()?;
    let _ = NAMES.try_with(|names| {
        let mut names = names.borrow_mut();
        if names.len() >= KNOWN_NAMES {
            names.remove(0);
        }
        names.push((text.to_owned(), dn.clone()));
    });
    Some(dn)
}

fn string(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    match value.cast::<PyString>() {
        Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
        Err(_) => Ok(None),
    }
}

/// A null or a string.
fn optional_string(value: &Bound<'_, PyAny>) -> PyResult<Option<Option<String>>> {
    if value.is_none() {
        return Ok(Some(None));
    }
    Ok(string(value)?.map(Some))
}

/// An event read straight from a dict of the plain shape, as `Event::from_json` would
/// read its JSON; `None` for anything else (an unknown field, a value of another type,
/// a value that does not parse), which is then read as JSON, giving the same error as
/// JSON text would. It saves writing and reading JSON, and keeps signers' names parsed.
fn event_from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Option<Event>> {
    macro_rules! or_json {
        ($value:expr) => {
            match $value {
                Some(value) => value,
                None => return Ok(None),
            }
        };
    }
    let mut event = Event {
        computer: String::new(),
        user: String::new(),
        path: String::new(),
        sha256: Sha256([0; 32]),
        signature: Signature::default(),
        size: None,
        authenticode_digest: None,
        parent: None,
        created_by: None,
        elevation: false,
        time: Timestamp::from_unix(0),
    };
    let mut required = 0;
    for (key, value) in dict.iter() {
        let key = or_json!(string(&key)?);
        match key.as_str() {
            "computer" | "user" | "path" => {
                let text = or_json!(string(&value)?);
                required += 1;
                match key.as_str() {
                    "computer" => event.computer = text,
                    "user" => event.user = text,
                    _ => event.path = text,
                }
            }
            "sha256" => {
                event.sha256 = or_json!(string(&value)?.and_then(|t| t.parse().ok()));
                required += 1;
            }
            "time" => {
                event.time = or_json!(string(&value)?.and_then(|t| t.parse().ok()));
                required += 1;
            }
            "parent" => event.parent = or_json!(optional_string(&value)?),
            "created_by" => event.created_by = or_json!(optional_string(&value)?),
            "elevation" => {
                event.elevation = or_json!(value.cast::<PyBool>().ok()).is_true();
            }
            "size" => {
                if !value.is_none() {
                    if value.cast::<PyBool>().is_ok() {
                        return Ok(None);
                    }
                    event.size = Some(or_json!(value.extract::<u64>().ok()));
                }
            }
            "authenticode_digest" => {
                event.authenticode_digest = match or_json!(optional_string(&value)?) {
                    None => None,
                    Some(text) => Some(or_json!(text.parse().ok())),
                };
            }
            "signature" => {
                event.signature = or_json!(signature_from_dict(&value)?);
            }
            _ => return Ok(None),
        }
    }
    Ok((required == 5).then_some(event))
}

/// A signature as `Event::from_json` reads it (other fields are ignored, as there).
fn signature_from_dict(value: &Bound<'_, PyAny>) -> PyResult<Option<Signature>> {
    let Ok(dict) = value.cast::<PyDict>() else {
        return Ok(None);
    };
    let mut signature = Signature::default();
    let Some(status) = dict.get_item("status")? else {
        return Ok(None);
    };
    signature.status = match string(&status)?.as_deref() {
        Some("valid") => SignatureStatus::Valid,
        Some("invalid") => SignatureStatus::Invalid,
        Some("unsigned") => SignatureStatus::Unsigned,
        _ => return Ok(None),
    };
    if let Some(signers) = dict.get_item("signers")? {
        let Ok(signers) = signers.cast::<PyList>() else {
            return Ok(None);
        };
        for signer in signers.iter() {
            let Ok(signer) = signer.cast::<PyDict>() else {
                return Ok(None);
            };
            let Some(subject) = signer.get_item("subject")? else {
                return Ok(None);
            };
            let Some(subject) = string(&subject)?.as_deref().and_then(name) else {
                return Ok(None);
            };
            let issuer = match signer.get_item("issuer")? {
                None => None,
                Some(issuer) => match optional_string(&issuer)? {
                    Some(None) => None,
                    Some(Some(text)) => match name(&text) {
                        Some(dn) => Some(dn),
                        None => return Ok(None),
                    },
                    None => return Ok(None),
                },
            };
            let thumbprint = match signer.get_item("thumbprint")? {
                None => None,
                Some(thumbprint) => match optional_string(&thumbprint)? {
                    Some(None) => None,
                    Some(Some(text)) => match text.parse() {
                        Ok(digest) => Some(digest),
                        Err(_) => return Ok(None),
                    },
                    None => return Ok(None),
                },
            };
            signature.signers.push(Signer {
                subject,
                issuer,
                thumbprint,
            });
        }
    }
    Ok(Some(signature))
}

/// A decision as a dict with the keys of its JSON. Keys and fixed values are interned
/// strings, made once per interpreter.
fn decision_dict<'py>(py: Python<'py>, decision: &Decision<'_>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let outcome = if decision.is_allowed() {
        intern!(py, "allow")
    } else {
        intern!(py, "deny")
    };
    dict.set_item(intern!(py, "decision"), outcome)?;
    dict.set_item(intern!(py, "elevated"), decision.elevated)?;
    dict.set_item(intern!(py, "policy"), decision.policy)?;
    dict.set_item(intern!(py, "application"), decision.application)?;
    dict.set_item(intern!(py, "default_deny"), decision.default_deny)?;
    dict.set_item(intern!(py, "would_deny"), decision.would_deny)?;
    let mode = decision.mode.map(|mode| match mode {
        MaintenanceMode::Monitor => intern!(py, "monitor"),
        MaintenanceMode::Learning => intern!(py, "learning"),
        MaintenanceMode::Installation => intern!(py, "installation"),
    });
    dict.set_item(intern!(py, "mode"), mode)?;
    dict.set_item(intern!(py, "notify_user"), decision.notify_user)?;
    dict.set_item(intern!(py, "can_request"), decision.can_request)?;
    let kind = decision.request_kind.map(|kind| match kind {
        RequestKind::Application => intern!(py, "application"),
        RequestKind::Elevation => intern!(py, "elevation"),
    });
    dict.set_item(intern!(py, "request_kind"), kind)?;
    let notify = PyList::empty(py);
    for recipient in decision.notify {
        notify.append(to_python(py, recipient)?)?;
    }
    dict.set_item(intern!(py, "notify"), notify)?;
    dict.set_item(intern!(py, "learn"), decision.learn)?;
    dict.set_item(intern!(py, "generation"), decision.generation)?;
    if !decision.problems.is_empty() {
        dict.set_item(intern!(py, "problems"), decision.problems.messages())?;
    }
    Ok(dict)
}

fn decide_on<'py>(
    py: Python<'py>,
    snapshot: &Snapshot,
    event: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let event = read_event(py, event)?;
    decision_dict(py, &snapshot.decide(&event))
}

fn decide_many_on<'py>(
    py: Python<'py>,
    snapshot: &Snapshot,
    events: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let events = events
        .try_iter()?
        .map(|event| read_event(py, &event?))
        .collect::<PyResult<Vec<Event>>>()?;
    // Deciding runs without the GIL; the dicts are made with it afterwards.
    let records = py.detach(|| {
        events
            .iter()
            .map(|event| snapshot.decide(event))
            .collect::<Vec<_>>()
    });
    let list = PyList::empty(py);
    for decision in &records {
        list.append(decision_dict(py, decision)?)?;
    }
    Ok(list)
}

fn explain_on<'py>(
    py: Python<'py>,
    snapshot: &Snapshot,
    event: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let event = read_event(py, event)?;
    let explanation = py.detach(|| snapshot.explain(&event));
    to_python(py, &explanation)
}

/// The policy engine: holds the current snapshot and swaps in new ones atomically.
///
/// `Engine(bundle_json)` compiles a bundle given as JSON text; a bundle that does not
/// compile raises `BundleError` with every problem and where it is.
#[pyclass(frozen, module = "portcullis")]
struct Engine {
    inner: portcullis_engine::Engine,
}

#[pymethods]
impl Engine {
    #[new]
    fn new(py: Python<'_>, bundle: &str) -> PyResult<Engine> {
        py.detach(|| portcullis_engine::Engine::from_json(bundle))
            .map(|inner| Engine { inner })
            .map_err(|errors| bundle_error(py, &errors))
    }

    /// Reads the bundle from a file and compiles it.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Engine> {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            located(
                PortcullisError::new_err(format!("cannot read `{}`: {e}", path.display())),
                py,
                None,
            )
        })?;
        Engine::new(py, &text)
    }

    /// Compiles a whole bundle (JSON text) and swaps it in; returns the new
    /// generation. On error nothing changes and `BundleError` is raised.
    fn deploy(&self, py: Python<'_>, bundle: &str) -> PyResult<u64> {
        py.detach(|| self.inner.deploy_json(bundle))
            .map(|deployed| deployed.generation)
            .map_err(|errors| bundle_error(py, &errors))
    }

    /// Deploys a change to some organizations: `entries` is a bundle (JSON text)
    /// holding only the changed or added organizations with everything they own, and
    /// `removed` the ids of organizations to drop. Only they are compiled. Returns
    /// the new generation.
    #[pyo3(signature = (entries, removed = Vec::new()))]
    fn deploy_change(&self, py: Python<'_>, entries: &str, removed: Vec<String>) -> PyResult<u64> {
        py.detach(|| {
            let mut change = BundleChange::new(portcullis_engine::parse(entries)?);
            change.removed = removed;
            self.inner.deploy_change(&change)
        })
        .map(|deployed| deployed.generation)
        .map_err(|errors| bundle_error(py, &errors))
    }

    /// Restores the previous snapshot under a new generation, which it returns.
    /// Raises `NoHistoryError` when there is none.
    fn rollback(&self, py: Python<'_>) -> PyResult<u64> {
        self.inner
            .rollback()
            .map_err(|e| located(NoHistoryError::new_err(e.to_string()), py, None))
    }

    /// The current snapshot's generation.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// The current snapshot, unchanged by later deploys: decide a batch on one.
    fn snapshot(&self) -> SnapshotHandle {
        SnapshotHandle {
            inner: self.inner.current(),
        }
    }

    /// Decides one event (JSON text or dict) on the current snapshot and returns the
    /// decision as a dict. Raises `EventError` for an event that cannot be read.
    fn decide<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        decide_on(py, &self.inner.snapshot(), event)
    }

    /// Decides every event of an iterable on one snapshot, without the GIL; returns
    /// the decisions in order.
    fn decide_many<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        decide_many_on(py, &self.inner.current(), events)
    }

    /// The decision with its reasons: every policy considered, in order, and why each
    /// one before the decider did not decide, as a dict.
    fn explain<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        explain_on(py, &self.inner.current(), event)
    }

    fn __repr__(&self) -> String {
        format!("<portcullis.Engine generation={}>", self.inner.generation())
    }
}

/// One compiled snapshot: what decisions are computed on. Taken with
/// `Engine.snapshot()`; it does not change when the engine deploys.
#[pyclass(frozen, name = "Snapshot", module = "portcullis")]
struct SnapshotHandle {
    inner: Arc<Snapshot>,
}

#[pymethods]
impl SnapshotHandle {
    /// The snapshot's generation.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// As `Engine.decide`, on this snapshot.
    fn decide<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        decide_on(py, &self.inner, event)
    }

    /// As `Engine.decide_many`, on this snapshot.
    fn decide_many<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        decide_many_on(py, &self.inner, events)
    }

    /// As `Engine.explain`, on this snapshot.
    fn explain<'py>(
        &self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        explain_on(py, &self.inner, event)
    }

    fn __repr__(&self) -> String {
        format!(
            "<portcullis.Snapshot generation={}>",
            self.inner.generation()
        )
    }
}

/// One file as `portcullis inspect` prints it: `path` first, then the identity.
#[derive(Serialize)]
struct Inspected<'a> {
    path: String,
    #[serde(flatten)]
    identity: &'a FileIdentity,
}

/// Who a file is, as `portcullis inspect` prints it, as a dict: `path`, `size`,
/// `sha256`, for a PE its `authenticode_digest`, and its `signature`. With `roots`
/// (a PEM file of trusted roots) the signature says whether its chain reaches one.
/// The dict, with `computer`, `user` and `time` added, is an event. Reads and hashes
/// the whole file without the GIL; raises `InspectError` when it cannot.
#[pyfunction]
#[pyo3(signature = (path, roots = None))]
fn inspect<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    roots: Option<std::path::PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let inspected = py.detach(|| {
        let roots = match &roots {
            None => TrustRoots::none(),
            Some(file) => {
                let pem = std::fs::read(file)
                    .map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
                TrustRoots::from_pem(&pem).map_err(|e| format!("`{}`: {e}", file.display()))?
            }
        };
        let identity = identity::inspect_file(&path, &roots)
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        serde_json::to_value(Inspected {
            path: absolute.display().to_string(),
            identity: &identity,
        })
        .map_err(|e| e.to_string())
    });
    match inspected {
        Ok(value) => from_json(py, &value),
        Err(message) => Err(located(InspectError::new_err(message), py, None)),
    }
}

/// The Portcullis application-control policy engine: every program execution is denied
/// unless a policy permits it.
#[pymodule]
fn portcullis(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Engine>()?;
    m.add_class::<SnapshotHandle>()?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add("PortcullisError", py.get_type::<PortcullisError>())?;
    m.add("BundleError", py.get_type::<BundleError>())?;
    m.add("EventError", py.get_type::<EventError>())?;
    m.add("NoHistoryError", py.get_type::<NoHistoryError>())?;
    m.add("InspectError", py.get_type::<InspectError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
