//! Rejects a request for a file whose SHA-256 is on the tenant's known-bad list.
//!
//! Setting `hashes`: SHA-256 values (hex), separated by commas, spaces or newlines.
//! Anything else abstains.

wit_bindgen::generate!({ path: "../../../../wit", world: "approval-review" });

use exports::portcullis::plugin::approval_reviewer::Guest;
use portcullis::plugin::host::config;
use portcullis::plugin::types::{ApprovalInput, Verdict};

struct KnownBad;

impl Guest for KnownBad {
    fn review(input: ApprovalInput) -> Verdict {
        let hash = &input.request.execution.sha256;
        let listed = config("hashes").unwrap_or_default();
        let is_listed = listed
            .split(|c: char| c == ',' || c.is_whitespace())
            .any(|h| !h.is_empty() && h.eq_ignore_ascii_case(hash));
        if is_listed {
            Verdict::Reject(format!("the file `{hash}` is on the known-bad list"))
        } else {
            Verdict::Abstain
        }
    }
}

export!(KnownBad);
