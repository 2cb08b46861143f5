//! File identity: what `portcullis inspect` prints, for an agent that has the file.
#![expect(
    unsafe_code,
    reason = "exported functions read caller strings and write through out pointers"
)]

use std::ffi::c_char;

use portcullis_engine::identity::{self, FileIdentity, TrustRoots};
use serde::Serialize;

use crate::error::{c_text, give_string, guarded, Failure, PortcullisStatus};

/// The identity of the file at `path` as JSON, exactly as `portcullis inspect PATH`
/// prints it: `path` (absolute), `size`, `sha256`, for a PE its `authenticode_digest`,
/// and its `signature` (`status`, `reason`, `signers` leaf first, every signature
/// checked). With `roots_pem` (a PEM file of trusted roots; may be null) the signature
/// also says whether its chain reaches one of them (`trusted`). That JSON, with
/// `computer`, `user` and `time` added, is an event for
/// `portcullis_snapshot_decide_json`.
///
/// The JSON goes to `*out_json` (freed with `portcullis_string_free`), its length to
/// `*out_len` (may be null). A file that cannot be read gives `PORTCULLIS_STATUS_IO`;
/// read why with `portcullis_last_error`. Reads and hashes the whole file.
///
/// # Safety
/// `path` is a NUL-terminated string; `roots_pem` is null or one; `out_json` is
/// writable; `out_len` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_inspect(
    path: *const c_char,
    roots_pem: *const c_char,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> PortcullisStatus {
    guarded(None, || {
        // SAFETY: NUL-terminated, as the caller promises.
        let path = unsafe { c_text(path, "path") }?;
        if out_json.is_null() {
            return Err(Failure::null("out_json"));
        }
        let roots = if roots_pem.is_null() {
            None
        } else {
            // SAFETY: NUL-terminated, as the caller promises.
            Some(unsafe { c_text(roots_pem, "roots_pem") }?)
        };
        let json = inspect_json(path, roots)?;
        // SAFETY: `out_json` is writable and `out_len` null or writable.
        unsafe { give_string(json, out_json, out_len) }
    })
}

/// One file as `portcullis inspect` prints it: `path` first, then the identity.
#[derive(Serialize)]
struct Inspected<'a> {
    path: String,
    #[serde(flatten)]
    identity: &'a FileIdentity,
}

/// The JSON `portcullis inspect` prints for one file.
fn inspect_json(path: &str, roots_pem: Option<&str>) -> Result<String, Failure> {
    let io = |message: String| Failure::new(PortcullisStatus::Io, message);
    let roots = match roots_pem {
        None => TrustRoots::none(),
        Some(file) => {
            let pem = std::fs::read(file).map_err(|e| io(format!("cannot read `{file}`: {e}")))?;
            TrustRoots::from_pem(&pem).map_err(|e| io(format!("`{file}`: {e}")))?
        }
    };
    let identity = identity::inspect_file(std::path::Path::new(path), &roots)
        .map_err(|e| io(format!("`{path}`: {e}")))?;
    let absolute = std::path::absolute(path)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_owned());
    serde_json::to_string(&Inspected {
        path: absolute,
        identity: &identity,
    })
    .map_err(|e| io(e.to_string()))
}
