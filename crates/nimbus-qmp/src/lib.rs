//! QEMU for Nimbus: the command line that starts one guest (`cmdline`), an
//! asynchronous QMP client that controls it (`client`), and the check that
//! hardware acceleration really works on this host (`probe`).
#![warn(missing_docs)]

mod client;
mod cmdline;
mod error;
mod probe;
mod volume;

pub use client::{Event, Qmp, wait_for_event};
pub use cmdline::{Accel, Disk, DiskBus, ImageFormat, ImageNode, Machine, Nic, Secret};
pub use error::{Error, Result};
pub use probe::{kvm_works, virt_type_auto};
pub use volume::{
    disk_attach, disk_detach, disk_release, disk_unplug, volume_disk, volume_node,
    write_secret_file,
};
