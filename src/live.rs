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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A running capture.
pub struct Live {
    path: PathBuf,
    /// Bytes of the file that hold whole records.
    committed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Stats, LiveError>>,
    /// A temporary file, removed when the capture is dropped.
    temp: bool,
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
/// packets to `write`, or to a temporary file. Errors come now, before any
/// packet: a missing interface, no permission, a bad filter.
pub fn start(
    interface: &str,
    filter: Option<&str>,
    write: Option<&Path>,
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
    let committed = Arc::new(AtomicU64::new(head.len() as u64));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s, name) = (Arc::clone(&committed), Arc::clone(&stop), path.clone());
    let thread = std::thread::spawn(move || {
        let err = |e: String| LiveError::Other(name.display().to_string(), e);
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut stats = Stats::default();
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
                Err(e) => return Err(err(e.to_string())),
            };
            // Whole records only, so a report reading the file never meets half a one.
            if !buf.is_empty() && (idle || stopping || buf.len() >= 1 << 16) {
                file.write_all(&buf).map_err(|e| err(e.to_string()))?;
                c.fetch_add(buf.len() as u64, Ordering::Release);
                buf.clear();
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
        path,
        committed,
        stop,
        thread,
        temp,
    })
}

/// What a report reads: the records committed when it was taken, through a
/// pipe (`/dev/fd/N`), while the capture goes on writing.
pub struct Snapshot {
    /// The source to audit.
    pub source: Source,
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
    /// The file the packets go to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The records written so far, as a source to audit.
    pub fn snapshot(&self) -> io::Result<Snapshot> {
        let len = self.committed.load(Ordering::Acquire);
        let (reader, mut writer) = io::pipe()?;
        let path = self.path.clone();
        let feeder = std::thread::spawn(move || {
            let mut f = File::open(path)?.take(len);
            io::copy(&mut f, &mut writer)
        });
        Ok(Snapshot {
            source: Source::Path(PathBuf::from(format!("/dev/fd/{}", reader.as_raw_fd()))),
            reader: Some(reader),
            feeder: Some(feeder),
        })
    }

    /// Stops the capture once the packets read so far are written; the
    /// statistics, the file, and whether it is a temporary one.
    pub fn stop(self) -> Result<(Stats, PathBuf, bool), LiveError> {
        self.stop.store(true, Ordering::Relaxed);
        let stats = self.thread.join().map_err(|_| {
            LiveError::Other(
                self.path.display().to_string(),
                "the capture thread failed".into(),
            )
        })??;
        Ok((stats, self.path, self.temp))
    }
}
