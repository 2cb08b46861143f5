//! The README's walk-throughs as data: each command of a section's code blocks, with
//! the output lines its `# …` comments promise, so that tests run them as written.

/// One command line of a code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The line as written (continuations joined, a trailing `   # …` comment cut).
    pub line: String,
    /// Its words (whitespace-separated, double quotes group).
    pub words: Vec<String>,
    /// What it promises to print: `# …` lines below it and its trailing comment.
    pub expected: Vec<String>,
}

impl Step {
    /// Whether it runs `portcullis`.
    pub fn is_portcullis(&self) -> bool {
        self.words.first().is_some_and(|w| w == "portcullis")
    }
}

/// The steps of the sections under `headings` (`## Requests and approvals`), in order.
pub fn steps(readme: &str, headings: &[&str]) -> Vec<Step> {
    let section: String = headings
        .iter()
        .map(|heading| {
            readme
                .split(heading)
                .nth(1)
                .unwrap_or_else(|| panic!("the README has no `{heading}`"))
                .split("\n## ")
                .next()
                .unwrap_or("")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut steps: Vec<Step> = Vec::new();
    let mut in_code = false;
    let mut pending = String::new();
    for line in section.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        if let Some(expected) = line.strip_prefix("# ") {
            if let Some(step) = steps.last_mut() {
                step.expected.push(expected.to_owned());
            }
            continue;
        }
        let (command, comment) = match line.split_once("   # ") {
            Some((c, e)) => (c, Some(e)),
            None => (line, None),
        };
        pending.push_str(command.trim_end().trim_end_matches('\\'));
        pending.push(' ');
        if command.trim_end().ends_with('\\') {
            continue;
        }
        let line = std::mem::take(&mut pending).trim().to_owned();
        if line.is_empty() {
            continue;
        }
        steps.push(Step {
            words: words(&line),
            line,
            expected: comment.into_iter().map(str::to_owned).collect(),
        });
    }
    steps
}

/// Splits a shell line into words: whitespace-separated, with double-quoted strings.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}
