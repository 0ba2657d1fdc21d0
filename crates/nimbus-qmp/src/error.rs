//! Errors of the QMP client and the QEMU helpers.

/// What went wrong talking to QEMU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket could not be reached or read.
    #[error("QMP {operation}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// QEMU sent something that is not QMP.
    #[error("QMP protocol error: {0}")]
    Protocol(String),
    /// QEMU refused a command.
    #[error("QMP command {command} failed ({class}): {desc}")]
    Command {
        /// The command that failed.
        command: String,
        /// QMP's error class, e.g. `GenericError`, `DeviceNotFound`.
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// The connection closed before the answer came (QEMU exited).
    #[error("QMP connection closed")]
    Disconnected,
    /// No answer or event within the time allowed.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// A volume's connection info is not one QEMU can open.
    #[error("unusable connection info: {0}")]
    ConnectionInfo(String),
}

impl Error {
    pub(crate) fn io(operation: &'static str, source: std::io::Error) -> Self {
        Error::Io { operation, source }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
