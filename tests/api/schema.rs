/// `schema.graphql` is the public contract; it must be what the code serves.
#[test]
fn committed_schema_graphql_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = saaskit::graphql::sdl();
    assert!(
        committed == current,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn the_schema_command_prints_the_sdl() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_saaskit"))
        .arg("schema")
        .env("SAASKIT_CYCLE_EVERY", "not a duration")
        .output()
        .expect("saaskit runs");
    assert!(output.status.success(), "needs no valid settings");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        saaskit::graphql::sdl()
    );
}
