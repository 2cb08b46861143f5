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
use portcullis_engine::{BundleChange, CompileErrors, Decision, Event, Snapshot};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use serde::Serialize;
use serde_json::Value;
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
    let parsed = if let Ok(text) = event.cast::<PyString>() {
        Event::from_json(&text.to_cow()?)
    } else {
        let text = to_json(event)?.to_string();
        Event::from_json(&text)
    };
    parsed.map_err(|e| event_error(py, &e))
}

/// A decision as a dict with the keys of its JSON.
fn decision_dict<'py>(py: Python<'py>, decision: &Decision<'_>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(
        "decision",
        if decision.is_allowed() {
            "allow"
        } else {
            "deny"
        },
    )?;
    dict.set_item("elevated", decision.elevated)?;
    dict.set_item("policy", decision.policy)?;
    dict.set_item("application", decision.application)?;
    dict.set_item("default_deny", decision.default_deny)?;
    dict.set_item("would_deny", decision.would_deny)?;
    dict.set_item("mode", decision.mode.map(|m| m.as_str()))?;
    dict.set_item("notify_user", decision.notify_user)?;
    dict.set_item("can_request", decision.can_request)?;
    dict.set_item(
        "request_kind",
        decision.request_kind.map(|k| match k {
            portcullis_engine::RequestKind::Application => "application",
            portcullis_engine::RequestKind::Elevation => "elevation",
        }),
    )?;
    let notify = PyList::empty(py);
    for recipient in decision.notify {
        notify.append(to_python(py, recipient)?)?;
    }
    dict.set_item("notify", notify)?;
    dict.set_item("learn", decision.learn)?;
    dict.set_item("generation", decision.generation)?;
    if !decision.problems.is_empty() {
        dict.set_item("problems", decision.problems.messages())?;
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
