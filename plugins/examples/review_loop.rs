//! Review one test vector's input many times with one plugin, for instruction counts.
//!
//! ```sh
//! cargo build --release -p portcullis-plugins --example review_loop
//! valgrind --tool=callgrind target/release/examples/review_loop \
//!     plugins/examples/rego/known-bad.rego plugins/examples/vectors/known-bad 1000
//! ```
//!
//! Arguments: a `.rego` policy or a `.wasm` component, a directory of approval-review
//! vectors (the first is used), and how many reviews. It prints the wall time per
//! review. Under valgrind use a Rego policy: the Wasm host reserves more address space
//! than valgrind allows.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use portcullis_engine::plugin::ApprovalInput;
use portcullis_plugins::{Limits, Plugin, RegoPlugin, Vector, WasmHost};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("review_loop: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [plugin, vectors, count] = args.as_slice() else {
        return Err("usage: review_loop PLUGIN VECTOR_DIR COUNT".to_owned());
    };
    let count: u32 = count.parse().map_err(|e| format!("COUNT `{count}`: {e}"))?;
    let vector = Vector::load_dir(Path::new(vectors))
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or_else(|| format!("no vectors in `{vectors}`"))?;
    let input: ApprovalInput = serde_json::from_value(vector.input)
        .map_err(|e| format!("`{}` is not an approval input: {e}", vector.file.display()))?;
    let config = Arc::new(vector.config);
    let path = Path::new(plugin);
    let plugin = if path.extension().is_some_and(|e| e == "rego") {
        let text = std::fs::read_to_string(path).map_err(|e| format!("`{plugin}`: {e}"))?;
        RegoPlugin::load("plugin", plugin, &text, Limits::default())
            .map(|p| Plugin::Rego(Box::new(p)))
    } else {
        let host = WasmHost::new().map_err(|e| e.to_string())?;
        Plugin::load_file(&host, path, Limits::default())
    }
    .map_err(|e| format!("`{plugin}`: {e}"))?;
    let start = Instant::now();
    for _ in 0..count {
        std::hint::black_box(plugin.review(&input, &config));
    }
    let per_review = start.elapsed() / count.max(1);
    println!("{per_review:?} per review, wall time");
    Ok(())
}
