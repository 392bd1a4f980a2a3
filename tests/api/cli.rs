//! The `confab` binary as a new user runs it: the embedded PostgreSQL, the
//! printed key, admin commands beside a running server, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::succeeded;

const BINARY: &str = env!("CARGO_BIN_EXE_confab");

/// A free TCP port on loopback.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn confab(data_dir: &Path, run_as: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_remove("DATABASE_URL")
        .env("CONFAB_DATA_DIR", data_dir)
        .env("CONFAB_LOG", "warn")
        .current_dir(data_dir);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid).env("HOME", data_dir);
    }
    command
}

struct Server {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Server {
    fn start(data_dir: &Path, port: u16, run_as: Option<(u32, u32)>) -> Server {
        let mut child = confab(data_dir, run_as)
            .arg("serve")
            .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start confab serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    /// Stdout lines until the one announcing GraphiQL.
    fn wait_until_serving(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let done = line.contains("GraphiQL at");
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(_) => break,
            }
        }
        panic!("confab serve did not come up; it printed {seen:?}");
    }

    /// SIGTERM, then wait for a clean exit.
    fn terminate(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "confab exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn printed_key(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| line.trim())
        .find(|line| line.starts_with("cfk_"))
        .unwrap_or_else(|| panic!("no api key printed in {lines:?}"))
        .to_string()
}

fn graphql(port: u16, token: &str, query: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json")
    })
}

fn cluster_is_running(data_dir: &Path) -> bool {
    data_dir.join("pg/postmaster.pid").exists()
}

fn run_cli(data_dir: &Path, run_as: Option<(u32, u32)>, args: &[&str]) -> String {
    let output = confab(data_dir, run_as)
        .args(args)
        .output()
        .expect("run confab");
    succeeded(&output, &format!("confab {args:?}")).0
}

/// The README's first command, end to end, as whoever runs the tests.
fn embedded_server_lifecycle(data_dir: &Path, run_as: Option<(u32, u32)>) {
    let port = free_port();
    let server = Server::start(data_dir, port, run_as);
    let lines = server.wait_until_serving();
    let key = printed_key(&lines);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("http://127.0.0.1:{port}/"))),
        "{lines:?}"
    );

    let created = graphql(
        port,
        &key,
        "mutation { createContact(input: {firstName: \"Ada\", phone: \"+14155550100\"}) { contact { id } userErrors { code } } }",
    );
    assert_eq!(
        created["data"]["createContact"]["userErrors"],
        json!([]),
        "{created}"
    );

    // Admin commands share the running server's cluster and leave it running.
    let org_key = run_cli(data_dir, run_as, &["org", "create", "globex"]);
    let org_key = org_key.trim();
    assert!(
        org_key.starts_with("cfk_") && !org_key.contains('\n'),
        "only the key: {org_key:?}"
    );
    let user_token = run_cli(
        data_dir,
        run_as,
        &[
            "user",
            "create",
            "--org",
            "globex",
            "--name",
            "Grace",
            "--email",
            "grace@globex.test",
        ],
    );
    // `user create` prints the user's id, then its token.
    let (user_id, user_token) = user_token.trim().split_once(' ').expect("id and token");
    assert!(user_id.starts_with("usr_"), "{user_id:?}");
    assert!(user_token.starts_with("cfu_"), "{user_token:?}");
    assert!(cluster_is_running(data_dir));
    search_language_by_cli(data_dir, run_as, port);

    let listed = graphql(
        port,
        &key,
        "{ contacts { totalCount edges { node { firstName phone } } } }",
    );
    assert_eq!(listed["data"]["contacts"]["totalCount"], 1, "{listed}");
    let viewer = graphql(
        port,
        user_token,
        "{ viewer { organization { name } user { email } } contacts { totalCount } }",
    );
    assert_eq!(viewer["data"]["viewer"]["organization"]["name"], "globex");
    assert_eq!(
        viewer["data"]["viewer"]["user"]["email"],
        "grace@globex.test"
    );
    assert_eq!(
        viewer["data"]["contacts"]["totalCount"], 0,
        "tenants are separate"
    );

    server.terminate();
    assert!(
        !cluster_is_running(data_dir),
        "the last user stops the cluster"
    );

    // A restart reuses the cluster and its data, and prints no new key.
    let server = Server::start(data_dir, port, run_as);
    let lines = server.wait_until_serving();
    assert!(
        !lines.iter().any(|l| l.trim().starts_with("cfk_")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("confab key create --org default")),
        "a restart says how to get a key: {lines:?}"
    );
    let listed = graphql(port, &key, "{ contacts { totalCount } }");
    assert_eq!(listed["data"]["contacts"]["totalCount"], 1);

    // A second server on the same port fails with a one-line hint.
    let output = confab(data_dir, run_as)
        .arg("serve")
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .expect("run confab");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("confab:"))
        .collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(error_lines[0].contains("CONFAB_LISTEN"), "{stderr}");
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");
    server.terminate();
    assert!(!cluster_is_running(data_dir));
}

/// `org create --search-language` and `org set-search-language`.
fn search_language_by_cli(data_dir: &Path, run_as: Option<(u32, u32)>, port: u16) {
    let args = ["org", "create", "initech", "--search-language", "english"];
    let key = run_cli(data_dir, run_as, &args);
    let key = key.trim();
    let thread = graphql(
        port,
        key,
        "mutation { createThread(input: {name: \"t\"}) { thread { id } } }",
    );
    let thread_id = thread["data"]["createThread"]["thread"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{thread}"));
    let send = format!(
        "mutation {{ sendMessage(input: {{threadId: \"{thread_id}\", text: \"running late\"}}) {{ message {{ id }} }} }}"
    );
    graphql(port, key, &send);
    let search = "{ searchMessages(query: \"run\") { edges { node { snippet } } } }";
    let found = graphql(port, key, search);
    assert_eq!(
        found["data"]["searchMessages"]["edges"][0]["node"]["snippet"], "<mark>running</mark> late",
        "{found}"
    );
    run_cli(
        data_dir,
        run_as,
        &["org", "set-search-language", "--org", "initech", "simple"],
    );
    let found = graphql(port, key, search);
    assert_eq!(
        found["data"]["searchMessages"]["edges"],
        json!([]),
        "{found}"
    );
    let refused = confab(data_dir, run_as)
        .args(["org", "set-search-language", "--org", "initech", "klingon"])
        .output()
        .expect("run confab");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("search language"), "{stderr}");
}

#[test]
fn first_run_serves_with_a_printed_key_and_admin_commands_share_the_cluster() {
    let dir = tempdir("confab-cli");
    embedded_server_lifecycle(&dir, None);
    std::fs::remove_dir_all(&dir).ok();
}

/// Under root the cluster runs as `postgres`; check the unprivileged path too
/// by running the binary as `nobody`.
#[test]
fn the_embedded_server_also_runs_as_a_normal_user() {
    if !nix::unistd::geteuid().is_root() {
        // Not root: the test above already ran as a normal user.
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody");
    let dir = tempdir("confab-cli-nobody");
    std::os::unix::fs::chown(&dir, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()))
        .expect("chown");
    embedded_server_lifecycle(&dir, Some((nobody.uid.as_raw(), nobody.gid.as_raw())));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn print_schema_prints_the_sdl_without_a_database() {
    let output = Command::new(BINARY)
        .arg("print-schema")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .expect("run");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        confab::graphql::sdl()
    );
}

fn tempdir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    dir
}
