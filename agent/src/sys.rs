//! The system calls the agent needs and the standard library lacks: fanotify
//! (`fanotify_init`, `fanotify_mark`, `poll`, and taking ownership of the descriptor
//! each event carries) and a Unix socket's peer credentials (`SO_PEERCRED`). This is
//! the crate's only unsafe code; everything else reads and writes through `std`.
//! Events are read and answered with plain `read`/`write` on the group's descriptor,
//! and parsed from bytes without pointer casts.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A fanotify group with permission events (`FAN_CLASS_CONTENT`).
#[derive(Debug)]
pub struct Fanotify {
    file: File,
}

/// One event read from the group.
#[derive(Debug)]
pub struct RawEvent {
    /// The event's mask (`FAN_OPEN_EXEC_PERM`, or `FAN_Q_OVERFLOW`).
    pub mask: u64,
    /// The file, opened read-only by the kernel; `None` for an overflow.
    pub file: Option<File>,
    /// The process that caused it.
    pub pid: i32,
}

/// `FAN_OPEN_EXEC_PERM`.
pub const OPEN_EXEC_PERM: u64 = libc::FAN_OPEN_EXEC_PERM;

/// The fixed part of an event's metadata, in bytes.
const METADATA_LEN: usize = 24;

impl Fanotify {
    /// A new group. Needs `CAP_SYS_ADMIN`.
    pub fn new() -> io::Result<Fanotify> {
        let flags = libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC;
        let event_flags = libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC;
        // SAFETY: plain system call with integer arguments; a non-negative result is a
        // new descriptor that nothing else owns.
        let fd = unsafe { libc::fanotify_init(flags, event_flags as libc::c_uint) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Fanotify {
            file: File::from(owned),
        })
    }

    /// Asks for exec permission events on the mount holding `path` (or on its whole
    /// filesystem).
    pub fn mark(&self, path: &Path, filesystem: bool) -> io::Result<()> {
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))?;
        let scope = if filesystem {
            libc::FAN_MARK_FILESYSTEM
        } else {
            libc::FAN_MARK_MOUNT
        };
        // SAFETY: the group's descriptor is open for as long as `self`; `c_path` is a
        // NUL-terminated string that outlives the call.
        let done = unsafe {
            libc::fanotify_mark(
                self.file.as_raw_fd(),
                libc::FAN_MARK_ADD | scope,
                libc::FAN_OPEN_EXEC_PERM,
                libc::AT_FDCWD,
                c_path.as_ptr(),
            )
        };
        if done < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for events; what arrived (none when the time passed).
    pub fn read(&self, buffer: &mut [u8], timeout: Duration) -> io::Result<Vec<RawEvent>> {
        if !readable(self.file.as_raw_fd(), timeout)? {
            return Ok(Vec::new());
        }
        let read = (&self.file).read(buffer)?;
        Ok(parse(buffer.get(..read).unwrap_or_default()))
    }

    /// Answers a permission event about `file`.
    pub fn respond(&self, file: &File, allow: bool) -> io::Result<()> {
        let mut answer = [0u8; 8];
        let (fd, response) = answer.split_at_mut(4);
        fd.copy_from_slice(&file.as_raw_fd().to_ne_bytes());
        let verdict = if allow {
            libc::FAN_ALLOW
        } else {
            libc::FAN_DENY
        };
        response.copy_from_slice(&verdict.to_ne_bytes());
        (&self.file).write_all(&answer)
    }
}

/// The events in what one `read` returned. Descriptors are taken into ownership as
/// they are parsed, so none leaks, even from an event that is then ignored.
fn parse(mut bytes: &[u8]) -> Vec<RawEvent> {
    let mut out = Vec::new();
    while bytes.len() >= METADATA_LEN {
        let u32_at = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_ne_bytes)
        };
        let event_len = u32_at(0) as usize;
        let version = bytes.get(4).copied().unwrap_or(0);
        let mask = bytes
            .get(8..16)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_ne_bytes);
        let fd = u32_at(16) as i32;
        let pid = u32_at(20) as i32;
        let file = (fd >= 0).then(|| {
            // SAFETY: the kernel opened this descriptor for this event and handed it
            // to this process; it is owned by no one else, and is closed on drop.
            File::from(unsafe { OwnedFd::from_raw_fd(fd) })
        });
        if version != libc::FANOTIFY_METADATA_VERSION || event_len < METADATA_LEN {
            // An event this code does not understand: its descriptor is closed, and
            // nothing after it can be trusted to be aligned.
            break;
        }
        out.push(RawEvent { mask, file, pid });
        bytes = bytes.get(event_len..).unwrap_or_default();
    }
    out
}

/// Whether `fd` becomes readable within `timeout`.
fn readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `poll` points at one valid, initialized `pollfd` for the whole call.
    let ready = unsafe { libc::poll(&mut poll, 1, millis) };
    match ready {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            }
        }
    }
}

/// Who is at the other end of a Unix socket: process id and user id.
pub fn peer(stream: &UnixStream) -> io::Result<(i32, u32)> {
    let mut credentials = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `credentials` and `len` are valid for writes and `len` says how large
    // the buffer is; the socket's descriptor is open for the whole call.
    let done = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut credentials as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if done < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((credentials.pid, credentials.uid))
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: `geteuid` cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}
