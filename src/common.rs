//! Helpers every command shares: reading input, compiling a bundle, printing JSON.

use std::io::{self, Read};
use std::path::Path;
use std::process::ExitCode;

use portcullis_engine::{Bundle, Event, Snapshot};
use serde::Serialize;

use crate::error::CliError;

pub fn read(path: &Path) -> Result<String, CliError> {
    if path == Path::new("-") {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(CliError::read(path))
}

/// A field of a JSON object from a server, `null` when it is missing.
pub fn field<'a>(value: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    value.get(key).unwrap_or(&serde_json::Value::Null)
}

/// A password from a file (`-`: standard input): its first line, checked before
/// anything is changed.
pub fn read_password(path: &Path) -> Result<String, CliError> {
    let text = read(path)?;
    let password = text.lines().next().unwrap_or("").to_owned();
    portcullis_server::secret::check_password(&password)?;
    Ok(password)
}

pub fn compile(path: &Path) -> Result<Snapshot, CliError> {
    let text = read(path)?;
    Snapshot::compile_json(&text).map_err(CliError::compile(path))
}

/// Reads and parses a bundle without compiling it.
pub fn parse_bundle(path: &Path) -> Result<Bundle, CliError> {
    let text = read(path)?;
    portcullis_engine::parse(&text).map_err(CliError::compile(path))
}

pub fn print_json(value: &serde_json::Value, pretty: bool) -> Result<(), CliError> {
    println!("{}", to_json(value, pretty)?);
    Ok(())
}

pub fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<String, CliError> {
    Ok(if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }?)
}

/// Prints `value` as JSON when `json`, else the text `human` makes, made [`inert`].
pub fn print_either<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<(), CliError> {
    if json {
        println!("{}", to_json(value, true)?);
    } else {
        print!("{}", inert_lines(&human()));
    }
    Ok(())
}

/// Prints `value` (JSON) or `human` (text), and succeeds.
pub fn shown<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<ExitCode, CliError> {
    print_either(json, value, human)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads an execution event (JSON) from a file or standard input.
pub fn read_event(path: &Path) -> Result<Event, CliError> {
    let text = read(path)?;
    portcullis_engine::Limits::default()
        .parse_event(&text)
        .map_err(|e| CliError::Message(format!("`{}`: {e}", path.display())))
}

/// Text from users, agents and files, made safe to print on a terminal: every control
/// character (CR, LF, ESC, the C1 controls that also start escape sequences, DEL) and
/// every bidirectional override is written as a Rust-style escape (`\n`, `\u{1b}`), so
/// that nothing in a field can move the cursor, rewrite earlier lines, set the window
/// title or fake another line of output.
pub fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A whole text output of lines: each line made [`inert`], the line breaks kept.
pub fn inert_lines(text: &str) -> String {
    text.split('\n').map(inert).collect::<Vec<_>>().join("\n")
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Where the command line keeps compiled components: `$PORTCULLIS_PLUGIN_CACHE` (empty:
/// nowhere), else `$XDG_CACHE_HOME/portcullis/plugins`, else
/// `$HOME/.cache/portcullis/plugins`.
pub fn plugin_cache_dir() -> Option<std::path::PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = std::env::var_os("PORTCULLIS_PLUGIN_CACHE") {
        return (!dir.is_empty()).then(|| std::path::PathBuf::from(dir));
    }
    var("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| var("HOME").map(|home| std::path::Path::new(&home).join(".cache")))
        .map(|cache| cache.join("portcullis").join("plugins"))
}

#[cfg(test)]
mod tests {
    use super::{inert, inert_lines};

    #[test]
    fn control_characters_and_escape_sequences_are_written_out() {
        assert_eq!(inert("amy"), "amy");
        assert_eq!(inert("a\r\nb"), "a\\r\\nb");
        assert_eq!(
            inert("\u{1b}[2J\u{1b}]0;title\u{7}"),
            "\\u{1b}[2J\\u{1b}]0;title\\u{7}"
        );
        assert_eq!(inert("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(inert("\u{202e}exe.txt"), "\\u{202e}exe.txt");
        assert_eq!(inert_lines("one\u{1b}\ntwo\n"), "one\\u{1b}\ntwo\n");
    }
}
