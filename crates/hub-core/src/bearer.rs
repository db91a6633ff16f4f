//! Bearer tokens on server-to-server calls: header parsing and constant-time comparison.
//! Pure.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn token(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// Compares two secrets without revealing where they differ or how long the expected
/// one is: their SHA-256 digests (fixed length) are compared with `subtle`.
pub fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    let given = Sha256::digest(given);
    let expected = Sha256::digest(expected);
    given.as_slice().ct_eq(expected.as_slice()).into()
}

/// Whether `header` carries exactly `expected` as its bearer token.
pub fn authorized(header: Option<&str>, expected: &str) -> bool {
    match token(header) {
        Some(t) => secrets_equal(t.as_bytes(), expected.as_bytes()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(token(Some("Bearer abc")), Some("abc"));
        assert_eq!(token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(token(Some("Basic abc")), None);
        assert_eq!(token(Some("Bearer ")), None);
        assert_eq!(token(Some("Bearer")), None);
        assert_eq!(token(None), None);
    }

    #[test]
    fn compares_exactly() {
        assert!(secrets_equal(b"secret", b"secret"));
        assert!(!secrets_equal(b"secret", b"secreT"));
        assert!(!secrets_equal(b"secret", b"secret2"));
        assert!(!secrets_equal(b"", b"x"));
        assert!(secrets_equal(b"", b""));
        assert!(authorized(Some("Bearer s3"), "s3"));
        assert!(!authorized(Some("Bearer s3"), "s4"));
        assert!(!authorized(None, "s3"));
    }
}
