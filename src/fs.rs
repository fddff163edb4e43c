//! Extraction into a folder by handle. Every directory is opened relative to its parent's
//! descriptor without following symlinks (cap-std: `openat2(RESOLVE_BENEATH)` where the
//! kernel has it, else `openat` component by component with `O_NOFOLLOW`), so a symlink or a
//! file already in the target, or swapped in meanwhile, is never passed through. A file is
//! written to an exclusive (`O_EXCL`) temp name, its metadata set through its descriptor,
//! and linked under its final name only once complete; the link fails if that name exists.

use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use cap_fs_ext::DirExt;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};

use crate::error::{Error, Result};
use crate::policy::{check_path, Limits};

fn io_error(what: &str, name: &str, e: io::Error) -> Error {
    Error::io(&format!("Could not {what} {name:?}"), e).entry_name(name)
}

/// The extraction folder, held open for the whole extraction.
pub struct Target {
    root: Dir,
}

impl Target {
    /// Creates `path` if needed and opens it. The path itself is the caller's choice and
    /// is resolved normally; only what lies below it is treated as hostile.
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        std::fs::create_dir_all(path).map_err(|e| io_error("create the folder", &shown, e))?;
        let root = Dir::open_ambient_dir(path, ambient_authority()).map_err(|e| io_error("open the folder", &shown, e))?;
        Ok(Target { root })
    }

    /// Opens (creating as needed) each directory of `components` below the root.
    fn directory(&self, name: &str, components: &[&str]) -> Result<Dir> {
        let mut dir = self.root.try_clone().map_err(|e| io_error("open the folder of", name, e))?;
        for component in components {
            dir = match dir.open_dir_nofollow(component) {
                Ok(next) => next,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match dir.create_dir(component) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(io_error("create a folder for", name, e)),
                    }
                    dir.open_dir_nofollow(component).map_err(|e| blocked(&dir, component, name, e))?
                }
                Err(e) => return Err(blocked(&dir, component, name, e)),
            };
        }
        Ok(dir)
    }

    /// Starts writing entry `name`: its folders exist, and an exclusive temp file is open.
    pub fn create(&self, name: &str) -> Result<FileWriter> {
        let name = check_path(name, &Limits::default()).map_err(|e| e.entry_name(name))?;
        let mut components: Vec<&str> = name.split('/').collect();
        let base = match components.pop() {
            Some(base) if !base.is_empty() => base.to_string(),
            _ => return Err(Error::new("E_PATH_INVALID", "A file needs a name").entry_name(&name)),
        };
        let parent = self.directory(&name, &components)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        for _ in 0..16 {
            let temp = format!(".{base}.{:016x}.partial", random_u64());
            match parent.open_with(&temp, &options) {
                Ok(file) => {
                    return Ok(FileWriter { parent, temp, base, name, file: Some(file.into_std()) });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_error("create a temporary file for", &name, e)),
            }
        }
        Err(Error::new("E_IO", "Could not find a free temporary file name").entry_name(&name))
    }
}

/// Why `component` of `dir` could not be opened as a folder: a symlink (never followed), a
/// file of that name, or an I/O error.
fn blocked(dir: &Dir, component: &str, name: &str, e: io::Error) -> Error {
    match dir.symlink_metadata(component) {
        Ok(meta) if meta.is_symlink() => {
            Error::new("E_LINK_ESCAPE", format!("{name:?} would pass through a symlink already in the target")).entry_name(name)
        }
        Ok(meta) if !meta.is_dir() => {
            Error::new("E_PATH_COLLISION", format!("{name:?} needs a folder where a file already is")).entry_name(name)
        }
        _ => io_error("open a folder of", name, e),
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).expect("the OS random source");
    u64::from_le_bytes(bytes)
}

/// One file being extracted. Dropped without `commit`, it removes its temp file.
pub struct FileWriter {
    parent: Dir,
    temp: String,
    base: String,
    name: String,
    file: Option<std::fs::File>,
}

impl FileWriter {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let file = self.file.as_mut().ok_or_else(|| Error::internal("write after commit"))?;
        file.write_all(data).map_err(|e| io_error("write", &self.name, e))
    }

    /// Sets mode 0644 and (if given) the modification time through the descriptor, then
    /// links the file under its name. An existing name, of any kind, is never replaced.
    /// The temp name goes either way (on drop).
    pub fn commit(mut self, mtime: Option<SystemTime>) -> Result<()> {
        let file = self.file.take().ok_or_else(|| Error::internal("commit twice"))?;
        set_mode(&file).map_err(|e| io_error("set the mode of", &self.name, e))?;
        if let Some(mtime) = mtime {
            let times = std::fs::FileTimes::new().set_modified(mtime).set_accessed(mtime);
            file.set_times(times).map_err(|e| io_error("set the times of", &self.name, e))?;
        }
        drop(file);
        match self.parent.hard_link(&self.temp, &self.parent, &self.base) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(Error::new("E_DUPLICATE_ENTRY", format!("{:?} already exists in the target", self.name)).entry_name(&self.name))
            }
            Err(e) => Err(io_error("link", &self.name, e)),
        }
    }
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File) -> io::Result<()> {
    Ok(())
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.file = None;
        let _ = self.parent.remove_file(&self.temp);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        out.sort();
        out
    }

    #[test]
    fn writes_by_handle_and_never_follows_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let target = Target::open(&tmp.path().join("target")).unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join("target/evil")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), tmp.path().join("target/dangling")).unwrap();

        let mut file = target.create("a/b/c.txt").unwrap();
        file.write(b"hello").unwrap();
        file.commit(Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))).unwrap();
        let path = tmp.path().join("target/a/b/c.txt");
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000));
        assert_eq!(names(&tmp.path().join("target/a/b")), ["c.txt"]);

        assert_eq!(target.create("evil/x").err().unwrap().code, "E_LINK_ESCAPE");
        assert_eq!(target.create("a/b/c.txt/d").err().unwrap().code, "E_PATH_COLLISION");
        let mut over_link = target.create("dangling").unwrap();
        over_link.write(b"x").unwrap();
        assert_eq!(over_link.commit(None).unwrap_err().code, "E_DUPLICATE_ENTRY");
        assert!(names(&outside).is_empty());
        assert_eq!(target.create("../x").err().unwrap().code, "E_PATH_TRAVERSAL");

        let mut unfinished = target.create("a/partial").unwrap();
        unfinished.write(b"half").unwrap();
        drop(unfinished);
        assert_eq!(names(&tmp.path().join("target/a")), ["b"]);
    }
}
