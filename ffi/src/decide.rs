//! The snapshot handle and decisions: the hot path.
//!
//! The engine decides on `&Event`, whose strings are owned. An event from C is a set of
//! borrowed strings, so each thread keeps one `Event` whose strings are refilled for
//! every call: once they have grown to the longest path seen, filling them allocates
//! nothing, and a string equal to the previous event's (the computer, the user) is
//! neither copied nor checked again. A signer's names are parsed into distinguished
//! names, which allocates; the thread keeps the last 32 signers it parsed, so only a
//! publisher it has not seen lately is parsed.
#![expect(
    unsafe_code,
    reason = "exported functions read caller structs and write caller buffers"
)]

use std::cell::RefCell;
use std::ffi::c_char;
use std::sync::Arc;

use portcullis_engine::model::{
    DistinguishedName, MaintenanceMode, Sha256, Signature, SignatureStatus, Signer, Timestamp,
};
use portcullis_engine::{Decision, Event, Outcome, RequestKind, Snapshot};

use crate::error::{
    copy_out, give_string, guarded, text, write_location, ErrorSlot, Failure, PortcullisStatus,
};

/// A borrowed string: `len` bytes of UTF-8 at `ptr`, no NUL needed. A null `ptr` means
/// absent (for optional fields) and is the value of an absent id in a decision.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PortcullisStr {
    /// The first byte, or null.
    pub ptr: *const c_char,
    /// The number of bytes.
    pub len: usize,
}

impl PortcullisStr {
    const NONE: PortcullisStr = PortcullisStr {
        ptr: std::ptr::null(),
        len: 0,
    };

    fn of(text: Option<&str>) -> PortcullisStr {
        text.map_or(PortcullisStr::NONE, |text| PortcullisStr {
            ptr: text.as_ptr().cast(),
            len: text.len(),
        })
    }

    /// The text, or an error naming `what` when it is null or not UTF-8.
    ///
    /// # Safety
    /// `ptr` is null or points to `len` readable bytes.
    pub(crate) unsafe fn as_str<'a>(&self, what: &str) -> Result<&'a str, Failure> {
        // SAFETY: as promised by the caller.
        unsafe { text(self.ptr, self.len, what) }
    }

    /// The bytes, or an error naming `what` when the pointer is null.
    ///
    /// # Safety
    /// `ptr` is null or points to `len` readable bytes.
    unsafe fn bytes<'a>(&self, what: &str) -> Result<&'a [u8], Failure> {
        // SAFETY: as promised by the caller.
        unsafe { self.optional_bytes() }.ok_or_else(|| Failure::null(what))
    }

    /// The bytes, or `None` for a null pointer.
    ///
    /// # Safety
    /// `ptr` is null or points to `len` readable bytes.
    unsafe fn optional_bytes<'a>(&self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: non-null and `len` readable bytes, as the caller promises.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) })
    }
}

/// `signature_status` of an unsigned file.
pub const PORTCULLIS_SIGNATURE_UNSIGNED: u32 = 0;
/// `signature_status` of a file whose signature verifies.
pub const PORTCULLIS_SIGNATURE_VALID: u32 = 1;
/// `signature_status` of a file with a signature that does not verify.
pub const PORTCULLIS_SIGNATURE_INVALID: u32 = 2;

/// One program execution, as the agent saw it. Every string is borrowed for the call
/// only. The fields are those of an event's JSON (`docs/events.md`); the signer is the
/// signing (leaf) certificate, the only one decisions look at.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PortcullisEvent {
    /// The computer's id, as in the bundle. Required.
    pub computer: PortcullisStr,
    /// The user running the program (e.g. `CONTOSO\alice`). Required.
    pub user: PortcullisStr,
    /// Full path of the executed file. Required.
    pub path: PortcullisStr,
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
    /// When it happened, in seconds since the Unix epoch (UTC).
    pub time: i64,
    /// Path of the parent process; null `ptr` when unknown.
    pub parent: PortcullisStr,
    /// Path of the process that wrote the file; null `ptr` when unknown.
    pub created_by: PortcullisStr,
    /// The user asked to run it with administrator rights.
    pub elevation: bool,
    /// `PORTCULLIS_SIGNATURE_UNSIGNED`, `_VALID` or `_INVALID`; any other value is an
    /// invalid event.
    pub signature_status: u32,
    /// The signing certificate's subject (e.g. `CN=Contoso, O=Contoso`); null `ptr`
    /// when unsigned.
    pub signer_subject: PortcullisStr,
    /// Its issuer; null `ptr` when not known.
    pub signer_issuer: PortcullisStr,
    /// Whether `signer_thumbprint` holds the certificate's SHA-256 thumbprint.
    pub has_signer_thumbprint: bool,
    /// SHA-256 thumbprint of the signing certificate.
    pub signer_thumbprint: [u8; 32],
}

/// Allow or deny.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortcullisOutcome {
    /// The program is blocked.
    Deny = 0,
    /// The program may run.
    Allow = 1,
}

/// The maintenance mode that changed a decision, if one did.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortcullisMode {
    /// No mode changed the outcome.
    None = 0,
    /// `monitor`: a default deny became an allow marked would-deny.
    Monitor = 1,
    /// `learning`: as monitor, and the execution is learned.
    Learning = 2,
    /// `installation`: allowed and learned.
    Installation = 3,
}

/// What a user may ask for after a decision.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortcullisRequestKind {
    /// Nothing.
    None = 0,
    /// Access to a blocked application.
    Application = 1,
    /// Elevation of an application that runs, but not elevated.
    Elevation = 2,
}

/// Flag: the program runs with administrator rights.
pub const PORTCULLIS_FLAG_ELEVATED: u32 = 1;
/// Flag: no policy matched; the organization's default deny decided.
pub const PORTCULLIS_FLAG_DEFAULT_DENY: u32 = 1 << 1;
/// Flag: an allow that would have been a deny but for `monitor` or `learning` mode.
pub const PORTCULLIS_FLAG_WOULD_DENY: u32 = 1 << 2;
/// Flag: the user is shown a notification about the deny.
pub const PORTCULLIS_FLAG_NOTIFY_USER: u32 = 1 << 3;
/// Flag: the user may file a request, of kind `request_kind`.
pub const PORTCULLIS_FLAG_CAN_REQUEST: u32 = 1 << 4;
/// Flag: the execution should be recorded as a learned file for the computer.
pub const PORTCULLIS_FLAG_LEARN: u32 = 1 << 5;
/// Problem flag: the event's computer is not in the snapshot.
pub const PORTCULLIS_FLAG_UNKNOWN_COMPUTER: u32 = 1 << 8;
/// Problem flag: the file's path could not be normalized.
pub const PORTCULLIS_FLAG_PATH_PROBLEM: u32 = 1 << 9;
/// Problem flag: the parent's path could not be normalized.
pub const PORTCULLIS_FLAG_PARENT_PROBLEM: u32 = 1 << 10;
/// Problem flag: the creating process's path could not be normalized.
pub const PORTCULLIS_FLAG_CREATED_BY_PROBLEM: u32 = 1 << 11;

/// A decision, written into a struct the caller provides. The ids point into the
/// snapshot and stay valid while its handle lives; they are not NUL-terminated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PortcullisDecision {
    /// Allow or deny.
    pub outcome: PortcullisOutcome,
    /// `PORTCULLIS_FLAG_*` bits.
    pub flags: u32,
    /// The maintenance mode that changed the outcome.
    pub mode: PortcullisMode,
    /// What a request would ask for.
    pub request_kind: PortcullisRequestKind,
    /// Id of the deciding policy; null `ptr` for a default deny or a maintenance mode.
    pub policy: PortcullisStr,
    /// Id of the matching application of the deciding policy; null `ptr` when none.
    pub application: PortcullisStr,
    /// How many recipients the deciding deny tells about a request (their addresses
    /// are in the decision's JSON: `portcullis_snapshot_explain_json`).
    pub notify_count: usize,
    /// Generation of the snapshot the decision was computed on.
    pub generation: u64,
}

impl PortcullisDecision {
    /// A decision for C, borrowing the ids of `decision`.
    pub fn of(decision: &Decision<'_>) -> PortcullisDecision {
        let bit = |on: bool, flag: u32| if on { flag } else { 0 };
        let problems = &decision.problems;
        PortcullisDecision {
            outcome: match decision.decision {
                Outcome::Allow => PortcullisOutcome::Allow,
                Outcome::Deny => PortcullisOutcome::Deny,
            },
            flags: bit(decision.elevated, PORTCULLIS_FLAG_ELEVATED)
                | bit(decision.default_deny, PORTCULLIS_FLAG_DEFAULT_DENY)
                | bit(decision.would_deny, PORTCULLIS_FLAG_WOULD_DENY)
                | bit(decision.notify_user, PORTCULLIS_FLAG_NOTIFY_USER)
                | bit(decision.can_request, PORTCULLIS_FLAG_CAN_REQUEST)
                | bit(decision.learn, PORTCULLIS_FLAG_LEARN)
                | bit(problems.unknown_computer, PORTCULLIS_FLAG_UNKNOWN_COMPUTER)
                | bit(problems.path.is_some(), PORTCULLIS_FLAG_PATH_PROBLEM)
                | bit(problems.parent.is_some(), PORTCULLIS_FLAG_PARENT_PROBLEM)
                | bit(
                    problems.created_by.is_some(),
                    PORTCULLIS_FLAG_CREATED_BY_PROBLEM,
                ),
            mode: match decision.mode {
                None => PortcullisMode::None,
                Some(MaintenanceMode::Monitor) => PortcullisMode::Monitor,
                Some(MaintenanceMode::Learning) => PortcullisMode::Learning,
                Some(MaintenanceMode::Installation) => PortcullisMode::Installation,
            },
            request_kind: match decision.request_kind {
                None => PortcullisRequestKind::None,
                Some(RequestKind::Application) => PortcullisRequestKind::Application,
                Some(RequestKind::Elevation) => PortcullisRequestKind::Elevation,
            },
            policy: PortcullisStr::of(decision.policy),
            application: PortcullisStr::of(decision.application),
            notify_count: decision.notify.len(),
            generation: decision.generation,
        }
    }
}

/// One compiled snapshot, to decide with: immutable, so any number of threads may
/// decide on one handle at once. Taken with `portcullis_engine_snapshot`, freed with
/// `portcullis_snapshot_free`.
#[derive(Debug)]
pub struct PortcullisSnapshot {
    snapshot: Arc<Snapshot>,
    pub(crate) errors: ErrorSlot,
}

impl PortcullisSnapshot {
    pub(crate) fn new(snapshot: Arc<Snapshot>) -> PortcullisSnapshot {
        PortcullisSnapshot {
            snapshot,
            errors: ErrorSlot::default(),
        }
    }
}

/// The thread's event, refilled for every call from C (see the module's note).
struct EventBuffer {
    event: Event,
    /// Buffers of `parent` and `created_by` while the event has none.
    spare_parent: String,
    spare_created_by: String,
    /// The signers parsed on this thread, most recent ones kept.
    known: Vec<KnownSigner>,
    /// Which of them the event holds.
    lent: Option<usize>,
    /// The one replaced next when `known` is full.
    evict: usize,
}

/// How many signers a thread keeps parsed: an endpoint sees few publishers.
const KNOWN_SIGNERS: usize = 32;

/// A signer as parsed, and the text it was parsed from.
struct KnownSigner {
    subject: String,
    issuer: Option<String>,
    /// `None` while lent to the event.
    signer: Option<Signer>,
}

impl EventBuffer {
    const fn new() -> EventBuffer {
        EventBuffer {
            event: Event {
                computer: String::new(),
                user: String::new(),
                path: String::new(),
                sha256: Sha256([0; 32]),
                signature: Signature {
                    status: SignatureStatus::Unsigned,
                    signers: Vec::new(),
                },
                size: None,
                authenticode_digest: None,
                parent: None,
                created_by: None,
                elevation: false,
                time: Timestamp::from_unix(0),
            },
            spare_parent: String::new(),
            spare_created_by: String::new(),
            known: Vec::new(),
            lent: None,
            evict: 0,
        }
    }

    /// Fills the event from `from`, reusing every buffer.
    ///
    /// # Safety
    /// Every non-null string of `from` points to its `len` readable bytes.
    unsafe fn fill(&mut self, from: &PortcullisEvent) -> Result<&Event, Failure> {
        // SAFETY: every non-null string of `from` is readable, as the caller promises.
        let (computer, user, path, parent, created_by, subject, issuer) = unsafe {
            (
                from.computer.bytes("computer")?,
                from.user.bytes("user")?,
                from.path.bytes("path")?,
                from.parent.optional_bytes(),
                from.created_by.optional_bytes(),
                from.signer_subject.optional_bytes(),
                from.signer_issuer.optional_bytes(),
            )
        };
        let event = &mut self.event;
        refill(&mut event.computer, computer, "computer")?;
        refill(&mut event.user, user, "user")?;
        refill(&mut event.path, path, "path")?;
        event.sha256 = Sha256(from.sha256);
        event.time = Timestamp::from_unix(from.time);
        event.elevation = from.elevation;
        refill_optional(&mut event.parent, &mut self.spare_parent, parent, "parent")?;
        refill_optional(
            &mut event.created_by,
            &mut self.spare_created_by,
            created_by,
            "created_by",
        )?;
        event.signature.status = match from.signature_status {
            PORTCULLIS_SIGNATURE_UNSIGNED => SignatureStatus::Unsigned,
            PORTCULLIS_SIGNATURE_VALID => SignatureStatus::Valid,
            PORTCULLIS_SIGNATURE_INVALID => SignatureStatus::Invalid,
            other => {
                return Err(Failure::new(
                    PortcullisStatus::InvalidEvent,
                    format!("invalid event: `signature_status` is {other}, not 0, 1 or 2"),
                ))
            }
        };
        // The signer is lent to the event from the thread's known signers, and
        // returned before the next event is filled; only a signer not among them is
        // parsed (which allocates).
        let signers = &mut event.signature.signers;
        if let (Some(at), Some(signer)) = (self.lent.take(), signers.pop()) {
            if let Some(known) = self.known.get_mut(at) {
                known.signer = Some(signer);
            }
        }
        signers.clear();
        if let Some(subject) = subject {
            let found = self.known.iter().position(|k| {
                k.subject.as_bytes() == subject && k.issuer.as_deref().map(str::as_bytes) == issuer
            });
            let at = match found {
                Some(at) => at,
                None => {
                    let dn = |text: &str, field: &str| {
                        DistinguishedName::parse(text).map_err(|e| {
                            Failure::new(
                                PortcullisStatus::InvalidEvent,
                                format!("invalid event: `{field}`: {e}"),
                            )
                        })
                    };
                    let subject = utf8(subject, "signer_subject")?;
                    let issuer = issuer.map(|i| utf8(i, "signer_issuer")).transpose()?;
                    let known = KnownSigner {
                        signer: Some(Signer {
                            subject: dn(subject, "signer_subject")?,
                            issuer: issuer.map(|i| dn(i, "signer_issuer")).transpose()?,
                            thumbprint: None,
                        }),
                        subject: subject.to_owned(),
                        issuer: issuer.map(str::to_owned),
                    };
                    if self.known.len() < KNOWN_SIGNERS {
                        self.known.push(known);
                        self.known.len() - 1
                    } else {
                        let at = self.evict;
                        self.evict = (at + 1) % KNOWN_SIGNERS;
                        if let Some(slot) = self.known.get_mut(at) {
                            *slot = known;
                        }
                        at
                    }
                }
            };
            if let Some(mut signer) = self.known.get_mut(at).and_then(|k| k.signer.take()) {
                signer.thumbprint = from
                    .has_signer_thumbprint
                    .then_some(Sha256(from.signer_thumbprint));
                signers.push(signer);
                self.lent = Some(at);
            }
        }
        Ok(&self.event)
    }
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Failure> {
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            PortcullisStatus::InvalidUtf8,
            format!("`{what}` is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Makes `buffer` hold `bytes`. Bytes equal to what it holds (the same computer and
/// user as the previous event, most of the time) are neither checked nor copied: they
/// are already known to be UTF-8.
fn refill(buffer: &mut String, bytes: &[u8], what: &str) -> Result<(), Failure> {
    if buffer.as_bytes() != bytes {
        let text = utf8(bytes, what)?;
        buffer.clear();
        buffer.push_str(text);
    }
    Ok(())
}

fn refill_optional(
    field: &mut Option<String>,
    spare: &mut String,
    bytes: Option<&[u8]>,
    what: &str,
) -> Result<(), Failure> {
    match bytes {
        None => {
            if let Some(buffer) = field.take() {
                *spare = buffer;
            }
        }
        Some(bytes) => {
            let mut buffer = field.take().unwrap_or_else(|| std::mem::take(spare));
            let filled = refill(&mut buffer, bytes, what);
            *field = Some(buffer);
            filled?;
        }
    }
    Ok(())
}

thread_local! {
    static EVENT: RefCell<EventBuffer> = const { RefCell::new(EventBuffer::new()) };
}

/// Decides `event` on `snapshot` with this thread's event buffer.
///
/// # Safety
/// The strings of `event` are readable as it promises.
unsafe fn decide_one<'s>(
    snapshot: &'s Snapshot,
    event: &PortcullisEvent,
) -> Result<Decision<'s>, Failure> {
    let decided = EVENT.try_with(|cell| {
        let mut buffer = cell.try_borrow_mut().ok()?;
        // SAFETY: as promised by the caller.
        Some(unsafe { buffer.fill(event) }.map(|event| snapshot.decide(event)))
    });
    match decided {
        Ok(Some(decided)) => decided,
        // A decision that re-entered this function on the same thread, or a thread
        // whose locals are being destroyed: a buffer for this event alone.
        // SAFETY: as promised by the caller.
        Ok(None) | Err(_) => Ok(snapshot.decide(unsafe { EventBuffer::new().fill(event) }?)),
    }
}

/// The live snapshot behind a handle pointer.
///
/// # Safety
/// `snapshot` is null or a live handle.
unsafe fn handle<'a>(
    snapshot: *const PortcullisSnapshot,
) -> Result<&'a PortcullisSnapshot, PortcullisStatus> {
    // SAFETY: null or live, as the caller promises.
    match unsafe { snapshot.as_ref() } {
        Some(handle) => Ok(handle),
        None => Err(guarded(None, || Err(Failure::null("snapshot")))),
    }
}

/// Decides one event and writes the decision to `*out`. Thread-safe: any number of
/// threads may decide on one snapshot at once. Once the thread has decided a first
/// event it allocates nothing, unless the event's signer is not among the last 32
/// this thread has seen (its names are then parsed), or a string is longer than any
/// before.
///
/// # Safety
/// `snapshot` is a live handle; `event` points to an event whose non-null strings are
/// readable; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_decide(
    snapshot: *const PortcullisSnapshot,
    event: *const PortcullisEvent,
    out: *mut PortcullisDecision,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(snapshot) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        // SAFETY: null or readable, as the caller promises.
        let event = unsafe { event.as_ref() }.ok_or_else(|| Failure::null("event"))?;
        // SAFETY: null or writable, as the caller promises.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Failure::null("out"))?;
        // SAFETY: the event's strings are readable, as the caller promises.
        let decision = unsafe { decide_one(&handle.snapshot, event) }?;
        *out = PortcullisDecision::of(&decision);
        Ok(())
    })
}

/// Decides `count` events in one call, writing `out[i]` for `events[i]`. Stops at the
/// first event that cannot be read and returns its status; `*decided` (may be null)
/// says how many decisions were written.
///
/// # Safety
/// `snapshot` is a live handle; `events` points to `count` events whose non-null
/// strings are readable; `out` points to `count` writable decisions; `decided` is null
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_decide_batch(
    snapshot: *const PortcullisSnapshot,
    events: *const PortcullisEvent,
    count: usize,
    out: *mut PortcullisDecision,
    decided: *mut usize,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(snapshot) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    let mut done = 0;
    let status = guarded(Some(&handle.errors), || {
        if count == 0 {
            return Ok(());
        }
        if events.is_null() {
            return Err(Failure::null("events"));
        }
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: `count` readable events and `count` writable decisions, as the caller
        // promises; the caller's two arrays do not overlap.
        let (events, out) = unsafe {
            (
                std::slice::from_raw_parts(events, count),
                std::slice::from_raw_parts_mut(out, count),
            )
        };
        for (event, out) in events.iter().zip(out) {
            // SAFETY: the event's strings are readable, as the caller promises.
            let decision = unsafe { decide_one(&handle.snapshot, event) }
                .map_err(|f| Failure::new(f.status, format!("events[{done}]: {}", f.message)))?;
            *out = PortcullisDecision::of(&decision);
            done += 1;
        }
        Ok(())
    });
    // SAFETY: null or writable, as the caller promises.
    unsafe { crate::error::put_optional(decided, done) };
    status
}

/// Reads an event from JSON text (`len` bytes; the format of `docs/events.md`, which
/// is what `portcullis inspect` prints plus `computer`, `user` and `time`) and decides
/// it into `*out`. A malformed event gives `PORTCULLIS_STATUS_INVALID_EVENT`, with the
/// field, line and column in the handle's error. Reading the JSON allocates.
///
/// # Safety
/// `snapshot` is a live handle; `json` points to `len` readable bytes; `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_decide_json(
    snapshot: *const PortcullisSnapshot,
    json: *const c_char,
    len: usize,
    out: *mut PortcullisDecision,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(snapshot) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        // SAFETY: `len` readable bytes, as the caller promises.
        let text = unsafe { text(json, len, "json") }?;
        // SAFETY: null or writable, as the caller promises.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Failure::null("out"))?;
        let event = Event::from_json(text).map_err(|e| Failure::event(&e))?;
        *out = PortcullisDecision::of(&handle.snapshot.decide(&event));
        Ok(())
    })
}

/// Reads an event from JSON text and writes its explanation as JSON to `*out_json`
/// (NUL-terminated, freed with `portcullis_string_free`; its length without the NUL
/// to `*out_len`, which may be null): the whole decision, with the recipients and
/// problem messages, the normalized path, and every policy considered in order with
/// why each one before the decider did not decide. Off the hot path: it allocates.
///
/// # Safety
/// `snapshot` is a live handle; `json` points to `len` readable bytes; `out_json` is
/// writable; `out_len` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_explain_json(
    snapshot: *const PortcullisSnapshot,
    json: *const c_char,
    len: usize,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(snapshot) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        // SAFETY: `len` readable bytes, as the caller promises.
        let text = unsafe { text(json, len, "json") }?;
        if out_json.is_null() {
            return Err(Failure::null("out_json"));
        }
        let event = Event::from_json(text).map_err(|e| Failure::event(&e))?;
        let explanation = handle.snapshot.explain(&event);
        let json = serde_json::to_string(&explanation)
            .map_err(|e| Failure::new(PortcullisStatus::Io, e.to_string()))?;
        // SAFETY: `out_json` is writable and `out_len` null or writable.
        unsafe { give_string(json, out_json, out_len) }
    })
}

/// Writes the snapshot's generation to `*generation`.
///
/// # Safety
/// `snapshot` is a live handle; `generation` is writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_generation(
    snapshot: *const PortcullisSnapshot,
    generation: *mut u64,
) -> PortcullisStatus {
    // SAFETY: null or live, as the caller promises.
    let handle = match unsafe { handle(snapshot) } {
        Ok(handle) => handle,
        Err(status) => return status,
    };
    guarded(Some(&handle.errors), || {
        let current = handle.snapshot.generation();
        // SAFETY: null or writable, as the caller promises.
        unsafe { crate::error::put(generation, current, "generation") }
    })
}

/// Frees a snapshot handle. Null is ignored. The ids of decisions made on it are no
/// longer valid afterwards.
///
/// # Safety
/// `snapshot` is null or a live handle, not used again after this call (no other
/// thread is deciding on it).
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_free(snapshot: *mut PortcullisSnapshot) {
    if !snapshot.is_null() {
        // SAFETY: made by `Box::into_raw` in `portcullis_engine_snapshot`, freed once.
        let snapshot = unsafe { Box::from_raw(snapshot) };
        // Dropping the last reference frees the compiled tables: library code that
        // must not unwind into C.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(snapshot)));
    }
}

/// As `portcullis_engine_error`, for a snapshot handle. Several threads deciding on
/// one snapshot share this one message: it is that of the latest failure.
///
/// # Safety
/// `snapshot` is null or a live snapshot handle; `buffer` is null or points to
/// `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_error(
    snapshot: *const PortcullisSnapshot,
    buffer: *mut c_char,
    capacity: usize,
) -> usize {
    // SAFETY: the caller passes null or a live handle.
    let failure = unsafe { snapshot.as_ref() }.and_then(|s| s.errors.get());
    let message = failure.as_ref().map_or("", |f| f.message.as_str());
    // SAFETY: as promised by the caller.
    unsafe { copy_out(message, buffer, capacity) }
}

/// As `portcullis_engine_error_location`, for a snapshot handle (the position in an
/// event's JSON text).
///
/// # Safety
/// `snapshot` is null or a live snapshot handle; `line` and `column` are null or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn portcullis_snapshot_error_location(
    snapshot: *const PortcullisSnapshot,
    line: *mut usize,
    column: *mut usize,
) -> bool {
    // SAFETY: the caller passes null or a live handle.
    let failure = unsafe { snapshot.as_ref() }.and_then(|s| s.errors.get());
    // SAFETY: as promised by the caller.
    unsafe { write_location(failure.and_then(|f| f.location), line, column) }
}
