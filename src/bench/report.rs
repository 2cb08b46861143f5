//! The bench's report: a baseline beside the engine, and the report as text.

use serde_json::{json, Value};

use super::measure::{median, round, Latencies};

/// A baseline's per-decision times beside the engine's on the same events.
pub fn compare(name: &str, measured: &Latencies, mut times: Vec<f64>, extra: Value) -> Value {
    // The baseline decided the first events in order, as the latency run did: compare
    // the events both have.
    let sampled = times.len().min(measured.cold.len());
    times.truncate(sampled);
    let mean_of = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    let first = |xs: &[f64]| mean_of(xs.get(..sampled).unwrap_or(xs));
    let mean = mean_of(&times);
    // A baseline decides each event once, so the engine's first decision of each event,
    // in the latency run before any baseline ran, is what it is compared with; the
    // warm mean is given beside it.
    let (cold, warm) = (first(&measured.cold), first(&measured.warm));
    let mut out = json!({
        "name": name,
        "sampled": sampled,
        "mean_ns": round(mean),
        "median_ns": round(median(times)),
        "indexed_mean_ns": round(cold),
        "indexed_warm_mean_ns": round(warm),
        "speedup": round(mean / cold.max(1e-9)),
        "speedup_warm": round(mean / warm.max(1e-9)),
    });
    if let (Value::Object(map), Value::Object(more)) = (&mut out, extra) {
        map.extend(more);
    }
    out
}

/// The value at a JSON pointer, or null.
fn at<'v>(value: &'v Value, pointer: &str) -> &'v Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

pub fn print_human(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "machine: {} ({} threads)",
        at(r, "/machine/cpu").as_str().unwrap_or("?"),
        at(r, "/machine/cpus")
    );
    println!(
        "fleet: {} organizations, {} computers, {} policies, {} rules ({} by hash); scenario {}, {} events",
        at(r, "/organizations"), at(r, "/computers"), at(r, "/policies"), at(r, "/rules"), at(r, "/hash_rules"), at(r, "/scenario"), at(r, "/events")
    );
    println!(
        "compile: {} ms; org-local redeploy: {} ms as a change, {} ms as the whole bundle ({} organization recompiled)",
        at(r, "/compile_ms"),
        at(r, "/redeploy_ms"),
        at(r, "/redeploy_full_ms"),
        at(r, "/redeploy_recompiled")
    );
    let (m, t) = (at(r, "/memory"), at(r, "/throughput"));
    let mib = |key: &str| f(at(m, key)) / 1024.0;
    let millions = |key: &str| f(at(t, key)) / 1e6;
    println!(
        "memory: {:.0} MiB before compile, {:.0} MiB after, peak {:.0} MiB; {} bytes per rule",
        mib("/rss_before_kib"),
        mib("/rss_after_kib"),
        mib("/peak_kib"),
        at(m, "/bytes_per_rule")
    );
    println!(
        "throughput: {:.2} M decisions/s on one thread, {:.2} M on {} threads",
        millions("/one_thread_per_s"),
        millions("/all_threads_per_s"),
        at(t, "/threads")
    );
    println!(
        "throughput on one computer ({} of the events, moved to it): {:.2} M decisions/s on one thread",
        at(t, "/one_computer_events"),
        millions("/one_computer_per_s"),
    );
    for (name, pointer) in [("warm", "/latency"), ("cold", "/latency_cold")] {
        let l = at(r, pointer);
        println!(
            "latency ({name}): p50 {} ns, p99 {} ns, p99.9 {} ns ({} samples)",
            at(l, "/p50_ns"),
            at(l, "/p99_ns"),
            at(l, "/p999_ns"),
            at(l, "/samples")
        );
    }
    let d = at(r, "/under_deploy");
    if !d.is_null() {
        println!(
            "while deploying changes ({} deploys/s, {} ms each): reader p99 {} ns vs {} ns idle (x{}) warm, {} ns vs {} ns (x{}) cold",
            at(d, "/deploys_per_second"),
            at(d, "/deploy_median_ms"),
            at(d, "/deploying/p99_ns"),
            at(d, "/idle/p99_ns"),
            at(d, "/p99_ratio"),
            at(d, "/deploying_cold/p99_ns"),
            at(d, "/idle_cold/p99_ns"),
            at(d, "/cold_p99_ratio")
        );
    }
    for b in at(r, "/baselines").as_array().into_iter().flatten() {
        if let Some(error) = at(b, "/error").as_str() {
            println!("baseline {}: {error}", at(b, "/name"));
            continue;
        }
        println!(
            "baseline {}: {:.1} us per decision over {} events; indexed on the same events {} ns cold, {} ns warm: {}x faster cold, {}x warm",
            at(b, "/name").as_str().unwrap_or("?"),
            f(at(b, "/mean_ns")) / 1e3,
            at(b, "/sampled"),
            at(b, "/indexed_mean_ns"),
            at(b, "/indexed_warm_mean_ns"),
            at(b, "/speedup"),
            at(b, "/speedup_warm")
        );
    }
}
