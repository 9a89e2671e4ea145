//! Where a report goes: stdout, or a file written atomically.
//!
//! A report written to `--output FILE` goes to a temporary file in the same
//! directory first and is renamed over `FILE` only once complete, so a crash
//! or an error half-way never leaves a truncated report that looks whole.
//! The file gets the permissions a shell redirect would give it: those of the
//! file it replaces, or, for a new file, 0666 less the umask (0644 under 022).
//! [`check_destination`] keeps `-o` from replacing evidence: an input of the
//! run, or (without `--force`) any capture.

use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Refuses a report destination that would destroy evidence: one of `inputs`
/// (the same file, by device and inode, whatever the path that names it:
/// a second hard link, a symlink, `./x` for `x`), always; and, unless `force`,
/// any existing file that starts like a capture (pcap, pcapng or gzip magic).
/// A destination that does not exist yet, or is `-` (stdout), is fine.
pub fn check_destination(dest: &Path, inputs: &[&Path], force: bool) -> io::Result<()> {
    if dest == Path::new("-") {
        return Ok(());
    }
    let Ok(meta) = std::fs::metadata(dest) else {
        return Ok(());
    };
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("-o {}: {why}", dest.display()),
        ))
    };
    for input in inputs {
        if std::fs::metadata(input).is_ok_and(|m| same_file(&meta, &m, dest, input)) {
            return refuse(format!(
                "refusing to write the report over {}, an input of this run",
                input.display()
            ));
        }
    }
    if force || !meta.is_file() {
        return Ok(());
    }
    let mut first = Vec::with_capacity(4);
    // An unreadable file is not known to be a capture; the rename decides.
    let _ = std::fs::File::open(dest).and_then(|f| f.take(4).read_to_end(&mut first));
    match crate::read::sniff(&first) {
        crate::read::Magic::Capture => refuse(
            "refusing to overwrite a capture file (pcap or pcapng) with the report; \
             --force overwrites it"
                .into(),
        ),
        crate::read::Magic::Gzip => refuse(
            "refusing to overwrite a gzip file (perhaps a compressed capture) with the \
             report; --force overwrites it"
                .into(),
        ),
        crate::read::Magic::Other(_) => Ok(()),
    }
}

/// Whether two files' metadata describe the same file: device and inode on
/// Unix; elsewhere the canonical paths.
#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata, _: &Path, _: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Whether two files' metadata describe the same file: device and inode on
/// Unix; elsewhere the canonical paths.
#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata, a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// An open destination for one report.
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::StdoutLock<'static>>),
    /// An existing file that is not a regular file (`/dev/null`, a FIFO, a
    /// terminal): written in place, as a shell redirect would; renaming a
    /// report over it would replace the device with a plain file.
    Device(BufWriter<std::fs::File>),
    /// A temporary file that becomes `path` on [`Output::commit`].
    File {
        /// The temporary file, in `path`'s directory (same file system, so the rename is atomic).
        tmp: BufWriter<tempfile::NamedTempFile>,
        /// Where the report must end up.
        path: PathBuf,
    },
}

impl Output {
    /// Stdout when `path` is `None` or `-`, else a temporary file beside `path`.
    pub fn open(path: Option<&Path>) -> io::Result<Output> {
        match path {
            None => Ok(Output::Stdout(BufWriter::new(io::stdout().lock()))),
            Some(p) if p == Path::new("-") => {
                Ok(Output::Stdout(BufWriter::new(io::stdout().lock())))
            }
            Some(p) if std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir()) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                Ok(Output::Device(BufWriter::new(f)))
            }
            Some(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let mut builder = tempfile::Builder::new();
                builder.prefix(".flowaudit-").suffix(".tmp");
                // tempfile creates files 0600; a report is not a secret, and
                // a shell redirect would give 0666 less the umask, which is
                // what asking the kernel for 0666 gives (it applies the umask
                // itself, so the umask never has to be read or changed: no
                // libc call, no window where a changed umask affects other
                // threads).
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    builder.permissions(std::fs::Permissions::from_mode(0o666));
                }
                let tmp = builder.tempfile_in(dir).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("{}: cannot create a temporary file: {e}", dir.display()),
                    )
                })?;
                Ok(Output::File {
                    tmp: BufWriter::new(tmp),
                    path: p.to_path_buf(),
                })
            }
        }
    }

    /// True when the report goes to a terminal (for format and colour defaults).
    pub fn is_terminal(&self) -> bool {
        use std::io::IsTerminal;
        matches!(self, Output::Stdout(_)) && io::stdout().is_terminal()
    }

    /// Flushes, and for a file renames the finished report into place.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut w) => w.flush(),
            Output::Device(mut w) => w.flush(),
            Output::File { tmp, path } => {
                let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
                // Replacing a file keeps its permissions, as `>` would.
                if let Ok(old) = std::fs::metadata(&path) {
                    tmp.as_file().set_permissions(old.permissions())?;
                }
                tmp.as_file().sync_all()?;
                tmp.persist(&path).map(|_| ()).map_err(|e| {
                    io::Error::new(e.error.kind(), format!("{}: {}", path.display(), e.error))
                })
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::Device(w) => w.write(buf),
            Output::File { tmp, .. } => tmp.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::Device(w) => w.flush(),
            Output::File { tmp, .. } => tmp.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `-o /dev/null` writes to the device; a rename would have replaced
    /// the device node (as root) with a plain file.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let null = Path::new("/dev/null");
        let mut out = Output::open(Some(null)).unwrap();
        assert!(matches!(out, Output::Device(_)));
        out.write_all(b"report").unwrap();
        out.commit().unwrap();
        assert!(
            std::fs::metadata(null)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    #[test]
    fn file_appears_only_on_commit_and_never_half_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old complete report").unwrap();
        let mut out = Output::open(Some(&path)).unwrap();
        out.write_all(b"{\"half\": ").unwrap();
        out.flush().unwrap();
        // Before commit the old report is intact.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "old complete report"
        );
        drop(out);
        // An abandoned report leaves the old one and no temporary file behind.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "old complete report"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut out = Output::open(Some(&path)).unwrap();
        out.write_all(b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
