//! PostgreSQL for the integration tests.
//!
//! Every test gets its own empty database ([`create_database`]), so tests can
//! run in parallel without seeing each other's rows. The databases live on a
//! server chosen once per test process ([`admin_url`]):
//!
//! * if `TEST_DATABASE_URL` is set, that server is used as-is (its URL must
//!   allow `CREATE DATABASE`);
//! * otherwise a throwaway cluster is created with the locally installed
//!   server binaries (DESIGN §7). It belongs to this test process alone: its
//!   own data directory and port, durability switched off for speed, and a
//!   shell watchdog that shuts it down and deletes its directory once the test
//!   process has exited. So nothing depends on a server that happens to be
//!   running on the machine, and test binaries that cargo runs side by side do
//!   not interfere with each other.

// Each test binary that includes this module uses only some of the helpers.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Name of the role and of the maintenance database in the throwaway cluster.
const SUPERUSER: &str = "postgres";

/// How long a freshly started cluster may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How often to start over on another port when a concurrently starting
/// process grabbed the port we picked.
const PORT_ATTEMPTS: usize = 5;

/// Admin connection URL of a Postgres server for this test process (e.g.
/// `postgres://postgres@127.0.0.1:PORT/postgres`).
///
/// The first call starts the throwaway cluster unless `TEST_DATABASE_URL` is
/// set; it blocks for a second or two. Startup is done with `std` only, so
/// this works from any thread and any tokio runtime. If startup fails, every
/// call panics with the same message rather than trying again.
pub fn admin_url() -> &'static str {
    static ADMIN_URL: OnceLock<Result<String, String>> = OnceLock::new();
    let url = ADMIN_URL.get_or_init(|| match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => start_cluster().map_err(|e| format!("{e:#}")),
    });
    match url {
        Ok(url) => url,
        Err(e) => panic!("no PostgreSQL server for the tests: {e}"),
    }
}

/// Create a fresh, empty database with a unique name and return its URL.
///
/// With `template`, the database is created as a copy of that database
/// (`CREATE DATABASE ... TEMPLATE`), e.g. one the migrations have already
/// been run on. `template` is a database name or a URL returned by this
/// function.
pub async fn create_database(template: Option<&str>) -> String {
    let admin = admin_url();
    let name = format!("sbt_{}", uuid::Uuid::new_v4().simple());
    let mut sql = format!("CREATE DATABASE {}", quote_ident(&name));
    if let Some(template) = template {
        let template = if template.contains("://") {
            database_name(template)
        } else {
            template
        };
        sql.push_str(&format!(" TEMPLATE {}", quote_ident(template)));
    }

    let mut conn = PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("connecting to {admin} to create a test database: {e}"));
    // Postgres refuses to copy a template while any session is connected to
    // it (SQLSTATE 55006), e.g. a test that is still closing its pool or a
    // concurrent CREATE DATABASE from the same template. These are
    // short-lived, so wait them out.
    let mut attempts = 0;
    loop {
        match sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&mut conn)
            .await
        {
            Ok(_) => break,
            Err(e) if attempts < 50 && is_object_in_use(&e) => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
    let _ = conn.close().await;
    with_database(admin, &name)
}

/// Drop a database made by [`create_database`], even if sessions are still
/// connected to it (`WITH (FORCE)`). Errors are ignored: this is cleanup.
pub async fn drop_database(url: &str) {
    let admin = admin_url();
    let name = database_name(url);
    // Never drop the database the admin connection itself needs.
    if name.is_empty() || name == database_name(admin) {
        return;
    }
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    if let Ok(mut conn) = PgConnection::connect(admin).await {
        let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
        let _ = conn.close().await;
    }
}

fn is_object_in_use(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55006")
}

fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Byte range of the path (without its leading `/`) in a `postgres://` URL.
fn path_range(url: &str) -> std::ops::Range<usize> {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    let name_start = if url[path_start..].starts_with('/') {
        path_start + 1
    } else {
        path_start
    };
    name_start.min(path_end)..path_end
}

fn database_name(url: &str) -> &str {
    &url[path_range(url)]
}

/// `url` with its database replaced by `name`, keeping credentials and query
/// parameters (e.g. `sslmode`).
fn with_database(url: &str, name: &str) -> String {
    let range = path_range(url);
    let (before, after) = (&url[..range.start], &url[range.end..]);
    if before.ends_with('/') {
        format!("{before}{name}{after}")
    } else {
        format!("{before}/{name}{after}")
    }
}

/// Start this process's throwaway cluster and return its admin URL.
fn start_cluster() -> anyhow::Result<String> {
    let bin = find_server_binaries().ok_or_else(|| {
        anyhow!(
            "PostgreSQL server binaries not found: install the Debian package `postgresql` \
             (apt-get install -y postgresql) or set TEST_DATABASE_URL"
        )
    })?;
    // Postgres refuses to run as root, which is how tests run in containers.
    let as_root = running_as_root();
    if as_root && !user_exists(SUPERUSER) {
        bail!(
            "running as root, but there is no `{SUPERUSER}` system user to run the server as; \
             install the Debian package `postgresql` or set TEST_DATABASE_URL"
        );
    }

    let dir = cluster_dir(as_root).join(format!("switchboard-test-pg-{}", std::process::id()));
    // A directory with our pid can only be left over from an earlier process
    // that had the same pid.
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if as_root {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        run(Command::new("chown").arg(SUPERUSER).arg(&dir))?;
    }
    let data = dir.join("data");
    init_cluster(&bin, as_root, &dir, &data)?;

    for attempt in 1..=PORT_ATTEMPTS {
        let port = free_port()?;
        let log = dir.join(format!("server-{attempt}.log"));
        let mut watchdog = spawn_server(&bin, as_root, &dir, &data, port, &log)?;
        match wait_until_ready(&mut watchdog, &data, port, &log) {
            Ok(()) => {
                return Ok(format!(
                    "postgres://{SUPERUSER}@127.0.0.1:{port}/{SUPERUSER}"
                ))
            }
            // Someone else took the port between our probe and the server's
            // bind; the server has exited. Drop its watchdog (the next one
            // takes over cleaning up) and try another port.
            Err(StartError::PortTaken) if attempt < PORT_ATTEMPTS => {
                let _ = watchdog.kill();
                let _ = watchdog.wait();
            }
            Err(StartError::PortTaken) => bail!(
                "no free port for the test cluster after {PORT_ATTEMPTS} attempts; server log:\n{}",
                read_log(&log)
            ),
            // The watchdog stays behind and removes the directory once this
            // process has exited.
            Err(StartError::Failed(why)) => bail!(
                "test cluster in {} did not start: {why}; server log:\n{}",
                dir.display(),
                read_log(&log)
            ),
        }
    }
    unreachable!("the last attempt returns")
}

/// A cluster of one test's own, which the test may stop and start again on
/// the same port: a database outage for the fault suite, without touching
/// the server every other test uses. Durability stays on (unlike the shared
/// test cluster), because what survives a restart is what is tested. A
/// watchdog shell stops it and removes its directory once the test process
/// is gone, as for the shared cluster.
pub struct OwnCluster {
    /// Cleans up should this process die before `drop`.
    watchdog: Child,
    bin: ServerBinaries,
    as_root: bool,
    dir: PathBuf,
    data: PathBuf,
    pub port: u16,
}

impl OwnCluster {
    /// A new, empty cluster, started (blocks a second or two).
    pub fn start() -> OwnCluster {
        let bin = find_server_binaries()
            .expect("PostgreSQL server binaries (apt-get install -y postgresql)");
        let as_root = running_as_root();
        let dir = cluster_dir(as_root).join(format!(
            "switchboard-own-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).expect("cluster directory");
        if as_root {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
            run(Command::new("chown").arg(SUPERUSER).arg(&dir)).expect("chown");
        }
        let data = dir.join("data");
        init_cluster(&bin, as_root, &dir, &data).expect("initdb");
        let stop = server_command(as_root, &dir, &bin.pg_ctl)
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate"])
            .to_shell();
        let script = format!(
            "while kill -0 {test_pid} 2>/dev/null; do sleep 1; done\n\
             {stop} >/dev/null 2>&1\n\
             rm -rf {dir}\n",
            test_pid = std::process::id(),
            dir = shell_quote(&dir.to_string_lossy()),
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("watchdog shell");
        let cluster = OwnCluster {
            watchdog,
            bin,
            as_root,
            dir,
            data,
            port: free_port().expect("free port"),
        };
        cluster.start_again();
        cluster
    }

    /// Admin URL (`postgres` database).
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{SUPERUSER}", self.port)
    }

    /// Starts the stopped server on its port and waits until it accepts
    /// connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        run(server_command(self.as_root, &self.dir, &self.bin.pg_ctl)
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "30", "-o", &options]))
        .unwrap_or_else(|e| panic!("{e:#}\nserver log:\n{}", read_log(&log)));
    }

    /// Stops the server the way an operator's restart does (`-m fast`:
    /// sessions are cut, running transactions rolled back).
    pub fn stop(&self) {
        run(server_command(self.as_root, &self.dir, &self.bin.pg_ctl)
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "30"]))
        .expect("pg_ctl stop");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = server_command(self.as_root, &self.dir, &self.bin.pg_ctl)
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.dir);
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

struct ServerBinaries {
    initdb: PathBuf,
    postgres: PathBuf,
    pg_ctl: PathBuf,
}

impl ServerBinaries {
    fn in_dir(dir: &Path) -> Option<Self> {
        let bin = Self {
            initdb: dir.join("initdb"),
            postgres: dir.join("postgres"),
            pg_ctl: dir.join("pg_ctl"),
        };
        (bin.initdb.is_file() && bin.postgres.is_file() && bin.pg_ctl.is_file()).then_some(bin)
    }
}

/// The server binaries: Debian keeps them off PATH under
/// /usr/lib/postgresql/<version>/bin (newest wins), other installs put them
/// on PATH.
fn find_server_binaries() -> Option<ServerBinaries> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .find_map(|(_, dir)| ServerBinaries::in_dir(&dir))
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).find_map(|dir| ServerBinaries::in_dir(&dir))
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn user_exists(user: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(user)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Parent directory for the cluster. When we run as root the server runs as
/// `postgres`, which must be able to reach the directory; a private TMPDIR
/// (e.g. under /root) would not do, so fall back to /tmp then.
fn cluster_dir(as_root: bool) -> PathBuf {
    let tmp = std::env::temp_dir();
    let reachable = fs::metadata(&tmp).is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    if as_root && !reachable {
        PathBuf::from("/tmp")
    } else {
        tmp
    }
}

/// A command that runs `program` as the server's user: via `runuser` when we
/// are root, directly otherwise. It runs in `dir` because the test's working
/// directory may not be readable by `postgres`, which Postgres tools complain
/// about.
fn server_command(as_root: bool, dir: &Path, program: &Path) -> Command {
    let mut cmd = if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", SUPERUSER, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.current_dir(dir);
    cmd
}

fn init_cluster(
    bin: &ServerBinaries,
    as_root: bool,
    dir: &Path,
    data: &Path,
) -> anyhow::Result<()> {
    let initdb = |locale: Option<&str>| {
        let mut cmd = server_command(as_root, dir, &bin.initdb);
        cmd.arg("-D")
            .arg(data)
            .args(["-A", "trust", "-U", SUPERUSER, "--no-sync", "-E", "UTF8"]);
        if let Some(locale) = locale {
            cmd.arg(format!("--locale={locale}"));
        }
        run(&mut cmd)
    };
    // C.UTF-8 keeps sorting independent of the machine's locale, but not
    // every system has it; initdb then falls back to the environment's.
    initdb(Some("C.UTF-8")).or_else(|first| {
        let _ = fs::remove_dir_all(data);
        initdb(None).with_context(|| format!("initdb --locale=C.UTF-8 also failed: {first:#}"))
    })
}

/// A TCP port that is free right now. The server binds it a moment later, so
/// another process may take it in between; the caller retries then.
fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("probing for a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Start the server under a watchdog shell that outlives it: the watchdog
/// polls this process and, once it is gone (exited, panicked or killed),
/// shuts the server down and deletes `dir`. This is what keeps clusters
/// from piling up, because test processes have no reliable exit hook.
fn spawn_server(
    bin: &ServerBinaries,
    as_root: bool,
    dir: &Path,
    data: &Path,
    port: u16,
    log: &Path,
) -> anyhow::Result<Child> {
    let server = server_command(as_root, dir, &bin.postgres)
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            // Test data is disposable: skip durability for speed.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            // Parallel tests each hold a connection pool.
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ])
        .to_shell();
    // `pg_ctl stop` finds the postmaster through postmaster.pid; `$pg` may be
    // `runuser`, which does not pass SIGINT on to the server.
    let stop = server_command(as_root, dir, &bin.pg_ctl)
        .arg("stop")
        .arg("-D")
        .arg(data)
        .args(["-m", "fast", "-w", "-t", "60"])
        .to_shell();
    let script = format!(
        "{server} &\n\
         pg=$!\n\
         while kill -0 {test_pid} 2>/dev/null; do sleep 1; done\n\
         {stop} || kill -INT \"$pg\" 2>/dev/null\n\
         wait\n\
         rm -rf {dir}\n",
        test_pid = std::process::id(),
        dir = shell_quote(&dir.to_string_lossy()),
    );

    // The watchdog and the server must not hold this process's stdout or
    // stderr: whoever reads them (cargo, CI) would wait for the watchdog to
    // exit too.
    let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Own process group: a Ctrl-C aimed at `cargo test` must not kill the
        // watchdog before it has cleaned up (the server shuts down either way).
        .process_group(0)
        .spawn()
        .context("starting the watchdog shell for the test cluster")
}

enum StartError {
    PortTaken,
    Failed(String),
}

/// Wait until *our* server accepts connections. A plain probe of the port is
/// not enough: if another process took the port, the probe would reach that
/// one. Postgres writes `ready` into its postmaster.pid once it accepts
/// connections (this is what `pg_ctl -w` waits for) and exits if it cannot
/// bind its port.
fn wait_until_ready(
    watchdog: &mut Child,
    data: &Path,
    port: u16,
    log: &Path,
) -> Result<(), StartError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(StartError::Failed(format!(
                "the watchdog shell exited ({status})"
            )));
        }
        let log_text = read_log(log);
        if log_text.contains("could not create any TCP/IP sockets") {
            return Err(StartError::PortTaken);
        }
        if log_text.contains("database system is shut down") {
            return Err(StartError::Failed("the server exited".into()));
        }
        let ready = fs::read_to_string(data.join("postmaster.pid"))
            .is_ok_and(|pid_file| pid_file.lines().nth(7).is_some_and(|s| s.trim() == "ready"));
        if ready && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(StartError::Failed(format!(
                "not accepting connections on port {port} after {}s",
                STARTUP_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_log(log: &Path) -> String {
    match fs::read(log) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == ErrorKind::NotFound => String::new(),
        Err(e) => format!("(cannot read {}: {e})", log.display()),
    }
}

/// Run a short command to completion; its output goes into the error.
fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = cmd.to_shell();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

trait ToShell {
    /// The command line, quoted for `sh`.
    fn to_shell(&self) -> String;
}

impl ToShell for Command {
    fn to_shell(&self) -> String {
        std::iter::once(self.get_program())
            .chain(self.get_args())
            .map(|word| shell_quote(&word.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_in_a_url() {
        let cases = [
            ("postgres://u@h:1/postgres", "postgres://u@h:1/db"),
            (
                "postgres://u:p@h/postgres?sslmode=disable",
                "postgres://u:p@h/db?sslmode=disable",
            ),
            ("postgres://h:1", "postgres://h:1/db"),
            ("postgres://h:1/", "postgres://h:1/db"),
            ("postgres://h:1?x=y", "postgres://h:1/db?x=y"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "db"), expected, "{url}");
            assert_eq!(database_name(expected), "db", "{expected}");
        }
        assert_eq!(database_name("postgres://h:1"), "");
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
    }
}
