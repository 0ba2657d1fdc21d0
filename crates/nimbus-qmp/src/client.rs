//! An asynchronous QMP client: commands matched to their answers by id,
//! events broadcast to whoever subscribed.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, broadcast, oneshot};

use crate::{Error, Result};

/// QEMU's greeting and answers are single lines; anything longer is not QMP
/// from a well-behaved QEMU and is refused rather than buffered forever.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// An asynchronous event QEMU reported (`SHUTDOWN`, `DEVICE_DELETED`, ...).
#[derive(Debug, Clone)]
pub struct Event {
    /// The event's name.
    pub name: String,
    /// Its `data` member (null when absent).
    pub data: Value,
}

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value>>>>>;

/// A connected, capability-negotiated QMP session.
#[derive(Debug)]
pub struct Qmp {
    writer: Mutex<OwnedWriteHalf>,
    pending: Pending,
    next_id: AtomicU64,
    events: broadcast::Sender<Event>,
    version: Value,
}

impl Qmp {
    /// Connects to the QMP socket at `path`, retrying until `timeout` while
    /// QEMU is still creating it, and negotiates capabilities.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp> {
        let deadline = tokio::time::Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path).await {
                Ok(stream) => break stream,
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    return Err(Error::io("connect", err));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let (read, write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let greeting = tokio::time::timeout_at(deadline, read_message(&mut reader))
            .await
            .map_err(|_| Error::Timeout("the QMP greeting".into()))??;
        let version = greeting
            .get("QMP")
            .and_then(|qmp| qmp.get("version"))
            .cloned()
            .ok_or_else(|| Error::Protocol(format!("unexpected greeting {greeting}")))?;

        let pending: Pending = Arc::default();
        let (events, _) = broadcast::channel(256);
        tokio::spawn(read_loop(reader, pending.clone(), events.clone()));
        let qmp = Qmp {
            writer: Mutex::new(write),
            pending,
            next_id: AtomicU64::new(1),
            events,
            version,
        };
        qmp.execute("qmp_capabilities", Value::Null).await?;
        Ok(qmp)
    }

    /// The `version` object of QEMU's greeting.
    pub fn version(&self) -> &Value {
        &self.version
    }

    /// Events from now on. Subscribe before the command whose event you
    /// wait for, so it cannot slip past.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Runs `command` with `arguments` (an object, or null for none) and
    /// returns its `return` value.
    pub async fn execute(&self, command: &str, arguments: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "execute": command, "id": id });
        if !arguments.is_null() {
            message["arguments"] = arguments;
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let mut line = message.to_string();
        line.push('\n');
        let written = {
            let mut writer = self.writer.lock().await;
            writer.write_all(line.as_bytes()).await
        };
        if let Err(err) = written {
            lock(&self.pending).remove(&id);
            return Err(Error::io("write", err));
        }
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Error::Command { class, desc, .. })) => Err(Error::Command {
                command: command.to_string(),
                class,
                desc,
            }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(Error::Disconnected),
        }
    }

    /// `execute` with a time limit.
    pub async fn execute_timeout(
        &self,
        command: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value> {
        tokio::time::timeout(timeout, self.execute(command, arguments))
            .await
            .map_err(|_| Error::Timeout(format!("QMP command {command}")))?
    }

    /// The guest's run state as `query-status` reports it (`running`,
    /// `paused`, `suspended`, `shutdown`, ...).
    pub async fn status(&self) -> Result<String> {
        let status = self.execute("query-status", Value::Null).await?;
        status
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::Protocol(format!("query-status answered {status}")))
    }
}

/// Waits on `events` for the first event named `name` whose data satisfies
/// `matches`.
pub async fn wait_for_event(
    events: &mut broadcast::Receiver<Event>,
    name: &str,
    matches: impl Fn(&Value) -> bool,
    timeout: Duration,
) -> Result<Event> {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) if event.name == name && matches(&event.data) => return Ok(event),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Err(Error::Disconnected),
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| Error::Timeout(format!("event {name}")))?
}

impl Qmp {
    /// Subscribes, runs `command`, then waits for event `name` matching
    /// `matches` (e.g. `device_del` then `DEVICE_DELETED` for that device).
    pub async fn execute_and_wait(
        &self,
        command: &str,
        arguments: Value,
        name: &str,
        matches: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Event> {
        let mut events = self.subscribe();
        self.execute_timeout(command, arguments, timeout).await?;
        wait_for_event(&mut events, name, matches, timeout).await
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read_message<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<Value> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| Error::io("read", e))?;
        if n == 0 {
            return Err(Error::Disconnected);
        }
        if line.len() > MAX_LINE {
            return Err(Error::Protocol("message too long".into()));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return serde_json::from_slice(&line)
            .map_err(|e| Error::Protocol(format!("invalid JSON from QEMU: {e}")));
    }
}

async fn read_loop<R: AsyncBufReadExt + Unpin>(
    mut reader: R,
    pending: Pending,
    events: broadcast::Sender<Event>,
) {
    loop {
        let message = match read_message(&mut reader).await {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(error = %err, "QMP reader stops");
                break;
            }
        };
        if let Some(name) = message.get("event").and_then(Value::as_str) {
            let data = message.get("data").cloned().unwrap_or(Value::Null);
            // Nobody listening is fine: events are only for those who wait.
            let _ = events.send(Event {
                name: name.to_string(),
                data,
            });
            continue;
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            tracing::warn!(%message, "QMP answer without our id");
            continue;
        };
        let Some(tx) = lock(&pending).remove(&id) else {
            continue;
        };
        let answer = if let Some(value) = message.get("return") {
            Ok(value.clone())
        } else if let Some(error) = message.get("error") {
            Err(Error::Command {
                command: String::new(),
                class: error
                    .get("class")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                desc: error
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
        } else {
            Err(Error::Protocol(format!("unexpected message {message}")))
        };
        let _ = tx.send(answer);
    }
    // Dropping the senders wakes every waiter with `Disconnected`.
    lock(&pending).clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A scripted QMP peer: greets, then answers each command by id and
    /// sends an event after `device_del`.
    async fn fake_qemu(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        write
            .write_all(
                b"{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}\n",
            )
            .await
            .unwrap();
        let mut lines = BufReader::new(read).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            let msg: Value = serde_json::from_str(&line).unwrap();
            let id = msg["id"].clone();
            let reply = match msg["execute"].as_str().unwrap() {
                "query-status" => json!({"return": {"status": "running"}, "id": id}),
                "device_del" => {
                    write
                        .write_all(
                            b"{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"vd1\"}}\n",
                        )
                        .await
                        .unwrap();
                    json!({"return": {}, "id": id})
                }
                "bogus" => json!({"error": {"class": "CommandNotFound", "desc": "nope"}, "id": id}),
                _ => json!({"return": {}, "id": id}),
            };
            write
                .write_all(format!("{reply}\n").as_bytes())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn commands_errors_events_and_disconnect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(fake_qemu(listener));
        let qmp = Qmp::connect(&path, Duration::from_secs(5)).await.unwrap();
        assert_eq!(qmp.version()["qemu"]["major"], 7);
        assert_eq!(qmp.status().await.unwrap(), "running");
        match qmp.execute("bogus", Value::Null).await {
            Err(Error::Command { command, class, .. }) => {
                assert_eq!(command, "bogus");
                assert_eq!(class, "CommandNotFound");
            }
            other => panic!("expected a command error, got {other:?}"),
        }
        let event = qmp
            .execute_and_wait(
                "device_del",
                json!({"id": "vd1"}),
                "DEVICE_DELETED",
                |d| d["device"] == "vd1",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(event.data["device"], "vd1");
        server.abort();
        let _ = server.await;
        assert!(matches!(
            qmp.execute_timeout("query-status", Value::Null, Duration::from_secs(5))
                .await,
            Err(Error::Disconnected | Error::Io { .. })
        ));
    }
}
