//! The `operation` label: GraphQL operation names come from callers, so the label takes only
//! names that look like names, and at most [`MAX_NAMES`] distinct ones per process; the rest
//! share `other`. A caller can therefore never grow the metrics without bound.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

/// Distinct operation names labelled per process.
pub const MAX_NAMES: usize = 100;
/// Longest name labelled, as the regular expression `[A-Za-z_][A-Za-z0-9_]{0,63}` allows.
const MAX_LEN: usize = 64;

pub const ANONYMOUS: &str = "anonymous";
pub const OTHER: &str = "other";

static SEEN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// The label of an operation named `name` (`None`: anonymous).
pub fn label(name: Option<&str>) -> String {
    let Some(name) = name else {
        return ANONYMOUS.to_owned();
    };
    if !is_name(name) {
        return OTHER.to_owned();
    }
    let Ok(mut seen) = SEEN.lock() else {
        return OTHER.to_owned();
    };
    if seen.contains(name) {
        return name.to_owned();
    }
    if seen.len() >= MAX_NAMES {
        return OTHER.to_owned();
    }
    seen.insert(name.to_owned());
    name.to_owned()
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && name.len() <= MAX_LEN && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_that_look_like_names_are_labels() {
        assert!(is_name("RecordUsage"));
        assert!(is_name("_x9"));
        assert!(!is_name("9x"));
        assert!(!is_name(""));
        assert!(!is_name("a-b"));
        assert!(!is_name("é"));
        assert!(is_name(&"a".repeat(64)));
        assert!(!is_name(&"a".repeat(65)));
        assert_eq!(label(None), ANONYMOUS);
        assert_eq!(label(Some("bad name")), OTHER);
    }

    #[test]
    fn past_the_cap_new_names_are_other_and_known_ones_stay() {
        let known = label(Some("KnownBeforeTheCap"));
        assert_eq!(known, "KnownBeforeTheCap");
        for i in 0..MAX_NAMES {
            label(Some(&format!("Filler{i}")));
        }
        assert_eq!(label(Some("OneTooMany")), OTHER);
        assert_eq!(label(Some("KnownBeforeTheCap")), "KnownBeforeTheCap");
    }
}
