//! A rule plugin: denies executables without a valid signature that run from folders
//! any user can write to.
//!
//! Windows: `\Users\Public\…`, `\Users\NAME\{AppData,Downloads,Desktop,Documents}\…`,
//! `\Windows\Temp\…` (any drive, either separator, any case). Linux: `/tmp/`,
//! `/var/tmp/`, `/dev/shm/`, `/home/NAME/`. macOS: `/tmp/`, `/private/tmp/`,
//! `/Users/NAME/`.

wit_bindgen::generate!({ path: "../../../../wit", world: "rule" });

use exports::portcullis::plugin::rule_checker::Guest;
use portcullis::plugin::types::{Execution, OsFamily, RuleVerdict, SignatureStatus};

struct UserWritable;

fn user_writable(os: OsFamily, path: &str) -> bool {
    match os {
        OsFamily::Windows => {
            let lower = path.to_lowercase().replace('/', "\\");
            let parts: Vec<&str> = lower.split('\\').filter(|p| !p.is_empty()).collect();
            match parts.as_slice() {
                [_, "users", "public", _, ..] => true,
                [_, "users", _, dir, _, ..] => {
                    matches!(*dir, "appdata" | "downloads" | "desktop" | "documents")
                }
                [_, "windows", "temp", _, ..] => true,
                _ => false,
            }
        }
        OsFamily::Linux => {
            ["/tmp/", "/var/tmp/", "/dev/shm/"]
                .iter()
                .any(|p| path.starts_with(p))
                || path
                    .strip_prefix("/home/")
                    .is_some_and(|rest| rest.split('/').filter(|p| !p.is_empty()).count() >= 2)
        }
        OsFamily::Macos => {
            ["/tmp/", "/private/tmp/"]
                .iter()
                .any(|p| path.starts_with(p))
                || path
                    .strip_prefix("/Users/")
                    .is_some_and(|rest| rest.split('/').filter(|p| !p.is_empty()).count() >= 2)
        }
    }
}

impl Guest for UserWritable {
    fn check(execution: Execution) -> RuleVerdict {
        if execution.signature != SignatureStatus::Valid
            && user_writable(execution.os, &execution.path)
        {
            RuleVerdict::Deny(format!(
                "`{}` has no valid signature and runs from a folder users can write to",
                execution.path
            ))
        } else {
            RuleVerdict::Abstain
        }
    }
}

export!(UserWritable);
