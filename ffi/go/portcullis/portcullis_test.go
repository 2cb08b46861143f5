package portcullis

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

func loadEngine(t *testing.T) (*Engine, string) {
	t.Helper()
	text, err := os.ReadFile("../../../examples/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	engine, err := NewEngine(string(text))
	if err != nil {
		t.Fatal(err)
	}
	return engine, string(text)
}

func notepad() *Event {
	return &Event{
		Computer:        "lakeside-fd-01",
		User:            `LAKESIDE\amy`,
		Path:            `C:\Windows\System32\notepad.exe`,
		Time:            1795338060,
		SignatureStatus: Valid,
		SignerSubject:   "CN=Microsoft Windows, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
		SignerIssuer:    "CN=Microsoft Windows Production PCA 2011, O=Microsoft Corporation, C=US",
	}
}

func TestDecide(t *testing.T) {
	engine, _ := loadEngine(t)
	defer engine.Close()
	snapshot, err := engine.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snapshot.Close()
	d, err := snapshot.Decide(notepad())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.Policy != "permit-windows" || d.Application != "windows-os" || d.Generation != 1 {
		t.Fatalf("unexpected decision %+v", d)
	}
	withThumbprint := notepad()
	withThumbprint.SignerThumbprint = &[32]byte{1, 2, 3}
	if d2, err := snapshot.Decide(withThumbprint); err != nil || d2 != d {
		t.Fatalf("a thumbprint no rule names changed the decision: %+v, %v", d2, err)
	}
	unsigned := notepad()
	unsigned.Path = `C:\Users\amy\Downloads\labelprint.exe`
	unsigned.SignatureStatus = Unsigned
	unsigned.SignerSubject, unsigned.SignerIssuer = "", ""
	d, err = snapshot.Decide(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || d.Policy != "" || d.Flags&0x2 == 0 {
		t.Fatalf("expected a default deny, got %+v", d)
	}
}

func TestDecideConcurrently(t *testing.T) {
	engine, _ := loadEngine(t)
	defer engine.Close()
	snapshot, err := engine.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snapshot.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				d, err := snapshot.Decide(notepad())
				if err != nil || !d.Allow {
					t.Errorf("decision %+v, error %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestErrorsCarryLocation(t *testing.T) {
	_, err := NewEngine("{\"format\": \"portcullis.bundle/v1\",\n \"organizations\": 7}")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("expected an *Error, got %v", err)
	}
	if e.Status != StatusInvalidBundle || e.Line != 2 || e.Column == 0 || !strings.Contains(e.Message, "organizations") {
		t.Fatalf("unexpected error %+v", e)
	}
	engine, bundle := loadEngine(t)
	defer engine.Close()
	if _, err := engine.Rollback(); err == nil || err.(*Error).Status != StatusNoHistory {
		t.Fatalf("expected no history, got %v", err)
	}
	if g, err := engine.Deploy(bundle); err != nil || g != 2 {
		t.Fatalf("deploy: %d, %v", g, err)
	}
	if g, err := engine.Rollback(); err != nil || g != 3 || engine.Generation() != 3 {
		t.Fatalf("rollback: %d, %v", g, err)
	}
	snapshot, _ := engine.Snapshot()
	defer snapshot.Close()
	bad := notepad()
	bad.SignatureStatus = 7
	if _, err := snapshot.Decide(bad); err == nil || err.(*Error).Status != StatusInvalidEvent {
		t.Fatalf("expected an invalid event, got %v", err)
	}
}

func TestExplainAndInspect(t *testing.T) {
	engine, _ := loadEngine(t)
	defer engine.Close()
	snapshot, _ := engine.Snapshot()
	defer snapshot.Close()
	text, err := snapshot.ExplainJSON(`{"computer": "lakeside-fd-01", "user": "u", "path": "C:\\x.exe",
		"sha256": "0000000000000000000000000000000000000000000000000000000000000000", "time": "2026-11-22T09:00:00Z"}`)
	if err != nil || !strings.Contains(text, `"default_deny":true`) {
		t.Fatalf("explain: %s, %v", text, err)
	}
	identity, err := Inspect("../../../examples/bundle.json")
	if err != nil || !strings.Contains(identity, `"sha256"`) {
		t.Fatalf("inspect: %s, %v", identity, err)
	}
	if _, err := Inspect("/nonexistent"); err == nil || err.(*Error).Status != StatusIO {
		t.Fatalf("expected an input/output error, got %v", err)
	}
}
