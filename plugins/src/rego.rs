//! Rego policies on regorus.
//!
//! A policy declares `package portcullis.approval_review` (the approval-review hook) or
//! `package portcullis.rule` (the rule hook) and a rule `verdict` whose value is the
//! hook's answer as JSON, exactly as a component's verdict is serialized
//! (`{"verdict": "reject", "reason": "…"}`). An undefined `verdict` abstains. `input` is
//! the hook's input as JSON; the tenant's settings are `data.config` (strings).
//! `print` output becomes the call's log.
//!
//! The policy is parsed once, at load, and compiled once to bytecode for regorus's
//! virtual machine (RVM), which runs a call several times faster than regorus's
//! tree-walking interpreter. For each of the few most recent settings the plugin was
//! called with, it keeps `data.config` and a few idle machines loaded with the program
//! and that data. A call takes an idle machine (or loads a new one), sets `input`
//! (built as a regorus value straight from the input, not through JSON) and runs the
//! verdict rule; the machine then goes back to the idle ones, so calls from many
//! threads never share a machine.
//!
//! A policy the virtual machine cannot run (one that calls `print`, whose output the
//! machine does not collect, or one its compiler rejects) runs on the interpreter
//! instead, as before: regorus analyzes a policy (rule schedule, loop hoisting) the
//! first time it evaluates after its `data` changed, and that analysis costs far more
//! than a call, so the plugin keeps an engine already prepared with `data.config` per
//! settings, and a call evaluates on a clone of it. [`RegoPlugin::evaluator`] tells
//! which one a policy runs on, and why.
//!
//! Both are bounded in time by regorus's cooperative execution timer, checked every 64
//! evaluation steps or instructions. On the machine a call is also bounded in memory:
//! regorus's memory budget (`Limits::memory`) counts what the call's thread allocates
//! and is checked before each instruction, so a call that allocates past it fails as
//! `memory` (one builtin may overshoot before the next check). The budget needs
//! regorus's `allocator-memory-limits` feature, which makes regorus's mimalloc the
//! global allocator of every program that links this crate. The interpreter has no
//! memory cap: there memory is bounded indirectly by the time budget and by the size
//! limits regorus puts on policy text.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::{Arc, Mutex, PoisonError};

use portcullis_engine::plugin::{
    Abstain, ApprovalInput, Execution, Failure, FailureKind, Hook, LogLevel, LogLine,
    PluginOutcome, RuleVerdict, Verdict,
};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::program::Program;
use regorus::rvm::vm::VmError;
use regorus::rvm::RegoVM;
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::MemoryBudgetConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::call::{Limits, LoadError, Settings};
use crate::rego_value;

/// A prepared Rego policy, callable from any thread.
#[derive(Debug)]
pub struct RegoPlugin {
    name: String,
    hook: Hook,
    /// The parsed policy, without `data`.
    parsed: regorus::Engine,
    /// What calls run on.
    evaluator: Evaluator,
    /// What is kept per settings, most recently used first.
    prepared: Mutex<Vec<(Settings, Prepared)>>,
    limits: Limits,
}

/// What a policy's calls run on.
#[derive(Debug)]
enum Evaluator {
    /// regorus's virtual machine, on this program.
    Vm {
        policy: regorus::CompiledPolicy,
        program: Arc<Program>,
    },
    /// regorus's interpreter, because the machine cannot run the policy.
    Interpreter {
        /// Why not the machine.
        reason: String,
    },
}

/// What is kept for one settings map.
#[derive(Debug)]
enum Prepared {
    /// `data` with the settings, and idle machines loaded with the program and it.
    Vm {
        data: regorus::Value,
        idle: Vec<RegoVM>,
    },
    /// An engine with `data.config` set and the policy analyzed.
    Interpreter(Box<regorus::Engine>),
}

const APPROVAL_PACKAGE: &str = "data.portcullis.approval_review";
const RULE_PACKAGE: &str = "data.portcullis.rule";

/// How many settings a policy keeps prepared engines for. A policy attached to several
/// organizations is called with one settings map per attachment (and one per test
/// vector while it is validated); past this many, the least recently used is prepared
/// again when it comes back.
const PREPARED_CONFIGS: usize = 16;

/// How many idle machines are kept per settings: one per thread that calls at once, up
/// to this many; past it, a machine is dropped after its call.
const IDLE_MACHINES: usize = 8;

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
        engine.set_execution_timer_config(timer(limits));
        engine.set_gather_prints(true);
        let evaluator = compile(&engine, verdict_rule(hook));
        Ok(RegoPlugin {
            name: name.to_owned(),
            hook,
            parsed: engine,
            evaluator,
            prepared: Mutex::new(Vec::new()),
            limits,
        })
    }

    /// What the policy's calls run on: `vm` (regorus's virtual machine), or
    /// `interpreter` with the reason the machine cannot run it.
    pub fn evaluator(&self) -> (&'static str, Option<&str>) {
        match &self.evaluator {
            Evaluator::Vm { .. } => ("vm", None),
            Evaluator::Interpreter { reason } => ("interpreter", Some(reason)),
        }
    }

    /// The hook the policy targets.
    pub fn hook(&self) -> Hook {
        self.hook
    }

    /// The name it was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A machine or an engine ready for a call with these settings: one kept idle for
    /// them, a clone of the engine kept for them, or a new one (and what is needed for
    /// the next call is then kept).
    fn take(&self, config: &Settings) -> Result<Ready, String> {
        {
            let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = prepared.iter().position(|(c, _)| same(c, config)) {
                if at > 0 {
                    let hit = prepared.remove(at);
                    prepared.insert(0, hit);
                }
                match prepared.first_mut() {
                    Some((_, Prepared::Interpreter(engine))) => {
                        return Ok(Ready::Interpreter(engine.as_ref().clone()))
                    }
                    Some((_, Prepared::Vm { data, idle })) => {
                        if let Some(vm) = idle.pop() {
                            return Ok(Ready::Vm(vm));
                        }
                        let data = data.clone();
                        drop(prepared);
                        return self.machine(data).map(Ready::Vm);
                    }
                    None => {}
                }
            }
        }
        let data = config_data(config);
        let (kept, ready) = match &self.evaluator {
            Evaluator::Vm { .. } => {
                let vm = self.machine(data.clone())?;
                (
                    Prepared::Vm {
                        data,
                        idle: Vec::new(),
                    },
                    Ready::Vm(vm),
                )
            }
            Evaluator::Interpreter { .. } => {
                let mut engine = self.parsed.clone();
                engine.add_data(data).map_err(|e| e.to_string())?;
                // Analyzes the policy for evaluation (what the first `eval_rule` would
                // do) and checks that the verdict rule exists; the compiled form it
                // returns is not used.
                engine
                    .compile_with_entrypoint(&verdict_rule(self.hook).into())
                    .map_err(|e| e.to_string())?;
                (
                    Prepared::Interpreter(Box::new(engine.clone())),
                    Ready::Interpreter(engine),
                )
            }
        };
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        // Another call with the same settings may have kept its own meanwhile.
        if !prepared.iter().any(|(c, _)| same(c, config)) {
            prepared.truncate(PREPARED_CONFIGS - 1);
            prepared.insert(0, (Arc::clone(config), kept));
        }
        Ok(ready)
    }

    /// A new machine loaded with the program, `data` and the limits.
    fn machine(&self, data: regorus::Value) -> Result<RegoVM, String> {
        let Evaluator::Vm { policy, program } = &self.evaluator else {
            return Err("the policy does not run on the virtual machine".to_owned());
        };
        let mut vm = RegoVM::new_with_policy(policy.clone());
        vm.load_program(Arc::clone(program));
        vm.set_data(data).map_err(|e| e.to_string())?;
        // As the interpreter: a builtin's error is the call's error, and no
        // instruction limit; time and memory bound a call.
        vm.set_strict_builtin_errors(true);
        vm.set_max_instructions(usize::MAX);
        vm.set_execution_timer_config(Some(timer(self.limits)));
        vm.set_memory_budget_config(
            NonZeroU64::new(u64::try_from(self.limits.memory).unwrap_or(u64::MAX))
                .map(|limit| MemoryBudgetConfig { limit }),
        );
        Ok(vm)
    }

    /// Give a machine back after its call, to be kept idle for these settings.
    fn put_back(&self, config: &Settings, mut vm: RegoVM) {
        vm.set_input(regorus::Value::Undefined);
        let mut prepared = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, Prepared::Vm { idle, .. })) =
            prepared.iter_mut().find(|(c, _)| same(c, config))
        {
            if idle.len() < IDLE_MACHINES {
                idle.push(vm);
            }
        }
    }

    fn eval<I: Serialize, V: DeserializeOwned + Abstain>(
        &self,
        input: &I,
        config: &Settings,
        validate: impl Fn(&V) -> Result<(), String>,
    ) -> PluginOutcome<V> {
        let ready = rego_value::to_value(input)
            .map_err(|e| e.to_string())
            .and_then(|input| Ok((input, self.take(config)?)));
        let (input, ready) = match ready {
            Ok(ready) => ready,
            Err(message) => return PluginOutcome::failed(FailureKind::Trap, message),
        };
        let (value, (logs, dropped_logs)) = match ready {
            Ready::Vm(mut vm) => {
                vm.set_input(input);
                let value = vm
                    .execute_entry_point_by_name(verdict_rule(self.hook))
                    .map_err(|error| Failure {
                        kind: match error {
                            VmError::TimeLimitExceeded { .. } => FailureKind::Timeout,
                            VmError::MemoryBudgetExceeded { .. }
                            | VmError::MemoryLimitExceeded { .. } => FailureKind::Memory,
                            _ => FailureKind::Trap,
                        },
                        message: error.to_string(),
                    });
                // A machine whose call failed (a timeout stops it mid-rule) is
                // dropped, not kept.
                if value.is_ok() {
                    self.put_back(config, vm);
                }
                (value, (Vec::new(), 0))
            }
            Ready::Interpreter(mut engine) => {
                engine.set_input(input);
                let value = engine
                    .eval_rule(verdict_rule(self.hook).to_owned())
                    .map_err(|error| {
                        let message = error.to_string();
                        let kind = if message.contains("time limit") {
                            FailureKind::Timeout
                        } else {
                            FailureKind::Trap
                        };
                        Failure { kind, message }
                    });
                (value, self.logs(&mut engine))
            }
        };
        let result = match value {
            Err(failure) => Err(failure),
            Ok(regorus::Value::Undefined) => Ok(V::abstain()),
            Ok(value) => parse_verdict(&value).and_then(|v: V| match validate(&v) {
                Ok(()) => Ok(v),
                Err(message) => Err(Failure {
                    kind: FailureKind::Malformed,
                    message,
                }),
            }),
        };
        PluginOutcome {
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
    pub fn review(&self, input: &ApprovalInput, config: &Settings) -> PluginOutcome<Verdict> {
        self.eval_as(Hook::ApprovalReview, input, config, Verdict::validate)
    }

    /// Check an execution with the tenant's `config`.
    pub fn check(&self, execution: &Execution, config: &Settings) -> PluginOutcome<RuleVerdict> {
        self.eval_as(Hook::Rule, execution, config, RuleVerdict::validate)
    }

    /// Evaluates the policy on `input` if it was written for `hook`.
    fn eval_as<I: Serialize, V: DeserializeOwned + Abstain>(
        &self,
        hook: Hook,
        input: &I,
        config: &Settings,
        validate: impl Fn(&V) -> Result<(), String>,
    ) -> PluginOutcome<V> {
        if self.hook != hook {
            let what = match hook {
                Hook::ApprovalReview => "an approval-review",
                Hook::Rule => "a rule",
            };
            return PluginOutcome::failed(
                FailureKind::Malformed,
                format!("the policy is not {what} policy"),
            );
        }
        self.eval(input, config, validate)
    }
}

/// A machine or an engine, ready for one call.
enum Ready {
    Vm(RegoVM),
    Interpreter(regorus::Engine),
}

/// The rule whose value is the hook's verdict.
fn verdict_rule(hook: Hook) -> &'static str {
    match hook {
        Hook::ApprovalReview => "data.portcullis.approval_review.verdict",
        Hook::Rule => "data.portcullis.rule.verdict",
    }
}

/// The time budget of a call, checked every 64 steps.
fn timer(limits: Limits) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit: limits.time,
        check_interval: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
    }
}

/// Compile the parsed policy for the virtual machine, or say why it runs on the
/// interpreter.
fn compile(parsed: &regorus::Engine, rule: &str) -> Evaluator {
    let mut engine = parsed.clone();
    let compiled = engine
        .compile_with_entrypoint(&rule.into())
        .map_err(|e| e.to_string())
        .and_then(|policy| {
            let program =
                Compiler::compile_from_policy(&policy, &[rule]).map_err(|e| e.to_string())?;
            Ok((policy, program))
        });
    match compiled {
        Ok((policy, program)) => Evaluator::Vm { policy, program },
        Err(reason) => Evaluator::Interpreter {
            reason: format!("the virtual machine cannot run it: {reason}"),
        },
    }
}

/// Whether two settings maps are the same: the same map, or equal ones.
fn same(a: &Settings, b: &Settings) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// `data` for a call: `{"config": settings}`.
fn config_data(config: &Settings) -> regorus::Value {
    let settings: BTreeMap<regorus::Value, regorus::Value> = config
        .iter()
        .map(|(k, v)| {
            (
                regorus::Value::from(k.as_str()),
                regorus::Value::from(v.as_str()),
            )
        })
        .collect();
    regorus::Value::from(BTreeMap::from([(
        regorus::Value::from("config"),
        regorus::Value::from(settings),
    )]))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use std::path::Path;
    use std::time::Duration;

    use portcullis_engine::plugin::{ApprovalInput, Execution};

    use super::*;
    use crate::Vector;

    fn load(text: &str, limits: Limits) -> RegoPlugin {
        RegoPlugin::load("p", "p.rego", text, limits).unwrap()
    }

    /// A rule policy whose verdict is `verdict`.
    fn rule(verdict: &str) -> RegoPlugin {
        let text = format!("package portcullis.rule\nverdict := {verdict}\n");
        load(&text, Limits::default())
    }

    /// The same policy, made to run on the interpreter.
    fn interpreted(text: &str, limits: Limits) -> RegoPlugin {
        let mut plugin = load(text, limits);
        plugin.evaluator = Evaluator::Interpreter {
            reason: "the test asks for it".to_owned(),
        };
        plugin
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Arc::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    fn examples() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
    }

    /// The input of the first vector of an example.
    fn first_input<T: serde::de::DeserializeOwned>(example: &str) -> T {
        let vector = &Vector::load_dir(&examples().join("vectors").join(example)).unwrap()[0];
        serde_json::from_value(vector.input.clone()).unwrap()
    }

    /// The execution of the first user-writable vector.
    fn execution() -> Execution {
        first_input("user-writable")
    }

    /// The input of an approval example's first vector.
    fn approval_input(example: &str) -> ApprovalInput {
        first_input(example)
    }

    /// What must be the same on both: the verdict, or the kind of failure.
    fn summary<V: std::fmt::Debug>(outcome: &PluginOutcome<V>) -> String {
        match &outcome.result {
            Ok(verdict) => format!("{verdict:?}"),
            Err(failure) => format!("failed: {:?}", failure.kind),
        }
    }

    #[test]
    fn the_examples_run_on_the_machine_and_agree_with_the_interpreter() {
        let mut compared = 0;
        for name in ["known-bad", "trusted-publisher", "user-writable"] {
            let text =
                std::fs::read_to_string(examples().join(format!("rego/{name}.rego"))).unwrap();
            let vm = load(&text, Limits::default());
            assert_eq!(vm.evaluator(), ("vm", None), "{name}");
            let interpreter = interpreted(&text, Limits::default());
            for vector in Vector::load_dir(&examples().join("vectors").join(name)).unwrap() {
                let config = Arc::new(vector.config.clone());
                // Twice: the second call runs on a machine kept idle by the first.
                for _ in 0..2 {
                    let (on_vm, on_interpreter) = match vm.hook() {
                        Hook::ApprovalReview => {
                            let input: ApprovalInput =
                                serde_json::from_value(vector.input.clone()).unwrap();
                            (
                                summary(&vm.review(&input, &config)),
                                summary(&interpreter.review(&input, &config)),
                            )
                        }
                        Hook::Rule => {
                            let input: Execution =
                                serde_json::from_value(vector.input.clone()).unwrap();
                            (
                                summary(&vm.check(&input, &config)),
                                summary(&interpreter.check(&input, &config)),
                            )
                        }
                    };
                    assert_eq!(on_vm, on_interpreter, "{name}: {}", vector.name);
                    assert!(
                        !on_vm.starts_with("failed"),
                        "{name}: {}: {on_vm}",
                        vector.name
                    );
                }
                compared += 1;
            }
        }
        assert!(compared >= 10, "only {compared} vectors");
    }

    #[test]
    fn failures_are_the_same_on_the_machine_and_the_interpreter() {
        let limits = Limits {
            time: Duration::from_millis(50),
            ..Limits::default()
        };
        let input = approval_input("trusted-publisher");
        for (policy, expected) in [
            (
                "n := count([x | some a in numbers.range(1, 2000); some b in numbers.range(1, 2000); x := a * b])\n\
                 verdict := {\"verdict\": \"reject\", \"reason\": sprintf(\"%d\", [n])}",
                "failed: Timeout",
            ),
            ("verdict := {\"verdict\": \"approve\"}", "failed: Malformed"),
            ("verdict := 42", "failed: Malformed"),
            ("verdict := {\"verdict\": \"reject\", \"reason\": upper(input.request.kind)}", "Reject { reason: \"APPLICATION\" }"),
            ("verdict := {\"verdict\": \"reject\", \"reason\": \"x\"} if input.request.nothing == 1", "Abstain"),
            ("default verdict := {\"verdict\": \"abstain\"}", "Abstain"),
            ("verdict := {\"verdict\": \"reject\", \"reason\": data.config.why}", "Reject { reason: \"set\" }"),
        ] {
            let text = format!("package portcullis.approval_review\n{policy}\n");
            let config = settings(&[("why", "set")]);
            let vm = load(&text, limits);
            assert_eq!(vm.evaluator().0, "vm", "{policy}");
            let on_vm = summary(&vm.review(&input, &config));
            let on_interpreter = summary(&interpreted(&text, limits).review(&input, &config));
            assert_eq!(on_vm, expected, "{policy}");
            assert_eq!(on_interpreter, expected, "{policy}");
        }

        // The one difference found: dividing by zero is an error on the interpreter
        // and undefined on the machine. Either way the call abstains.
        let text = "package portcullis.approval_review\nverdict := x if { x := 1 / 0 }\n";
        let config = settings(&[]);
        let on_vm = load(text, limits).review(&input, &config);
        let on_interpreter = interpreted(text, limits).review(&input, &config);
        assert_eq!(summary(&on_vm), "Abstain");
        assert_eq!(summary(&on_interpreter), "failed: Trap");
        assert_eq!(on_vm.verdict(), on_interpreter.verdict());
    }

    #[test]
    fn a_call_that_allocates_past_its_budget_fails_as_memory() {
        // A 10 MB string: 100,000 copies of a 100-byte one.
        let text = format!(
            "package portcullis.approval_review\n\
             big := concat(\"\", [s | some _ in numbers.range(1, 100000); s := \"{}\"])\n\
             verdict := {{\"verdict\": \"reject\", \"reason\": sprintf(\"%d bytes\", [count(big)])}}\n",
            "x".repeat(100)
        );
        let input = approval_input("known-bad");
        let budget = |memory| Limits {
            time: Duration::from_secs(30),
            memory,
            ..Limits::default()
        };
        let tight = load(&text, budget(4 << 20));
        assert_eq!(tight.evaluator().0, "vm");
        let outcome = tight.review(&input, &settings(&[]));
        assert_eq!(
            outcome.failure().map(|f| f.kind),
            Some(FailureKind::Memory),
            "{outcome:?}"
        );
        assert_eq!(outcome.verdict(), Verdict::Abstain);
        // With room for it the same policy answers: the budget stopped it, nothing else.
        let roomy = load(&text, budget(256 << 20));
        assert_eq!(
            roomy.review(&input, &settings(&[])).result.unwrap(),
            Verdict::Reject {
                reason: "10000000 bytes".to_owned()
            }
        );
    }

    #[test]
    fn settings_are_kept_apart() {
        let plugin = rule("{\"verdict\": \"deny\", \"reason\": data.config.who}");
        let execution = execution();
        // More settings than are kept, then the first ones again: each call sees its own.
        for round in 0..2 {
            for n in 0..PREPARED_CONFIGS + 2 {
                let who = format!("tenant {n}");
                let outcome = plugin.check(&execution, &settings(&[("who", &who)]));
                assert_eq!(
                    outcome.result.unwrap(),
                    RuleVerdict::Deny { reason: who },
                    "round {round}"
                );
            }
        }
    }

    #[test]
    fn calls_from_many_threads_each_get_their_own_machine() {
        let plugin = rule(
            "{\"verdict\": \"deny\", \"reason\": concat(\" \", [data.config.who, input.user])}",
        );
        let execution = execution();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let (plugin, execution) = (&plugin, &execution);
                scope.spawn(move || {
                    for call in 0..200 {
                        let who = format!("tenant {}", (thread + call) % 3);
                        let outcome = plugin.check(execution, &settings(&[("who", &who)]));
                        let expected = format!("{who} {}", execution.user);
                        assert_eq!(
                            outcome.result.unwrap(),
                            RuleVerdict::Deny { reason: expected }
                        );
                    }
                });
            }
        });
        let prepared = plugin.prepared.lock().unwrap();
        assert_eq!(prepared.len(), 3);
        for (_, kept) in prepared.iter() {
            assert!(
                matches!(kept, Prepared::Vm { idle, .. } if (1..=IDLE_MACHINES).contains(&idle.len())),
                "{kept:?}"
            );
        }
    }

    #[test]
    fn a_policy_that_prints_runs_on_the_interpreter_and_its_lines_are_logged() {
        let plugin =
            rule("{\"verdict\": \"deny\", \"reason\": \"no\"} if { print(\"path\", input.path) }");
        let (evaluator, reason) = plugin.evaluator();
        assert_eq!(evaluator, "interpreter");
        assert!(reason.is_some_and(|r| r.contains("print")), "{reason:?}");
        let execution = execution();
        let outcome = plugin.check(&execution, &settings(&[]));
        assert!(
            matches!(outcome.result, Ok(RuleVerdict::Deny { .. })),
            "{outcome:?}"
        );
        assert_eq!(outcome.logs.len(), 1, "{outcome:?}");
        assert!(
            outcome.logs[0]
                .message
                .ends_with(": path C:\\Users\\amy\\Downloads\\setup.exe"),
            "{outcome:?}"
        );
    }
}
