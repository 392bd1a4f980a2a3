//! Generated files are regenerated here and must match what is checked in.

use std::process::Command;

use crate::helpers::{fresh_database, run_to_success};

#[test]
fn schema_graphql_is_what_the_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    let exported = confab::graphql::sdl();
    assert!(
        checked_in == exported,
        "schema.graphql is out of date: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[tokio::test]
async fn schema_rs_is_what_diesel_prints_for_the_migrated_database() {
    let database_url = fresh_database().await;
    let mut diesel = Command::new("diesel");
    diesel
        .args(["print-schema", "--database-url", &database_url])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let what = "`diesel print-schema` (diesel_cli; scripts/test installs it)";
    let (printed, _) = run_to_success(diesel, what).await;
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs"))
            .unwrap_or_default();
    assert!(
        printed == checked_in,
        "src/db/schema.rs is out of date: run `diesel print-schema` against a migrated database"
    );
}
