//! One error type for the whole core: a stable `code` from the SAFETY.md vocabulary,
//! a readable message, and where known the entry and the input offset.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub entry_name: Option<String>,
    pub entry_index: Option<u64>,
    pub offset: Option<u64>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), entry_name: None, entry_index: None, offset: None }
    }

    pub fn at(mut self, offset: u64) -> Self {
        self.offset.get_or_insert(offset);
        self
    }

    /// Moves a known offset by `by` bytes, for errors raised by an inner stage.
    pub fn shifted(mut self, by: u64) -> Self {
        if let Some(offset) = &mut self.offset {
            *offset += by;
        }
        self
    }

    pub fn entry(mut self, index: u64, name: &str) -> Self {
        self.entry_index.get_or_insert(index);
        if self.entry_name.is_none() {
            self.entry_name = Some(name.to_string());
        }
        self
    }

    /// Names the entry an error is about, where no index is known (an extraction folder).
    pub fn entry_name(mut self, name: &str) -> Self {
        self.entry_name.get_or_insert_with(|| name.to_string());
        self
    }

    pub fn aborted() -> Self {
        Error::new("E_ABORTED", "The operation was aborted")
    }

    pub fn truncated(what: &str) -> Self {
        Error::new("E_TRUNCATED", format!("Input ended inside {what}"))
    }

    pub fn io(context: &str, err: std::io::Error) -> Self {
        Error::new("E_IO", format!("{context}: {err}"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new("E_INTERNAL", message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(name) = &self.entry_name {
            write!(f, " (entry {name:?})")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
