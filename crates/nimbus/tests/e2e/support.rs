//! What the end-to-end modules share.
//!
//! A test starts a real `nimbus serve` with [`Cloud::start`] and drives it
//! with the real `openstack` CLI ([`Cloud::openstack`], [`Cloud::openstack_json`],
//! or as another user with [`Cloud::openstack_as`]) or raw HTTP
//! ([`Cloud::http`], [`Cloud::url`], [`Cloud::token`]):
//!
//! ```ignore
//! let Some(cloud) = Cloud::start(Backend::Postgres) else { return }; // skipped
//! let token = cloud.openstack_json(&["token", "issue"]);
//! cloud.restart(); // same data dir, same port, same database
//! ```
//!
//! SQLite clouds always start. PostgreSQL clouds need
//! `NIMBUS_TEST_DATABASE_URL` (a role that may CREATE DATABASE; each cloud
//! gets a fresh database); without it they are skipped with a notice, unless
//! `NIMBUS_TEST_REQUIRE_ALL=1`, which makes the skip a failure.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The `nimbus` binary cargo built for this test run.
pub fn nimbus_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nimbus"))
}

/// The admin password every test cloud is bootstrapped with.
pub const ADMIN_PASSWORD: &str = "nimbus-e2e-admin-secret";

/// Which database a test cloud uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the data dir.
    Sqlite,
    /// A fresh database on `NIMBUS_TEST_DATABASE_URL`'s server.
    Postgres,
}

/// A user to run the CLI or get tokens as.
#[derive(Debug, Clone)]
pub struct User {
    /// User name (Default domain).
    pub name: String,
    /// Password.
    pub password: String,
    /// Project to scope to (Default domain); `None` for unscoped.
    pub project: Option<String>,
}

impl User {
    /// A user scoped to a project.
    pub fn new(name: &str, password: &str, project: &str) -> User {
        User {
            name: name.into(),
            password: password.into(),
            project: Some(project.into()),
        }
    }
}

/// A running `nimbus serve`, killed on drop.
pub struct Cloud {
    child: Option<Child>,
    data: tempfile::TempDir,
    port: u16,
    database_url: Option<String>,
    extra_args: Vec<String>,
    starts: u32,
}

/// Whether every optional dependency must be present (CI).
pub fn require_all() -> bool {
    std::env::var("NIMBUS_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Makes a fresh database on the test server; `None` if there is none.
fn fresh_postgres_database() -> Option<String> {
    let Ok(base) = std::env::var("NIMBUS_TEST_DATABASE_URL") else {
        assert!(
            !require_all(),
            "NIMBUS_TEST_DATABASE_URL is not set but NIMBUS_TEST_REQUIRE_ALL=1"
        );
        eprintln!("SKIPPED: PostgreSQL variant (set NIMBUS_TEST_DATABASE_URL to run it)");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "nimbus_e2e_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new("psql")
        .arg(&base)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql must be installed for the PostgreSQL variants");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (server, _) = base.rsplit_once('/').expect("database URL has a path");
    Some(format!("{server}/{name}"))
}

impl Cloud {
    /// Starts a cloud on `backend`; `None` if the backend is not available
    /// (see the module docs).
    pub fn start(backend: Backend) -> Option<Cloud> {
        Cloud::start_with(backend, &[])
    }

    /// Like [`Cloud::start`], with extra `nimbus serve` arguments.
    pub fn start_with(backend: Backend, extra_args: &[&str]) -> Option<Cloud> {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database()?),
        };
        let mut cloud = Cloud {
            child: None,
            data: tempfile::Builder::new()
                .prefix("nimbus-e2e-")
                .tempdir()
                .unwrap(),
            port: free_port(),
            database_url,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            starts: 0,
        };
        cloud.spawn();
        Some(cloud)
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path()).unwrap();
        let mut cmd = Command::new(nimbus_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .args(&self.extra_args)
            .env("NIMBUS_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("NIMBUS_CONFIG")
            .env_remove("NIMBUS_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        self.child = Some(cmd.spawn().expect("spawn nimbus serve"));
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = self.http();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("nimbus serve exited with {status}:\n{}", self.log());
            }
            if let Ok(r) = client.get(self.url("/healthcheck")).send()
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nimbus did not become healthy:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGTERM, then SIGKILL) and starts it again on the
    /// same data dir, port and database.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// `DATA_DIR/clouds.yaml`.
    pub fn clouds_yaml(&self) -> PathBuf {
        self.data.path().join("clouds.yaml")
    }

    fn log_path(&self) -> PathBuf {
        self.data.path().join(format!("nimbus-{}.log", self.starts))
    }

    /// The server's log (stdout and stderr) of the current run.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The base URL plus `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// A blocking HTTP client.
    pub fn http(&self) -> reqwest::blocking::Client {
        http_client()
    }

    /// Authenticates `user` over HTTP: (status, token or empty, body).
    pub fn auth(&self, user: &User) -> (u16, String, Value) {
        let mut body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user.name, "domain": {"id": "default"}, "password": user.password}}}}});
        if let Some(p) = &user.project {
            body["auth"]["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
        }
        let r = self
            .http()
            .post(self.url("/identity/v3/auth/tokens"))
            .json(&body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let token = r
            .headers()
            .get("x-subject-token")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = r.json().unwrap_or(Value::Null);
        (status, token, body)
    }

    /// A token for `user`; panics if authentication fails.
    pub fn token(&self, user: &User) -> String {
        let (status, token, body) = self.auth(user);
        assert_eq!(status, 201, "auth as {} failed: {body}", user.name);
        token
    }

    /// The admin user.
    pub fn admin(&self) -> User {
        User::new("admin", ADMIN_PASSWORD, "admin")
    }

    fn openstack_command(&self) -> Command {
        let bin = std::env::var("NIMBUS_TEST_OPENSTACK").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/openstack").to_string()
        });
        assert!(
            Path::new(&bin).exists(),
            "the openstack CLI is missing at {bin}; run scripts/test.sh (or set NIMBUS_TEST_OPENSTACK)"
        );
        let mut cmd = Command::new(bin);
        for (key, _) in std::env::vars() {
            if key.starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.data.path());
        cmd
    }

    /// Runs `openstack --os-cloud nimbus ARGS` with the cloud's clouds.yaml.
    pub fn openstack(&self, args: &[&str]) -> Output {
        let mut cmd = self.openstack_command();
        cmd.env("OS_CLIENT_CONFIG_FILE", self.clouds_yaml())
            .arg("--os-cloud")
            .arg("nimbus")
            .args(args);
        cmd.output().expect("run openstack")
    }

    /// Runs the CLI as `user` (password auth, Default domain).
    pub fn openstack_as(&self, user: &User, args: &[&str]) -> Output {
        let empty = self.data.path().join("empty-clouds.yaml");
        std::fs::write(&empty, "clouds: {}\n").unwrap();
        let mut cmd = self.openstack_command();
        cmd.env("OS_CLIENT_CONFIG_FILE", empty)
            .env("OS_AUTH_URL", self.url("/identity"))
            .env("OS_IDENTITY_API_VERSION", "3")
            .env("OS_USERNAME", &user.name)
            .env("OS_PASSWORD", &user.password)
            .env("OS_USER_DOMAIN_NAME", "Default")
            .env("OS_PROJECT_DOMAIN_NAME", "Default")
            .env("OS_REGION_NAME", "RegionOne");
        if let Some(p) = &user.project {
            cmd.env("OS_PROJECT_NAME", p);
        }
        cmd.args(args);
        cmd.output().expect("run openstack")
    }

    /// Runs the CLI and returns stdout; panics with stderr if it failed.
    pub fn openstack_ok(&self, args: &[&str]) -> String {
        ok(self.openstack(args), args)
    }

    /// Runs the CLI with `-f json` and parses the output.
    pub fn openstack_json(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-f", "json"]);
        let out = self.openstack_ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("openstack {args:?}: bad JSON ({e}): {out}"))
    }

    /// [`Cloud::openstack_json`] as another user.
    pub fn openstack_json_as(&self, user: &User, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-f", "json"]);
        let out = ok(self.openstack_as(user, &all), &all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("openstack {args:?}: bad JSON ({e}): {out}"))
    }
}

/// Stdout of a successful run; panics with stderr otherwise.
pub fn ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "openstack {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Stderr of a failed run; panics if it succeeded.
pub fn failed(out: Output, args: &[&str]) -> String {
    assert!(
        !out.status.success(),
        "openstack {args:?} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.stop();
        // Guests outlive `nimbus serve` on purpose (a restart re-attaches
        // to them); a finished test must not leave them running.
        kill_guests(self.data.path());
        if std::thread::panicking() {
            eprintln!("--- nimbus log ---\n{}", self.log());
        }
    }
}

/// Kills the QEMU of every instance under `data`, by its pid file, if the
/// process with that pid still names this data dir.
fn kill_guests(data: &Path) {
    let Ok(dirs) = std::fs::read_dir(data.join("instances")) else {
        return;
    };
    let needle = data.to_string_lossy().into_owned();
    for dir in dirs.flatten() {
        let Some(pid) = std::fs::read_to_string(dir.path().join("qemu.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle));
        if ours {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Defines tests `NAME::sqlite` and `NAME::postgres` that call `NAME(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::support::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name($crate::support::Backend::Postgres)
            }
        }
    };
}

/// A blocking HTTP client. The image service's S3 store builds reqwest with
/// `rustls-no-provider`, which cargo unifies into this test binary's reqwest
/// too: a crypto provider must be installed before any client is built.
pub fn http_client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
