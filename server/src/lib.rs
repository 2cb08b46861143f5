//! # portcullis-server
//!
//! The control plane: `portcullis serve`. An HTTP API (JSON under `/api/v1`, described
//! by an OpenAPI document made from the same table as the router) over one
//! governance state. Administrators authenticate with a password (argon2id) for a
//! session cookie with a CSRF token, or with named API tokens; every call then goes
//! through governance's one authorization point with the caller's id, and a refusal
//! is the command line's sentence as `application/problem+json`.
//!
//! ```no_run
//! # async fn run() -> Result<(), portcullis_server::ServerError> {
//! use portcullis_server::{Server, ServeConfig};
//!
//! let config = ServeConfig::new("state".into());
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod api;
mod app;
pub mod auth;
pub mod client;
mod clock;
pub mod credentials;
mod listen;
pub mod openapi;
mod problem;
pub mod secret;
pub mod signing;
pub mod totp;
mod web;

pub use app::{App, Settings};
pub use client::{Client, ClientError};
pub use listen::{init_logging, ServeConfig, Server};
pub use problem::ServerError;

/// The largest JSON body a call takes, in bytes.
pub const JSON_LIMIT: usize = 1 << 20;
