//! Reading a folder that is being exported, a batch of files per call: each file's size and
//! mtime, and the whole bytes of the small ones. Through Node's streams every small file
//! costs a stat, an open, two reads and a close, each a round trip through the thread pool
//! that wakes a thread and gives it the event loop's CPU.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use crate::error::{Error, Result};

pub struct FolderFile {
    pub size: u64,
    pub mtime: SystemTime,
    /// The whole file, for a file of up to `whole_up_to` bytes while the batch's `budget`
    /// lasts. It is read up to one byte past the size seen, so a file that grew shows as a
    /// size mismatch later instead of being read without end.
    pub data: Option<Vec<u8>>,
}

/// Opens and describes each of `names` below `dir`, each a regular file when it was listed
/// (what is no longer one fails, see `open_no_follow`); reads the small ones whole, in order,
/// until `budget` bytes are read.
pub fn read_batch(dir: &Path, names: &[String], whole_up_to: u64, budget: u64) -> Vec<Result<FolderFile>> {
    let mut left = budget;
    names
        .iter()
        .map(|name| {
            let failed = |e: std::io::Error| Error::new("E_SOURCE_ERROR", format!("Could not read {name:?}: {e}")).entry_name(name);
            let mut file = open_no_follow(&dir.join(name)).map_err(failed)?;
            let meta = file.metadata().map_err(failed)?;
            if !meta.is_file() {
                return Err(failed(std::io::Error::other("not a regular file any more")));
            }
            let size = meta.len();
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let mut data = None;
            if size <= whole_up_to && size <= left {
                let mut bytes = Vec::with_capacity(size as usize + 1);
                (&mut file).take(size + 1).read_to_end(&mut bytes).map_err(failed)?;
                left -= size;
                data = Some(bytes);
            }
            Ok(FolderFile { size, mtime, data })
        })
        .collect()
}

/// Opens a file for reading; on Linux a symlink is refused and a FIFO put in a file's place
/// does not block the open (it is then refused as not a regular file).
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn small_files_come_whole_until_the_budget_is_spent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a"), b"alpha").unwrap();
        std::fs::write(dir.path().join("sub/b"), vec![7u8; 3000]).unwrap();
        std::fs::write(dir.path().join("big"), vec![1u8; 5000]).unwrap();
        std::fs::write(dir.path().join("c"), b"gamma!").unwrap();
        let got = read_batch(dir.path(), &names(&["a", "sub/b", "big", "c"]), 4096, 3004);
        let got: Vec<FolderFile> = got.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got.iter().map(|f| f.size).collect::<Vec<_>>(), [5, 3000, 5000, 6]);
        assert_eq!(got[0].data.as_deref(), Some(&b"alpha"[..]));
        assert_eq!(got[1].data.as_deref(), None, "over what is left of the budget");
        assert_eq!(got[2].data.as_deref(), None, "over whole_up_to");
        assert_eq!(got[3].data.as_deref(), Some(&b"gamma!"[..]));
        let modified = std::fs::metadata(dir.path().join("a")).unwrap().modified().unwrap();
        assert_eq!(got[0].mtime, modified);
    }

    #[test]
    fn a_missing_file_a_symlink_or_a_fifo_fails_alone_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ok"), b"fine").unwrap();
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        #[cfg(target_os = "linux")]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), dir.path().join("link")).unwrap();
            let fifo = std::ffi::CString::new(dir.path().join("fifo").to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        }
        let got = read_batch(dir.path(), &names(&["gone", "ok", "link", "fifo"]), 1024, 1 << 20);
        let err = got[0].as_ref().err().unwrap();
        assert_eq!((err.code, err.entry_name.as_deref()), ("E_SOURCE_ERROR", Some("gone")));
        assert_eq!(got[1].as_ref().unwrap().data.as_deref(), Some(&b"fine"[..]));
        #[cfg(target_os = "linux")]
        {
            assert_eq!(got[2].as_ref().err().unwrap().entry_name.as_deref(), Some("link"));
            assert_eq!(got[3].as_ref().err().unwrap().entry_name.as_deref(), Some("fifo"));
        }
    }
}
