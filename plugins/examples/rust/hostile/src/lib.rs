//! A hostile approval plugin for the host's containment tests. The setting `mode`
//! picks the misbehaviour: `loop` (never returns), `memory` (allocates without end),
//! `trap` (panics), `huge` (a reject reason of 4 MiB), `empty-route` (a route to nobody),
//! `log-spam` (ten thousand log lines, then abstains), `wasi` (asks the clock, which the
//! host does not grant). Anything else approves at global scope, so a containment that
//! leaked would show as an approval.

wit_bindgen::generate!({ path: "../../../../wit", world: "approval-review" });

use exports::portcullis::plugin::approval_reviewer::Guest;
use portcullis::plugin::host::{config, log, Level};
use portcullis::plugin::types::{ApprovalInput, ApprovalOptions, MatchKind, Scope, Verdict};

struct Hostile;

impl Guest for Hostile {
    fn review(_input: ApprovalInput) -> Verdict {
        match config("mode").as_deref() {
            Some("loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("memory") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("trap") => panic!("hostile plugin panics"),
            Some("huge") => Verdict::Reject("x".repeat(4 << 20)),
            Some("empty-route") => Verdict::Route(Vec::new()),
            Some("log-spam") => {
                for i in 0..10_000u32 {
                    log(Level::Info, &format!("spam line {i} {}", "y".repeat(64)));
                }
                Verdict::Abstain
            }
            Some("wasi") => {
                let now = std::time::SystemTime::now();
                Verdict::Reject(format!("the clock says {now:?}"))
            }
            _ => Verdict::Approve(ApprovalOptions {
                scope: Scope::Global,
                match_kind: MatchKind::Path,
                elevate: true,
                expires: None,
                justification: "hostile plugin approves everything".to_owned(),
            }),
        }
    }
}

export!(Hostile);
