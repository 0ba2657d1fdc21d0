//! The hypervisor driver: what nova's virt driver does for one host, with
//! QEMU as the only real implementation.

pub mod machine_file;
mod qemu;

pub use qemu::{Guest, QemuDriver};

/// nova's `power_state` values (`nova/compute/power_state.py`), as the API
/// reports them in `OS-EXT-STS:power_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    /// No state known (building, or gone).
    NoState = 0,
    /// The guest runs.
    Running = 1,
    /// Its vCPUs are stopped (`pause`).
    Paused = 3,
    /// The guest is off.
    Shutdown = 4,
    /// QEMU reports a guest panic or internal error.
    Crashed = 6,
    /// Its memory is saved to disk and QEMU is gone (`suspend`).
    Suspended = 7,
}

/// What went wrong driving a guest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Starting or signalling a process, or a file in the instance dir.
    #[error("{operation}: {source}")]
    Io {
        /// What was being done.
        operation: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// QEMU refused or did not answer.
    #[error(transparent)]
    Qmp(#[from] nimbus_qmp::Error),
    /// The guest is not in a state that allows the operation.
    #[error("{0}")]
    InvalidState(String),
    /// QEMU exited while starting; its log says why.
    #[error("QEMU exited while starting: {0}")]
    StartFailed(String),
}

impl DriverError {
    pub(crate) fn io(operation: impl Into<String>, source: std::io::Error) -> Self {
        DriverError::Io {
            operation: operation.into(),
            source,
        }
    }
}

/// The driver's result type.
pub type Result<T> = std::result::Result<T, DriverError>;
