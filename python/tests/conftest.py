"""Shared fixtures: the example bundle and events of the repository."""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def bundle_text():
    return (ROOT / "examples" / "bundle.json").read_text()


@pytest.fixture
def events():
    lines = (ROOT / "examples" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
