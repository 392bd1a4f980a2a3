//! The private PostgreSQL cluster confab runs when no `DATABASE_URL` is set.
//!
//! The cluster lives in `<data dir>/pg`, listens only on a Unix socket, and is
//! shared by every confab process pointed at the same data dir (a server, CLI
//! commands, several test binaries). Each process holds a shared `flock` on
//! `<data dir>/cluster.lock` while it uses the cluster; the last one to leave
//! (the one that can take the lock exclusively) stops it. PostgreSQL refuses to
//! run as root, so under root the cluster runs as the unprivileged `postgres`
//! user.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser created by `initdb`; trust auth, reachable only via the socket.
const SUPERUSER: &str = "confab";
/// The socket's port number; no TCP port is opened.
const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// Why the private cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. confab runs a private PostgreSQL from them when DATABASE_URL \
         is not set. Install them (Debian/Ubuntu: `apt-get install postgresql`; Fedora: `dnf \
         install postgresql-server`; macOS: `brew install postgresql`), or point confab at an \
         existing database with DATABASE_URL=postgres://user@host/db."
    )]
    BinariesNotFound,
    #[error(
        "confab is running as root and PostgreSQL refuses to; it runs the private cluster as the \
         unprivileged user `postgres`, which does not exist here. Create it (`useradd --system \
         postgres`), run confab as a normal user, or set DATABASE_URL."
    )]
    NoUnprivilegedUser,
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// Tuning applied at `initdb` time.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterOptions {
    /// Trade durability for speed (fsync off): for throwaway test clusters only.
    pub ephemeral: bool,
}

/// A running private cluster, in use by this process until dropped.
///
/// Dropping it stops the cluster unless another process still uses it.
#[derive(Debug)]
pub struct Cluster {
    bin_dir: PathBuf,
    pg_data: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    /// Holds the shared lock that marks this process as a user of the cluster.
    lock: File,
}

impl Cluster {
    /// Starts (initialising on first use) or joins the cluster in `data_dir`.
    /// Blocking: call it from `spawn_blocking` inside a runtime.
    pub fn ensure_running(data_dir: &Path, options: ClusterOptions) -> Result<Self, ClusterError> {
        let bin_dir = find_binaries().ok_or(ClusterError::BinariesNotFound)?;
        let run_as = unprivileged_user()?;
        fs::create_dir_all(data_dir).map_err(io_error(format!(
            "creating data dir {}",
            data_dir.display()
        )))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_error(format!("resolving {}", data_dir.display())))?;

        let lock_path = data_dir.join("cluster.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(format!("opening {}", lock_path.display())))?;
        // Blocks while another process holds it exclusively, i.e. is stopping the cluster.
        lock.lock_shared()
            .map_err(io_error(format!("locking {}", lock_path.display())))?;

        let pg_data = data_dir.join("pg");
        let socket_dir = socket_dir_for(&pg_data);
        let cluster = Cluster {
            bin_dir,
            pg_data,
            socket_dir,
            run_as,
            lock,
        };
        cluster.init_if_needed(options)?;
        if !cluster.is_running()? {
            cluster.start()?;
        }
        Ok(cluster)
    }

    /// A `postgresql://` URL for `database` in this cluster, its socket
    /// folder percent-encoded as the host (understood by libpq and tokio-postgres).
    pub fn database_url(&self, database: &str) -> String {
        let host: String = self
            .socket_dir
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .map(|&byte| match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(byte).to_string()
                }
                _ => format!("%{byte:02X}"),
            })
            .collect();
        format!("postgresql://{SUPERUSER}@{host}:{PORT}/{database}")
    }

    fn init_if_needed(&self, options: ClusterOptions) -> Result<(), ClusterError> {
        if self.pg_data.join("PG_VERSION").exists() {
            return Ok(());
        }
        tracing::info!(pg_data = %self.pg_data.display(), "initialising a private PostgreSQL cluster");
        if self.pg_data.exists() {
            // A half-finished initdb from an interrupted first run.
            fs::remove_dir_all(&self.pg_data)
                .map_err(io_error(format!("clearing {}", self.pg_data.display())))?;
        }
        fs::create_dir_all(&self.pg_data)
            .map_err(io_error(format!("creating {}", self.pg_data.display())))?;
        fs::set_permissions(&self.pg_data, fs::Permissions::from_mode(0o700))
            .map_err(io_error("setting cluster dir permissions"))?;
        self.hand_to_cluster_user(&self.pg_data)?;
        self.run(
            "initdb",
            Command::new(self.bin_dir.join("initdb"))
                .arg("--pgdata")
                .arg(&self.pg_data)
                .args([
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                ])
                .args(["--locale", "C.UTF-8", "--no-instructions"]),
        )?;

        let mut settings = format!(
            "\n# Written by confab: a private cluster reachable only through its socket.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{}'\n\
             max_connections = 200\n\
             shared_buffers = 256MB\n",
            self.socket_dir.display()
        );
        if options.ephemeral {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let conf = self.pg_data.join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(io_error(format!("opening {}", conf.display())))?;
        file.write_all(settings.as_bytes())
            .map_err(io_error(format!("writing {}", conf.display())))
    }

    fn is_running(&self) -> Result<bool, ClusterError> {
        let output = self.command_output("pg_ctl status", &mut self.pg_ctl("status"))?;
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data dir.
        Ok(output.status.success())
    }

    fn start(&self) -> Result<(), ClusterError> {
        if self.socket_dir != self.pg_data {
            // Under the temp dir, which may have been emptied since the last start.
            fs::create_dir_all(&self.socket_dir)
                .map_err(io_error(format!("creating {}", self.socket_dir.display())))?;
            self.hand_to_cluster_user(&self.socket_dir)?;
        }
        tracing::info!(pg_data = %self.pg_data.display(), "starting the private PostgreSQL cluster");
        self.run(
            "pg_ctl start",
            self.pg_ctl("start")
                .arg("--log")
                .arg(self.pg_data.join("server.log"))
                .args(["--wait", "--timeout", "60", "--silent"]),
        )
    }

    fn stop(&self) -> Result<(), ClusterError> {
        tracing::info!(pg_data = %self.pg_data.display(), "stopping the private PostgreSQL cluster");
        self.run(
            "pg_ctl stop",
            self.pg_ctl("stop")
                .args(["--mode", "fast", "--wait", "--silent"]),
        )
    }

    /// `pg_ctl <action> --pgdata <the cluster>`, for more arguments.
    fn pg_ctl(&self, action: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join("pg_ctl"));
        command.arg(action).arg("--pgdata").arg(&self.pg_data);
        command
    }

    fn hand_to_cluster_user(&self, dir: &Path) -> Result<(), ClusterError> {
        match self.run_as {
            Some((uid, gid)) => std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(io_error(format!("handing {} to postgres", dir.display()))),
            None => Ok(()),
        }
    }

    fn run(&self, action: &str, command: &mut Command) -> Result<(), ClusterError> {
        let output = self.command_output(action, command)?;
        if output.status.success() {
            return Ok(());
        }
        let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        if action == "pg_ctl start" {
            let log = self.pg_data.join("server.log");
            detail.push_str(&format!(" (see {})", log.display()));
        }
        Err(ClusterError::Command {
            action: action.to_string(),
            detail,
        })
    }

    fn command_output(&self, action: &str, command: &mut Command) -> Result<Output, ClusterError> {
        // The cluster's user may not be able to enter our working directory.
        command.current_dir("/").env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
            .output()
            .map_err(io_error(format!("running {action}")))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Exclusive means no other process is using the cluster: stop it.
        if self.lock.try_lock().is_ok()
            && let Err(error) = self.stop()
        {
            tracing::warn!(%error, "could not stop the private PostgreSQL cluster");
        }
        let _ = self.lock.unlock();
    }
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`: PATH first, then the
/// newest `/usr/lib/postgresql/<version>/bin`.
pub fn find_binaries() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path.into_iter().find(|dir| has_all(dir)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_all(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Under root, the uid and gid of the `postgres` user the cluster runs as.
fn unprivileged_user() -> Result<Option<(u32, u32)>, ClusterError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some((user.uid.as_raw(), user.gid.as_raw()))),
        _ => Err(ClusterError::NoUnprivilegedUser),
    }
}

/// The cluster's own folder when its socket path fits the kernel's limit,
/// otherwise a folder under the system temp dir named after it.
fn socket_dir_for(pg_data: &Path) -> PathBuf {
    if pg_data.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return pg_data.to_path_buf();
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(pg_data.as_os_str().as_encoded_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("confab-{name}"))
}
