//! Helpers every command shares: reading input, compiling a bundle, printing JSON.

use std::io::{self, Read};
use std::path::Path;

use portcullis_engine::{CompileErrors, Snapshot, LOCATED_ERRORS};
use serde::Serialize;

pub fn read(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

pub fn compile(path: &Path) -> Result<Snapshot, String> {
    let text = read(path)?;
    Snapshot::compile_json(&text).map_err(|errors| render_errors(path, &errors))
}

pub fn render_errors(path: &Path, errors: &CompileErrors) -> String {
    let count = errors.errors().len();
    let mut out = format!(
        "`{}` has {count} error{}:",
        path.display(),
        if count == 1 { "" } else { "s" }
    );
    for error in errors.errors().iter().take(LOCATED_ERRORS) {
        out.push_str(&format!("\n  {}:{error}", path.display()));
    }
    if count > LOCATED_ERRORS {
        out.push_str(&format!("\n  … and {} more", count - LOCATED_ERRORS));
    }
    out
}
pub fn print_json(value: &serde_json::Value, pretty: bool) -> Result<(), String> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    println!("{}", text.map_err(|e| e.to_string())?);
    Ok(())
}
pub fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<String, String> {
    if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| e.to_string())
}
