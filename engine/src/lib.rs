//! # portcullis-engine
//!
//! The in-memory evaluator of Portcullis, an application-control policy engine: every
//! program execution is denied unless a policy permits it.
//!
//! The pipeline, one module each: plain data ([`model`]) → compile (every validation
//! error is raised there) → compiled data (one partition per organization, each with
//! an index of its rules: one bucket per match kind) → [`Snapshot`] → decide. An [`Engine`] holds the current snapshot and swaps in new ones
//! atomically while decisions keep flowing. [`identity`] tells who a file is: its
//! SHA-256, certificates and Authenticode signatures.
//!
//! ```
//! use portcullis_engine::{Engine, Event, Outcome};
//!
//! let engine = Engine::from_json(r#"{
//!   "format": "portcullis.bundle/v1",
//!   "organizations": [{"id": "acme", "name": "Acme"}],
//!   "groups": [{"id": "ws", "organization": "acme", "name": "Workstations"}],
//!   "computers": [{"id": "pc-1", "group": "ws", "name": "PC-1", "os": "windows"}],
//!   "applications": [{"id": "notepad", "organization": "acme", "name": "Notepad",
//!                     "rules": [{"path": "%SystemRoot%\\System32\\notepad.exe"}]}],
//!   "policies": [{"id": "allow-notepad", "scope": {"organization": "acme"},
//!                 "position": 10, "applications": ["notepad"], "action": "permit"}]
//! }"#)?;
//!
//! let event = Event::from_json(r#"{"computer": "pc-1", "user": "ACME\\ann",
//!   "path": "c:/WINDOWS/system32/NOTEPAD.EXE", "time": "2026-11-22T10:00:00Z",
//!   "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#)?;
//!
//! let snapshot = engine.snapshot();          // lock-free; one snapshot per decision
//! let decision = snapshot.decide(&event);    // no allocation on the common path
//! assert_eq!(decision.decision, Outcome::Allow);
//! assert_eq!(decision.policy, Some("allow-notepad"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod change;
mod compile;
mod compiled;
mod decide;
mod engine;
pub mod fleet;
pub mod identity;
mod index;
mod limits;
pub mod model;
pub mod path;
pub mod plugin;
pub mod reference;
mod snapshot;

pub use change::BundleChange;
pub use compile::{parse, CompileError, CompileErrors, EntryKind, ErrorKind, LOCATED_ERRORS};
pub use compiled::CompileStats;
pub use decide::{Explanation, PolicyTrace, Scratch, TraceStatus};
pub use engine::{
    Builder, DeployError, Deployed, Engine, RollbackError, SnapshotGuard, DEFAULT_HISTORY,
};
pub use limits::Limits;
pub use model::{
    Action, Bundle, Decision, DecisionRecord, Event, EventError, MaintenanceMode, Outcome,
    RequestKind,
};
pub use snapshot::Snapshot;

/// The JSON Schema of the bundle format, generated from the types.
pub fn bundle_schema() -> serde_json::Value {
    schemars::schema_for!(model::Bundle).to_value()
}

/// The JSON Schema of an execution event, generated from the types.
pub fn event_schema() -> serde_json::Value {
    schemars::schema_for!(model::Event).to_value()
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Engine>();
        assert_send_sync::<crate::Snapshot>();
        assert_send_sync::<crate::Bundle>();
        assert_send_sync::<crate::Event>();
        assert_send_sync::<crate::Decision<'static>>();
        assert_send_sync::<crate::DecisionRecord>();
        assert_send_sync::<crate::Explanation>();
        assert_send_sync::<crate::CompileErrors>();
        assert_send_sync::<crate::Scratch>();
        assert_send_sync::<crate::Limits>();
    }
}
