//! Parsing of user input into the values the rules work with ("parse, don't validate").

use crate::error::AppError;

/// Longest e-mail address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
/// Longest name of a person, business or plan.
const MAX_NAME: usize = 200;

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

/// A required display name: trimmed, 1 to 200 characters.
///
/// # Errors
/// `BAD_USER_INPUT` naming `field`.
pub fn name(raw: &str, field: &str) -> Result<String, AppError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {MAX_NAME} printable characters"),
        ));
    }
    Ok(name.to_owned())
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
    fn names_must_not_be_blank() {
        assert!(name("   ", "name").is_err());
        assert_eq!(name(" Acme ", "name").expect("valid"), "Acme");
        assert!(name(&"x".repeat(201), "name").is_err());
    }
}
