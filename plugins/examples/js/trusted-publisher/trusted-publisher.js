// Approves, at computer scope and by certificate, a request for a file whose valid
// signature comes from a publisher the tenant trusts.
//
// Setting `publishers`: the trusted signer subjects, separated by `|`, e.g.
// `CN=Contoso Ltd, O=Contoso Ltd|CN=Fabrikam`. Compared without case and surrounding
// spaces. Anything else abstains. The JavaScript twin of ../../rust/trusted-publisher.
import { config, log } from "portcullis:plugin/host@0.1.0";

// Lowercases ASCII letters only, as Rust's `eq_ignore_ascii_case` compares.
const asciiLower = (text) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

export const approvalReviewer = {
  review(input) {
    const execution = input.request.execution;
    if (execution.signature !== "valid" || execution.signers.length === 0) {
      return { tag: "abstain" };
    }
    const subject = execution.signers[0].subject.trim();
    const wanted = asciiLower(subject);
    const publishers = (config("publishers") ?? "").split("|");
    if (publishers.some((p) => p.trim() !== "" && asciiLower(p.trim()) === wanted)) {
      log("info", `trusted publisher \`${subject}\``);
      return {
        tag: "approve",
        val: {
          scope: "computer",
          matchKind: "certificate",
          elevate: false,
          expires: undefined,
          justification: `signed by trusted publisher \`${subject}\``,
        },
      };
    }
    return { tag: "abstain" };
  },
};
