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
        'B' => Some("BAD_USER_INPUT"),
        'C' => Some("CONFLICT"),
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

/// Cells that run in one world at the same time: they leave it as they found it.
const AT_ONCE: usize = 4;

type Cell<'a> = (&'a Row, usize, char);

/// Runs `cells` in `world`, [`AT_ONCE`] at a time; what failed, in the order of `cells`.
async fn check_all(app: &TestApp, world: &World, cells: Vec<Cell<'_>>) -> Vec<String> {
    futures::stream::iter(cells)
        .map(|(row, cell, letter)| check(app, world, row, cell, letter))
        .buffered(AT_ONCE)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// The cells a destructive row allows, each in a fresh world of its own (in a database of the
/// row's own, shared only by the plans): what one cell changes — a revoked invitation, a
/// resumed subscription, a session logged out — is never what another finds, so no verdict
/// depends on the order cells run in, and each is judged once.
async fn allowed_cells(row: &Row) -> Vec<String> {
    let app = spawn_app().await;
    let app = &app;
    let allowed = row.cells().into_iter().filter(|(_, letter)| *letter == 'O');
    futures::stream::iter(allowed)
        .map(|(cell, letter)| async move {
            let world = World::build_as(app, &format!("cell{cell}-")).await;
            check(app, &world, row, cell, letter).await
        })
        .buffered(2)
        .filter_map(std::future::ready)
        .collect()
        .await
}

#[tokio::test]
async fn every_caller_gets_exactly_what_its_rights_allow() {
    let started = Instant::now();
    let rows = rows::all();
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let cells = |destructive: bool, letters: fn(char) -> bool| -> Vec<Cell<'_>> {
        rows.iter()
            .filter(|row| row.destructive == destructive)
            .flat_map(|row| {
                row.cells()
                    .into_iter()
                    .map(move |(cell, letter)| (row, cell, letter))
            })
            .filter(|(_, _, letter)| letters(*letter))
            .collect()
    };
    // One world for every row that leaves it as it found it; then, in the same world, the
    // refusals of the rows that do not (a refusal changes nothing).
    let mut failures = check_all(&app, &world, cells(false, |_| true)).await;
    failures.extend(check_all(&app, &world, cells(true, |letter| letter != 'O')).await);
    let destructive = rows.iter().filter(|row| row.destructive);
    let allowed: Vec<_> = futures::stream::iter(destructive)
        .map(allowed_cells)
        .buffered(2)
        .collect()
        .await;
    failures.extend(allowed.into_iter().flatten());
    eprintln!(
        "authorization matrix: {} rows, {} cells in {:.1?}",
        rows.len(),
        rows.len() * CALLERS.len(),
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
