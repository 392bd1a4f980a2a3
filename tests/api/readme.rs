//! The README's quick start, run as pasted against a real server: the block
//! between `<!-- quickstart -->` and `<!-- /quickstart -->` is extracted from
//! README.md, so the document and the product cannot drift apart.

use std::path::Path;
use std::process::Command;

use crate::helpers::{TestApp, run_to_success};

fn quick_start() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let block = readme
        .split_once("<!-- quickstart -->")
        .and_then(|(_, rest)| rest.split_once("<!-- /quickstart -->"))
        .map(|(block, _)| block)
        .expect("quick start markers in README.md");
    block
        .trim()
        .strip_prefix("```sh")
        .and_then(|code| code.strip_suffix("```"))
        .expect("one sh code block")
        .to_string()
}

#[tokio::test]
async fn the_readme_quick_start_runs_as_pasted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("web/node_modules/graphql-ws").exists() {
        panic!("web/node_modules is missing: run scripts/setup");
    }
    let app = TestApp::spawn().await;
    let key = app.create_organization("default").await;
    let script = quick_start();
    let mut bash = Command::new("bash");
    bash.args(["-euo", "pipefail", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KEY", key)
        .env("URL", &app.address)
        .env("CONFAB", env!("CARGO_BIN_EXE_confab"))
        .env("DATABASE_URL", &app.database_url)
        .env("CONFAB_LOG", "warn");
    let (stdout, stderr) = run_to_success(bash, "quick start").await;
    let compact: String = stdout.chars().filter(|c| !c.is_whitespace()).collect();
    for expected in [
        "\"created\":true",
        "\"kind\":\"CONTACT\",\"name\":\"AdaLovelace\"",
        "\"kind\":\"USER\",\"name\":\"GraceHopper\"",
        // The subscription's event, printed by web/subscribe.mjs.
        "\"kind\":\"MESSAGE_ADDED\",\"message\":{\"text\":\"Orderorder-",
        "\"totalCount\":1",
        "\"unreadCount\":1",
        "\"unreadCount\":0",
        "\"recentMessages\":[{\"text\":\"Pickuptomorrow9:00\",\"publishedAt\":\"",
        "\"pendingMessages\":[]",
        "\"text\":\"Calledabouttheinvoice\",\"writtenByMe\":true",
    ] {
        assert!(
            compact.contains(expected),
            "{expected} not in:\n{stdout}\n{stderr}"
        );
    }
    assert!(!compact.contains("\"errors\""), "{stdout}");
    assert!(!compact.contains("\"code\""), "a userError in:\n{stdout}");
}
