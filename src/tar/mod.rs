//! tar framing: ustar headers with PAX and GNU long-name extensions (header), the writer
//! (write) and the strict push parser (read).

mod header;
mod pax;
mod read;
mod write;

pub use header::{type_from_name, type_name, Header, BLOCK};
pub use read::{Event, TarReader};
pub use write::{end_of_archive, entry_header, padding};
