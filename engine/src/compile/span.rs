//! Where a value sits inside JSON text, so that bundle errors can name a line
//! and column as well as the entry.
//!
//! [`locate`] runs a small scanner over the original text rather than a
//! parsed tree, since parsed values no longer know their positions. The
//! scanner is tolerant: it checks only the structure it walks through
//! (brackets, strings, `:` and `,`), not the spelling of numbers and literals,
//! because the text has usually already been rejected by the real parser and
//! the aim is to point near the problem. It keeps an explicit stack, so deep
//! nesting cannot overflow the call stack, and reads each byte at most once.

use std::fmt;

/// One step of a path into a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment<'a> {
    /// A member of an object, by its (unescaped) key.
    Key(&'a str),
    /// An element of an array, from 0.
    Index(usize),
}

/// A position in text: 1-based line and 1-based column, the column counted in
/// characters (not bytes) from the start of the line. Lines end at `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Finds where the value at `path` starts in the JSON `text`: the location of
/// its first character (`{`, `[`, `"`, a digit, `-`, `t`, `f` or `n`). An empty
/// path means the root value. Returns `None` when the path does not exist or
/// the text is malformed before the value is reached. When an object repeats
/// a key, the first occurrence is used, since that is where a streaming
/// parser stops with an error.
pub fn locate(text: &str, path: &[Segment<'_>]) -> Option<Location> {
    let mut scanner = Scanner { text, pos: 0 };
    // serde_json refuses a byte order mark, but editors add one; skipping it
    // costs nothing and keeps the columns of the first line right.
    if text.starts_with('\u{feff}') {
        scanner.pos = '\u{feff}'.len_utf8();
    }
    scanner.skip_whitespace();
    for segment in path {
        match *segment {
            Segment::Key(key) => scanner.enter_member(key)?,
            Segment::Index(index) => scanner.enter_element(index)?,
        }
    }
    match scanner.peek()? {
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
            Some(location_of(text, scanner.pos))
        }
        _ => None,
    }
}

fn location_of(text: &str, offset: usize) -> Location {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    Location { line, column }
}

/// Splits a path as `serde_path_to_error` displays it, such as
/// `policies[3].applications[0]` or `organizations[1].default_deny.notify[0]`.
///
/// `.` alone is the root (the empty path). Keys are taken literally between
/// `.` and `[`, so a key that itself contains `.` or `[n]` cannot be told
/// apart; callers holding a `serde_path_to_error::Path` can build the
/// segments from it directly instead. A `?` segment (serde_path_to_error's
/// "unknown") ends the path there, so that [`locate`] points at the nearest
/// known enclosing value. A `[` not followed by digits and `]` is part of the
/// key.
pub fn parse_path(dotted: &str) -> Vec<Segment<'_>> {
    let bytes = dotted.as_bytes();
    let mut segments = Vec::new();
    let mut key_start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'.' => {
                if !push_key(dotted, &mut segments, key_start, i) {
                    return segments;
                }
                key_start = i + 1;
            }
            b'[' => {
                let digits_end = bytes
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|b| !b.is_ascii_digit()))
                    .map_or(bytes.len(), |n| i + 1 + n);
                let index = dotted
                    .get(i + 1..digits_end)
                    .filter(|d| !d.is_empty())
                    .and_then(|d| d.parse::<usize>().ok());
                if let (Some(index), Some(b']')) = (index, bytes.get(digits_end)) {
                    if !push_key(dotted, &mut segments, key_start, i) {
                        return segments;
                    }
                    segments.push(Segment::Index(index));
                    i = digits_end;
                    key_start = i + 1;
                } else if digits_end > i + 1 {
                    // Skip the digits already looked at so that the scan stays
                    // linear on inputs like `[1[1[1…`.
                    i = digits_end - 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    push_key(dotted, &mut segments, key_start, bytes.len());
    segments
}

/// Pushes the key `dotted[start..end]` unless it is empty; false when the
/// path stops at an unknown segment.
fn push_key<'a>(
    dotted: &'a str,
    segments: &mut Vec<Segment<'a>>,
    start: usize,
    end: usize,
) -> bool {
    match dotted.get(start..end) {
        Some("?") => false,
        Some("") | None => true,
        Some(key) => {
            segments.push(Segment::Key(key));
            true
        }
    }
}

struct Scanner<'t> {
    text: &'t str,
    /// Byte offset of the next unread byte.
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Consumes `byte`, then any whitespace after it.
    fn expect(&mut self, byte: u8) -> Option<()> {
        if self.peek() != Some(byte) {
            return None;
        }
        self.pos += 1;
        self.skip_whitespace();
        Some(())
    }

    /// At a `{`: moves to the value of member `key`.
    fn enter_member(&mut self, key: &str) -> Option<()> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            return None;
        }
        loop {
            let found = self.string(Some(key))?;
            self.skip_whitespace();
            self.expect(b':')?;
            if found {
                return Some(());
            }
            self.skip_value()?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.expect(b',')?,
                _ => return None,
            }
        }
    }

    /// At a `[`: moves to element `index`.
    fn enter_element(&mut self, index: usize) -> Option<()> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            return None;
        }
        for _ in 0..index {
            self.skip_value()?;
            self.skip_whitespace();
            self.expect(b',')?;
        }
        Some(())
    }

    /// At a `"`: moves past the string. With `compare`, also tells whether the
    /// unescaped string equals it, without allocating.
    fn string(&mut self, compare: Option<&str>) -> Option<bool> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        let mut wanted = compare.map(str::chars);
        let mut equal = true;
        let mut pending_high: Option<u32> = None;
        loop {
            let b = self.peek()?;
            let decoded: Option<char> = match b {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            match (pending_high.take(), unit) {
                                (None, 0xD800..=0xDBFF) => {
                                    pending_high = Some(unit);
                                    continue;
                                }
                                (Some(high), 0xDC00..=0xDFFF) => char::from_u32(
                                    0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00),
                                ),
                                (Some(_), _) => {
                                    // A lone high surrogate cannot equal any
                                    // Rust string, whatever follows.
                                    equal = false;
                                    char::from_u32(unit)
                                }
                                (None, _) => char::from_u32(unit),
                            }
                        }
                        _ => return None,
                    }
                }
                _ => {
                    // Only ASCII bytes are ever consumed one by one, so `pos`
                    // stays on a character boundary; were it not, stepping a
                    // byte at a time would still terminate.
                    let c = self.text.get(self.pos..).and_then(|r| r.chars().next());
                    self.pos += c.map_or(1, char::len_utf8);
                    c
                }
            };
            if pending_high.take().is_some() {
                equal = false;
            }
            if let Some(w) = wanted.as_mut() {
                if equal {
                    equal = match decoded {
                        Some(c) => w.next() == Some(c),
                        None => false,
                    };
                }
            }
        }
        if pending_high.is_some() {
            equal = false;
        }
        Some(match wanted.as_mut() {
            Some(w) => equal && w.next().is_none(),
            None => false,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = char::from(self.peek()?).to_digit(16)?;
            value = value * 16 + digit;
            self.pos += 1;
        }
        Some(value)
    }

    /// Moves past one value of any kind, checking only that brackets pair up
    /// and strings end. Nesting is tracked on an explicit stack.
    fn skip_value(&mut self) -> Option<()> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek()? {
                b'{' => {
                    open.push(b'}');
                    self.pos += 1;
                }
                b'[' => {
                    open.push(b']');
                    self.pos += 1;
                }
                b @ (b'}' | b']') => {
                    if open.pop() != Some(b) {
                        return None;
                    }
                    self.pos += 1;
                }
                b'"' => {
                    self.string(None)?;
                }
                b',' | b':' => {
                    if open.is_empty() {
                        return None;
                    }
                    self.pos += 1;
                }
                _ => {
                    let start = self.pos;
                    while self.peek().is_some_and(|b| {
                        !matches!(
                            b,
                            b'{' | b'}'
                                | b'['
                                | b']'
                                | b','
                                | b':'
                                | b'"'
                                | b' '
                                | b'\t'
                                | b'\n'
                                | b'\r'
                        )
                    }) {
                        self.pos += 1;
                    }
                    if self.pos == start {
                        return None;
                    }
                }
            }
            if open.is_empty() {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(line: usize, column: usize) -> Option<Location> {
        Some(Location { line, column })
    }

    const DOC: &str = r#"{
  "version": 1,
  "organizations": [
    { "id": "root", "default_deny": { "notify": [] } },
    {
      "id": "emea",
      "default_deny": {
        "notify": ["bob@example.com", "SMS:+15555550100"]
      }
    }
  ],
  "policies": [
    {"id": "p0", "applications": [[1, 2], [3, [4, 5]]]},
    {"id": "p1", "applications": ["a", "b"], "nested": {"x": {"y": null}}}
  ],
  "caf\u00e9": true,
  "tab\tkey": -1.5e3,
  "emoji \ud83d\ude00": "ok",
  "quote \" and \\ slash": false,
  "é": {"ü": "ß"}
}"#;

    fn loc(path: &str) -> Option<Location> {
        locate(DOC, &parse_path(path))
    }

    #[test]
    fn finds_values_in_a_multi_line_document() {
        assert_eq!(locate(DOC, &[]), at(1, 1));
        assert_eq!(loc("."), at(1, 1));
        assert_eq!(loc("version"), at(2, 14));
        assert_eq!(loc("organizations"), at(3, 20));
        assert_eq!(loc("organizations[0]"), at(4, 5));
        assert_eq!(loc("organizations[0].default_deny.notify"), at(4, 49));
        assert_eq!(loc("organizations[1]"), at(5, 5));
        assert_eq!(loc("organizations[1].default_deny.notify[0]"), at(8, 20));
        assert_eq!(loc("organizations[1].default_deny.notify[1]"), at(8, 39));
        assert_eq!(loc("policies[1].applications[1]"), at(14, 40));
        assert_eq!(loc("policies[1].nested.x.y"), at(14, 68));
    }

    #[test]
    fn nested_arrays() {
        assert_eq!(loc("policies[0].applications[0]"), at(13, 35));
        assert_eq!(loc("policies[0].applications[0][1]"), at(13, 39));
        assert_eq!(loc("policies[0].applications[1][1][1]"), at(13, 51));
        assert_eq!(loc("policies[0].applications[1][2]"), None);
    }

    #[test]
    fn keys_with_escapes() {
        assert_eq!(locate(DOC, &[Segment::Key("café")]), at(16, 16));
        assert_eq!(locate(DOC, &[Segment::Key("tab\tkey")]), at(17, 15));
        assert_eq!(locate(DOC, &[Segment::Key("emoji 😀")]), at(18, 25));
        assert_eq!(
            locate(DOC, &[Segment::Key("quote \" and \\ slash")]),
            at(19, 28)
        );
        // Columns count characters, not bytes.
        assert_eq!(
            locate(DOC, &[Segment::Key("é"), Segment::Key("ü")]),
            at(20, 14)
        );
        // Prefixes and extensions of a key do not match.
        assert_eq!(locate(DOC, &[Segment::Key("caf")]), None);
        assert_eq!(locate(DOC, &[Segment::Key("café!")]), None);
        // Lone surrogates equal no key, and do not derail the scan.
        let lone = r#"{"\ud83d": 1, "\ud83dx": 2, "\ude00": 3, "\ud83d\u0041": 4, "b": 5}"#;
        assert_eq!(locate(lone, &[Segment::Key("\u{fffd}")]), None);
        assert_eq!(locate(lone, &[Segment::Key("x")]), None);
        assert_eq!(locate(lone, &[Segment::Key("A")]), None);
        assert_eq!(locate(lone, &[Segment::Key("b")]), at(1, 66));
    }

    #[test]
    fn missing_paths() {
        assert_eq!(loc("nope"), None);
        assert_eq!(loc("organizations[2]"), None);
        assert_eq!(loc("organizations[0].default_deny.notify[0]"), None);
        assert_eq!(loc("version.x"), None);
        assert_eq!(loc("version[0]"), None);
        assert_eq!(locate(DOC, &[Segment::Index(0)]), None);
        assert_eq!(locate("", &[]), None);
        assert_eq!(locate("   ", &[]), None);
        assert_eq!(locate("{}", &[Segment::Key("a")]), None);
        assert_eq!(locate("[]", &[Segment::Index(0)]), None);
    }

    #[test]
    fn malformed_text() {
        assert_eq!(locate(r#"{"a" 1, "b": 2}"#, &[Segment::Key("b")]), None);
        assert_eq!(
            locate(r#"{"a": [1, 2}, "b": 2}"#, &[Segment::Key("b")]),
            None
        );
        assert_eq!(locate(r#"{"a": "x, "b": 2}"#, &[Segment::Key("b")]), None);
        assert_eq!(locate(r#"{"a": 1 "b": 2}"#, &[Segment::Key("b")]), None);
        assert_eq!(locate(r#"{"a": , "b": 2}"#, &[Segment::Key("b")]), None);
        assert_eq!(locate(r#"{"a\x": 1, "b": 2}"#, &[Segment::Key("b")]), None);
        assert_eq!(locate(r#"{"a": 1, "b": }"#, &[Segment::Key("b")]), None);
        assert_eq!(locate("[1,", &[Segment::Index(1)]), None);
        assert_eq!(locate("[1", &[Segment::Index(1)]), None);
        // Malformed text after the value does not matter.
        assert_eq!(
            locate(r#"{"a": 1, "b": 2 oops"#, &[Segment::Key("b")]),
            at(1, 15)
        );
        assert_eq!(locate(r#"[1, 2, }"#, &[Segment::Index(1)]), at(1, 5));
    }

    #[test]
    fn windows_line_endings_and_bom() {
        let text = "\u{feff}{\r\n  \"a\": [\r\n    true\r\n  ]\r\n}";
        assert_eq!(locate(text, &[]), at(1, 2));
        assert_eq!(locate(text, &[Segment::Key("a")]), at(2, 8));
        assert_eq!(
            locate(text, &[Segment::Key("a"), Segment::Index(0)]),
            at(3, 5)
        );
    }

    #[test]
    fn duplicate_keys_use_the_first() {
        assert_eq!(
            locate(r#"{"a": 1, "a": 2}"#, &[Segment::Key("a")]),
            at(1, 7)
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 1_000_000;
        let deep = format!(
            "{{\"skip\": {}{}, \"x\": 7}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert_eq!(locate(&deep, &[Segment::Key("x")]), at(1, 2_000_017));
        let mut path = Vec::new();
        let mut text = String::new();
        for _ in 0..10_000 {
            text.push_str("{\"k\":");
            path.push(Segment::Key("k"));
        }
        text.push('1');
        text.push_str(&"}".repeat(10_000));
        assert_eq!(locate(&text, &path), at(1, 50_001));
        let unclosed = "[".repeat(depth);
        assert_eq!(
            locate(&format!("{{\"a\": {unclosed}"), &[Segment::Key("b")]),
            None
        );
    }

    #[test]
    fn parse_path_formats() {
        use Segment::{Index as I, Key as K};
        assert_eq!(
            parse_path("policies[3].applications[0]"),
            vec![K("policies"), I(3), K("applications"), I(0)]
        );
        assert_eq!(
            parse_path("organizations[1].default_deny.notify[0]"),
            vec![
                K("organizations"),
                I(1),
                K("default_deny"),
                K("notify"),
                I(0)
            ]
        );
        assert_eq!(parse_path("."), vec![]);
        assert_eq!(parse_path(""), vec![]);
        assert_eq!(parse_path("[0][12]"), vec![I(0), I(12)]);
        assert_eq!(parse_path("a.b"), vec![K("a"), K("b")]);
        assert_eq!(parse_path("a.?.b"), vec![K("a")]);
        assert_eq!(parse_path("a[1].?"), vec![K("a"), I(1)]);
        assert_eq!(parse_path("a[x].b"), vec![K("a[x]"), K("b")]);
        assert_eq!(parse_path("a[]"), vec![K("a[]")]);
        assert_eq!(parse_path("a[1"), vec![K("a[1")]);
        assert_eq!(
            parse_path("a[99999999999999999999999]"),
            vec![K("a[99999999999999999999999]")]
        );
        assert_eq!(parse_path("é[1].ü"), vec![K("é"), I(1), K("ü")]);
    }

    #[test]
    fn location_displays() {
        assert_eq!(
            Location { line: 3, column: 7 }.to_string(),
            "line 3, column 7"
        );
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Segment<'static>>();
        check::<Location>();
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json(value in json_value(), steps in proptest::collection::vec(any::<prop::sample::Index>(), 0..6), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            // Walk a random existing path, then check the located text parses
            // to the same value as serde_json finds there.
            let mut path: Vec<Segment<'_>> = Vec::new();
            let mut here = &value;
            for step in &steps {
                match here {
                    serde_json::Value::Array(items) if !items.is_empty() => {
                        let i = step.index(items.len());
                        path.push(Segment::Index(i));
                        here = &items[i];
                    }
                    serde_json::Value::Object(map) if !map.is_empty() => {
                        let (k, v) = map.iter().nth(step.index(map.len())).unwrap();
                        path.push(Segment::Key(k));
                        here = v;
                    }
                    _ => break,
                }
            }
            let found = locate(&text, &path).unwrap();
            let offset: usize = text
                .split_inclusive('\n')
                .take(found.line - 1)
                .map(str::len)
                .sum::<usize>()
                + text
                    .lines()
                    .nth(found.line - 1)
                    .unwrap()
                    .chars()
                    .take(found.column - 1)
                    .map(char::len_utf8)
                    .sum::<usize>();
            let mut stream = serde_json::Deserializer::from_str(&text[offset..]).into_iter::<serde_json::Value>();
            prop_assert_eq!(&stream.next().unwrap().unwrap(), here);
        }

        #[test]
        fn never_panics(text in ".{0,60}|[\\[\\]{}\",:\\\\u0-9a ]{0,60}", path in "[a-z\\[\\]0-9.?]{0,12}") {
            let _ = locate(&text, &parse_path(&path));
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            "\\PC{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"\\\\\u{1}é😀]{0,4}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
