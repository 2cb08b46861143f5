//! # portcullis-agent
//!
//! The endpoint side of Portcullis: an agent that enforces the engine's decisions on
//! Linux with fanotify permission events, keeps its computer's view of the policies in
//! step with `portcullis serve`, and files requests for its users.
//!
//! - [`enroll`]: an install key buys the computer's identity, the agent's credential
//!   and the server's view-signing key, which is pinned;
//! - [`view`]: the signed view and its changes, verified before anything is swapped
//!   in, kept on disk as the last good view;
//! - [`enforce`]: `FAN_OPEN_EXEC_PERM` on the configured mounts, a worker pool behind
//!   a bounded queue, and an answer for every event;
//! - [`endpoint`]: the Unix socket where a blocked user asks for access;
//! - [`store`]: the bounded, durable spool of decisions waiting for upload;
//! - [`start`]: all of it running, with the threads that long-poll for changes,
//!   upload decisions and report health.
//!
//! The only unsafe code is the `sys` module: the fanotify and peer-credential system
//! calls the standard library lacks.
#![deny(missing_docs)]

pub mod agent;
pub mod config;
pub mod endpoint;
pub mod enforce;
pub mod link;
pub mod store;
mod sys;
pub mod view;

pub use agent::{enroll, enrollment, start, status, AgentError, Running, Stop};
pub use config::{Config, FailMode};
pub use link::{Enrollment, Link, LinkError};
pub use view::{Envelope, HeldView, Verifier, ViewError};

/// This process's effective user id (the agent needs root to enforce).
pub fn euid() -> u32 {
    sys::euid()
}
