//! Distinguished names: the subject and issuer of a certificate, and the
//! conditions written against them in policies.
//!
//! # Syntax
//!
//! [`DistinguishedName::parse`] reads RFC 4514 names and the variations that
//! Windows and OpenSSL print:
//!
//! - attributes are `type=value`, separated by `,` or `;`; a `+` (a
//!   multi-valued RDN) also separates, and each of its parts counts as its own
//!   attribute;
//! - OpenSSL's one-line form `/CN=foo/O=bar` is recognised by its leading `/`;
//!   there only `/` separates, so `,`, `;`, `+` and `=` are ordinary characters
//!   in its values;
//! - whitespace around separators, around `=` and at either end is ignored;
//! - a value may be double-quoted (`O="Contoso, Ltd."`), and inside or outside
//!   quotes a backslash escapes one of `,` `+` `"` `\` `;` `<` `>` `=` `#` `/`
//!   and space, or starts a `\XX` hexadecimal byte; consecutive bytes form
//!   UTF-8 (`\C3\A9` is `é`);
//! - an unquoted `"` after the first character of a value is kept as is, and a
//!   leading `#` is text, not RFC 4514's hex-encoded BER;
//! - a value may be empty (`CN=`): certificates can carry such attributes, and
//!   refusing them would make a reported name unreadable;
//! - the name must hold at least one attribute, and two separators in a row
//!   or a separator at the end is an error, as it is most likely a typo;
//! - attribute types are case-insensitive short names, long names or dotted
//!   OIDs (optionally written `OID.2.5.4.3` as Windows does); see
//!   [`AttributeType`].
//!
//! # Canonical form
//!
//! [`DistinguishedName`]'s `Display` writes `TYPE=value` pairs joined by `, `
//! in their original order, each type under its canonical name
//! ([`AttributeType::name`]) and each value escaped RFC 4514-style: `,` `+`
//! `"` `\` `<` `>` `;` `=` always, `#` and space at the start, space at the end;
//! control characters and other whitespace at either end are written as
//! `\XX` bytes. Parsing that text gives back an equal name.
//!
//! # Matching
//!
//! A condition matches a name when every attribute of the condition is in the
//! name with the same type and the same value, where values are compared after
//! trimming surrounding whitespace and lowercasing each character.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The type of one attribute of a distinguished name.
///
/// Names are case-insensitive, and each known type is also recognised by its
/// OID: `CN`, `commonName` and `2.5.4.3` (or `OID.2.5.4.3`) are all
/// [`AttributeType::CommonName`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum AttributeType {
    /// `CN`, commonName, 2.5.4.3.
    CommonName,
    /// `O`, organizationName, 2.5.4.10.
    Organization,
    /// `OU`, organizationalUnitName, 2.5.4.11.
    OrganizationalUnit,
    /// `L`, localityName, 2.5.4.7.
    Locality,
    /// `ST` or `S`, stateOrProvinceName, 2.5.4.8.
    StateOrProvince,
    /// `C`, countryName, 2.5.4.6.
    Country,
    /// `STREET`, streetAddress, 2.5.4.9.
    Street,
    /// `E`, `EMAIL` or `EMAILADDRESS`, 1.2.840.113549.1.9.1.
    Email,
    /// `DC`, domainComponent, 0.9.2342.19200300.100.1.25.
    DomainComponent,
    /// `UID`, userId, 0.9.2342.19200300.100.1.1.
    UserId,
    /// `SERIALNUMBER`, 2.5.4.5.
    SerialNumber,
    /// `T` or `TITLE`, 2.5.4.12.
    Title,
    /// `G`, `GN` or `GIVENNAME`, 2.5.4.42.
    GivenName,
    /// `SN` or `SURNAME`, 2.5.4.4.
    Surname,
    /// Any other type: its name in upper case, or its dotted OID without an
    /// `OID.` prefix. Build it with [`AttributeType::from_name`] so that it is
    /// in this form; [`DistinguishedName::from_attributes`] normalises it.
    Other(String),
}

impl AttributeType {
    /// Recognises a type written as a name (`cn`, `commonName`) or a dotted
    /// OID (`2.5.4.3`, `OID.2.5.4.3`). Surrounding whitespace is ignored.
    pub fn from_name(name: &str) -> Result<Self, DnError> {
        let name = name.trim();
        let invalid = || DnError::InvalidAttributeType {
            name: abbreviate(name),
        };
        let body = match name.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("OID.") => {
                let body = name.get(4..).unwrap_or_default();
                if !is_numeric_oid(body) {
                    return Err(invalid());
                }
                body
            }
            _ => name,
        };
        if is_numeric_oid(body) {
            return Ok(Self::known(body).unwrap_or_else(|| Self::Other(body.to_string())));
        }
        let mut chars = body.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !starts_with_letter || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid());
        }
        let upper = body.to_ascii_uppercase();
        Ok(Self::known(&upper).unwrap_or(Self::Other(upper)))
    }

    /// `upper` is an upper-cased name or a numeric OID.
    fn known(upper: &str) -> Option<Self> {
        Some(match upper {
            "CN" | "COMMONNAME" | "2.5.4.3" => Self::CommonName,
            "O" | "ORGANIZATIONNAME" | "2.5.4.10" => Self::Organization,
            "OU" | "ORGANIZATIONALUNITNAME" | "2.5.4.11" => Self::OrganizationalUnit,
            "L" | "LOCALITYNAME" | "2.5.4.7" => Self::Locality,
            "ST" | "S" | "STATEORPROVINCENAME" | "2.5.4.8" => Self::StateOrProvince,
            "C" | "COUNTRYNAME" | "2.5.4.6" => Self::Country,
            "STREET" | "STREETADDRESS" | "2.5.4.9" => Self::Street,
            "E" | "EMAIL" | "EMAILADDRESS" | "1.2.840.113549.1.9.1" => Self::Email,
            "DC" | "DOMAINCOMPONENT" | "0.9.2342.19200300.100.1.25" => Self::DomainComponent,
            "UID" | "USERID" | "0.9.2342.19200300.100.1.1" => Self::UserId,
            "SERIALNUMBER" | "2.5.4.5" => Self::SerialNumber,
            "T" | "TITLE" | "2.5.4.12" => Self::Title,
            "G" | "GN" | "GIVENNAME" | "2.5.4.42" => Self::GivenName,
            "SN" | "SURNAME" | "2.5.4.4" => Self::Surname,
            _ => return None,
        })
    }

    /// The canonical name used when displaying: the short name of a known
    /// type, otherwise the stored upper-case name or dotted OID.
    pub fn name(&self) -> &str {
        match self {
            Self::CommonName => "CN",
            Self::Organization => "O",
            Self::OrganizationalUnit => "OU",
            Self::Locality => "L",
            Self::StateOrProvince => "ST",
            Self::Country => "C",
            Self::Street => "STREET",
            Self::Email => "E",
            Self::DomainComponent => "DC",
            Self::UserId => "UID",
            Self::SerialNumber => "SERIALNUMBER",
            Self::Title => "T",
            Self::GivenName => "G",
            Self::Surname => "SN",
            Self::Other(name) => name,
        }
    }

    /// The dotted OID, when known: always for the named variants, and for
    /// [`AttributeType::Other`] when it was written as an OID.
    pub fn oid(&self) -> Option<&str> {
        Some(match self {
            Self::CommonName => "2.5.4.3",
            Self::Organization => "2.5.4.10",
            Self::OrganizationalUnit => "2.5.4.11",
            Self::Locality => "2.5.4.7",
            Self::StateOrProvince => "2.5.4.8",
            Self::Country => "2.5.4.6",
            Self::Street => "2.5.4.9",
            Self::Email => "1.2.840.113549.1.9.1",
            Self::DomainComponent => "0.9.2342.19200300.100.1.25",
            Self::UserId => "0.9.2342.19200300.100.1.1",
            Self::SerialNumber => "2.5.4.5",
            Self::Title => "2.5.4.12",
            Self::GivenName => "2.5.4.42",
            Self::Surname => "2.5.4.4",
            Self::Other(name) if is_numeric_oid(name) => name,
            Self::Other(_) => return None,
        })
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AttributeType {
    type Err = DnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s)
    }
}

/// Arcs of digits separated by single dots, at least two arcs, no leading
/// zeros (RFC 4512 `numericoid`), so that each OID has one spelling.
fn is_numeric_oid(s: &str) -> bool {
    let mut arcs = 0usize;
    for arc in s.split('.') {
        let ok = !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc == "0" || !arc.starts_with('0'));
        if !ok {
            return false;
        }
        arcs += 1;
    }
    arcs >= 2
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Attribute {
    kind: AttributeType,
    value: String,
    /// `value` trimmed and lowercased character by character, computed once so
    /// that matching on the decision path does not allocate.
    folded: String,
    /// [`attribute_key`] of `kind` and `folded`, computed once: rule indexes look
    /// the attribute up by it, and a match compares it before the strings.
    key: u64,
}

impl Attribute {
    fn new(kind: AttributeType, value: String) -> Attribute {
        let folded = fold(&value);
        let key = attribute_key(&kind, &folded);
        Attribute {
            kind,
            value,
            folded,
            key,
        }
    }
}

fn fold(value: &str) -> String {
    value.trim().chars().flat_map(char::to_lowercase).collect()
}

/// A hash of an attribute's type and folded value: equal attributes have equal keys.
fn attribute_key(kind: &AttributeType, folded: &str) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    kind.hash(&mut hasher);
    folded.hash(&mut hasher);
    hasher.finish()
}

/// A distinguished name: a non-empty, ordered list of attributes.
///
/// Equality is exact (same types, same values, same order); use
/// [`DistinguishedName::matches`] for the policy comparison.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct DistinguishedName {
    attributes: Vec<Attribute>,
}

impl DistinguishedName {
    /// Parses a name in any of the forms described in the [module
    /// documentation](self).
    pub fn parse(text: &str) -> Result<Self, DnError> {
        Parser::new(text).parse()
    }

    /// Builds a name from already decoded attributes, e.g. read from a
    /// certificate. [`AttributeType::Other`] names are normalised as
    /// [`AttributeType::from_name`] does; values are taken as they are.
    pub fn from_attributes<I>(attributes: I) -> Result<Self, DnError>
    where
        I: IntoIterator<Item = (AttributeType, String)>,
    {
        let attributes = attributes
            .into_iter()
            .map(|(kind, value)| {
                let kind = match kind {
                    AttributeType::Other(name) => AttributeType::from_name(&name)?,
                    known => known,
                };
                Ok(Attribute::new(kind, value))
            })
            .collect::<Result<Vec<_>, DnError>>()?;
        if attributes.is_empty() {
            return Err(DnError::Empty);
        }
        Ok(Self { attributes })
    }

    /// True when every attribute of `condition` is also in `self` with the
    /// same type and the same value, compared without surrounding whitespace
    /// and ignoring case. Order and repetitions in `self` do not matter.
    pub fn matches(&self, condition: &DistinguishedName) -> bool {
        condition.attributes.iter().all(|wanted| {
            self.attributes.iter().any(|have| {
                have.key == wanted.key && have.kind == wanted.kind && have.folded == wanted.folded
            })
        })
    }

    /// The key of each attribute, in order: a hash of its type and folded value, the
    /// same for attributes that [`DistinguishedName::matches`] takes as equal.
    pub(crate) fn attribute_keys(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.attributes.iter().map(|a| a.key)
    }

    /// The attributes in order, each as its type, its value as written (after
    /// unescaping) and the folded value used for matching.
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = (&AttributeType, &str, &str)> + '_ {
        self.attributes
            .iter()
            .map(|a| (&a.kind, a.value.as_str(), a.folded.as_str()))
    }

    /// The value of the first attribute of type `kind`, as written.
    pub fn get(&self, kind: &AttributeType) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| &a.kind == kind)
            .map(|a| a.value.as_str())
    }
}

impl FromStr for DistinguishedName {
    type Err = DnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn write_hex_escaped(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        write!(f, "\\{b:02X}")?;
    }
    Ok(())
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let at_edge = i == 0 || i == last;
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            '#' if i == 0 => f.write_str("\\#")?,
            ' ' if at_edge => f.write_str("\\ ")?,
            // The parser trims unescaped whitespace at the ends, so any other
            // whitespace there must be escaped; control characters are escaped
            // anywhere so that the text stays readable on one line.
            c if c.is_control() || (at_edge && c.is_whitespace()) => write_hex_escaped(f, c)?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

impl fmt::Display for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.attributes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(a.kind.name())?;
            f.write_char('=')?;
            write_value(f, &a.value)?;
        }
        Ok(())
    }
}

impl Serialize for DistinguishedName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DistinguishedName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DistinguishedName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a distinguished name like `CN=Contoso Ltd, O=Contoso Ltd`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DistinguishedName, E> {
                DistinguishedName::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Why a text is not a distinguished name. Positions are 1-based and counted
/// in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnError {
    /// The text holds no attribute at all.
    Empty,
    /// Nothing between two separators, or a separator at the end.
    EmptyAttribute {
        /// Where the attribute was expected.
        position: usize,
    },
    /// An attribute without `=`.
    MissingEquals {
        /// The attribute as written (abbreviated when long).
        text: String,
        /// Where it starts.
        position: usize,
    },
    /// Nothing before `=`.
    EmptyAttributeType {
        /// Position of the `=`.
        position: usize,
    },
    /// A type that is neither a name nor a dotted OID.
    InvalidAttributeType {
        /// The type as written (abbreviated when long).
        name: String,
    },
    /// A quoted value without its closing quote.
    UnterminatedQuote {
        /// The attribute type as written.
        attribute: String,
        /// Position of the opening quote.
        position: usize,
    },
    /// Something other than a separator after a closing quote.
    TextAfterQuote {
        /// The attribute type as written.
        attribute: String,
        /// Position of the unexpected character.
        position: usize,
    },
    /// A backslash not followed by an escapable character or two hex digits.
    BadEscape {
        /// The attribute type as written.
        attribute: String,
        /// Position of the backslash.
        position: usize,
    },
    /// `\XX` escapes that do not form UTF-8.
    InvalidUtf8 {
        /// The attribute type as written.
        attribute: String,
        /// Where the value starts.
        position: usize,
    },
}

impl fmt::Display for DnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnError::Empty => f.write_str("empty distinguished name: expected attributes like `CN=Contoso Ltd, O=Contoso Ltd`"),
            DnError::EmptyAttribute { position } => write!(
                f,
                "missing attribute at position {position}: a separator is doubled or comes last"
            ),
            DnError::MissingEquals { text, position } => write!(
                f,
                "`{text}` at position {position} is not an attribute: expected `type=value`"
            ),
            DnError::EmptyAttributeType { position } => {
                write!(f, "missing attribute type before `=` at position {position}")
            }
            DnError::InvalidAttributeType { name } => write!(
                f,
                "`{name}` is not an attribute type: use a name like `CN` or an OID like `2.5.4.3`"
            ),
            DnError::UnterminatedQuote { attribute, position } => write!(
                f,
                "unterminated quote in the value of `{attribute}` starting at position {position}"
            ),
            DnError::TextAfterQuote { attribute, position } => write!(
                f,
                "unexpected text at position {position} after the quoted value of `{attribute}`"
            ),
            DnError::BadEscape { attribute, position } => write!(
                f,
                "invalid escape at position {position} in the value of `{attribute}`: \
                 a backslash must be followed by one of `,+\"\\;<>=#/` or a space, \
                 or by two hexadecimal digits"
            ),
            DnError::InvalidUtf8 { attribute, position } => write!(
                f,
                "the `\\XX` escapes in the value of `{attribute}` at position {position} \
                 do not form valid UTF-8"
            ),
        }
    }
}

impl std::error::Error for DnError {}

/// Keeps error messages readable when the input is huge.
fn abbreviate(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", s.get(..end).unwrap_or_default()),
        None => s.to_string(),
    }
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    slash_form: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            slash_form: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// 1-based character position of byte offset `at`; only used for errors,
    /// so the linear count does not matter.
    fn position(&self, at: usize) -> usize {
        self.text.get(..at).map_or(at, |s| s.chars().count()) + 1
    }

    fn is_separator(&self, c: char) -> bool {
        if self.slash_form {
            c == '/'
        } else {
            matches!(c, ',' | ';' | '+')
        }
    }

    fn at_separator_or_end(&self) -> bool {
        self.peek().is_none_or(|c| self.is_separator(c))
    }

    fn parse(mut self) -> Result<DistinguishedName, DnError> {
        self.skip_whitespace();
        if self.peek().is_none() {
            return Err(DnError::Empty);
        }
        if self.peek() == Some('/') {
            self.slash_form = true;
            self.bump();
        }
        let mut attributes = Vec::new();
        loop {
            attributes.push(self.attribute()?);
            // `attribute` stops at a separator or the end.
            if self.bump().is_none() {
                break;
            }
        }
        Ok(DistinguishedName { attributes })
    }

    fn attribute(&mut self) -> Result<Attribute, DnError> {
        self.skip_whitespace();
        let start = self.pos;
        if self.at_separator_or_end() {
            return Err(DnError::EmptyAttribute {
                position: self.position(start),
            });
        }
        while self.peek() != Some('=') {
            if self.at_separator_or_end() {
                let written = self.text.get(start..self.pos).unwrap_or_default().trim();
                return Err(DnError::MissingEquals {
                    text: abbreviate(written),
                    position: self.position(start),
                });
            }
            self.bump();
        }
        let written = self.text.get(start..self.pos).unwrap_or_default().trim();
        if written.is_empty() {
            return Err(DnError::EmptyAttributeType {
                position: self.position(self.pos),
            });
        }
        let kind = AttributeType::from_name(written)?;
        let attribute = abbreviate(written);
        self.bump();
        self.skip_whitespace();
        let value_start = self.pos;
        let bytes = if self.peek() == Some('"') {
            self.quoted_value(&attribute)?
        } else {
            self.unquoted_value(&attribute)?
        };
        let value = String::from_utf8(bytes).map_err(|_| DnError::InvalidUtf8 {
            attribute,
            position: self.position(value_start),
        })?;
        Ok(Attribute::new(kind, value))
    }

    fn quoted_value(&mut self, attribute: &str) -> Result<Vec<u8>, DnError> {
        let open = self.pos;
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(DnError::UnterminatedQuote {
                        attribute: attribute.to_string(),
                        position: self.position(open),
                    })
                }
                Some('"') => {
                    self.bump();
                    break;
                }
                Some('\\') => self.escape(attribute, &mut out)?,
                Some(c) => {
                    push_char(&mut out, c);
                    self.bump();
                }
            }
        }
        self.skip_whitespace();
        if !self.at_separator_or_end() {
            return Err(DnError::TextAfterQuote {
                attribute: attribute.to_string(),
                position: self.position(self.pos),
            });
        }
        Ok(out)
    }

    fn unquoted_value(&mut self, attribute: &str) -> Result<Vec<u8>, DnError> {
        let mut out = Vec::new();
        // Length of `out` up to its last character that is not unescaped
        // whitespace: whitespace before a separator belongs to the separator.
        let mut keep = 0;
        while !self.at_separator_or_end() {
            match self.peek() {
                Some('\\') => {
                    self.escape(attribute, &mut out)?;
                    keep = out.len();
                }
                Some(c) => {
                    push_char(&mut out, c);
                    self.bump();
                    if !c.is_whitespace() {
                        keep = out.len();
                    }
                }
                None => break,
            }
        }
        out.truncate(keep);
        Ok(out)
    }

    /// Reads one escape starting at the backslash and appends what it stands for.
    fn escape(&mut self, attribute: &str, out: &mut Vec<u8>) -> Result<(), DnError> {
        let backslash = self.pos;
        self.bump();
        let bad = |p: &Self| DnError::BadEscape {
            attribute: attribute.to_string(),
            position: p.position(backslash),
        };
        match self.bump() {
            Some(c @ (',' | '+' | '"' | '\\' | ';' | '<' | '>' | '=' | '#' | ' ' | '/')) => {
                push_char(out, c);
                Ok(())
            }
            Some(high) if high.is_ascii_hexdigit() => {
                let low = self.bump().filter(char::is_ascii_hexdigit);
                match (high.to_digit(16), low.and_then(|c| c.to_digit(16))) {
                    // Both are below 16, so the byte cannot overflow.
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        Ok(())
                    }
                    _ => Err(bad(self)),
                }
            }
            _ => Err(bad(self)),
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests;
