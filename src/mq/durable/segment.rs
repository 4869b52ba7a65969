//! Segment files: naming, listing, creation, and syncing the directory.
//!
//! A segment is `<dir>/<n>.seg` with `n` in 20 decimal digits, so that names sort like numbers.
//! Other files in the directory are ignored.

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

/// The segments in `dir`, oldest first. Creates `dir` if it is missing.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, DurableError> {
    fs::create_dir_all(dir).map_err(|e| DurableError::io(dir, "create directory", &e))?;
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

/// Creates segment `no` with its header; with `sync`, the file and the directory entry are on
/// disk when this returns.
pub(crate) fn create(
    dir: &Path,
    no: u64,
    base_id: u64,
    sync: bool,
) -> Result<(File, PathBuf), DurableError> {
    let p = path(dir, no);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| DurableError::io(&p, "create", &e))?;
    f.write_all(&format::header(base_id))
        .map_err(|e| DurableError::io(&p, "write", &e))?;
    if sync {
        f.sync_data()
            .map_err(|e| DurableError::io(&p, "fsync", &e))?;
        sync_dir(dir)?;
    }
    Ok((f, p))
}

/// Makes the directory's entries (created or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), DurableError> {
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
