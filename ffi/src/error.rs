//! Status codes, the error kept by each handle, and the guard that keeps panics on
//! this side of the boundary.
#![expect(
    unsafe_code,
    reason = "exported functions read caller pointers and write caller buffers"
)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// What a call did. Every function that can fail returns one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortcullisStatus {
    /// The call succeeded.
    Ok = 0,
    /// A required pointer was null.
    NullArgument = 1,
    /// A string was not valid UTF-8.
    InvalidUtf8 = 2,
    /// The bundle (or change) does not parse or compile; nothing changed.
    InvalidBundle = 3,
    /// The event could not be read (JSON, signer names).
    InvalidEvent = 4,
    /// There is no earlier snapshot to roll back to.
    NoHistory = 5,
    /// A file could not be read, or is not what was expected.
    Io = 6,
    /// The library panicked during this call; the handle is now poisoned.
    Panic = 7,
    /// The handle saw a panic earlier; only its free function may be called.
    Poisoned = 8,
}

/// A failed call: the status and the message a person reads.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) status: PortcullisStatus,
    pub(crate) message: String,
    /// 1-based line and column in the text read, when the error has one.
    pub(crate) location: Option<(usize, usize)>,
}

impl Failure {
    pub(crate) fn new(status: PortcullisStatus, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            location: None,
        }
    }

    pub(crate) fn null(what: &str) -> Failure {
        Failure::new(
            PortcullisStatus::NullArgument,
            format!("`{what}` is a null pointer"),
        )
    }

    pub(crate) fn compile(errors: &portcullis_engine::CompileErrors) -> Failure {
        Failure {
            status: PortcullisStatus::InvalidBundle,
            message: errors.to_string(),
            location: errors.errors().iter().find_map(|e| e.location),
        }
    }

    pub(crate) fn event(error: &portcullis_engine::EventError) -> Failure {
        Failure {
            status: PortcullisStatus::InvalidEvent,
            message: error.to_string(),
            location: error.line.zip(error.column),
        }
    }
}

/// The error state of one handle: the last failure, and whether it saw a panic.
#[derive(Debug, Default)]
pub(crate) struct ErrorSlot {
    poisoned: AtomicBool,
    last: Mutex<Option<Failure>>,
}

impl ErrorSlot {
    fn set(&self, failure: Failure) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(failure);
    }

    pub(crate) fn get(&self) -> Option<Failure> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

thread_local! {
    /// The last failure on this thread, whatever the handle.
    static LAST: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

fn record(slot: Option<&ErrorSlot>, failure: Failure) -> PortcullisStatus {
    let status = failure.status;
    if let Some(slot) = slot {
        slot.set(failure.clone());
    }
    // A thread being torn down has no last error to keep.
    let _ = LAST.try_with(|last| *last.borrow_mut() = Some(failure));
    status
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("the library panicked: {what}")
}

/// Runs `body` for a call on the handle that owns `slot` (or none): a failure is
/// recorded there and on this thread, and a panic is caught, recorded, and poisons the
/// handle. A poisoned handle refuses every call.
pub(crate) fn guarded(
    slot: Option<&ErrorSlot>,
    body: impl FnOnce() -> Result<(), Failure>,
) -> PortcullisStatus {
    if let Some(slot) = slot {
        if slot.poisoned.load(Ordering::Acquire) {
            return record(
                None,
                Failure::new(
                    PortcullisStatus::Poisoned,
                    "the handle is poisoned by an earlier panic; free it",
                ),
            );
        }
    }
    // The state a panic could leave half-changed is the handle's, which is poisoned
    // below, so asserting unwind safety is sound.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => PortcullisStatus::Ok,
        Ok(Err(failure)) => record(slot, failure),
        Err(payload) => {
            if let Some(slot) = slot {
                slot.poisoned.store(true, Ordering::Release);
            }
            record(
                slot,
                Failure::new(PortcullisStatus::Panic, panic_message(payload.as_ref())),
            )
        }
    }
}

/// Copies `message` with a final NUL into `buffer` of `capacity` bytes, cut to fit
/// (`snprintf` style), and returns its whole length without the NUL.
///
/// # Safety
/// `buffer` is null or points to `capacity` writable bytes.
pub(crate) unsafe fn copy_out(message: &str, buffer: *mut c_char, capacity: usize) -> usize {
    if !buffer.is_null() && capacity > 0 {
        let n = message.len().min(capacity - 1);
        // SAFETY: the caller gives `capacity` writable bytes at `buffer`, and
        // `n + 1 <= capacity`; `message` is a live `&str` of at least `n` bytes and
        // cannot overlap a buffer the caller owns.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr().cast::<c_char>(), buffer, n);
            *buffer.add(n) = 0;
        }
    }
    message.len()
}

/// Writes `location` into the two out pointers; `false` when there is none.
///
/// # Safety
/// `line` and `column` are null or point to writable `size_t`s.
pub(crate) unsafe fn write_location(
    location: Option<(usize, usize)>,
    line: *mut usize,
    column: *mut usize,
) -> bool {
    let Some((l, c)) = location else {
        return false;
    };
    // SAFETY: each pointer is null (skipped) or writable, as the caller promises.
    unsafe {
        if let Some(line) = line.as_mut() {
            *line = l;
        }
        if let Some(column) = column.as_mut() {
            *column = c;
        }
    }
    true
}

/// As `portcullis_engine_error`, for the last failed call made by this thread,
/// whatever its handle: the one place to read why a call without a handle
/// (`portcullis_inspect`, a create whose out pointer was null) failed.
///
/// # Safety
/// `buffer` is null or points to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn portcullis_last_error(buffer: *mut c_char, capacity: usize) -> usize {
    let message = LAST
        .try_with(|last| last.borrow().as_ref().map(|f| f.message.clone()))
        .ok()
        .flatten()
        .unwrap_or_default();
    // SAFETY: as promised by the caller.
    unsafe { copy_out(&message, buffer, capacity) }
}

/// As `portcullis_engine_error_location`, for the last failed call on this thread.
///
/// # Safety
/// `line` and `column` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_last_error_location(
    line: *mut usize,
    column: *mut usize,
) -> bool {
    let location = LAST
        .try_with(|last| last.borrow().as_ref().and_then(|f| f.location))
        .ok()
        .flatten();
    // SAFETY: as promised by the caller.
    unsafe { write_location(location, line, column) }
}

/// The name of a status (a `PortcullisStatus`), e.g. `"invalid bundle"`: a static
/// string, never freed; `"unknown status"` for a number that is none.
#[no_mangle]
pub extern "C" fn portcullis_status_name(status: c_int) -> *const c_char {
    const NAMES: [(PortcullisStatus, &CStr); 9] = [
        (PortcullisStatus::Ok, c"ok"),
        (PortcullisStatus::NullArgument, c"null argument"),
        (PortcullisStatus::InvalidUtf8, c"invalid UTF-8"),
        (PortcullisStatus::InvalidBundle, c"invalid bundle"),
        (PortcullisStatus::InvalidEvent, c"invalid event"),
        (PortcullisStatus::NoHistory, c"no history"),
        (PortcullisStatus::Io, c"input/output error"),
        (PortcullisStatus::Panic, c"panic"),
        (PortcullisStatus::Poisoned, c"poisoned handle"),
    ];
    // The number is compared, never turned into the enum: C may pass any `int`.
    let name = NAMES
        .iter()
        .find(|(known, _)| *known as c_int == status)
        .map_or(c"unknown status", |(_, name)| name);
    name.as_ptr()
}

/// The library's version, e.g. `"0.1.0"`: a static string, never freed.
#[no_mangle]
pub extern "C" fn portcullis_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// Frees a string the library returned (JSON out). Null is ignored.
///
/// # Safety
/// `string` is null or a string returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn portcullis_string_free(string: *mut c_char) {
    if !string.is_null() {
        // SAFETY: the library made `string` with `CString::into_raw`, and the caller
        // frees it once.
        drop(unsafe { std::ffi::CString::from_raw(string) });
    }
}

/// Hands `text` to the caller as a NUL-terminated string (freed with
/// `portcullis_string_free`), and its length without the NUL.
///
/// # Safety
/// `out` is writable; `len` is null or writable.
pub(crate) unsafe fn give_string(
    text: String,
    out: *mut *mut c_char,
    len: *mut usize,
) -> Result<(), Failure> {
    let n = text.len();
    let text = std::ffi::CString::new(text)
        .map_err(|_| Failure::new(PortcullisStatus::Io, "the output holds a NUL byte"))?;
    // SAFETY: `out` is writable and `len` null or writable, as the caller promises.
    unsafe {
        *out = text.into_raw();
        if let Some(len) = len.as_mut() {
            *len = n;
        }
    }
    Ok(())
}

/// The `len` bytes at `ptr` as UTF-8 text; `what` names the argument in errors.
///
/// # Safety
/// `ptr` is null or points to `len` readable bytes that stay unchanged during the
/// call.
pub(crate) unsafe fn text<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-null and `len` readable bytes, as the caller promises.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            PortcullisStatus::InvalidUtf8,
            format!("`{what}` is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// A NUL-terminated string as UTF-8 text.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string.
pub(crate) unsafe fn c_text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-null and NUL-terminated, as the caller promises.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            PortcullisStatus::InvalidUtf8,
            format!("`{what}` is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Writes `value` through `out`, or fails when `out` is null.
///
/// # Safety
/// `out` is null or writable.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    // SAFETY: null or writable, as the caller promises.
    match unsafe { out.as_mut() } {
        Some(out) => {
            *out = value;
            Ok(())
        }
        None => Err(Failure::null(what)),
    }
}

/// Writes `value` through `out` when it is not null.
///
/// # Safety
/// `out` is null or writable.
pub(crate) unsafe fn put_optional<T>(out: *mut T, value: T) {
    // SAFETY: null or writable, as the caller promises.
    if let Some(out) = unsafe { out.as_mut() } {
        *out = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_poisons_the_handle_and_is_reported() {
        let slot = ErrorSlot::default();
        let status = guarded(Some(&slot), || panic!("boom"));
        assert_eq!(status, PortcullisStatus::Panic);
        let failure = slot.get().unwrap();
        assert_eq!(failure.message, "the library panicked: boom");
        assert_eq!(guarded(Some(&slot), || Ok(())), PortcullisStatus::Poisoned);
        // The handle's own message still says why.
        assert_eq!(slot.get().unwrap().status, PortcullisStatus::Panic);
        let mut buffer = [0 as c_char; 64];
        // SAFETY: the buffer is 64 writable bytes.
        let n = unsafe { portcullis_last_error(buffer.as_mut_ptr(), buffer.len()) };
        // SAFETY: `copy_out` wrote a NUL within the buffer.
        let text = unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_str().unwrap();
        assert_eq!(text.len(), n);
        assert!(text.contains("poisoned"), "{text}");
    }

    #[test]
    fn messages_are_cut_to_the_buffer_and_report_their_length() {
        let mut buffer = [1 as c_char; 4];
        // SAFETY: 4 writable bytes.
        let n = unsafe { copy_out("abcdef", buffer.as_mut_ptr(), 4) };
        assert_eq!(n, 6);
        assert_eq!(buffer, [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
        // SAFETY: a null buffer only asks for the length.
        assert_eq!(unsafe { copy_out("abcdef", std::ptr::null_mut(), 0) }, 6);
    }
}
