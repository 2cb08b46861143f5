//! Who is told about a denied execution: an email address, or `SMS:` and a
//! phone number.
//!
//! Rules, beyond the obvious:
//! - `SMS:` is recognised in any case; the number must be in E.164 form, `+`
//!   then 7 to 15 digits, the first not `0`. Spaces, `-`, `.`, `(` and `)` may
//!   appear anywhere after the prefix and are removed.
//! - Email addresses are checked for what a person is likely to get wrong,
//!   not for everything RFC 5321 allows: one `@`; a local part of at most 64
//!   bytes without whitespace, control characters or any of `"(),:;<>[\]`,
//!   and without a leading, trailing or doubled `.`; a domain of at least two
//!   dot-separated labels of letters, digits and inner `-` (non-ASCII letters
//!   allowed); at most 254 bytes in all. Quoted local parts and IP-literal
//!   domains are refused.
//! - The domain is lowercased, since it is case-insensitive and notifying
//!   `bob@Example.com` and `bob@example.com` separately would be noise; the
//!   local part is kept as written because its case belongs to the receiving
//!   server.
//! - Surrounding whitespace is an error, as for every other value of the
//!   bundle, rather than silently removed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Someone to notify.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Recipient {
    /// An email address, with its domain lowercased.
    Email(String),
    /// A phone number in E.164 form, e.g. `+15555550100`.
    Sms(String),
}

impl Recipient {
    /// Parses `SMS:+15555550100` or an email address.
    pub fn parse(text: &str) -> Result<Self, RecipientError> {
        let fail = |kind| RecipientError {
            input: abbreviate(text),
            kind,
        };
        match text.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("SMS:") => {
                let number = text.get(4..).unwrap_or_default();
                parse_phone(number).map(Recipient::Sms).map_err(fail)
            }
            _ => parse_email(text).map(Recipient::Email).map_err(fail),
        }
    }
}

fn parse_phone(number: &str) -> Result<String, RecipientErrorKind> {
    let mut out = String::with_capacity(16);
    for c in number.chars() {
        match c {
            ' ' | '-' | '.' | '(' | ')' => {}
            '+' if out.is_empty() => out.push('+'),
            '0'..='9' if !out.is_empty() => out.push(c),
            '0'..='9' => return Err(RecipientErrorKind::Phone(PhoneProblem::NoPlus)),
            c => return Err(RecipientErrorKind::Phone(PhoneProblem::Character(c))),
        }
    }
    let digits = out.len().saturating_sub(1);
    if out.is_empty() {
        return Err(RecipientErrorKind::Phone(PhoneProblem::Missing));
    }
    if out.as_bytes().get(1) == Some(&b'0') {
        return Err(RecipientErrorKind::Phone(PhoneProblem::LeadingZero));
    }
    if !(7..=15).contains(&digits) {
        return Err(RecipientErrorKind::Phone(PhoneProblem::Length(digits)));
    }
    Ok(out)
}

fn parse_email(text: &str) -> Result<String, RecipientErrorKind> {
    use EmailProblem as P;
    let err = |p| Err(RecipientErrorKind::Email(p));
    if text.chars().any(char::is_whitespace) {
        return err(P::Whitespace);
    }
    if text.chars().any(char::is_control) {
        return err(P::Control);
    }
    let Some((local, domain)) = text.split_once('@') else {
        return err(P::NoAt);
    };
    if domain.contains('@') {
        return err(P::SeveralAt);
    }
    if local.is_empty() {
        return err(P::NoLocal);
    }
    if domain.is_empty() {
        return err(P::NoDomain);
    }
    if text.len() > 254 {
        return err(P::TooLong(text.len()));
    }
    if local.len() > 64 {
        return err(P::LocalTooLong(local.len()));
    }
    if let Some(c) = local.chars().find(|c| "\"(),:;<>[\\]".contains(*c)) {
        return err(P::LocalCharacter(c));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return err(P::LocalDots);
    }
    if !domain.contains('.') {
        return err(P::NoDot);
    }
    for label in domain.split('.') {
        let valid = !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !valid {
            return err(P::Label(abbreviate(label)));
        }
    }
    let domain = domain.to_lowercase();
    Ok(format!("{local}@{domain}"))
}

impl FromStr for Recipient {
    type Err = RecipientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Email(address) => f.write_str(address),
            Recipient::Sms(number) => write!(f, "SMS:{number}"),
        }
    }
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Recipient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Recipient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an email address or `SMS:` and a phone number like `SMS:+15555550100`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Recipient, E> {
                Recipient::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Why a text is not a recipient. The message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientError {
    input: String,
    kind: RecipientErrorKind,
}

impl RecipientError {
    /// What was wrong.
    pub fn kind(&self) -> &RecipientErrorKind {
        &self.kind
    }
}

/// Whether the text was taken for a phone number or an email address, and
/// what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecipientErrorKind {
    /// The text starts with `SMS:` but the rest is not an E.164 number.
    Phone(PhoneProblem),
    /// The text is not an email address.
    Email(EmailProblem),
}

/// What is wrong with a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneProblem {
    /// Nothing follows `SMS:`.
    Missing,
    /// The digits do not start with `+`.
    NoPlus,
    /// The country code starts with `0`.
    LeadingZero,
    /// A character that is neither a digit nor an allowed separator.
    Character(char),
    /// Not 7 to 15 digits; the number found.
    Length(usize),
}

/// What is wrong with an email address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmailProblem {
    /// No `@`.
    NoAt,
    /// More than one `@`.
    SeveralAt,
    /// Nothing before `@`.
    NoLocal,
    /// Nothing after `@`.
    NoDomain,
    /// Contains whitespace.
    Whitespace,
    /// Contains control characters.
    Control,
    /// Longer than 254 bytes; the length found.
    TooLong(usize),
    /// Local part longer than 64 bytes; the length found.
    LocalTooLong(usize),
    /// A character not allowed in an unquoted local part.
    LocalCharacter(char),
    /// The local part starts or ends with `.` or has `..`.
    LocalDots,
    /// The domain has a single label.
    NoDot,
    /// A domain label (the text between dots) that is empty, longer than 63
    /// characters or has invalid characters.
    Label(String),
}

impl fmt::Display for RecipientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.input;
        match &self.kind {
            RecipientErrorKind::Phone(problem) => {
                write!(
                    f,
                    "`{input}` is not a phone number in international form like `SMS:+15555550100`: "
                )?;
                match problem {
                    PhoneProblem::Missing => f.write_str("the number is missing"),
                    PhoneProblem::NoPlus => f.write_str("start with `+` and the country code"),
                    PhoneProblem::LeadingZero => f.write_str("country codes do not start with `0`"),
                    PhoneProblem::Character(c) => write!(
                        f,
                        "`{}` is not allowed; use digits, spaces, `-`, `.` and parentheses",
                        c.escape_debug()
                    ),
                    PhoneProblem::Length(n) => {
                        write!(f, "it has {n} digits where 7 to 15 are expected")
                    }
                }
            }
            RecipientErrorKind::Email(problem) => {
                write!(f, "`{input}` is not an email address: ")?;
                match problem {
                    EmailProblem::NoAt => f.write_str(
                        "it has no `@` (for a text message write `SMS:` and the number)",
                    ),
                    EmailProblem::SeveralAt => f.write_str("it has more than one `@`"),
                    EmailProblem::NoLocal => f.write_str("the name before `@` is missing"),
                    EmailProblem::NoDomain => f.write_str("the domain is missing"),
                    EmailProblem::Whitespace => f.write_str("it contains whitespace"),
                    EmailProblem::Control => f.write_str("it contains control characters"),
                    EmailProblem::TooLong(n) => {
                        write!(f, "it is {n} bytes long where at most 254 are allowed")
                    }
                    EmailProblem::LocalTooLong(n) => write!(
                        f,
                        "the name before `@` is {n} bytes long where at most 64 are allowed"
                    ),
                    EmailProblem::LocalCharacter(c) => {
                        write!(f, "`{c}` is not allowed before `@`")
                    }
                    EmailProblem::LocalDots => f.write_str(
                        "the name before `@` may not start or end with `.` or contain `..`",
                    ),
                    EmailProblem::NoDot => {
                        f.write_str("the domain needs a dot, as in `example.com`")
                    }
                    EmailProblem::Label(label) if label.is_empty() => f.write_str(
                        "the domain has an empty part (a leading, trailing or doubled `.`)",
                    ),
                    EmailProblem::Label(label) => write!(
                        f,
                        "`{label}` is not a valid part of a domain name \
                         (letters, digits and inner `-`, separated by single dots)"
                    ),
                }
            }
        }
    }
}

impl std::error::Error for RecipientError {}

/// Keeps error messages readable when the input is huge.
fn abbreviate(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> Recipient {
        Recipient::parse(s).unwrap()
    }

    fn err(s: &str) -> String {
        Recipient::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn sms() {
        assert_eq!(
            ok("SMS:+15555550100"),
            Recipient::Sms("+15555550100".into())
        );
        assert_eq!(
            ok("sms:+1 (555) 555-0100"),
            Recipient::Sms("+15555550100".into())
        );
        assert_eq!(
            ok("Sms: +44 20.7946.0000"),
            Recipient::Sms("+442079460000".into())
        );
        assert_eq!(ok("SMS:+1234567"), Recipient::Sms("+1234567".into()));
        assert_eq!(
            ok("SMS:+123456789012345").to_string(),
            "SMS:+123456789012345"
        );
        assert_eq!(ok("sms:+1 555 555 0100").to_string(), "SMS:+15555550100");
    }

    #[test]
    fn sms_errors() {
        assert_eq!(
            err("SMS:555"),
            "`SMS:555` is not a phone number in international form like `SMS:+15555550100`: \
             start with `+` and the country code"
        );
        assert!(err("SMS:").ends_with("the number is missing"));
        assert!(err("SMS: - ").ends_with("the number is missing"));
        assert!(err("SMS:+").ends_with("it has 0 digits where 7 to 15 are expected"));
        assert!(err("SMS:+123456").ends_with("it has 6 digits where 7 to 15 are expected"));
        assert!(
            err("SMS:+1234567890123456").ends_with("it has 16 digits where 7 to 15 are expected")
        );
        assert!(err("SMS:+0123456789").ends_with("country codes do not start with `0`"));
        assert!(err("SMS:+1555x5550100")
            .ends_with("`x` is not allowed; use digits, spaces, `-`, `.` and parentheses"));
        assert!(err("SMS:+1+5555550100").contains("`+` is not allowed"));
        assert!(
            err("SMS:bob@example.com").starts_with("`SMS:bob@example.com` is not a phone number")
        );
    }

    #[test]
    fn email() {
        assert_eq!(
            ok("bob@example.com"),
            Recipient::Email("bob@example.com".into())
        );
        assert_eq!(
            ok("Bob.Smith+alerts@Mail.Example.COM").to_string(),
            "Bob.Smith+alerts@mail.example.com"
        );
        assert_eq!(ok("o'hara@x-y.co.uk").to_string(), "o'hara@x-y.co.uk");
        assert_eq!(ok("jürgen@münchen.de").to_string(), "jürgen@münchen.de");
        // `SMS` without the colon is just a (strange) local part.
        assert_eq!(
            ok("sms@example.com"),
            Recipient::Email("sms@example.com".into())
        );
        let local = "a".repeat(64);
        let domain = format!(
            "{}.{}.{}.{}",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(61)
        );
        let longest = format!("{local}@{domain}");
        assert_eq!(longest.len(), 318);
        assert!(err(&longest).contains("where at most 254 are allowed"));
        let fits = format!(
            "{local}@{}.{}.{}",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(fits.len(), 254);
        assert!(Recipient::parse(&fits).is_ok());
    }

    #[test]
    fn email_errors() {
        assert_eq!(
            err("bob@"),
            "`bob@` is not an email address: the domain is missing"
        );
        assert_eq!(
            err("@example.com"),
            "`@example.com` is not an email address: the name before `@` is missing"
        );
        assert!(
            err("bob").ends_with("it has no `@` (for a text message write `SMS:` and the number)")
        );
        assert!(err("").contains("it has no `@`"));
        assert!(err("a@b@c.com").ends_with("it has more than one `@`"));
        assert!(err("bob smith@example.com").ends_with("it contains whitespace"));
        assert!(err(" bob@example.com").ends_with("it contains whitespace"));
        assert!(err("bob@example.com\n").ends_with("it contains whitespace"));
        assert!(err("bob\u{7}@example.com").ends_with("it contains control characters"));
        assert!(err("bob@localhost").ends_with("the domain needs a dot, as in `example.com`"));
        assert!(err("bob@example..com")
            .ends_with("the domain has an empty part (a leading, trailing or doubled `.`)"));
        assert!(err("bob@example.com.").contains("the domain has an empty part"));
        assert!(err("bob@.example.com").contains("the domain has an empty part"));
        assert!(err("bob@exa_mple.com").ends_with(
            "`exa_mple` is not a valid part of a domain name \
             (letters, digits and inner `-`, separated by single dots)"
        ));
        assert!(err("bob@-example.com").contains("`-example` is not a valid part"));
        assert!(err("bob@exa_mple.com").contains("`exa_mple` is not a valid part"));
        assert!(err("bob@[127.0.0.1]").contains("`[127` is not a valid part"));
        assert!(err(&format!("bob@{}.com", "x".repeat(64))).contains("is not a valid part"));
        assert!(err(".bob@example.com").ends_with("may not start or end with `.` or contain `..`"));
        assert!(err("bo..b@example.com").contains("contain `..`"));
        assert!(err("bob.@example.com").contains("contain `..`"));
        assert!(err("b<ob>@example.com").ends_with("`<` is not allowed before `@`"));
        assert!(err(&format!("{}@example.com", "a".repeat(65)))
            .ends_with("65 bytes long where at most 64 are allowed"));
        let huge = "a".repeat(10_000);
        assert!(err(&huge).len() < 200);
    }

    #[test]
    fn serde_as_string() {
        let list = vec![ok("SMS:+15555550100"), ok("bob@example.com")];
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["SMS:+15555550100","bob@example.com"]"#);
        assert_eq!(serde_json::from_str::<Vec<Recipient>>(&json).unwrap(), list);
        let e = serde_json::from_str::<Recipient>("\"bob@\"").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("`bob@` is not an email address: the domain is missing"));
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Recipient>();
        check::<RecipientError>();
    }

    proptest! {
        #[test]
        fn phone_round_trip(number in "\\+[1-9][0-9]{6,14}") {
            let r = Recipient::parse(&format!("SMS:{number}")).unwrap();
            prop_assert_eq!(&r, &Recipient::Sms(number));
            prop_assert_eq!(Recipient::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn email_round_trip(local in "[a-zA-Z0-9_+-]{1,20}", labels in proptest::collection::vec("[a-z0-9]{1,10}", 2..4)) {
            let address = format!("{local}@{}", labels.join("."));
            let r = Recipient::parse(&address).unwrap();
            prop_assert_eq!(r.to_string(), address);
        }

        #[test]
        fn never_panics(s in ".{0,40}|(?i:sms):.{0,20}") {
            let _ = Recipient::parse(&s);
        }
    }
}
