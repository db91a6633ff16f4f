//! Bearer tokens on server-to-server calls: header parsing and constant-time comparison.
//! Pure.

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

/// Compares two secrets in time that depends only on their lengths' maximum, never on
/// where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Whether `header` carries exactly `expected` as its bearer token.
pub fn authorized(header: Option<&str>, expected: &str) -> bool {
    match token(header) {
        Some(t) => constant_time_eq(t.as_bytes(), expected.as_bytes()),
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
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        assert!(authorized(Some("Bearer s3"), "s3"));
        assert!(!authorized(Some("Bearer s3"), "s4"));
        assert!(!authorized(None, "s3"));
    }
}
