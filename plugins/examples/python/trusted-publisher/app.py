"""Approves, at computer scope and by certificate, a request for a file whose valid
signature comes from a publisher the tenant trusts.

Setting `publishers`: the trusted signer subjects, separated by `|`, e.g.
`CN=Contoso Ltd, O=Contoso Ltd|CN=Fabrikam`. Compared without case and surrounding
spaces. Anything else abstains. The Python twin of ../../rust/trusted-publisher.
"""

from wit_world import exports
from wit_world.imports import host, types


def ascii_lower(text: str) -> str:
    """Lowercases ASCII letters only, as Rust's `eq_ignore_ascii_case` compares."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


class ApprovalReviewer(exports.ApprovalReviewer):
    def review(self, input: types.ApprovalInput) -> types.Verdict:
        execution = input.request.execution
        if execution.signature != types.SignatureStatus.VALID or not execution.signers:
            return types.Verdict_Abstain()
        subject = execution.signers[0].subject.strip()
        publishers = host.config("publishers") or ""
        wanted = ascii_lower(subject)
        if any(p.strip() and ascii_lower(p.strip()) == wanted for p in publishers.split("|")):
            host.log(host.Level.INFO, f"trusted publisher `{subject}`")
            return types.Verdict_Approve(
                types.ApprovalOptions(
                    scope=types.Scope.COMPUTER,
                    match_kind=types.MatchKind.CERTIFICATE,
                    elevate=False,
                    expires=None,
                    justification=f"signed by trusted publisher `{subject}`",
                )
            )
        return types.Verdict_Abstain()
