//! Rego policies on regorus.
//!
//! A policy declares `package portcullis.approval_review` (the approval-review hook) or
//! `package portcullis.rule` (the rule hook) and a rule `verdict` whose value is the
//! hook's answer as JSON, exactly as a component's verdict is serialized
//! (`{"verdict": "reject", "reason": "…"}`). An undefined `verdict` abstains. `input` is
//! the hook's input as JSON; the tenant's settings are `data.config` (strings).
//! `print` output becomes the call's log.
//!
//! The policy is parsed once, at load. regorus analyzes a policy (rule schedule, loop
//! hoisting) the first time it evaluates after its `data` changed, and that analysis
//! costs far more than a call, so the plugin keeps an engine already prepared with
//! `data.config` for each of the few most recent settings it was called with. A call
//! clones that engine (regorus engines are `Clone`, and with the `arc` feature `Send +
//! Sync`; the clone shares the parsed and analyzed policy), sets `input` (built as a
//! regorus value, not JSON text) and evaluates on the clone, so calls from many threads
//! never share mutable evaluation state. Time is bounded by regorus's cooperative
//! execution timer (checked every few hundred evaluation steps). regorus has no per-
//! engine memory cap: memory is bounded indirectly by the time budget and by the size
//! limits regorus puts on policy text.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_engine::plugin::{
    Abstain, ApprovalInput, Execution, Failure, FailureKind, Hook, LogLevel, LogLine, Outcome,
    RuleVerdict, Verdict,
};
use regorus::utils::limits::ExecutionTimerConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Limits, LoadError};

/// A prepared Rego policy, callable from any thread.
#[derive(Debug)]
pub struct RegoPlugin {
    name: String,
    hook: Hook,
    /// The parsed policy, without `data`.
    parsed: regorus::Engine,
    /// Engines prepared with `data.config`, most recently used first.
    prepared: Mutex<Vec<(Settings, regorus::Engine)>>,
    limits: Limits,
}

/// A tenant's settings, as the registry hands them to every call.
type Settings = Arc<BTreeMap<String, String>>;

const APPROVAL_PACKAGE: &str = "data.portcullis.approval_review";
const RULE_PACKAGE: &str = "data.portcullis.rule";

/// How many settings a policy keeps prepared engines for. A policy attached to several
/// organizations is called with one settings map per attachment (and one per test
/// vector while it is validated); past this many, the least recently used is prepared
/// again when it comes back.
const PREPARED_CONFIGS: usize = 16;

impl RegoPlugin {
    /// Parse `text` (from `file`, used in messages) and find which hook it targets.
    pub fn load(
        name: &str,
        file: &str,
        text: &str,
        limits: Limits,
    ) -> Result<RegoPlugin, LoadError> {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(false);
        engine
            .add_policy(file.to_owned(), text.to_owned())
            .map_err(|e| LoadError::Invalid {
                message: format!("not a Rego policy regorus can parse: {e}"),
            })?;
        let packages = engine.get_packages().map_err(|e| LoadError::Invalid {
            message: e.to_string(),
        })?;
        let hook = if packages.iter().any(|p| p == APPROVAL_PACKAGE) {
            Hook::ApprovalReview
        } else if packages.iter().any(|p| p == RULE_PACKAGE) {
            Hook::Rule
        } else {
            return Err(LoadError::NoWorld {
                found: format!(
                    "package {}; expected `portcullis.approval_review` or `portcullis.rule`",
                    packages
                        .iter()
                        .map(|p| format!("`{}`", p.trim_start_matches("data.")))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let check_interval = NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN);
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: limits.time,
            check_interval,
        });
        engine.set_gather_prints(true);
        Ok(RegoPlugin {
            name: name.to_owned(),
            hook,
            parsed: engine,
            prepared: Mutex::new(Vec::new()),
            limits,
        })
    }

    /// The hook the policy targets.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The name it was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn verdict_rule(&self) -> &'static str {
        match self.hook {
            Hook::ApprovalReview => "data.portcullis.approval_review.verdict",
            Hook::Rule => "data.portcullis.rule.verdict",
        }
    }

    /// An engine with `data.config` set and the policy analyzed: a clone of the one
    /// kept for these settings, or a new one that is then kept.
    fn engine_for(
        &self,
        config: &Arc<BTreeMap<String, String>>,
    ) -> Result<regorus::Engine, String> {
        {
            let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = prepared
                .iter()
                .position(|(c, _)| Arc::ptr_eq(c, config) || c == config)
            {
                if at > 0 {
                    let hit = prepared.remove(at);
                    prepared.insert(0, hit);
                }
                if let Some((_, engine)) = prepared.first() {
                    return Ok(engine.clone());
                }
            }
        }
        let mut engine = self.parsed.clone();
        let settings: BTreeMap<regorus::Value, regorus::Value> = config
            .iter()
            .map(|(k, v)| {
                (
                    regorus::Value::from(k.as_str()),
                    regorus::Value::from(v.as_str()),
                )
            })
            .collect();
        let mut data = BTreeMap::new();
        data.insert(
            regorus::Value::from("config"),
            regorus::Value::from(settings),
        );
        engine
            .add_data(regorus::Value::from(data))
            .map_err(|e| e.to_string())?;
        // Analyzes the policy for evaluation (what the first `eval_rule` would do) and
        // checks that the verdict rule exists; the compiled form it returns is not used.
        engine
            .compile_with_entrypoint(&self.verdict_rule().into())
            .map_err(|e| e.to_string())?;
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        prepared.truncate(PREPARED_CONFIGS - 1);
        prepared.insert(0, (Arc::clone(config), engine.clone()));
        Ok(engine)
    }

    fn eval<I: Serialize, V: DeserializeOwned + Abstain>(
        &self,
        input: &I,
        config: &Arc<BTreeMap<String, String>>,
        validate: impl Fn(&V) -> Result<(), String>,
    ) -> Outcome<V> {
        let input = serde_json::to_value(input)
            .and_then(serde_json::from_value::<regorus::Value>)
            .map_err(|e| e.to_string());
        let mut engine = match input.and_then(|input| {
            let mut engine = self.engine_for(config)?;
            engine.set_input(input);
            Ok(engine)
        }) {
            Ok(engine) => engine,
            Err(message) => return Outcome::failed(FailureKind::Trap, message),
        };
        let value = engine.eval_rule(self.verdict_rule().to_owned());
        let (logs, dropped_logs) = self.logs(&mut engine);
        let result = match value {
            Err(error) => {
                let message = error.to_string();
                let kind = if message.contains("execution exceeded time limit")
                    || message.contains("time limit")
                {
                    FailureKind::Timeout
                } else {
                    FailureKind::Trap
                };
                Err(Failure { kind, message })
            }
            Ok(regorus::Value::Undefined) => Ok(V::abstain()),
            Ok(value) => parse_verdict(&value).and_then(|v: V| match validate(&v) {
                Ok(()) => Ok(v),
                Err(message) => Err(Failure {
                    kind: FailureKind::Malformed,
                    message,
                }),
            }),
        };
        Outcome {
            result,
            logs,
            dropped_logs,
        }
    }

    fn logs(&self, engine: &mut regorus::Engine) -> (Vec<LogLine>, u32) {
        let prints = engine.take_prints().unwrap_or_default();
        let mut logs = Vec::new();
        let mut dropped = 0u32;
        for line in prints {
            if logs.len() >= self.limits.max_logs {
                dropped = dropped.saturating_add(1);
                continue;
            }
            let mut message = line;
            if message.len() > self.limits.max_log_len {
                let mut cut = self.limits.max_log_len;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push('…');
            }
            logs.push(LogLine {
                level: LogLevel::Info,
                message,
            });
        }
        (logs, dropped)
    }

    /// Review a request with the tenant's `config`.
    pub fn review(
        &self,
        input: &ApprovalInput,
        config: &Arc<BTreeMap<String, String>>,
    ) -> Outcome<Verdict> {
        if self.hook != Hook::ApprovalReview {
            return Outcome::failed(
                FailureKind::Malformed,
                "the policy is not an approval-review policy",
            );
        }
        self.eval(input, config, Verdict::validate)
    }

    /// Check an execution with the tenant's `config`.
    pub fn check(
        &self,
        execution: &Execution,
        config: &Arc<BTreeMap<String, String>>,
    ) -> Outcome<RuleVerdict> {
        if self.hook != Hook::Rule {
            return Outcome::failed(FailureKind::Malformed, "the policy is not a rule policy");
        }
        self.eval(execution, config, RuleVerdict::validate)
    }
}

fn parse_verdict<V: DeserializeOwned>(value: &regorus::Value) -> Result<V, Failure> {
    let malformed = |message: String| Failure {
        kind: FailureKind::Malformed,
        message,
    };
    let json = value
        .to_json_str()
        .map_err(|e| malformed(format!("the verdict is not JSON: {e}")))?;
    if json.len() > 64 * 1024 {
        return Err(malformed(format!(
            "the verdict is {} bytes of JSON, more than 64 KiB",
            json.len()
        )));
    }
    serde_json::from_str(&json).map_err(|e| {
        malformed(format!(
            "the verdict `{}` does not fit the contract: {e}",
            shorten(&json)
        ))
    })
}

fn shorten(text: &str) -> &str {
    let mut cut = text.len().min(200);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.get(..cut).unwrap_or(text)
}
