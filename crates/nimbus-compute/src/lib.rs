//! The compute service (Nova v2.1). So far: the hypervisor driver that runs
//! one QEMU process per instance; the API, build pipeline and image cache
//! arrive with the rest of the compute issue.

pub mod driver;
