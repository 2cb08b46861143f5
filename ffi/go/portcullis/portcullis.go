// Package portcullis is the Portcullis engine for Go agents, over its C ABI (cgo).
//
// Build the library first (ffi/build-example, or cargo build --release -p
// portcullis-ffi) and point cgo at it:
//
//	CGO_LDFLAGS="-L$PWD/target/release -lportcullis_ffi -Wl,-rpath,$PWD/target/release" go test ./...
//
// An Engine holds the current snapshot; a Snapshot decides, from any number of
// goroutines at once. Decide copies the event's strings into reused C memory (cgo
// does not let C read Go memory that holds Go pointers) and fills a Decision whose ids
// are copied into Go strings.
package portcullis

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -lportcullis_ffi
#include <stdlib.h>
#include "portcullis.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Status is what a call of the library returned.
type Status int

// The statuses of the C ABI.
const (
	StatusOK            Status = C.PORTCULLIS_STATUS_OK
	StatusNullArgument  Status = C.PORTCULLIS_STATUS_NULL_ARGUMENT
	StatusInvalidUTF8   Status = C.PORTCULLIS_STATUS_INVALID_UTF8
	StatusInvalidBundle Status = C.PORTCULLIS_STATUS_INVALID_BUNDLE
	StatusInvalidEvent  Status = C.PORTCULLIS_STATUS_INVALID_EVENT
	StatusNoHistory     Status = C.PORTCULLIS_STATUS_NO_HISTORY
	StatusIO            Status = C.PORTCULLIS_STATUS_IO
	StatusPanic         Status = C.PORTCULLIS_STATUS_PANIC
	StatusPoisoned      Status = C.PORTCULLIS_STATUS_POISONED
)

func (s Status) String() string {
	return C.GoString(C.portcullis_status_name(C.int(s)))
}

// Error is a failed call: the library's message, and the line and column in the
// bundle or event text when the error has them (0 otherwise).
type Error struct {
	Status  Status
	Message string
	Line    int
	Column  int
}

func (e *Error) Error() string { return e.Message }

func engineError(status uint32, e *C.PortcullisEngine) error {
	if status == C.PORTCULLIS_STATUS_OK {
		return nil
	}
	n := C.portcullis_engine_error(e, nil, 0)
	buf := make([]byte, n+1)
	C.portcullis_engine_error(e, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	var line, column C.size_t
	C.portcullis_engine_error_location(e, &line, &column)
	return &Error{Status(status), string(buf[:n]), int(line), int(column)}
}

func snapshotError(status uint32, s *C.PortcullisSnapshot) error {
	if status == C.PORTCULLIS_STATUS_OK {
		return nil
	}
	n := C.portcullis_snapshot_error(s, nil, 0)
	buf := make([]byte, n+1)
	C.portcullis_snapshot_error(s, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	var line, column C.size_t
	C.portcullis_snapshot_error_location(s, &line, &column)
	return &Error{Status(status), string(buf[:n]), int(line), int(column)}
}

func lastError(status uint32) error {
	if status == C.PORTCULLIS_STATUS_OK {
		return nil
	}
	n := C.portcullis_last_error(nil, 0)
	buf := make([]byte, n+1)
	C.portcullis_last_error((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	var line, column C.size_t
	C.portcullis_last_error_location(&line, &column)
	return &Error{Status(status), string(buf[:n]), int(line), int(column)}
}

// Engine holds the current snapshot; deploys and rollbacks swap it whole.
type Engine struct{ raw *C.PortcullisEngine }

// cText copies s into C memory (freed by the caller with C.free), never null.
func cText(s string) (*C.char, C.size_t) {
	return C.CString(s), C.size_t(len(s))
}

// NewEngine compiles a bundle given as JSON text.
func NewEngine(bundle string) (*Engine, error) {
	p, n := cText(bundle)
	defer C.free(unsafe.Pointer(p))
	var raw *C.PortcullisEngine
	status := C.portcullis_engine_from_json(p, n, &raw)
	if err := engineError(status, raw); err != nil {
		C.portcullis_engine_free(raw)
		return nil, err
	}
	e := &Engine{raw}
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Close frees the engine; snapshots taken from it stay valid.
func (e *Engine) Close() {
	if e.raw != nil {
		C.portcullis_engine_free(e.raw)
		e.raw = nil
	}
}

// Deploy compiles a whole bundle and swaps it in; it returns the new generation.
// On error nothing changes.
func (e *Engine) Deploy(bundle string) (uint64, error) {
	p, n := cText(bundle)
	defer C.free(unsafe.Pointer(p))
	var g C.uint64_t
	status := C.portcullis_engine_deploy_json(e.raw, p, n, &g)
	return uint64(g), engineError(status, e.raw)
}

// Rollback restores the previous snapshot under a new generation.
func (e *Engine) Rollback() (uint64, error) {
	var g C.uint64_t
	status := C.portcullis_engine_rollback(e.raw, &g)
	return uint64(g), engineError(status, e.raw)
}

// Generation is the current snapshot's generation.
func (e *Engine) Generation() uint64 {
	var g C.uint64_t
	C.portcullis_engine_generation(e.raw, &g)
	return uint64(g)
}

// Snapshot is the current snapshot; it stays unchanged until closed.
func (e *Engine) Snapshot() (*Snapshot, error) {
	var raw *C.PortcullisSnapshot
	if err := engineError(C.portcullis_engine_snapshot(e.raw, &raw), e.raw); err != nil {
		return nil, err
	}
	s := &Snapshot{raw}
	runtime.SetFinalizer(s, (*Snapshot).Close)
	return s, nil
}

// Snapshot is one compiled snapshot, to decide with.
type Snapshot struct{ raw *C.PortcullisSnapshot }

// Close frees the snapshot.
func (s *Snapshot) Close() {
	if s.raw != nil {
		C.portcullis_snapshot_free(s.raw)
		s.raw = nil
	}
}

// Signature statuses of an Event.
const (
	Unsigned = C.PORTCULLIS_SIGNATURE_UNSIGNED
	Valid    = C.PORTCULLIS_SIGNATURE_VALID
	Invalid  = C.PORTCULLIS_SIGNATURE_INVALID
)

// Event is one program execution. Empty optional strings mean absent.
type Event struct {
	Computer, User, Path string
	SHA256               [32]byte
	Time                 int64 // seconds since the Unix epoch
	Parent, CreatedBy    string
	Elevation            bool
	SignatureStatus      uint32
	SignerSubject        string
	SignerIssuer         string
	// SignerThumbprint is the signing certificate's SHA-256, when known.
	SignerThumbprint *[32]byte
}

// Decision is what the engine answered.
type Decision struct {
	Allow       bool
	Flags       uint32
	Policy      string
	Application string
	Generation  uint64
}

// scratch is C memory that an event's strings are copied into for one call: cgo
// does not let C read a struct that points to Go memory. Buffers are reused through
// a pool, so a decision allocates nothing once they have grown.
type scratch struct {
	buf  *C.char
	size int
	used int
}

var scratches = sync.Pool{New: func() any {
	b := new(scratch)
	runtime.SetFinalizer(b, func(b *scratch) { C.free(unsafe.Pointer(b.buf)) })
	return b
}}

func (b *scratch) reserve(n int) {
	if n > b.size {
		b.buf = (*C.char)(C.realloc(unsafe.Pointer(b.buf), C.size_t(n)))
		if b.buf == nil {
			panic("portcullis: out of memory")
		}
		b.size = n
	}
	b.used = 0
}

// str copies s into the buffer; an empty optional string stays absent (null).
func (b *scratch) str(s string, optional bool) C.PortcullisStr {
	if len(s) == 0 && optional {
		return C.PortcullisStr{}
	}
	p := (*C.char)(unsafe.Add(unsafe.Pointer(b.buf), b.used))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(p)), len(s)), s)
	b.used += len(s)
	return C.PortcullisStr{ptr: p, len: C.size_t(len(s))}
}

func goString(s C.PortcullisStr) string {
	if s.ptr == nil {
		return ""
	}
	return C.GoStringN(s.ptr, C.int(s.len))
}

// Decide decides one event.
func (s *Snapshot) Decide(ev *Event) (Decision, error) {
	b := scratches.Get().(*scratch)
	defer scratches.Put(b)
	// One byte more than the strings, so that even an empty event has a valid pointer.
	b.reserve(1 + len(ev.Computer) + len(ev.User) + len(ev.Path) + len(ev.Parent) +
		len(ev.CreatedBy) + len(ev.SignerSubject) + len(ev.SignerIssuer))
	var c C.PortcullisEvent
	c.computer = b.str(ev.Computer, false)
	c.user = b.str(ev.User, false)
	c.path = b.str(ev.Path, false)
	for i, b := range ev.SHA256 {
		c.sha256[i] = C.uint8_t(b)
	}
	c.time = C.int64_t(ev.Time)
	c.parent = b.str(ev.Parent, true)
	c.created_by = b.str(ev.CreatedBy, true)
	c.elevation = C.bool(ev.Elevation)
	c.signature_status = C.uint32_t(ev.SignatureStatus)
	c.signer_subject = b.str(ev.SignerSubject, true)
	c.signer_issuer = b.str(ev.SignerIssuer, true)
	if ev.SignerThumbprint != nil {
		c.has_signer_thumbprint = true
		for i, v := range ev.SignerThumbprint {
			c.signer_thumbprint[i] = C.uint8_t(v)
		}
	}
	var out C.PortcullisDecision
	status := C.portcullis_snapshot_decide(s.raw, &c, &out)
	if err := snapshotError(status, s.raw); err != nil {
		return Decision{}, err
	}
	return Decision{
		Allow:       out.outcome == C.PORTCULLIS_OUTCOME_ALLOW,
		Flags:       uint32(out.flags),
		Policy:      goString(out.policy),
		Application: goString(out.application),
		Generation:  uint64(out.generation),
	}, nil
}

// ExplainJSON explains an event given as JSON and returns the explanation as JSON.
func (s *Snapshot) ExplainJSON(event string) (string, error) {
	p, n := cText(event)
	defer C.free(unsafe.Pointer(p))
	var out *C.char
	var size C.size_t
	status := C.portcullis_snapshot_explain_json(s.raw, p, n, &out, &size)
	if err := snapshotError(status, s.raw); err != nil {
		return "", err
	}
	defer C.portcullis_string_free(out)
	return C.GoStringN(out, C.int(size)), nil
}

// Inspect returns the identity of a file as JSON, as `portcullis inspect` prints it.
func Inspect(path string) (string, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var out *C.char
	var size C.size_t
	if err := lastError(C.portcullis_inspect(cpath, nil, &out, &size)); err != nil {
		return "", err
	}
	defer C.portcullis_string_free(out)
	return C.GoStringN(out, C.int(size)), nil
}
