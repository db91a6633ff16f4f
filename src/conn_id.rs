//! Connection ids: 128 random bits, base64url without padding (22 characters).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Random bytes per connection id.
pub const BYTES: usize = 16;

/// A fresh connection id, or `None` when the platform has no randomness to give
/// (the caller refuses the connection rather than hand out a guessable id).
pub fn generate() -> Option<String> {
    let mut bytes = [0u8; BYTES];
    getrandom::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_url_safe_characters_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).filter_map(|_| generate()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 22);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }
}
