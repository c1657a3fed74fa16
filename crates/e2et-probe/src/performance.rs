//! performance: CPU (SHA-256 throughput, one thread and all), memory copy
//! bandwidth, disk sequential write/read and fsync latency with O_DIRECT on a
//! temporary file, and TCP throughput to the coordinator. Each measurement
//! is bounded in time; the spec's baselines judge the figures.
use e2et_model::expect::PerformanceRun;
use e2et_model::facts::{DiskPerf, PerformanceFacts, TcpPerf};
use e2et_model::Observed;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

const MIB: f64 = 1024.0 * 1024.0;

/// SHA-256 over a 1 MiB buffer until `d` has passed: MiB/s.
fn hash_for(d: Duration) -> f64 {
    let buf = vec![0x5au8; 1 << 20];
    let t = Instant::now();
    let mut n = 0u64;
    let mut h = Sha256::new();
    while t.elapsed() < d || n == 0 {
        h.update(&buf);
        n += 1;
    }
    std::hint::black_box(h.finalize());
    n as f64 / t.elapsed().as_secs_f64()
}

pub fn cpu_single(d: Duration) -> f64 {
    hash_for(d)
}

pub fn cpu_all(d: Duration, threads: usize) -> f64 {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads.max(1))
            .map(|_| s.spawn(move || hash_for(d)))
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).sum()
    })
}

/// Copies a buffer of `mib` MiB until `d` has passed: MiB/s copied.
pub fn memory(d: Duration, mib: usize) -> f64 {
    let len = mib.max(1) << 20;
    let src = vec![1u8; len];
    let mut dst = vec![0u8; len];
    dst.copy_from_slice(&src); // fault the pages in before timing
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < d || n == 0 {
        dst.copy_from_slice(std::hint::black_box(&src));
        n += 1;
    }
    std::hint::black_box(&dst);
    n as f64 * mib.max(1) as f64 / t.elapsed().as_secs_f64()
}

/// The memory test's buffer: 64 MiB, or a sixteenth of the memory on a
/// small host (two buffers must fit beside everything else, in a netboot
/// RAM root too).
pub fn memory_buffer_mib(mem_total_kib: u64) -> usize {
    ((mem_total_kib / 1024 / 16) as usize).clamp(4, 64)
}

/// A buffer aligned for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize) -> Option<Aligned> {
        let layout = std::alloc::Layout::from_size_align(len, 4096).ok()?;
        // SAFETY: layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        (!ptr.is_null()).then_some(Aligned { ptr, layout })
    }
    fn slice(&mut self) -> &mut [u8] {
        // SAFETY: ptr is valid for layout.size() bytes and uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Sequential write and read of `mib` MiB with O_DIRECT, then 64 × (4 KiB
/// write + fsync), in a temporary file under `dir` that is removed after.
pub fn disk(dir: &str, mib: u64, bound: Duration) -> Observed<DiskPerf> {
    // A boot cut off mid-measurement (or before its unlink reached the
    // journal) leaves a test file behind: ours by name, removed first.
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".e2et-perf-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let path =
        std::path::Path::new(dir).join(format!(".e2et-perf-{}-{nanos:08x}", std::process::id()));
    let open = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path);
    let mut f = match open {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let _ = std::fs::remove_file(&path);
            return Observed::na(format!(
                "{dir} does not support O_DIRECT (tmpfs or a RAM root?): measuring it would measure the page cache"
            ));
        }
        Err(e) => return Observed::err(format!("cannot create a test file in {dir}: {e}")),
    };
    let r = (|| -> Result<DiskPerf, String> {
        let chunk = 1 << 20;
        let mut buf = Aligned::new(chunk).ok_or("cannot allocate an aligned buffer")?;
        buf.slice()
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        let deadline = Instant::now() + bound;
        let t = Instant::now();
        let mut written = 0u64;
        for _ in 0..mib {
            f.write_all(buf.slice())
                .map_err(|e| format!("write: {e}"))?;
            written += chunk as u64;
            if Instant::now() > deadline {
                break;
            }
        }
        f.sync_all().map_err(|e| format!("fsync: {e}"))?;
        let write_s = t.elapsed().as_secs_f64();
        f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let mut read = 0u64;
        while read < written {
            let n = f.read(buf.slice()).map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            read += n as u64;
        }
        let read_s = t.elapsed().as_secs_f64();
        let mut small = Aligned::new(4096).ok_or("cannot allocate an aligned buffer")?;
        let mut lat = Vec::with_capacity(64);
        for i in 0..64u64 {
            f.seek(SeekFrom::Start(i * 4096))
                .map_err(|e| e.to_string())?;
            let t = Instant::now();
            f.write_all(small.slice())
                .map_err(|e| format!("write: {e}"))?;
            f.sync_all().map_err(|e| format!("fsync: {e}"))?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            if Instant::now() > deadline + bound {
                break;
            }
        }
        Ok(DiskPerf {
            dir: dir.to_string(),
            direct: true,
            bytes: written,
            write_mibs: written as f64 / MIB / write_s,
            read_mibs: read as f64 / MIB / read_s.max(1e-9),
            fsync_p50_ms: percentile(&mut lat, 0.5),
            fsync_p99_ms: percentile(&mut lat, 0.99),
        })
    })();
    let _ = std::fs::remove_file(&path);
    // Make the removal durable: a power cut right after must not bring the
    // test file back.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    r.into()
}

/// POSTs `mib` MiB to the coordinator's throughput endpoint: Mb/s.
pub fn tcp(url: &str, token: Option<&str>, mib: u64, bound: Duration) -> Observed<TcpPerf> {
    let bytes = mib << 20;
    let client = match reqwest::blocking::Client::builder().timeout(bound).build() {
        Ok(c) => c,
        Err(e) => return Observed::err(format!("http client: {e}")),
    };
    let body = vec![0x42u8; bytes as usize];
    let mut req = client.post(url).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let t = Instant::now();
    let resp = match req.send() {
        Ok(r) => r,
        Err(e) => return Observed::err(format!("POST {url}: {e}")),
    };
    let secs = t.elapsed().as_secs_f64();
    if !resp.status().is_success() {
        return Observed::err(format!("POST {url}: HTTP {}", resp.status()));
    }
    let got: u64 = resp
        .json::<serde_json::Value>()
        .ok()
        .and_then(|v| v["bytes"].as_u64())
        .unwrap_or(0);
    if got != bytes {
        return Observed::err(format!("the coordinator counted {got} of {bytes} bytes"));
    }
    Observed::ok(TcpPerf {
        target: url.to_string(),
        bytes,
        seconds: secs,
        mbits: bytes as f64 * 8.0 / 1e6 / secs,
    })
}

/// All measurements, one after the other (so they do not disturb each other).
pub fn collect(
    run: &PerformanceRun,
    cpus: usize,
    mem_total_kib: u64,
    token: Option<&str>,
) -> PerformanceFacts {
    let d = Duration::from_millis(run.duration_ms);
    let bound = Duration::from_millis(run.duration_ms.max(1000) * 20);
    PerformanceFacts {
        cpu_single_mibs: Observed::ok(cpu_single(d)),
        cpu_all_mibs: Observed::ok(cpu_all(d, cpus)),
        memory_mibs: Observed::ok(memory(d, memory_buffer_mib(mem_total_kib))),
        disk: disk(&run.disk_dir, run.disk_mib, bound),
        tcp: match &run.tcp_url {
            Some(u) => tcp(u, token, run.tcp_mib, bound),
            None => Observed::na("the spec sets no TCP baseline, or no coordinator URL is known"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_figures_are_positive() {
        assert!(cpu_single(Duration::from_millis(20)) > 0.0);
        assert!(cpu_all(Duration::from_millis(20), 2) > 0.0);
        assert!(memory(Duration::from_millis(20), 8) > 0.0);
        assert_eq!(memory_buffer_mib(205 * 1024), 12);
        assert_eq!(memory_buffer_mib(256 * 1024 * 1024), 64);
    }

    #[test]
    fn disk_on_a_real_filesystem_or_a_stated_reason() {
        let d = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        // Left by a boot whose power was cut mid-measurement (same PID in an
        // initramfs): it must neither block the test nor stay.
        std::fs::write(
            d.path().join(format!(".e2et-perf-{}", std::process::id())),
            b"stale",
        )
        .unwrap();
        let r = disk(&d.path().display().to_string(), 2, Duration::from_secs(30));
        match r {
            Observed::Ok { value } => {
                assert_eq!(value.bytes, 2 << 20);
                assert!(value.write_mibs > 0.0 && value.read_mibs > 0.0);
                assert!(value.fsync_p99_ms >= value.fsync_p50_ms);
            }
            Observed::NotApplicable { reason } => assert!(reason.contains("O_DIRECT"), "{reason}"),
            Observed::Error { message } => panic!("{message}"),
        }
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "test file and the stale one removed"
        );
    }

    #[test]
    fn percentiles() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut v, 0.5), 3.0);
        assert_eq!(percentile(&mut v, 0.99), 5.0);
    }
}
