//! The authorization matrix: every field of every object type, each through one path in a
//! row of its own, × every kind of caller, each cell asserted. What a row covers is read from
//! its query; a field without a row fails `every_field_has_a_row`.

mod rows;
mod selection;
mod world;

use std::collections::BTreeSet;
use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};
use selection::Types;
use world::{CALLERS, World};

pub struct Row {
    /// One path from a root field to one leaf (`selection::Types::path` holds it to that).
    query: String,
    variables: fn(&World) -> Value,
    /// One letter per caller, in the order of [`CALLERS`]; spaces only group them.
    expect: &'static str,
    /// The row changes what other cells rely on: see `rows::Row::destructive`.
    destructive: bool,
}

impl Row {
    fn cells(&self) -> Vec<(usize, char)> {
        let letters: Vec<char> = self.expect.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(
            letters.len(),
            CALLERS.len(),
            "{}: one expectation per caller",
            self.query
        );
        letters.into_iter().enumerate().collect()
    }
}

/// One cell's expectation, by letter: O allowed, U UNAUTHENTICATED, F FORBIDDEN, N NOT_FOUND.
fn expected(letter: char) -> Option<&'static str> {
    match letter {
        'O' => None,
        'U' => Some("UNAUTHENTICATED"),
        'F' => Some("FORBIDDEN"),
        'N' => Some("NOT_FOUND"),
        other => panic!("unknown expectation {other}"),
    }
}

/// Runs one cell; a description of what went wrong when it did not answer as expected.
async fn check(
    app: &TestApp,
    world: &World,
    row: &Row,
    cell: usize,
    letter: char,
) -> Option<String> {
    let token = world.tokens[cell].as_deref();
    let response = app.graphql(&row.query, (row.variables)(world), token).await;
    let verdict = match expected(letter) {
        None if response.get("errors").is_none() && !response["data"].is_null() => return None,
        None => "expected success".to_owned(),
        Some(code) => match (
            response["errors"][0]["extensions"]["code"].as_str(),
            leak(&response["data"]),
        ) {
            (Some(got), None) if got == code => return None,
            (_, Some(value)) => format!("expected {code} and nothing read, but {value} came back"),
            _ => format!("expected {code}"),
        },
    };
    Some(format!(
        "{} as {}: {verdict}; got {response}",
        row.query.split_whitespace().collect::<Vec<_>>().join(" "),
        CALLERS[cell]
    ))
}

/// Any value a refused request let through: its rows select one leaf, so a refusal leaves
/// nothing but nulls and empty containers.
fn leak(data: &Value) -> Option<&Value> {
    match data {
        Value::Null => None,
        Value::Array(items) => items.iter().find_map(leak),
        Value::Object(fields) => fields.values().find_map(leak),
        scalar => Some(scalar),
    }
}

#[tokio::test]
async fn every_caller_gets_exactly_what_its_rights_allow() {
    let started = Instant::now();
    let rows = rows::all();
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let mut failures = Vec::new();
    let mut cells = 0;
    // One world for every row that leaves the others' world as it found it, then for the
    // refusals of those that do not (a refusal changes nothing).
    let shared = rows.iter().filter(|row| !row.destructive);
    let destructive = rows.iter().filter(|row| row.destructive);
    let mut isolated = Vec::new();
    for row in shared.chain(destructive) {
        for (cell, letter) in row.cells() {
            cells += 1;
            if row.destructive && letter == 'O' {
                isolated.push((row, cell, letter));
                continue;
            }
            failures.extend(check(&app, &world, row, cell, letter).await);
        }
    }
    // Each cell a destructive row allows, in a world of its own (logging the owner out ends
    // the narrowed token's session too, rotating the key ends the SDK's).
    let alone = futures::stream::iter(isolated)
        .map(|(row, cell, letter)| async move {
            let app = spawn_app().await;
            let world = World::build(&app).await;
            check(&app, &world, row, cell, letter).await
        })
        .buffer_unordered(2)
        .collect::<Vec<_>>()
        .await;
    failures.extend(alone.into_iter().flatten());
    eprintln!(
        "authorization matrix: {} rows, {cells} cells in {:.1?}",
        rows.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_field_has_a_row() {
    let app = spawn_app().await;
    let types = Types::introspect(&app).await;
    let covered: BTreeSet<_> = rows::all()
        .iter()
        .flat_map(|row| {
            row.cells();
            types.path(&row.query)
        })
        .collect();
    let missing: Vec<_> = types
        .guarded_surface()
        .difference(&covered)
        .map(|(ty, field)| format!("{ty}.{field}"))
        .collect();
    assert!(
        missing.is_empty(),
        "fields without a row in the matrix: {missing:?}"
    );
}
