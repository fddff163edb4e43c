//! @app/backup-native: a pure Rust core (gzip, the .enc envelope, tar framing, policy,
//! staging, pipelines) and a thin napi layer in `node/`.

pub mod app;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod folder;
pub mod fs;
pub mod gzip;
pub mod pack;
pub mod policy;
pub mod pool;
pub mod stage;
pub mod tar;
pub mod transform;
pub mod workers;

#[cfg(feature = "node")]
mod node;
