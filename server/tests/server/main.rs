//! The server against real clients on loopback: the API (`api`), and what travels
//! (`transport`: TLS, slow clients). One test binary, so the support code is shared
//! without being compiled once per file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod agents;
mod api;
mod browser;
mod measure;
mod nodes;
mod support;
mod transport;
mod web;
mod web_fleet;
