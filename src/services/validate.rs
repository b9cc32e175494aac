//! Parsing of user input into the values the rules work with ("parse, don't validate").

use crate::error::AppError;

/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
/// Longest name of a person, business or plan.
const MAX_NAME: usize = 200;

/// Which characters a text may hold, beyond what every text may (see [`refused_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextRule {
    /// One line: no control character.
    Line,
    /// Lines: tab, line feed and carriage return too.
    Multiline,
    /// A secret the server only hashes: anything but NUL.
    Secret,
}

/// What `text` holds that `rule` refuses, named by kind and code point (never the text):
/// a control character (U+0000–U+001F, U+007F–U+009F; see [`TextRule`]), a bidirectional
/// control (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) or a Unicode
/// non-character (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF). Secrets refuse only NUL.
pub fn refused_text(text: &str, rule: TextRule) -> Option<String> {
    text.chars().find_map(|c| {
        let code = c as u32;
        let what = match c {
            '\0' => "a NUL character",
            _ if rule == TextRule::Secret => return None,
            '\t' | '\n' | '\r' if rule == TextRule::Multiline => return None,
            _ if c.is_control() => "a control character",
            '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{061C}' => "a bidirectional control",
            _ if (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE => {
                "a Unicode non-character"
            }
            _ => return None,
        };
        Some(format!("{what} (U+{code:04X})"))
    })
}

/// An e-mail address, trimmed and lower-cased.
///
/// # Errors
/// `BAD_USER_INPUT` naming `field` when it does not look like `local@domain.tld`.
pub fn email(raw: &str, field: &str) -> Result<String, AppError> {
    let email = normalize_email(raw);
    let invalid = || AppError::bad_input(field, "enter a valid e-mail address");
    if email.len() > MAX_EMAIL || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let labels_ok = domain
        .split('.')
        .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || !labels_ok
    {
        return Err(invalid());
    }
    Ok(email)
}

/// The form an e-mail is stored and looked up in.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// A required display name: trimmed, 1 to 200 characters, none of them a control character
/// or an invisible formatting one (bidirectional overrides and isolates, zero-width marks and
/// joiners): names are shown to other people — in mail, in a team's member list — and such
/// characters would let one name pass for another, or reorder the text around it.
///
/// # Errors
/// `BAD_USER_INPUT` naming `field`.
pub fn name(raw: &str, field: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if name
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err(AppError::bad_input(
            field,
            "must not contain control, bidirectional or invisible formatting characters",
        ));
    }
    Ok(name.to_owned())
}

/// Formatting characters that change how text around them shows without showing themselves:
/// the bidirectional marks, embeddings, overrides and isolates, the zero-width characters, the
/// word joiner and invisible operators, and the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// An optional display name: empty means none.
///
/// # Errors
/// As [`name`].
pub fn optional_name(raw: Option<&str>, field: &str) -> Result<Option<String>, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => name(value, field).map(Some),
    }
}

/// An id given as a GraphQL `ID`.
///
/// # Errors
/// `BAD_USER_INPUT` naming `field` when it is not a UUID.
pub fn id(raw: &str, field: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| AppError::bad_input(field, "not a valid id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            email("  Ada@Example.COM ", "email").expect("valid"),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@x.com",
            "ada@-x.com",
            "ada@x..com",
        ] {
            assert!(email(bad, "email").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_refuse_control_bidi_and_invisible_characters() {
        for bad in [
            "Acme\u{202E}gnp.exe",
            "Ac\u{2066}me",
            "Ac\u{200B}me",
            "Acme\u{0007}",
            "Ac\nme",
            "\u{FEFF}Acme",
            "Acme\u{0}",
        ] {
            assert!(name(bad, "name").is_err(), "{bad:?}");
        }
        assert_eq!(
            name("Zoë & Søn, Ltd.", "name").expect("valid"),
            "Zoë & Søn, Ltd."
        );
        assert_eq!(
            name("شركة", "name").expect("right-to-left text itself is fine"),
            "شركة"
        );
    }

    #[test]
    fn names_must_not_be_blank() {
        assert!(name("   ", "name").is_err());
        assert_eq!(name(" Acme ", "name").expect("valid"), "Acme");
        assert!(name(&"x".repeat(201), "name").is_err());
    }

    #[test]
    fn each_kind_of_refused_character_is_named_without_the_text() {
        use TextRule::{Line, Multiline, Secret};
        let said = |text: &str, rule| refused_text(text, rule);
        assert_eq!(
            said("a\0b", Line).as_deref(),
            Some("a NUL character (U+0000)")
        );
        assert_eq!(
            said("a\tb", Line).as_deref(),
            Some("a control character (U+0009)")
        );
        assert_eq!(
            said("\u{85}", Line).as_deref(),
            Some("a control character (U+0085)")
        );
        assert_eq!(
            said("evil\u{202E}txt", Line).as_deref(),
            Some("a bidirectional control (U+202E)")
        );
        for refused in [
            "\u{2067}",
            "\u{200F}",
            "\u{061C}",
            "\u{FDD0}",
            "\u{1FFFF}",
            "\u{FFFE}",
        ] {
            assert!(said(refused, Line).is_some(), "{refused:?}");
        }
        assert_eq!(said("Zoë 東京 مرحبا 👩\u{200D}💻", Line), None);
        assert_eq!(said("two\nlines\tand tab\r\n", Multiline), None);
        assert!(said("\u{7}", Multiline).is_some());
        assert_eq!(said("pass\tword\u{202E}", Secret), None);
        assert!(said("pass\0word", Secret).is_some());
    }
}
