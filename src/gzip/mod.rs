//! gzip (RFC 1952): one-member encoder and a strict all-members decoder.

mod blocks;
mod decode;
mod deflater;
mod encode;

pub use decode::GzipDecoder;
pub use blocks::DeflateBlocks;
pub use encode::GzipEncoder;

pub const MAGIC: [u8; 2] = [0x1f, 0x8b];
