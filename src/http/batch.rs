//! Batches: a body may be one GraphQL request or a JSON array of at most [`MAX_BATCH`] of
//! them (as Apollo's `BatchHttpLink` sends). Each operation of a batch goes through the same
//! document limits, authentication and execution as a request sent alone, and the answer is
//! the array of their answers in order. The request timeout covers the whole HTTP request.

use async_graphql::Request;

/// Most operations one HTTP request may carry.
pub const MAX_BATCH: usize = 10;

/// The operations of one HTTP body.
pub enum Requests {
    Single(Box<Request>),
    Batch(Vec<Request>),
}

/// Parses a body as one request, or as an array of 1 to [`MAX_BATCH`] requests.
///
/// # Errors
/// A message for the client: the body is not a GraphQL request (or an array of them), or the
/// array is empty or longer than [`MAX_BATCH`].
pub fn parse(body: &[u8]) -> Result<Requests, String> {
    let is_array = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'[');
    if !is_array {
        return serde_json::from_slice(body)
            .map(|request| Requests::Single(Box::new(request)))
            .map_err(|err| format!("the body is not a GraphQL request: {err}"));
    }
    // Counted before the elements are parsed: a long array is refused without reading them.
    let elements: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body)
        .map_err(|err| format!("the body is not a GraphQL request or a batch of them: {err}"))?;
    if elements.is_empty() || elements.len() > MAX_BATCH {
        return Err(format!(
            "a batch holds 1 to {MAX_BATCH} operations; this one holds {}",
            elements.len()
        ));
    }
    elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            serde_json::from_str(element.get()).map_err(|err| {
                format!("operation {i} of the batch is not a GraphQL request: {err}")
            })
        })
        .collect::<Result<Vec<Request>, String>>()
        .map(Requests::Batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> &'static str {
        r#"{"query":"{ plans { code } }"}"#
    }

    #[test]
    fn one_request_or_an_array_up_to_the_cap_is_accepted() {
        assert!(matches!(parse(op().as_bytes()), Ok(Requests::Single(_))));
        let batch = format!("  [{}]", [op(); MAX_BATCH].join(","));
        match parse(batch.as_bytes()) {
            Ok(Requests::Batch(requests)) => assert_eq!(requests.len(), MAX_BATCH),
            _ => panic!("a full batch parses"),
        }
    }

    fn refusal(body: &[u8]) -> String {
        match parse(body) {
            Err(message) => message,
            Ok(_) => panic!("{} must be refused", String::from_utf8_lossy(body)),
        }
    }

    #[test]
    fn empty_long_or_malformed_batches_are_refused_with_a_reason() {
        let long = format!("[{}]", [op(); MAX_BATCH + 1].join(","));
        assert!(refusal(long.as_bytes()).contains("1 to 10"));
        assert!(refusal(b"[]").contains("holds 0"));
        let bad = format!("[{},{{\"query\":5}}]", op());
        assert!(refusal(bad.as_bytes()).starts_with("operation 1"));
        assert!(refusal(b"{").starts_with("the body is not"));
    }
}
