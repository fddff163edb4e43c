//! What an untrusted archive may contain (SAFETY.md): the path grammar, entry types,
//! duplicates, and the budgets.

use std::collections::HashSet;
use std::hash::BuildHasher;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::tar::Header;

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_meta: u64,
    pub max_path: u64,
    pub max_component: u64,
    pub max_depth: u64,
    pub max_entries: u64,
    pub max_entry_size: u64,
    pub max_total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_meta: 1 << 20,
            max_path: 4096,
            max_component: 255,
            max_depth: 1024,
            max_entries: 1_000_000,
            max_entry_size: 64 << 30,
            max_total: 64 << 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Every entry as stored, as tar-stream reports it. Framing and budgets still apply.
    Permissive,
    /// The name and type policy of SAFETY.md.
    Strict,
}

/// Checks one name against the path grammar and returns it normalised: `.` components and a
/// trailing `/` removed. The result is empty only for the archive root (`./`).
pub fn check_path(name: &str, limits: &Limits) -> Result<String> {
    let invalid = |code, why: &str| Error::new(code, format!("Entry name {name:?} {why}"));
    if name.is_empty() {
        return Err(invalid("E_PATH_INVALID", "is empty"));
    }
    if name.contains('\0') {
        return Err(invalid("E_PATH_INVALID", "contains a NUL byte"));
    }
    if name.len() as u64 > limits.max_path {
        return Err(invalid("E_LIMIT_PATH", "is longer than the path budget"));
    }
    let bytes = name.as_bytes();
    if bytes[0] == b'/' || bytes[0] == b'\\' {
        return Err(invalid("E_PATH_ABSOLUTE", "is absolute"));
    }
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(invalid("E_PATH_ABSOLUTE", "starts with a drive letter"));
    }
    if name.contains('\\') {
        return Err(invalid("E_PATH_INVALID", "uses '\\' as a separator"));
    }
    let body = name.strip_suffix('/').unwrap_or(name);
    let mut kept = Vec::new();
    for component in body.split('/') {
        if component.is_empty() {
            return Err(invalid("E_PATH_INVALID", "has an empty component"));
        }
        if component == "." {
            continue;
        }
        if component == ".." {
            return Err(invalid("E_PATH_TRAVERSAL", "contains '..'"));
        }
        let folded: String = component.nfkc().collect();
        if folded.chars().all(|c| c == '.') && folded.len() <= 2 {
            return Err(invalid("E_PATH_TRAVERSAL", "has a component that normalises to '.' or '..'"));
        }
        if folded.contains(['/', '\\']) || (folded.len() >= 2 && folded.as_bytes()[1] == b':' && kept.is_empty()) {
            return Err(invalid("E_PATH_INVALID", "has a component that normalises to a separator or drive"));
        }
        if component.len() as u64 > limits.max_component {
            return Err(invalid("E_LIMIT_PATH", "has a component longer than the budget"));
        }
        kept.push(component);
    }
    if kept.len() as u64 > limits.max_depth {
        return Err(invalid("E_LIMIT_DEPTH", "is deeper than the depth budget"));
    }
    Ok(kept.join("/"))
}

/// Resolves a symlink target against the directory of `entry` and fails if it leaves the root.
fn check_link_target(entry: &str, target: &str, limits: &Limits) -> Result<()> {
    let escape = || Error::new("E_LINK_ESCAPE", format!("Link {entry:?} -> {target:?} points outside the archive"));
    if target.starts_with('/') || target.starts_with('\\') || target.as_bytes().get(1) == Some(&b':') {
        return Err(escape());
    }
    let mut depth: Vec<&str> = entry.split('/').collect();
    depth.pop();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                depth.pop().ok_or_else(escape)?;
            }
            other => {
                let folded: String = other.nfkc().collect();
                if folded.chars().all(|c| c == '.') && folded.len() <= 2 || other.contains('\\') {
                    return Err(escape());
                }
                depth.push(other);
            }
        }
    }
    if depth.len() as u64 > limits.max_depth {
        return Err(Error::new("E_LIMIT_DEPTH", "Link target is deeper than the depth budget"));
    }
    Ok(())
}

/// Per-archive state of the policy: entries seen, bytes counted.
pub struct Policy {
    pub mode: Mode,
    pub limits: Limits,
    /// Links that stay inside the archive are accepted (strict mode rejects all by default).
    pub allow_links: bool,
    /// The app layout: `x` and `x.enc` deliver the same file, so they are duplicates.
    pub app_names: bool,
    /// For case-insensitive targets (a folder on disk): names equal after Unicode (NFC)
    /// normalisation and case folding collide.
    pub fold_case: bool,
    hasher: std::collections::hash_map::RandomState,
    seen: HashSet<u128>,
    seen_dirs: HashSet<u128>,
    seen_folded: HashSet<u128>,
    /// Folded names that are folders of some file (only with `fold_case`).
    seen_parents: HashSet<u128>,
    /// The entry whose data is being counted: index and name, for errors.
    current: (u64, String),
    entries: u64,
    entry_bytes: u64,
    total: u64,
}

impl Policy {
    pub fn new(mode: Mode, limits: Limits) -> Self {
        Policy {
            mode,
            limits,
            allow_links: false,
            app_names: false,
            fold_case: false,
            hasher: Default::default(),
            seen: HashSet::new(),
            seen_dirs: HashSet::new(),
            seen_folded: HashSet::new(),
            seen_parents: HashSet::new(),
            current: (0, String::new()),
            entries: 0,
            entry_bytes: 0,
            total: 0,
        }
    }

    /// 128-bit keyed fingerprint of a name, so remembering names costs 16 bytes each.
    fn fingerprint(&self, name: &str) -> u128 {
        ((self.hasher.hash_one(name) as u128) << 64) | self.hasher.hash_one((name, 0x9e37_79b9u32)) as u128
    }

    /// Runs before an entry is reported to anyone.
    pub fn check_header(&mut self, header: &Header) -> Result<()> {
        let index = self.entries;
        let fail = |e: Error| e.entry(index, &header.name);
        self.entries += 1;
        self.entry_bytes = 0;
        self.current = (index, header.name.clone());
        if self.entries > self.limits.max_entries {
            return Err(fail(Error::new(
                "E_LIMIT_ENTRIES",
                format!("Archive has more than {} entries", self.limits.max_entries),
            )));
        }
        if header.size > self.limits.max_entry_size {
            return Err(fail(Error::new(
                "E_LIMIT_ENTRY_SIZE",
                format!("Entry of {} bytes is over the {}-byte budget", header.size, self.limits.max_entry_size),
            )));
        }
        if self.mode == Mode::Permissive {
            return Ok(());
        }
        let name = check_path(&header.name, &self.limits).map_err(fail)?;
        match header.typeflag {
            b'0' | b'7' | b'5' => {}
            b'1' | b'2' if self.allow_links => {
                let target = header.linkname.as_deref().unwrap_or("");
                if header.typeflag == b'1' {
                    let target = check_path(target, &self.limits).map_err(|_| {
                        fail(Error::new("E_LINK_ESCAPE", format!("Hard link target {target:?} is not inside the archive")))
                    })?;
                    if !self.seen.contains(&self.fingerprint(&target)) {
                        return Err(fail(Error::new("E_LINK_ESCAPE", "Hard link to an entry not earlier in the archive")));
                    }
                } else {
                    check_link_target(&name, target, &self.limits).map_err(fail)?;
                }
            }
            flag => {
                let kind = crate::tar::type_name(flag).map_or_else(|| format!("typeflag {:?}", flag as char), String::from);
                return Err(fail(Error::new("E_ENTRY_TYPE_UNSUPPORTED", format!("Entries of type {kind} are not accepted"))));
            }
        }
        if name.is_empty() {
            return Ok(());
        }
        let delivered = if self.app_names { crate::app::plain_name(&name) } else { &name };
        let key = self.fingerprint(delivered);
        let duplicate = || fail(Error::new("E_DUPLICATE_ENTRY", format!("{name:?} appears more than once")));
        if header.typeflag == b'5' {
            if self.seen.contains(&key) {
                return Err(duplicate());
            }
            self.seen_dirs.insert(key);
            return Ok(());
        }
        if self.seen_dirs.contains(&key) || !self.seen.insert(key) {
            return Err(duplicate());
        }
        if self.fold_case {
            self.check_folded(delivered).map_err(fail)?;
        }
        Ok(())
    }

    /// On a case-insensitive filesystem: a file may not share its folded name with another
    /// file, nor with a folder another file needs, nor sit where this file needs a folder.
    fn check_folded(&mut self, name: &str) -> Result<()> {
        let collision = || {
            Error::new("E_PATH_COLLISION", format!("{name:?} collides with another entry once case and Unicode form are ignored"))
        };
        let folded: String = name.nfc().flat_map(char::to_lowercase).collect();
        let key = self.fingerprint(&folded);
        if self.seen_parents.contains(&key) || !self.seen_folded.insert(key) {
            return Err(collision());
        }
        for (i, _) in folded.match_indices('/') {
            let parent = self.fingerprint(&folded[..i]);
            if self.seen_folded.contains(&parent) {
                return Err(collision());
            }
            self.seen_parents.insert(parent);
        }
        Ok(())
    }

    /// Counts decoded entry bytes against the budgets.
    pub fn check_data(&mut self, len: u64) -> Result<()> {
        self.entry_bytes += len;
        self.total += len;
        let (index, name) = &self.current;
        if self.entry_bytes > self.limits.max_entry_size {
            return Err(Error::new("E_LIMIT_ENTRY_SIZE", "Entry is over the per-entry byte budget").entry(*index, name));
        }
        if self.total > self.limits.max_total {
            return Err(Error::new("E_LIMIT_BYTES", "Archive is over the total byte budget").entry(*index, name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_grammar() {
        let l = Limits::default();
        assert_eq!(check_path("a/./b/", &l).unwrap(), "a/b");
        assert_eq!(check_path("./", &l).unwrap(), "");
        for (name, code) in [
            ("", "E_PATH_INVALID"),
            ("a/../b", "E_PATH_TRAVERSAL"),
            ("..", "E_PATH_TRAVERSAL"),
            ("/etc/passwd", "E_PATH_ABSOLUTE"),
            ("C:/x", "E_PATH_ABSOLUTE"),
            ("\\\\server\\share", "E_PATH_ABSOLUTE"),
            ("a\\..\\b", "E_PATH_INVALID"),
            ("a//b", "E_PATH_INVALID"),
            ("a/\u{ff0e}\u{ff0e}/b", "E_PATH_TRAVERSAL"),
            ("a/\u{2025}/b", "E_PATH_TRAVERSAL"),
            ("a\0b", "E_PATH_INVALID"),
        ] {
            assert_eq!(check_path(name, &l).unwrap_err().code, code, "{name:?}");
        }
        assert_eq!(check_path(&"a/".repeat(1025), &l).unwrap_err().code, "E_LIMIT_DEPTH");
        assert_eq!(check_path(&"a".repeat(256), &l).unwrap_err().code, "E_LIMIT_PATH");
        assert_eq!(check_path(&"a/".repeat(2049), &l).unwrap_err().code, "E_LIMIT_PATH");
    }

    #[test]
    fn links() {
        let l = Limits::default();
        assert!(check_link_target("a/b", "../c", &l).is_ok());
        assert_eq!(check_link_target("a/b", "../../c", &l).unwrap_err().code, "E_LINK_ESCAPE");
        assert_eq!(check_link_target("a", "/etc", &l).unwrap_err().code, "E_LINK_ESCAPE");
    }
}
