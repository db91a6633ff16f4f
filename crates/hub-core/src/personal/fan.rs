//! One backend call over many users' objects (`POST /api/users/broadcast`): what it
//! answers from each object's answer. Keys are kept per user object, and an object
//! that has seen the key delivers nothing; so the call is a duplicate only when every
//! listed user's object had seen it, and then `delivered` is the first call's total.

/// One user object's answer to a broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserSent {
    /// Sockets reached now; for a duplicate, the first call's count there.
    pub delivered: usize,
    pub duplicate: bool,
}

/// The call's answer: (`delivered`, `duplicate`).
pub fn total(answers: &[UserSent]) -> (usize, bool) {
    let duplicate = !answers.is_empty() && answers.iter().all(|a| a.duplicate);
    let delivered = answers
        .iter()
        .filter(|a| duplicate || !a.duplicate)
        .map(|a| a.delivered)
        .sum();
    (delivered, duplicate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(delivered: usize, duplicate: bool) -> UserSent {
        UserSent {
            delivered,
            duplicate,
        }
    }

    #[test]
    fn a_duplicate_only_when_every_object_had_seen_the_key() {
        assert_eq!(total(&[sent(2, true), sent(3, true)]), (5, true));
        // One object is new to the key: what was sent now, and not a duplicate.
        assert_eq!(total(&[sent(2, true), sent(1, false)]), (1, false));
        assert_eq!(total(&[sent(2, false), sent(0, false)]), (2, false));
        assert_eq!(total(&[]), (0, false));
    }
}
