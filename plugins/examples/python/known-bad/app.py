"""Rejects a request for a file whose SHA-256 is on the tenant's known-bad list.

Setting `hashes`: SHA-256 values (hex), separated by commas, spaces or newlines.
Anything else abstains. The Python twin of ../../rust/known-bad.
"""

from wit_world import exports
from wit_world.imports import host, types


def ascii_lower(text: str) -> str:
    """Lowercases ASCII letters only, as Rust's `eq_ignore_ascii_case` compares."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


class ApprovalReviewer(exports.ApprovalReviewer):
    def review(self, input: types.ApprovalInput) -> types.Verdict:
        sha256 = input.request.execution.sha256
        listed = host.config("hashes") or ""
        wanted = ascii_lower(sha256)
        if any(h and ascii_lower(h) == wanted for h in listed.replace(",", " ").split()):
            return types.Verdict_Reject(f"the file `{sha256}` is on the known-bad list")
        return types.Verdict_Abstain()
