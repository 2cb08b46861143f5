"""The Python package: decisions, deploys, errors with their location, inspect."""

import hashlib
import json
import subprocess
import sys
import threading

import pytest

import portcullis
from conftest import ROOT


def test_decides_events_given_as_dicts_or_json(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    decision = engine.decide(events[0])
    assert decision["decision"] == "allow"
    assert decision["policy"] == "permit-chrome"
    assert decision["application"] == "google-chrome"
    assert decision["generation"] == 1
    assert engine.decide(json.dumps(events[0])) == decision
    denied = engine.decide(events[2])
    assert denied["decision"] == "deny"
    assert denied["policy"] == "deny-powershell"
    assert denied["can_request"] is True
    assert denied["notify"] == ["it@lakeside.example"]


def test_decide_many_matches_one_by_one(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    snapshot = engine.snapshot()
    assert snapshot.decide_many(events) == [snapshot.decide(e) for e in events]
    assert engine.decide_many(iter(events)) == [engine.decide(e) for e in events]


def test_the_decision_is_the_command_line_one(bundle_text, events):
    # `portcullis eval` prints exactly the decision's JSON; explain carries it too.
    engine = portcullis.Engine(bundle_text)
    for event in events:
        explained = engine.explain(event)
        decision = engine.decide(event)
        for key, value in decision.items():
            assert explained[key] == value, key
        assert isinstance(explained["policies"], list)


def test_deploy_rollback_and_snapshots(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    old = engine.snapshot()
    assert engine.deploy(bundle_text) == 2
    assert engine.generation == 2
    assert old.generation == 1
    assert old.decide(events[0])["generation"] == 1
    assert engine.decide(events[0])["generation"] == 2
    assert engine.rollback() == 3
    with pytest.raises(portcullis.NoHistoryError) as raised:
        engine.rollback()
        engine.rollback()
    assert "no earlier snapshot" in str(raised.value)
    assert isinstance(raised.value, portcullis.PortcullisError)


def test_deploy_change_compiles_one_organization(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    bundle = json.loads(bundle_text)
    entries = {"format": bundle["format"]}
    for kind in ("organizations", "groups", "computers", "applications", "policies"):
        entries[kind] = []
    engine.deploy_change(json.dumps(entries), removed=["lakeside"])
    decision = engine.decide(events[0])
    assert decision["decision"] == "deny"
    assert decision["problems"] == ["the computer is not in the bundle"]
    engine.rollback()
    assert engine.decide(events[0])["policy"] == "permit-chrome"


def test_bundle_errors_carry_message_and_location(bundle_text):
    with pytest.raises(portcullis.BundleError) as raised:
        portcullis.Engine('{"format": "portcullis.bundle/v1",\n "organizations": 7}')
    error = raised.value
    assert (error.line, error.column) == (2, 19)
    assert str(error).startswith("2:19: organizations: ")
    assert error.errors[0]["path"] == "organizations"
    engine = portcullis.Engine(bundle_text)
    broken = bundle_text.replace('"permit"', '"perhaps"', 1)
    with pytest.raises(portcullis.BundleError) as raised:
        engine.deploy(broken)
    assert raised.value.line is not None and raised.value.line > 1
    assert "perhaps" in str(raised.value)
    assert engine.generation == 1


def test_event_errors_name_the_field(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    with pytest.raises(portcullis.EventError) as raised:
        engine.decide('{"computer": "x",\n "time": "yesterday"}')
    assert "`time`" in str(raised.value)
    assert raised.value.line == 2
    with pytest.raises(portcullis.EventError):
        engine.decide({**events[0], "sha256": 42})
    with pytest.raises(portcullis.EventError):
        engine.decide({**events[0], "unknown_field": True})
    with pytest.raises(portcullis.EventError):
        engine.decide_many([events[0], {"computer": 1}])


def test_from_file_and_inspect(tmp_path, events):
    engine = portcullis.Engine.from_file(ROOT / "examples" / "bundle.json")
    assert engine.generation == 1
    with pytest.raises(portcullis.PortcullisError):
        portcullis.Engine.from_file(tmp_path / "missing.json")
    program = tmp_path / "tool.exe"
    program.write_bytes(b"not really a program")
    identity = portcullis.inspect(program)
    assert identity["path"] == str(program)
    assert identity["size"] == 20
    assert identity["sha256"] == hashlib.sha256(b"not really a program").hexdigest()
    assert identity["signature"]["status"] == "unsigned"
    # What inspect prints, with computer, user and time, is an event.
    event = dict(identity, computer="lakeside-fd-01", user="LAKESIDE\\amy", time="2026-11-22T09:00:00Z")
    decision = engine.decide(event)
    assert decision["decision"] == "deny", decision
    assert decision == engine.decide(json.dumps(event))
    with pytest.raises(portcullis.InspectError):
        portcullis.inspect(tmp_path / "missing.exe")


def test_threads_decide_on_one_snapshot(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    snapshot = engine.snapshot()
    want = [snapshot.decide(e) for e in events]
    failures = []

    def work():
        for _ in range(20):
            if snapshot.decide_many(events) != want:
                failures.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_the_package_has_stubs_and_docstrings():
    import importlib.resources

    assert portcullis.Engine.__doc__ and "snapshot" in portcullis.Engine.__doc__
    assert portcullis.Engine.decide.__doc__
    assert portcullis.inspect.__doc__
    files = importlib.resources.files("portcullis")
    names = {entry.name for entry in files.iterdir()}
    assert "py.typed" in names
    assert any(name.endswith(".pyi") for name in names), names


def test_dicts_read_as_their_json_would_be(bundle_text, events):
    engine = portcullis.Engine(bundle_text)
    signed = next(e for e in events if e.get("signature", {}).get("signers"))
    # Fields the engine ignores, as `portcullis inspect` prints them, change nothing.
    extra = json.loads(json.dumps(signed))
    extra["signature"]["reason"] = None
    extra["signature"]["signers"][0]["serial"] = "01"
    extra["size"] = 1234
    assert engine.decide(extra) == engine.decide(json.dumps(extra)) == engine.decide(signed)
    # Values of the wrong type or shape fail as their JSON fails, with the same message
    # (the column is that of the dict written as compact JSON).
    wrong = [
        {**signed, "elevation": 1},
        {**signed, "size": -1},
        {**signed, "size": True},
        {**signed, "signature": None},
        {**signed, "signature": {"signers": []}},
        {**signed, "signature": {"status": "valid", "signers": [{"subject": "no name"}]}},
        {**signed, "sha256": "12"},
        {**signed, "time": "soon"},
        {**signed, "parent": 3},
        {k: v for k, v in signed.items() if k != "user"},
    ]
    for event in wrong:
        with pytest.raises(portcullis.EventError) as from_dict:
            engine.decide(event)
        with pytest.raises(portcullis.EventError) as from_text:
            engine.decide(json.dumps(event))
        message = str(from_dict.value).split(" at line ")[0]
        assert message == str(from_text.value).split(" at line ")[0], event
        assert from_dict.value.line == 1


def test_the_stubs_match_the_module(tmp_path):
    # mypy's stubtest imports the installed package and checks every name, signature
    # and class of portcullis.pyi against it (scripts/test installs mypy).
    pytest.importorskip("mypy")
    allowlist = ROOT / "python" / "stubtest-allowlist.txt"
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "portcullis", "--allowlist", str(allowlist)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_example_prints_what_it_says(monkeypatch, capsys):
    # The Python block of the README's "Other languages" section, run as written; the
    # comment on its last line is the output it promises.
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Other languages: C, C++, Go, Python")[1].split("\n## ")[0]
    code = section.split("```python\n")[1].split("```")[0]
    promised = code.rstrip().splitlines()[-1].split("# ", 1)[1]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == promised
