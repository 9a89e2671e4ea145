//! Live capture (cargo feature `live`, libpcap through the `pcap` crate):
//! packets from an interface are written as a pcap file (the `--write` file,
//! or a temporary one) by a capture thread, whole records at a time, and
//! each report audits what was committed so far, through the same reader as
//! any capture. So a report every interval is cumulative, the last one covers
//! the whole run, and what was audited can be opened in Wireshark afterwards.

use crate::read::Source;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Bytes kept per packet (libpcap's default for tcpdump).
const SNAPLEN: i32 = 262_144;

/// How long libpcap waits for packets before the thread checks for a stop
/// and commits what it has (milliseconds).
const POLL_MS: i32 = 100;

/// How long the capture thread sleeps when no packet is waiting (ms).
const IDLE_MS: u64 = 2;

/// Why a live capture could not start or stopped: each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The interface does not exist.
    #[error("no interface named {0:?} (interfaces here: {1})")]
    NoDevice(String, String),
    /// Not allowed to capture.
    #[error(
        "no permission to capture on {0}: {1}; run as root, or give the binary the capabilities \
         to capture (sudo setcap cap_net_raw,cap_net_admin=eip $(command -v flowaudit))"
    )]
    Permission(String, String),
    /// The BPF filter does not compile.
    #[error("bad capture filter {0:?}: {1}")]
    Filter(String, String),
    /// Anything else libpcap or the file said.
    #[error("{0}: {1}")]
    Other(String, String),
}

/// What was captured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Packets written.
    pub packets: u64,
    /// Packets the kernel dropped (its buffer was full), as libpcap counts them.
    pub dropped: u32,
}

/// The files written so far: those closed by rotation, and the one being
/// written with how many of its bytes hold whole records.
#[derive(Clone, Debug)]
struct Files {
    closed: Vec<PathBuf>,
    current: PathBuf,
    committed: u64,
}

/// A running capture.
pub struct Live {
    files: Arc<Mutex<Files>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Stats, LiveError>>,
    /// A temporary file, removed when the capture is dropped.
    temp: bool,
}

/// The `n`th file of a rotation: `FILE`, then `FILE.1`, `FILE.2`, ...
fn rotated(first: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return first.to_path_buf();
    }
    let mut name = first.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// A pcap file header for `link` (microsecond timestamps, little-endian).
fn header(link: i32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(&(SNAPLEN as u32).to_le_bytes());
    h.extend_from_slice(&(link as u32).to_le_bytes());
    h
}

fn classify(interface: &str, e: pcap::Error) -> LiveError {
    let text = e.to_string();
    let low = text.to_lowercase();
    if low.contains("no such device") || low.contains("doesn't exist") {
        let names: Vec<String> = pcap::Device::list()
            .map(|d| d.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        LiveError::NoDevice(interface.to_string(), names.join(", "))
    } else if low.contains("permission") || low.contains("not permitted") {
        LiveError::Permission(interface.to_string(), text)
    } else {
        LiveError::Other(interface.to_string(), text)
    }
}

/// Opens `interface` (with the BPF `filter`, if any) and starts writing its
/// packets to `write`, or to a temporary file; with `rotate`, a new file
/// (`FILE.1`, `FILE.2`, ...) once one holds that many bytes. Errors come now, before any
/// packet: a missing interface, no permission, a bad filter.
pub fn start(
    interface: &str,
    filter: Option<&str>,
    write: Option<&Path>,
    rotate: Option<u64>,
) -> Result<Live, LiveError> {
    let inactive = pcap::Capture::from_device(interface).map_err(|e| classify(interface, e))?;
    let mut cap = inactive
        .promisc(false)
        .snaplen(SNAPLEN)
        .immediate_mode(true)
        .timeout(POLL_MS)
        .open()
        .map_err(|e| classify(interface, e))?;
    if let Some(f) = filter {
        cap.filter(f, true)
            .map_err(|e| LiveError::Filter(f.to_string(), e.to_string()))?;
    }
    // Non-blocking, so the thread sees a stop at once even on a silent
    // interface (in immediate mode libpcap's timeout does not fire).
    let mut cap = cap
        .setnonblock()
        .map_err(|e| LiveError::Other(interface.to_string(), e.to_string()))?;
    let (path, temp) = match write {
        Some(p) => (p.to_path_buf(), false),
        None => (
            std::env::temp_dir().join(format!("flowaudit-live-{}.pcap", std::process::id())),
            true,
        ),
    };
    let io_err = |e: io::Error| LiveError::Other(path.display().to_string(), e.to_string());
    let mut file = File::create(&path).map_err(io_err)?;
    let head = header(cap.get_datalink().0);
    file.write_all(&head).map_err(io_err)?;
    let files = Arc::new(Mutex::new(Files {
        closed: Vec::new(),
        current: path.clone(),
        committed: head.len() as u64,
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let (shared, s) = (Arc::clone(&files), Arc::clone(&stop));
    let thread = std::thread::spawn(move || {
        let err = |p: &Path, e: io::Error| LiveError::Other(p.display().to_string(), e.to_string());
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut stats = Stats::default();
        let (mut current, mut written, mut n) = (path.clone(), head.len() as u64, 0);
        loop {
            let stopping = s.load(Ordering::Relaxed);
            let idle = match cap.next_packet() {
                Ok(p) => {
                    let h = p.header;
                    buf.extend_from_slice(&(h.ts.tv_sec as u32).to_le_bytes());
                    buf.extend_from_slice(&(h.ts.tv_usec as u32).to_le_bytes());
                    buf.extend_from_slice(&h.caplen.to_le_bytes());
                    buf.extend_from_slice(&h.len.to_le_bytes());
                    buf.extend_from_slice(p.data);
                    stats.packets += 1;
                    false
                }
                Err(pcap::Error::TimeoutExpired) => true,
                Err(e) => {
                    return Err(LiveError::Other(
                        current.display().to_string(),
                        e.to_string(),
                    ));
                }
            };
            // Whole records only, so a report reading the file never meets half a one.
            if !buf.is_empty() && (idle || stopping || buf.len() >= 1 << 16) {
                file.write_all(&buf).map_err(|e| err(&current, e))?;
                written += buf.len() as u64;
                buf.clear();
                let full = rotate.is_some_and(|max| written >= max) && !stopping;
                let next = full.then(|| rotated(&path, n + 1));
                if let Some(next) = &next {
                    file = File::create(next).map_err(|e| err(next, e))?;
                    file.write_all(&head).map_err(|e| err(next, e))?;
                }
                let mut f = shared.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(next) = next {
                    f.closed.push(std::mem::replace(&mut current, next.clone()));
                    f.current = next;
                    written = head.len() as u64;
                    n += 1;
                }
                f.committed = written;
            }
            if stopping {
                break;
            }
            if idle {
                std::thread::sleep(std::time::Duration::from_millis(IDLE_MS));
            }
        }
        stats.dropped = cap.stats().map_or(0, |s| s.dropped);
        Ok(stats)
    });
    Ok(Live {
        files,
        stop,
        thread,
        temp,
    })
}

/// What a report reads: the files closed by rotation, and the records of
/// the current one committed when it was taken, through a pipe
/// (`/dev/fd/N`), while the capture goes on writing.
pub struct Snapshot {
    /// The sources to audit, in time order.
    pub sources: Vec<Source>,
    /// What a report calls the pipe (`/dev/fd/N`): the file being written,
    /// or, for a temporary one, the capture itself.
    pub label: (String, String),
    reader: Option<io::PipeReader>,
    feeder: Option<JoinHandle<io::Result<u64>>>,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        drop(self.reader.take());
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

impl Live {
    fn files(&self) -> Files {
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The records written so far, as sources to audit.
    pub fn snapshot(&self) -> io::Result<Snapshot> {
        let f = self.files();
        let (reader, mut writer) = io::pipe()?;
        let (path, len) = (f.current.clone(), f.committed);
        let feeder = std::thread::spawn(move || {
            let mut f = File::open(path)?.take(len);
            io::copy(&mut f, &mut writer)
        });
        let mut sources: Vec<Source> = f.closed.into_iter().map(Source::Path).collect();
        let pipe = format!("/dev/fd/{}", reader.as_raw_fd());
        sources.push(Source::Path(PathBuf::from(&pipe)));
        let label = if self.temp {
            "the live capture so far".to_string()
        } else {
            format!("{} (so far)", f.current.display())
        };
        Ok(Snapshot {
            sources,
            label: (pipe, label),
            reader: Some(reader),
            feeder: Some(feeder),
        })
    }

    /// Stops the capture once the packets read so far are written; the
    /// statistics, the files in time order, and whether they are temporary.
    pub fn stop(self) -> Result<(Stats, Vec<PathBuf>, bool), LiveError> {
        self.stop.store(true, Ordering::Relaxed);
        let joined = self.thread.join();
        let f = self
            .files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let stats = joined.map_err(|_| {
            LiveError::Other(
                f.current.display().to_string(),
                "the capture thread failed".into(),
            )
        })??;
        let mut all = f.closed;
        all.push(f.current);
        Ok((stats, all, self.temp))
    }
}
