"""Every SPEC case of engine/tests/cases/*.json through the Python package: each event must
give the expected fields, and invalid bundles must raise BundleError naming each
expected error's path and message. (The format is described in engine/tests/spec_cases.rs.)"""

import json

import pytest

import portcullis
from conftest import ROOT

FILES = sorted((ROOT / "engine" / "tests" / "cases").glob("*.json"))


def test_there_are_case_files():
    assert len(FILES) > 5


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_spec_cases(path):
    spec = json.loads(path.read_text())
    checked = 0
    if spec.get("cases"):
        engine = portcullis.Engine(json.dumps(spec["bundle"], indent=2))
        snapshot = engine.snapshot()
        events = [case["event"] for case in spec["cases"]]
        batch = snapshot.decide_many(events)
        for case, batched in zip(spec["cases"], batch):
            decision = snapshot.decide(case["event"])
            assert decision == batched, case["name"]
            # A dict is read straight, JSON text by the engine's reader: the same event.
            text = json.dumps(case["event"])
            assert snapshot.decide(text) == decision, case["name"]
            assert snapshot.explain(case["event"]) == snapshot.explain(text), case["name"]
            for field, want in case["expect"].items():
                got = decision.get(field, [] if field == "problems" else None)
                assert got == want, f"{case['name']}: `{field}` is {got!r}, expected {want!r}"
                checked += 1
    for case in spec.get("invalid", []):
        with pytest.raises(portcullis.BundleError) as raised:
            portcullis.Engine(json.dumps(case["bundle"], indent=2))
        errors = raised.value.errors
        for want in case["errors"]:
            assert any(
                e["path"] == want["path"] and want["message"] in e["message"] for e in errors
            ), f"{case['name']}: no error at `{want['path']}` saying `{want['message']}` in {errors}"
            checked += 1
    assert checked > 0
