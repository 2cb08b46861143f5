//! Test support shared by the engine's integration tests (`engine/tests/`), its benches
//! (`engine/benches/`), the root crate's tests and the fuzz targets (`fuzz/`).
//!
//! - [`alloc`]: a counting global allocator, for the tests that prove a path allocates
//!   nothing.
//! - [`generate`]: proptest strategies for random but valid bundles and events, used by
//!   the differential test and the `eval_differential` fuzz target.
//! - [`pe`]: small, valid PE images written byte by byte, for the identity tests and the
//!   `pe_authenticode` seeds.
//! - [`postgres`]: a real PostgreSQL server on loopback, for the tests that run the
//!   governance suite and the server on the shared store.
//! - [`servers`]: an SMTP server (aiosmtpd) and an HTTP server on loopback, for the
//!   tests of notifications: governance's, and the server's browser test that opens
//!   the link of a received email.
//! - [`readme`]: the README's walk-throughs as commands with their promised output.
//! - `fleet` (feature `fleet`): the generated fleet and the decision timer the fleet
//!   benches share.
//!
//! It is test code: it panics instead of returning errors, so the lints that keep
//! panics out of the engine are off here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod alloc;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod generate;
pub mod pe;
pub mod postgres;
pub mod readme;
pub mod servers;
