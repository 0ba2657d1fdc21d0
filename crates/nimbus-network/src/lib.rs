//! Network service: Neutron v2.0 at `/network`. Networks, subnets, ports
//! with transactional IPAM, routers, floating IPs, security groups and
//! quotas in the database; [`compute`] is the in-process API the compute
//! service uses to give servers ports; [`dataplane`] is the boundary to
//! what realises the model on hosts.

pub mod api;
pub mod app;
pub mod compute;
pub mod config;
pub mod dataplane;
pub mod error;
pub mod ipam;
pub mod store;

pub use api::router;
pub use app::NetworkService;
pub use config::NetworkConfig;
