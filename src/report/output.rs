//! Where a report goes: stdout, or a file written atomically.
//!
//! A report written to `--output FILE` goes to a temporary file in the same
//! directory first and is renamed over `FILE` only once complete, so a crash
//! or an error half-way never leaves a truncated report that looks whole.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An open destination for one report.
pub enum Output {
    /// Standard output.
    Stdout(BufWriter<io::StdoutLock<'static>>),
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
            Some(p) => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".flowaudit-")
                    .suffix(".tmp")
                    .tempfile_in(dir)
                    .map_err(|e| {
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
            Output::File { tmp, path } => {
                let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
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
            Output::File { tmp, .. } => tmp.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File { tmp, .. } => tmp.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
