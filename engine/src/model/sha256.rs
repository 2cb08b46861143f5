//! SHA-256 digests as written in policy bundles: 64 hexadecimal digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SHA-256 digest (of a file, or of a certificate as its thumbprint).
///
/// Parsed from exactly 64 hexadecimal digits in either case and displayed in
/// lowercase, so two spellings of the same digest compare equal.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The 32 raw bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Why a text is not a SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sha256Error {
    /// The text does not have exactly 64 characters.
    Length {
        /// How many characters were found.
        found: usize,
    },
    /// A character is not a hexadecimal digit.
    NotHex {
        /// The offending character.
        character: char,
        /// Its 1-based position, counted in characters.
        position: usize,
    },
}

impl fmt::Display for Sha256Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sha256Error::Length { found } => {
                write!(f, "expected 64 hexadecimal digits, found {found}")
            }
            Sha256Error::NotHex {
                character,
                position,
            } => write!(
                f,
                "`{}` at position {position} is not a hexadecimal digit",
                character.escape_debug()
            ),
        }
    }
}

impl std::error::Error for Sha256Error {}

fn hex_value(c: char) -> Option<u8> {
    // `to_digit` returns at most 15 for radix 16, so the cast cannot truncate.
    c.to_digit(16).map(|d| d as u8)
}

impl FromStr for Sha256 {
    type Err = Sha256Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Report the first bad character before the length: "`g` at position 5"
        // is more useful than "found 63" when both are wrong.
        let mut bytes = [0u8; 32];
        let mut count = 0usize;
        for (i, c) in s.chars().enumerate() {
            let Some(v) = hex_value(c) else {
                return Err(Sha256Error::NotHex {
                    character: c,
                    position: i + 1,
                });
            };
            if let Some(b) = bytes.get_mut(i / 2) {
                *b = (*b << 4) | v;
            }
            count = i + 1;
        }
        if count != 64 {
            return Err(Sha256Error::Length { found: count });
        }
        Ok(Sha256(bytes))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Sha256;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a SHA-256 digest as 64 hexadecimal digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Sha256, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_displays_lowercase() {
        let h: Sha256 = EMPTY.to_uppercase().parse().unwrap();
        assert_eq!(h.to_string(), EMPTY);
        assert_eq!(h.as_bytes()[0], 0xe3);
        assert_eq!(h.as_bytes()[31], 0x55);
        assert_eq!(h, EMPTY.parse().unwrap());
        assert_eq!(format!("{h:?}"), format!("Sha256({EMPTY})"));
    }

    #[test]
    fn rejects_wrong_length() {
        let e = EMPTY[..63].parse::<Sha256>().unwrap_err();
        assert_eq!(e.to_string(), "expected 64 hexadecimal digits, found 63");
        let e = format!("{EMPTY}0").parse::<Sha256>().unwrap_err();
        assert_eq!(e.to_string(), "expected 64 hexadecimal digits, found 65");
        let e = "".parse::<Sha256>().unwrap_err();
        assert_eq!(e.to_string(), "expected 64 hexadecimal digits, found 0");
    }

    #[test]
    fn rejects_non_hex() {
        let mut s = EMPTY.to_string();
        s.replace_range(4..5, "g");
        let e = s.parse::<Sha256>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`g` at position 5 is not a hexadecimal digit"
        );
        let e = format!(" {EMPTY}").parse::<Sha256>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "` ` at position 1 is not a hexadecimal digit"
        );
        let e = format!("{}\n", &EMPTY[..63]).parse::<Sha256>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`\\n` at position 64 is not a hexadecimal digit"
        );
        // Multi-byte characters count as one position and never split a byte.
        let e = "é".repeat(64).parse::<Sha256>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`é` at position 1 is not a hexadecimal digit"
        );
        // Non-ASCII digits are not hexadecimal digits.
        assert!("٣".repeat(64).parse::<Sha256>().is_err());
    }

    #[test]
    fn serde_round_trip_and_error() {
        let h: Sha256 = EMPTY.parse().unwrap();
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Sha256>(&json).unwrap(), h);
        let e = serde_json::from_str::<Sha256>("\"abc\"").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("expected 64 hexadecimal digits, found 3"));
        assert!(serde_json::from_str::<Sha256>("42").is_err());
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Sha256>();
        check::<Sha256Error>();
    }

    proptest! {
        #[test]
        fn round_trip(bytes in any::<[u8; 32]>(), upper in any::<bool>()) {
            let h = Sha256(bytes);
            let s = if upper { h.to_string().to_uppercase() } else { h.to_string() };
            prop_assert_eq!(s.parse::<Sha256>().unwrap(), h);
        }

        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = s.parse::<Sha256>();
        }
    }
}
