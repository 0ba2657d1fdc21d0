//! The router in-process, with a resolver standing in for the compute service.

mod service;
