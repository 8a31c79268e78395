//! Reading files a runbook names: the runbook itself and its `{file=…}`
//! includes. Only regular files are read (a FIFO would block, `/dev/zero`
//! never ends), at most [`MAX_FILE_BYTES`], and includes stay inside the
//! runbook's folder once symlinks are resolved unless the operator allows
//! otherwise: a runbook from elsewhere must not copy `/etc/shadow` or
//! `/proc/self/environ` into a journal header.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest runbook or included file runsheet reads.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes of the regular file at `path`, refused with a sentence when it
/// is anything else or larger than [`MAX_FILE_BYTES`].
pub(crate) fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    // Non-blocking, so opening a FIFO with no writer returns at once.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        ""
    };
    if !what.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}, not a regular file"),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    // Files such as those under /proc report no size: the limit holds while reading.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024)),
    )
}

/// Where an included `path` (relative to `dir`, the runbook's folder)
/// really is, symlinks resolved; an error sentence when it cannot be found
/// or, unless `allow_outside`, lies outside `dir`.
pub(crate) fn locate(dir: &Path, path: &str, allow_outside: bool) -> Result<PathBuf, String> {
    let full = dir.join(path);
    let real = full.canonicalize().map_err(|e| {
        format!(
            "cannot read file '{path}' ({}: {e}); the path is relative to the runbook's folder",
            full.display()
        )
    })?;
    if allow_outside {
        return Ok(real);
    }
    let root = dir
        .canonicalize()
        .map_err(|e| format!("cannot read the runbook's folder {}: {e}", dir.display()))?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(format!(
            "file '{path}' is outside the runbook's folder (it is {}); keep included files in {} or below, or pass --allow-outside-files if you trust this runbook",
            real.display(),
            root.display()
        ))
    }
}
