// Rejects a request for a file whose SHA-256 is on the tenant's known-bad list.
//
// Setting `hashes`: SHA-256 values (hex), separated by commas, spaces or newlines.
// Anything else abstains. The JavaScript twin of ../../rust/known-bad.
import { config } from "portcullis:plugin/host@0.1.0";

// Lowercases ASCII letters only, as Rust's `eq_ignore_ascii_case` compares.
const asciiLower = (text) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

export const approvalReviewer = {
  review(input) {
    const sha256 = input.request.execution.sha256;
    const wanted = asciiLower(sha256);
    const listed = (config("hashes") ?? "").split(/[,\s]/);
    if (listed.some((h) => h !== "" && asciiLower(h) === wanted)) {
      return { tag: "reject", val: `the file \`${sha256}\` is on the known-bad list` };
    }
    return { tag: "abstain" };
  },
};
