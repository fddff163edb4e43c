//! gzip (RFC 1952): one-member encoder and a strict all-members decoder.

mod decode;
mod encode;

pub use decode::GzipDecoder;
pub use encode::{DeflateBlocks, GzipEncoder};

pub const MAGIC: [u8; 2] = [0x1f, 0x8b];
