//! A hostile approval plugin for the host's containment tests. The setting `mode`
//! picks the misbehaviour: `loop` (never returns), `memory` (allocates without end),
//! `trap` (panics), `huge` (a reject reason of 4 MiB), `empty-route` (a route to nobody),
//! `log-spam` (ten thousand log lines, then abstains), `print-spam` (the same on
//! stdout), `wasi` (opens a network connection, which the host does not grant), `sleep`
//! (sleeps for an hour), `peek` (looks for environment variables, arguments and files:
//! approves if it finds any, else abstains). Anything else approves at global scope, so
//! a containment that leaked would show as an approval.

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
            Some("print-spam") => {
                for i in 0..10_000u32 {
                    println!("spam line {i} {}", "y".repeat(64));
                }
                Verdict::Abstain
            }
            Some("wasi") => {
                let connected = std::net::TcpStream::connect("127.0.0.1:9");
                Verdict::Reject(format!("the network says {connected:?}"))
            }
            Some("sleep") => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Verdict::Reject("slept an hour".to_owned())
            }
            Some("peek") => {
                let env = std::env::vars().count();
                let args = std::env::args().count();
                let file = std::fs::read("/etc/passwd").is_ok();
                let dir = std::fs::read_dir(".").is_ok() || std::fs::read_dir("/").is_ok();
                if env + args > 0 || file || dir {
                    Verdict::Approve(ApprovalOptions {
                        scope: Scope::Global,
                        match_kind: MatchKind::Path,
                        elevate: true,
                        expires: None,
                        justification: format!("saw {env} variables, {args} arguments, file {file}, dir {dir}"),
                    })
                } else {
                    Verdict::Abstain
                }
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
