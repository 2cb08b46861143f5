//! Time-based one-time codes (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), the
//! optional second factor of a sign-in. Secrets travel in base32 (RFC 4648), as
//! authenticator apps take them.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::ServerError;

/// Seconds a code lasts.
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;

/// A new random secret (20 bytes, as RFC 4226 recommends), in base32.
pub fn new_secret() -> Result<String, ServerError> {
    let mut bytes = [0u8; 20];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ServerError::Internal("the system's random source failed".to_owned()))?;
    Ok(base32(&bytes))
}

/// The code of `secret` (base32) for the step that holds `time` (Unix seconds).
pub fn code(secret: &str, time: i64) -> Option<u32> {
    code_at(&unbase32(secret)?, time.div_euclid(STEP))
}

fn code_at(key: &[u8], counter: i64) -> Option<u32> {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let digest = tag.as_ref();
    let offset = usize::from(digest.last()? & 0x0f);
    let word: [u8; 4] = digest.get(offset..offset + 4)?.try_into().ok()?;
    Some((u32::from_be_bytes(word) & 0x7fff_ffff) % 10u32.pow(DIGITS))
}

/// The step `code` is good for at `time`, allowing one step of clock drift either
/// way; `None` when it is good for none. The caller refuses a step already used.
pub fn verify(secret: &str, code: &str, time: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let key = unbase32(secret)?;
    let now = time.div_euclid(STEP);
    (now - 1..=now + 1).find(|step| code_at(&key, *step) == Some(wanted))
}

/// The `otpauth://` URI an authenticator app reads (as a QR code or pasted).
pub fn uri(issuer: &str, account: &str, secret: &str) -> String {
    let label = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        label(issuer),
        label(account),
        label(issuer)
    )
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = usize::try_from((buffer >> bits) & 31).unwrap_or(0);
            out.push(char::from(*ALPHABET.get(index).unwrap_or(&b'A')));
        }
    }
    if bits > 0 {
        let index = usize::try_from((buffer << (5 - bits)) & 31).unwrap_or(0);
        out.push(char::from(*ALPHABET.get(index).unwrap_or(&b'A')));
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|b| *b != b'=' && *b != b' ') {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1: the secret `12345678901234567890`; its 8-digit codes,
    /// whose last 6 digits are the 6-digit codes.
    #[test]
    fn codes_are_rfc_6238s() {
        let secret = base32(b"12345678901234567890");
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (time, eight) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(code(&secret, time), Some(eight % 1_000_000), "at {time}");
        }
    }

    #[test]
    fn verification_allows_one_step_of_drift_and_nothing_else() {
        let secret = base32(b"12345678901234567890");
        let now = 1_111_111_111;
        let at = |t: i64| format!("{:06}", code(&secret, t).unwrap_or_default());
        assert_eq!(verify(&secret, &at(now), now), Some(now / STEP));
        assert_eq!(verify(&secret, &at(now - STEP), now), Some(now / STEP - 1));
        assert_eq!(verify(&secret, &at(now + STEP), now), Some(now / STEP + 1));
        assert_eq!(verify(&secret, &at(now - 3 * STEP), now), None);
        assert_eq!(verify(&secret, "12345", now), None);
        assert_eq!(verify(&secret, "abcdef", now), None);
        assert_eq!(verify("not base32!", "123456", now), None);
        assert_eq!(
            unbase32(&base32(&[0, 255, 7, 9, 1])),
            Some(vec![0, 255, 7, 9, 1])
        );
    }
}
