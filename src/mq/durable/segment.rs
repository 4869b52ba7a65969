//! Segment files: naming, listing, creation and removal, and syncing the directory.
//!
//! A segment is `<dir>/<n>.seg` with `n` in 20 decimal digits, so that names sort like numbers.
//! Other files in the directory (the lock file) are ignored.
//!
//! Directory durability: creating the log directory fsyncs the parent of every directory it
//! created; creating a segment fsyncs the file (its header) and then the directory, under
//! every sync policy (once per segment, so cheap), so a segment that exists after a power loss
//! has its header, and its creation is on disk before anything later (a removal) can be;
//! removing a segment fsyncs the directory, so a removed segment does not come back.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format;
use super::DurableError;

/// The path of segment `no`.
pub(crate) fn path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:020}.seg"))
}

/// The segment number in a file name, if it is a segment's.
fn number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creates `dir` and its missing ancestors, fsyncing the parent of each one created.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), DurableError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(DurableError::io(dir, "create directory", &e)),
    }
    trace(|| format!("mkdir {}", dir.display()));
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    sync_dir(parent.unwrap_or(Path::new(".")))
}

/// The segments in `dir` (which exists), oldest first.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, DurableError> {
    let entries = fs::read_dir(dir).map_err(|e| DurableError::io(dir, "read directory", &e))?;
    let mut segs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DurableError::io(dir, "read directory", &e))?;
        if let Some(no) = entry.file_name().to_str().and_then(number) {
            segs.push((no, entry.path()));
        }
    }
    segs.sort_unstable_by_key(|&(no, _)| no);
    Ok(segs)
}

/// Creates segment `no` with its header; the file and the directory entry are on disk when
/// this returns (under every policy: see the module docs).
pub(crate) fn create(dir: &Path, no: u64, base_id: u64) -> Result<(File, PathBuf), DurableError> {
    let p = path(dir, no);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| DurableError::io(&p, "create", &e))?;
    f.write_all(&format::header(base_id))
        .map_err(|e| DurableError::io(&p, "write", &e))?;
    f.sync_data()
        .map_err(|e| DurableError::io(&p, "fsync", &e))?;
    trace(|| format!("sync header {no}"));
    sync_dir(dir)?;
    Ok((f, p))
}

/// Removes segment `no` and makes the removal durable (fsyncs the directory).
pub(crate) fn remove(dir: &Path, no: u64) -> Result<(), DurableError> {
    let p = path(dir, no);
    match fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DurableError::io(&p, "remove", &e)),
    }
    trace(|| format!("remove {no}"));
    sync_dir(dir)
}

/// Makes the directory's entries (created or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), DurableError> {
    trace(|| format!("sync dir {}", dir.display()));
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| DurableError::io(dir, "fsync directory", &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// The file-system steps of this thread, in order (tests of their order).
    pub(crate) static TRACE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records a file-system step (tests only; nothing in other builds).
#[inline]
pub(crate) fn trace(_step: impl FnOnce() -> String) {
    #[cfg(test)]
    TRACE.with(|t| t.borrow_mut().push(_step()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_numbers() {
        assert_eq!(number("00000000000000000012.seg"), Some(12));
        assert_eq!(number("12.seg"), None);
        assert_eq!(number("0000000000000000001x.seg"), None);
        assert_eq!(number("00000000000000000012.tmp"), None);
        let p = path(Path::new("d"), 3);
        assert_eq!(p.file_name().unwrap(), "00000000000000000003.seg");
    }
}
