//! One `qemu-system-x86_64` per instance, controlled over QMP.
//!
//! Everything about a running guest lives in its instance directory, so a
//! restarted Nimbus finds it again: `domain.sh` (the command line, readable by
//! an operator), `qemu.pid`, `qmp.sock`, `console.log`, `qemu.log`, and
//! `suspend.state` while it is suspended.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nimbus_qmp::{Machine, Qmp};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

use super::{DriverError, PowerState, Result};

/// File names inside an instance directory.
const PIDFILE: &str = "qemu.pid";
const QMP_SOCKET: &str = "qmp.sock";
const QEMU_LOG: &str = "qemu.log";
const DOMAIN_SCRIPT: &str = "domain.sh";
const SUSPEND_STATE: &str = "suspend.state";
const MIGRATION_SOCKET: &str = "migrate.sock";

/// How long QEMU gets to create its QMP socket.
const QMP_CONNECT: Duration = Duration::from_secs(30);
/// How long a QMP command may take before the guest counts as hung.
const QMP_COMMAND: Duration = Duration::from_secs(30);

/// Starts guests and finds running ones again.
#[derive(Debug, Clone)]
pub struct QemuDriver {
    qemu: PathBuf,
}

/// A QEMU process of one instance and its QMP session.
#[derive(Debug)]
pub struct Guest {
    dir: PathBuf,
    pid: i32,
    qmp: Arc<Qmp>,
    /// Present when this Nimbus started the process (then it must reap it);
    /// absent for a guest found again after a restart.
    child: Option<tokio::process::Child>,
}

impl QemuDriver {
    /// A driver that runs `qemu` (a qemu-system binary).
    pub fn new(qemu: impl Into<PathBuf>) -> Self {
        QemuDriver { qemu: qemu.into() }
    }

    /// The qemu-system binary this driver runs.
    pub fn binary(&self) -> &Path {
        &self.qemu
    }

    /// Writes `domain.sh` and starts `machine` in `dir`. The machine's
    /// pidfile and QMP socket must be the instance dir's (`paths_in`).
    pub async fn start(&self, dir: &Path, machine: &Machine) -> Result<Guest> {
        self.spawn(dir, machine, None).await
    }

    /// The pidfile and QMP socket paths a machine in `dir` must use.
    pub fn paths_in(dir: &Path) -> (PathBuf, PathBuf) {
        (dir.join(PIDFILE), dir.join(QMP_SOCKET))
    }

    async fn spawn(&self, dir: &Path, machine: &Machine, incoming: Option<&str>) -> Result<Guest> {
        let program = self.qemu.to_string_lossy().into_owned();
        let script = dir.join(DOMAIN_SCRIPT);
        tokio::fs::write(&script, machine.script(&program))
            .await
            .map_err(|e| DriverError::io(format!("write {}", script.display()), e))?;
        let _ = tokio::fs::remove_file(&machine.qmp_socket).await;
        let _ = tokio::fs::remove_file(&machine.pidfile).await;
        let log_path = dir.join(QEMU_LOG);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| DriverError::io(format!("open {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| DriverError::io("clone log handle", e))?;
        let mut command = machine.command(&program);
        command.stdout(log).stderr(log_err);
        if let Some(uri) = incoming {
            command.args(["-incoming", uri]);
        }
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| DriverError::io(format!("start {program}"), e))?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        let qmp = tokio::select! {
            qmp = Qmp::connect(&machine.qmp_socket, QMP_CONNECT) => qmp,
            _ = child.wait() => {
                let log = tokio::fs::read_to_string(&log_path).await.unwrap_or_default();
                return Err(DriverError::StartFailed(log.trim().to_string()));
            }
        };
        let qmp = match qmp {
            Ok(qmp) => qmp,
            Err(err) => {
                // QEMU may have closed the socket because it is exiting: then
                // its log, not the socket error, says what went wrong.
                let exited = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                if exited.is_ok() {
                    let log = tokio::fs::read_to_string(&log_path)
                        .await
                        .unwrap_or_default();
                    return Err(DriverError::StartFailed(log.trim().to_string()));
                }
                let _ = child.kill().await;
                return Err(err.into());
            }
        };
        Ok(Guest {
            dir: dir.to_path_buf(),
            pid,
            qmp: Arc::new(qmp),
            child: Some(child),
        })
    }

    /// Finds the guest of `dir` again (after a Nimbus restart): its pidfile
    /// names a live QEMU whose command line carries `uuid`, and its QMP socket
    /// answers. `None` when it is not running.
    pub async fn find(&self, dir: &Path, uuid: &str) -> Option<Guest> {
        let pid: i32 = tokio::fs::read_to_string(dir.join(PIDFILE))
            .await
            .ok()?
            .trim()
            .parse()
            .ok()?;
        if !process_alive(pid) {
            return None;
        }
        // A recycled pid must not make us drive some other process.
        let cmdline = tokio::fs::read(format!("/proc/{pid}/cmdline")).await.ok()?;
        let has_uuid = cmdline.split(|b| *b == 0).any(|arg| arg == uuid.as_bytes());
        if !has_uuid {
            return None;
        }
        let qmp = Qmp::connect(&dir.join(QMP_SOCKET), Duration::from_secs(5))
            .await
            .ok()?;
        Some(Guest {
            dir: dir.to_path_buf(),
            pid,
            qmp: Arc::new(qmp),
            child: None,
        })
    }

    /// Whether `dir` holds the saved memory of a suspended guest.
    pub fn is_suspended(dir: &Path) -> bool {
        dir.join(SUSPEND_STATE).is_file()
    }

    /// Starts `machine` again from the memory `suspend` saved, then removes
    /// the saved state. The machine must be the one that was suspended.
    pub async fn resume(&self, dir: &Path, machine: &Machine) -> Result<Guest> {
        let state = dir.join(SUSPEND_STATE);
        if !state.is_file() {
            return Err(DriverError::InvalidState(
                "the instance is not suspended".into(),
            ));
        }
        let guest = self.spawn(dir, machine, Some("defer")).await?;
        let socket = dir.join(MIGRATION_SOCKET);
        let _ = tokio::fs::remove_file(&socket).await;
        let uri = format!("unix:{}", socket.display());
        guest
            .qmp
            .execute_timeout("migrate-incoming", json!({ "uri": uri }), QMP_COMMAND)
            .await?;
        let mut stream = connect_retry(&socket).await?;
        let mut file = tokio::fs::File::open(&state)
            .await
            .map_err(|e| DriverError::io(format!("open {}", state.display()), e))?;
        tokio::io::copy(&mut file, &mut stream)
            .await
            .map_err(|e| DriverError::io("stream the saved state into QEMU", e))?;
        stream
            .shutdown()
            .await
            .map_err(|e| DriverError::io("close the migration stream", e))?;
        drop(stream);
        // The guest was stopped when it was saved, so the incoming side ends
        // `paused`: continue it then; once it runs, the saved state has
        // served its purpose.
        for _ in 0..600 {
            match guest.qmp.status().await?.as_str() {
                "running" => {
                    let _ = tokio::fs::remove_file(&state).await;
                    let _ = tokio::fs::remove_file(&socket).await;
                    return Ok(guest);
                }
                "paused" => {
                    guest
                        .qmp
                        .execute_timeout("cont", Value::Null, QMP_COMMAND)
                        .await?;
                }
                "inmigrate" | "prelaunch" => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => {
                    return Err(DriverError::InvalidState(format!(
                        "resume ended in QEMU state {other}"
                    )));
                }
            }
        }
        Err(nimbus_qmp::Error::Timeout("the resumed guest to run".into()).into())
    }
}

impl Guest {
    /// The QEMU process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The QMP session, for commands the driver has no method for
    /// (hot-plug builds on `blockdev-add` and `device_add`).
    pub fn qmp(&self) -> &Arc<Qmp> {
        &self.qmp
    }

    /// The power state: QEMU's run state while the process lives.
    pub async fn power_state(&mut self) -> PowerState {
        if !self.alive() {
            return PowerState::Shutdown;
        }
        match self.qmp.status().await.as_deref() {
            Ok("running") => PowerState::Running,
            Ok("paused") => PowerState::Paused,
            Ok("suspended") => PowerState::Suspended,
            Ok("internal-error" | "guest-panicked" | "io-error") => PowerState::Crashed,
            Ok("shutdown") => PowerState::Shutdown,
            Ok(_) => PowerState::NoState,
            Err(_) if !self.alive() => PowerState::Shutdown,
            Err(_) => PowerState::NoState,
        }
    }

    /// Whether the QEMU process still runs (reaping it if it was ours).
    pub fn alive(&mut self) -> bool {
        if let Some(child) = &mut self.child {
            return matches!(child.try_wait(), Ok(None));
        }
        process_alive(self.pid)
    }

    /// Waits until the process is gone, at most `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> bool {
        if let Some(child) = &mut self.child {
            return tokio::time::timeout(timeout, child.wait()).await.is_ok();
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if !process_alive(self.pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        !process_alive(self.pid)
    }

    /// nova's `power_off(timeout)`: ask the guest to shut down through ACPI,
    /// wait up to `graceful`, then stop it hard. `Duration::ZERO` is a hard
    /// stop at once.
    pub async fn power_off(&mut self, graceful: Duration) -> Result<()> {
        if !graceful.is_zero()
            && self
                .qmp
                .execute_timeout("system_powerdown", Value::Null, QMP_COMMAND)
                .await
                .is_ok()
            && self.wait_exit(graceful).await
        {
            return Ok(());
        }
        self.destroy().await
    }

    /// Stops QEMU at once (nova's `destroy`): `quit` over QMP, then SIGKILL.
    pub async fn destroy(&mut self) -> Result<()> {
        let _ = self
            .qmp
            .execute_timeout("quit", Value::Null, Duration::from_secs(5))
            .await;
        if self.wait_exit(Duration::from_secs(5)).await {
            return Ok(());
        }
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        } else {
            // Not our child (found again after a restart): signal it by pid
            // through kill(1), which keeps this crate free of unsafe code.
            let _ = tokio::process::Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status()
                .await;
        }
        if self.wait_exit(Duration::from_secs(10)).await {
            Ok(())
        } else {
            Err(DriverError::InvalidState(format!(
                "QEMU (pid {}) does not die",
                self.pid
            )))
        }
    }

    /// Stops the vCPUs (`pause`).
    pub async fn pause(&self) -> Result<()> {
        self.qmp
            .execute_timeout("stop", Value::Null, QMP_COMMAND)
            .await?;
        Ok(())
    }

    /// Runs the vCPUs again (`unpause`).
    pub async fn unpause(&self) -> Result<()> {
        self.qmp
            .execute_timeout("cont", Value::Null, QMP_COMMAND)
            .await?;
        Ok(())
    }

    /// A hard reset of the virtual machine, as pressing its reset button.
    pub async fn reset(&self) -> Result<()> {
        self.qmp
            .execute_timeout("system_reset", Value::Null, QMP_COMMAND)
            .await?;
        Ok(())
    }

    /// nova's `suspend` (libvirt's managed save): the guest's memory and
    /// device state go to `suspend.state` in the instance dir and QEMU exits.
    /// QEMU streams the state over a unix socket this process reads, because
    /// the seccomp sandbox forbids it to spawn a writer and QEMU 7.2 has no
    /// `file:` migration.
    pub async fn suspend(&mut self) -> Result<()> {
        let socket = self.dir.join(MIGRATION_SOCKET);
        let state = self.dir.join(SUSPEND_STATE);
        let partial = self.dir.join(format!("{SUSPEND_STATE}.partial"));
        let _ = tokio::fs::remove_file(&socket).await;
        let listener = UnixListener::bind(&socket)
            .map_err(|e| DriverError::io(format!("listen on {}", socket.display()), e))?;
        self.qmp
            .execute_timeout("stop", Value::Null, QMP_COMMAND)
            .await?;
        let uri = format!("unix:{}", socket.display());
        let receive = async {
            let (mut stream, _) = listener
                .accept()
                .await
                .map_err(|e| DriverError::io("accept the migration stream", e))?;
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| DriverError::io(format!("create {}", partial.display()), e))?;
            tokio::io::copy(&mut stream, &mut file)
                .await
                .map_err(|e| DriverError::io("save the guest's memory", e))?;
            file.sync_all()
                .await
                .map_err(|e| DriverError::io("sync the saved state", e))?;
            Ok::<_, DriverError>(())
        };
        let start = self
            .qmp
            .execute_timeout("migrate", json!({ "uri": uri }), QMP_COMMAND);
        let (started, received) = tokio::join!(start, receive);
        let _ = tokio::fs::remove_file(&socket).await;
        if let Err(err) = started.map_err(DriverError::from).and(received) {
            let _ = tokio::fs::remove_file(&partial).await;
            let _ = self
                .qmp
                .execute_timeout("cont", Value::Null, QMP_COMMAND)
                .await;
            return Err(err);
        }
        let migration = self
            .qmp
            .execute_timeout("query-migrate", Value::Null, QMP_COMMAND)
            .await?;
        if migration.get("status").and_then(Value::as_str) != Some("completed") {
            let _ = tokio::fs::remove_file(&partial).await;
            let _ = self
                .qmp
                .execute_timeout("cont", Value::Null, QMP_COMMAND)
                .await;
            return Err(DriverError::InvalidState(format!(
                "saving the guest failed: {migration}"
            )));
        }
        tokio::fs::rename(&partial, &state)
            .await
            .map_err(|e| DriverError::io(format!("rename to {}", state.display()), e))?;
        self.destroy().await
    }

    /// The last `max_bytes` of the serial console (nova's
    /// `get_console_output` caps at 100 KiB).
    pub async fn console_output(dir: &Path, max_bytes: usize) -> Result<Vec<u8>> {
        let path = dir.join("console.log");
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(bytes[bytes.len().saturating_sub(max_bytes)..].to_vec()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(err) => Err(DriverError::io(format!("read {}", path.display()), err)),
        }
    }
}

async fn connect_retry(socket: &Path) -> Result<UnixStream> {
    let mut last = None;
    for _ in 0..200 {
        match UnixStream::connect(socket).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(DriverError::io(
        format!("connect to {}", socket.display()),
        last.unwrap_or_else(|| std::io::Error::other("no attempt")),
    ))
}

/// Alive and not a zombie waiting to be reaped.
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
