//! The engine handle: create, deploy, deploy a change, roll back, take a snapshot.
#![expect(
    unsafe_code,
    reason = "exported functions read caller pointers and write through out pointers"
)]

use std::ffi::c_char;

use portcullis_engine::{BundleChange, Engine};

use crate::decide::{PortcullisSnapshot, PortcullisStr};
use crate::error::{
    c_text, copy_out, guarded, panic_message, put, put_optional, text, write_location, ErrorSlot,
    Failure, PortcullisStatus,
};

/// An engine: the current snapshot, swapped whole on deploy and rollback while other
/// threads keep deciding. Made by `portcullis_engine_from_json` or
/// `portcullis_engine_from_file`, freed by `portcullis_engine_free`.
///
/// A create that fails still hands out a handle (as `sqlite3_open` does), holding no
/// engine but the error: read it with `portcullis_engine_error`, then free the handle.
/// Every other call on such a handle fails with `PORTCULLIS_STATUS_INVALID_BUNDLE`.
#[derive(Debug)]
pub struct PortcullisEngine {
    engine: Option<Engine>,
    pub(crate) errors: ErrorSlot,
}

impl PortcullisEngine {
    fn engine(&self) -> Result<&Engine, Failure> {
        self.engine.as_ref().ok_or_else(|| {
            Failure::new(
                PortcullisStatus::InvalidBundle,
                "the engine was not created: its bundle did not compile",
            )
        })
    }
}

/// Hands out a handle for `made`, with the error in it when there is one.
///
/// # Safety
/// `out` is null or writable.
unsafe fn hand_out(
    out: *mut *mut PortcullisEngine,
    made: Result<Engine, Failure>,
) -> PortcullisStatus {
    if out.is_null() {
        return guarded(None, || Err(Failure::null("out")));
    }
    let (engine, failure) = match made {
        Ok(engine) => (Some(engine), None),
        Err(failure) => (None, Some(failure)),
    };
    let handle = Box::into_raw(Box::new(PortcullisEngine {
        engine,
        errors: ErrorSlot::default(),
    }));
    // SAFETY: `out` is non-null and writable, as the caller promises.
    unsafe { *out = handle };
    match failure {
        None => PortcullisStatus::Ok,
        // SAFETY: `handle` was just made from a box and is live.
        Some(failure) => guarded(Some(unsafe { &(*handle).errors }), || Err(failure)),
    }
}

/// Runs a create under `catch_unwind`: a panic becomes a failure like any other.
fn make(body: impl FnOnce() -> Result<Engine, Failure>) -> Result<Engine, Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure::new(
            PortcullisStatus::Panic,
            panic_message(payload.as_ref()),
        ))
    })
}

/// Compiles the bundle in `json` (`len` bytes of UTF-8, no NUL needed) and writes a new
/// engine handle to `*out`, serving it as generation 1.
///
/// On a bundle that does not compile, returns `PORTCULLIS_STATUS_INVALID_BUNDLE` and
/// still writes a handle, whose error has every problem, one per line, as
/// `line:column: path (kind `id`): message`.
///
/// # Safety
/// `json` points to `len` readable bytes; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut PortcullisEngine,
) -> PortcullisStatus {
    let made = make(|| {
        // SAFETY: `len` readable bytes at `json`, as the caller promises.
        let text = unsafe { text(json, len, "json") }?;
        Engine::from_json(text).map_err(|errors| Failure::compile(&errors))
    });
    // SAFETY: `out` is null or writable, as the caller promises.
    unsafe { hand_out(out, made) }
}

/// As `portcullis_engine_from_json`, reading the bundle from the file at `path` (a
/// NUL-terminated UTF-8 string). A file that cannot be read gives
/// `PORTCULLIS_STATUS_IO`.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_from_file(
    path: *const c_char,
    out: *mut *mut PortcullisEngine,
) -> PortcullisStatus {
    let made = make(|| {
        // SAFETY: NUL-terminated, as the caller promises.
        let path = unsafe { c_text(path, "path") }?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::new(PortcullisStatus::Io, format!("cannot read `{path}`: {e}"))
        })?;
        Engine::from_json(&text).map_err(|errors| Failure::compile(&errors))
    });
    // SAFETY: `out` is null or writable, as the caller promises.
    unsafe { hand_out(out, made) }
}

/// Frees an engine handle. Null is ignored. Snapshot handles taken from it stay valid.
///
/// # Safety
/// `engine` is null or a live handle, not used again after this call.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_free(engine: *mut PortcullisEngine) {
    if !engine.is_null() {
        // SAFETY: made by `Box::into_raw` in `hand_out` and freed once.
        let engine = unsafe { Box::from_raw(engine) };
        // Dropping compiled tables runs only library code; a panic there must not
        // unwind into C.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(engine)));
    }
}

/// The live engine behind a handle pointer.
///
/// # Safety
/// `engine` is null or a live handle.
unsafe fn handle<'a>(
    engine: *const PortcullisEngine,
) -> Result<&'a PortcullisEngine, PortcullisStatus> {
    // SAFETY: null or live, as the caller promises.
    match unsafe { engine.as_ref() } {
        Some(handle) => Ok(handle),
        None => Err(guarded(None, || Err(Failure::null("engine")))),
    }
}

/// Compiles the bundle in `json` and swaps it in; organizations whose entries did not
/// change keep their compiled partitions. Writes the new generation to `*generation`
/// (may be null). On error nothing changes, the current snapshot keeps serving, and
/// the error names line and column.
///
/// # Safety
/// `engine` is a live handle; `json` points to `len` readable bytes; `generation` is
/// null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_deploy_json(
    engine: *const PortcullisEngine,
    json: *const c_char,
    len: usize,
    generation: *mut u64,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(engine) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        // SAFETY: `len` readable bytes, as the caller promises.
        let text = unsafe { text(json, len, "json") }?;
        let deployed = handle
            .engine()?
            .deploy_json(text)
            .map_err(|errors| Failure::compile(&errors))?;
        // SAFETY: null or writable, as the caller promises.
        unsafe { put_optional(generation, deployed.generation) };
        Ok(())
    })
}

/// Deploys a change to some organizations: `json` is a bundle holding only the
/// changed or added organizations with everything they own (each replaces the
/// deployed organization of the same id), and `removed` lists `removed_count`
/// organization ids to drop. Only those organizations are compiled. Errors name paths
/// into `json`'s entries; as with `portcullis_engine_deploy_json`, on error nothing
/// changes.
///
/// # Safety
/// `engine` is a live handle; `json` points to `len` readable bytes; `removed` points
/// to `removed_count` strings (may be null when `removed_count` is 0); `generation` is
/// null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_deploy_change_json(
    engine: *const PortcullisEngine,
    json: *const c_char,
    len: usize,
    removed: *const PortcullisStr,
    removed_count: usize,
    generation: *mut u64,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(engine) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        // SAFETY: `len` readable bytes, as the caller promises.
        let text = unsafe { text(json, len, "json") }?;
        let removed: &[PortcullisStr] = if removed_count == 0 {
            &[]
        } else if removed.is_null() {
            return Err(Failure::null("removed"));
        } else {
            // SAFETY: `removed_count` readable entries, as the caller promises.
            unsafe { std::slice::from_raw_parts(removed, removed_count) }
        };
        let mut change = BundleChange::new(
            portcullis_engine::parse(text).map_err(|errors| Failure::compile(&errors))?,
        );
        for id in removed {
            // SAFETY: each entry is a readable string, as the caller promises.
            change
                .removed
                .push(unsafe { id.as_str("removed[]") }?.to_owned());
        }
        let deployed = handle
            .engine()?
            .deploy_change(&change)
            .map_err(|errors| Failure::compile(&errors))?;
        // SAFETY: null or writable, as the caller promises.
        unsafe { put_optional(generation, deployed.generation) };
        Ok(())
    })
}

/// Restores the snapshot before the current one, under a new generation written to
/// `*generation` (may be null). `PORTCULLIS_STATUS_NO_HISTORY` when there is none.
///
/// # Safety
/// `engine` is a live handle; `generation` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_rollback(
    engine: *const PortcullisEngine,
    generation: *mut u64,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(engine) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        let rolled = handle
            .engine()?
            .rollback()
            .map_err(|e| Failure::new(PortcullisStatus::NoHistory, e.to_string()))?;
        // SAFETY: null or writable, as the caller promises.
        unsafe { put_optional(generation, rolled) };
        Ok(())
    })
}

/// Writes the current generation to `*generation`.
///
/// # Safety
/// `engine` is a live handle; `generation` is writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_generation(
    engine: *const PortcullisEngine,
    generation: *mut u64,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(engine) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        let current = handle.engine()?.generation();
        // SAFETY: null or writable, as the caller promises.
        unsafe { put(generation, current, "generation") }
    })
}

/// Writes a handle on the current snapshot to `*out`, to decide with. It keeps that
/// snapshot alive, unchanged, until `portcullis_snapshot_free`, whatever is deployed
/// meanwhile; take a new one to see a deploy. Taking one allocates a small handle.
///
/// # Safety
/// `engine` is a live handle; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_snapshot(
    engine: *const PortcullisEngine,
    out: *mut *mut PortcullisSnapshot,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(engine) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let snapshot = PortcullisSnapshot::new(handle.engine()?.current());
        // SAFETY: non-null and writable, as the caller promises.
        unsafe { *out = Box::into_raw(Box::new(snapshot)) };
        Ok(())
    })
}

/// Copies the message of the last failed call on `engine` into `buffer` (at most
/// `capacity` bytes, NUL included) and returns the message's full length, so that a
/// caller can call again with a larger buffer. Returns 0, writing an empty string,
/// when no call on the engine failed; `buffer` may be null to ask for the length.
///
/// # Safety
/// `engine` is null or a live engine handle; `buffer` is null or points to `capacity`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_error(
    engine: *const PortcullisEngine,
    buffer: *mut c_char,
    capacity: usize,
) -> usize {
    // SAFETY: the caller passes null or a live handle.
    let failure = unsafe { engine.as_ref() }.and_then(|e| e.errors.get());
    let message = failure.as_ref().map_or("", |f| f.message.as_str());
    // SAFETY: as promised by the caller.
    unsafe { copy_out(message, buffer, capacity) }
}

/// Writes the 1-based line and column of the last failed call on `engine` (in the
/// bundle's text) and returns `true`, or returns `false` when that error has none.
///
/// # Safety
/// `engine` is null or a live engine handle; `line` and `column` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_engine_error_location(
    engine: *const PortcullisEngine,
    line: *mut usize,
    column: *mut usize,
) -> bool {
    // SAFETY: the caller passes null or a live handle.
    let failure = unsafe { engine.as_ref() }.and_then(|e| e.errors.get());
    // SAFETY: as promised by the caller.
    unsafe { write_location(failure.and_then(|f| f.location), line, column) }
}
