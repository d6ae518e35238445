//! The provisioning service (architecture §2, §4.1): the real-time provisioning API that
//! accepts events, its per-tenant rate limit, the real-time logs, and the transformation
//! engine, and provisioning jobs ([`jobs`]). Delivery of accepted events to target systems
//! lives in [`crate::delivery`].

pub mod jobs;
pub mod logs;
pub mod rate_limit;
pub mod realtime_api;
pub mod transform;
