//! Embeds GraphiQL's browser assets in the binary when `scripts/setup` has
//! built them into `web/dist` (from their npm packages; nothing is fetched at
//! run time). Without them the binary still builds, and `/` says how to get them.

use std::fmt::Write as _;
use std::path::Path;

/// Files served under `/graphiql/`, with their content types.
const ASSETS: [(&str, &str); 6] = [
    ("react.production.min.js", "text/javascript; charset=utf-8"),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    ("graphiql.min.js", "text/javascript; charset=utf-8"),
    ("graphiql.min.css", "text/css; charset=utf-8"),
    ("graphql-ws.min.js", "text/javascript; charset=utf-8"),
    ("LICENSES.txt", "text/plain; charset=utf-8"),
];

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    let dist = Path::new(&manifest).join("web").join("dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let complete = ASSETS.iter().all(|(name, _)| dist.join(name).is_file());
    let mut code = String::from("/// GraphiQL's assets: file name, content type, bytes.\n");
    code.push_str("pub const ASSETS: &[(&str, &str, &[u8])] = &[\n");
    if complete {
        for (name, content_type) in ASSETS {
            let path = dist.join(name);
            println!("cargo:rerun-if-changed={}", path.display());
            let _ = writeln!(
                code,
                "    ({name:?}, {content_type:?}, include_bytes!({:?})),",
                path.display().to_string()
            );
        }
    }
    code.push_str("];\n");
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".to_string());
    if let Err(error) = std::fs::write(Path::new(&out).join("graphiql_assets.rs"), code) {
        panic!("cannot write the GraphiQL asset table: {error}");
    }
}
