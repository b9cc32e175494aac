//! A GraphQL lexer that only counts: how many tokens a document holds and how deeply its
//! brackets nest. It runs before the parser, so that neither a huge document nor a deeply
//! nested one ever reaches it (the parser builds a tree for every token and recurses once per
//! bracket).

/// What the scan found, or the first bound it crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    Within { tokens: usize, nesting: usize },
    TooManyTokens { max: usize },
    TooDeep { max: usize },
}

/// Scans `source`, stopping as soon as it holds more than `max_tokens` tokens or nests
/// brackets (`{`, `(`, `[`) more than `max_nesting` deep. Linear in the length of `source`.
pub fn scan(source: &str, max_tokens: usize, max_nesting: usize) -> Scan {
    let bytes = source.as_bytes();
    let (mut at, mut tokens, mut depth, mut deepest) = (0, 0, 0usize, 0);
    while at < bytes.len() {
        let byte = bytes[at];
        at = match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                at += 1;
                continue;
            }
            // The byte-order mark is ignored like white space.
            0xEF if bytes[at..].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                at += 3;
                continue;
            }
            b'#' => {
                at = skip_comment(bytes, at);
                continue;
            }
            b'"' => skip_string(bytes, at),
            b'.' if bytes[at..].starts_with(b"...") => at + 3,
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > max_nesting {
                    return Scan::TooDeep { max: max_nesting };
                }
                at + 1
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                at + 1
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                skip_while(bytes, at, |b| b == b'_' || b.is_ascii_alphanumeric())
            }
            b'-' | b'0'..=b'9' => skip_while(bytes, at + 1, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')
            }),
            // Punctuators, and anything the parser will refuse: one token each.
            _ => at + utf8_len(byte),
        };
        tokens += 1;
        if tokens > max_tokens {
            return Scan::TooManyTokens { max: max_tokens };
        }
    }
    Scan::Within {
        tokens,
        nesting: deepest,
    }
}

fn skip_while(bytes: &[u8], mut at: usize, keep: impl Fn(u8) -> bool) -> usize {
    while at < bytes.len() && keep(bytes[at]) {
        at += 1;
    }
    at
}

fn skip_comment(bytes: &[u8], at: usize) -> usize {
    skip_while(bytes, at, |b| b != b'\n' && b != b'\r')
}

/// Past the end of the string that starts at `at` (a block string `"""…"""` or a quoted one).
fn skip_string(bytes: &[u8], at: usize) -> usize {
    if bytes[at..].starts_with(b"\"\"\"") {
        let mut i = at + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return bytes.len();
    }
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            // An unterminated string ends at the line's end; the parser reports it.
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::{Scan, scan};

    fn tokens(source: &str) -> usize {
        match scan(source, usize::MAX, usize::MAX) {
            Scan::Within { tokens, .. } => tokens,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tokens_are_counted_as_the_grammar_defines_them() {
        assert_eq!(tokens("{ me { id } }"), 6);
        assert_eq!(tokens("query Q($a: Int = -1.5e3) { f(a: $a) }"), 19);
        assert_eq!(tokens("{ a ...F ... on Q { b } } # comment { { {"), 11);
        assert_eq!(tokens(r#"{ f(s: "a \" { b", t: """ x \""" { """) }"#), 11);
        assert_eq!(tokens(",,, \u{feff} { é }"), 3);
    }

    #[test]
    fn the_scan_stops_at_its_bounds() {
        assert_eq!(
            scan(&"{ a ".repeat(10), 100, 5),
            Scan::TooDeep { max: 5 },
            "nesting"
        );
        assert_eq!(
            scan(&"a ".repeat(101), 100, 5),
            Scan::TooManyTokens { max: 100 }
        );
        assert_eq!(
            scan("{ a { b } } { c }", 100, 5),
            Scan::Within {
                tokens: 9,
                nesting: 2
            }
        );
    }
}
