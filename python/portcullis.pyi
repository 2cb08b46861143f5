"""The Portcullis application-control policy engine: every program execution is
denied unless a policy permits it.

    import portcullis
    engine = portcullis.Engine(open("bundle.json").read())
    decision = engine.decide({"computer": "pc-1", "user": "ACME\\\\ann",
                              "path": "C:\\\\Windows\\\\notepad.exe",
                              "sha256": "9f86d0...", "time": "2026-11-22T10:00:00Z"})
    decision["decision"]   # "allow" or "deny"
"""

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union, final

__all__ = [
    "Engine",
    "Snapshot",
    "inspect",
    "PortcullisError",
    "BundleError",
    "EventError",
    "NoHistoryError",
    "InspectError",
    "__version__",
]

__version__: str

_Event = Union[str, Mapping[str, Any]]
"""An execution event: JSON text, or a dict of the same shape (docs/events.md)."""

_Decision = Dict[str, Any]
"""A decision: `decision` ("allow" or "deny"), `elevated`, `policy`, `application`,
`default_deny`, `would_deny`, `mode`, `notify_user`, `can_request`, `request_kind`,
`notify`, `learn`, `generation`, and `problems` when there are any."""

class PortcullisError(Exception):
    """Every error of the package."""

    line: Optional[int]
    """1-based line in the text read, when the error has one."""
    column: Optional[int]
    """1-based column in the text read, when the error has one."""

class BundleError(PortcullisError):
    """A bundle or change that does not compile; nothing changed."""

    errors: List[Dict[str, Any]]
    """Every problem: `path`, `id`, `message`, `line`, `column`."""

class EventError(PortcullisError):
    """An event that cannot be read; the message names the field."""

class NoHistoryError(PortcullisError):
    """There is no earlier snapshot to roll back to."""

class InspectError(PortcullisError):
    """A file whose identity could not be read."""

@final
class Snapshot:
    """One compiled snapshot; it does not change when the engine deploys."""

    @property
    def generation(self) -> int:
        """The snapshot's generation."""
    def decide(self, event: _Event) -> _Decision:
        """Decides one event on this snapshot. Raises EventError."""
    def decide_many(self, events: Iterable[_Event]) -> List[_Decision]:
        """Decides every event on this snapshot, without the GIL; in order."""
    def explain(self, event: _Event) -> Dict[str, Any]:
        """The decision with every policy considered and why each did not decide."""

@final
class Engine:
    """Holds the current snapshot and swaps in new ones atomically."""

    def __new__(cls, bundle: str) -> "Engine":
        """Compiles a bundle given as JSON text (without the GIL). Raises BundleError."""
    @staticmethod
    def from_file(path: Union[str, "os.PathLike[str]"]) -> "Engine":
        """Reads the bundle from a file and compiles it."""
    def deploy(self, bundle: str) -> int:
        """Compiles a whole bundle and swaps it in; returns the new generation.
        On error nothing changes and BundleError is raised."""
    def deploy_change(self, entries: str, removed: Sequence[str] = ...) -> int:
        """Deploys the organizations in `entries` (a bundle of only them) and removes
        the organizations `removed`; only they are compiled. Returns the generation."""
    def rollback(self) -> int:
        """Restores the previous snapshot; returns the new generation.
        Raises NoHistoryError."""
    @property
    def generation(self) -> int:
        """The current snapshot's generation."""
    def snapshot(self) -> Snapshot:
        """The current snapshot."""
    def decide(self, event: _Event) -> _Decision:
        """Decides one event on the current snapshot. Raises EventError."""
    def decide_many(self, events: Iterable[_Event]) -> List[_Decision]:
        """Decides every event on one snapshot, without the GIL; in order."""
    def explain(self, event: _Event) -> Dict[str, Any]:
        """The decision with every policy considered and why each did not decide."""

def inspect(
    path: Union[str, "os.PathLike[str]"],
    roots: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> Dict[str, Any]:
    """Who a file is, as `portcullis inspect` prints it (without the GIL): `path`,
    `size`, `sha256`, `authenticode_digest` for a PE, and `signature`. Raises
    InspectError."""
