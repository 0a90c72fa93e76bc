//! CPU use between two moments: the server (and its threads by name), the load generator,
//! PostgreSQL, the kernel and everything else on the machine; and waiting for a quiet machine.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cli::Args;
use crate::os::{machine_ticks, proc_cpu_ticks};

/// CPU used between two moments: server and load generator in % of one core, the whole
/// machine in % of all cores.
pub struct CpuMeter {
    server_pid: Option<u32>,
    server: Option<u64>,
    threads: BTreeMap<u32, (String, u64)>,
    helpers: BTreeMap<u32, (String, u64)>,
    me: Option<u64>,
    machine: Option<(u64, u64, u64)>,
    at: Instant,
}

#[derive(Clone, Default)]
pub struct CpuUse {
    pub server: Option<f64>,
    pub generator: Option<f64>,
    pub machine: Option<f64>,
    /// The server's busiest threads, e.g. `tokio-rt-worker 61%+58%, sqlx-sqlite-wor 40%`.
    pub threads: Option<String>,
    /// PostgreSQL's processes on this machine, in % of one core.
    pub postgres: Option<f64>,
    /// Everything else on the machine (other programs; not interrupts, kernel threads,
    /// PostgreSQL), in % of one core: a high value means the figures are distorted.
    pub other: Option<f64>,
}

/// CPU ticks of the machine's PostgreSQL processes and kernel threads (journal, writeback:
/// the fsyncs of either database), by pid: (`"postgres"` or `"kernel"`, ticks).
fn helper_ticks() -> BTreeMap<u32, (String, u64)> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let class = if num(6) & PF_KTHREAD != 0 {
            "kernel"
        } else if comm == "postgres" {
            "postgres"
        } else {
            continue;
        };
        out.insert(pid, (class.to_string(), num(11) + num(12)));
    }
    out
}

/// CPU ticks of every thread of a process, by thread id: (thread name, ticks).
fn thread_ticks(pid: Option<u32>) -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    let Some(pid) = pid else { return out };
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if let Some(ticks) = proc_cpu_ticks(&format!("{pid}/task/{tid}")) {
            out.insert(tid, (comm.trim().to_string(), ticks));
        }
    }
    out
}

/// Per-thread-name CPU between two samples, busiest first (names under 3% left out), e.g.
/// `tokio-rt-worker 45%+44%, sqlx-sqlite-wor 14 threads 38%`.
fn thread_summary(
    a: &BTreeMap<u32, (String, u64)>,
    b: &BTreeMap<u32, (String, u64)>,
    secs: f64,
    process_pct: Option<f64>,
) -> Option<String> {
    let mut by_name: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut seen = 0.0;
    for (tid, (name, ticks)) in b {
        let before = a.get(tid).map(|x| x.1).unwrap_or(0);
        let pct = ticks.saturating_sub(before) as f64 / 100.0 / secs * 100.0;
        seen += pct;
        if pct > 0.0 {
            by_name.entry(name).or_default().push(pct);
        }
    }
    let mut groups: Vec<(&str, Vec<f64>, f64)> = by_name
        .into_iter()
        .map(|(n, mut v)| {
            v.sort_by(|x, y| y.total_cmp(x));
            let sum = v.iter().sum();
            (n, v, sum)
        })
        .filter(|g| g.2 >= 3.0)
        .collect();
    groups.sort_by(|x, y| y.2.total_cmp(&x.2));
    let mut parts: Vec<String> = groups
        .iter()
        .map(|(name, v, sum)| {
            if v.len() <= 3 {
                let list: Vec<String> = v.iter().map(|p| format!("{p:.0}%")).collect();
                format!("{name} {}", list.join("+"))
            } else {
                format!("{name} {} threads {sum:.0}%", v.len())
            }
        })
        .collect();
    // Threads that ended between the two samples only show in the process total.
    if let Some(gone) = process_pct.map(|p| p - seen).filter(|g| *g >= 3.0) {
        parts.push(format!("threads that exited {gone:.0}%"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

impl CpuMeter {
    pub fn start(server_pid: Option<u32>) -> Self {
        CpuMeter {
            server_pid,
            server: server_pid.and_then(|p| proc_cpu_ticks(&p.to_string())),
            threads: thread_ticks(server_pid),
            helpers: helper_ticks(),
            me: proc_cpu_ticks("self"),
            machine: machine_ticks(),
            at: Instant::now(),
        }
    }

    pub fn stop(&self) -> CpuUse {
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / 100.0 / secs * 100.0),
            _ => None,
        };
        let (machine, machine_busy) = match (self.machine, machine_ticks()) {
            (Some((b0, t0, i0)), Some((b1, t1, i1))) if t1 > t0 => (
                Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0),
                Some((b1 - b0).saturating_sub(i1 - i0) as f64 / 100.0 / secs * 100.0),
            ),
            _ => (None, None),
        };
        let server = pct(
            self.server,
            self.server_pid.and_then(|p| proc_cpu_ticks(&p.to_string())),
        );
        let threads = thread_summary(&self.threads, &thread_ticks(self.server_pid), secs, server);
        let (mut postgres, mut kernel) = (0u64, 0u64);
        for (pid, (class, t)) in helper_ticks() {
            let d = t.saturating_sub(self.helpers.get(&pid).map(|x| x.1).unwrap_or(0));
            if class == "postgres" {
                postgres += d;
            } else {
                kernel += d;
            }
        }
        let generator = pct(self.me, proc_cpu_ticks("self"));
        let postgres = postgres as f64 / 100.0 / secs * 100.0;
        let kernel = kernel as f64 / 100.0 / secs * 100.0;
        let other = machine_busy.map(|m| {
            (m - server.unwrap_or(0.0) - generator.unwrap_or(0.0) - postgres - kernel).max(0.0)
        });
        CpuUse {
            server,
            generator,
            machine,
            threads,
            postgres: Some(postgres).filter(|p| *p >= 3.0),
            other,
        }
    }
}

/// Samples how busy the machine is (1 s), repeating while it is busier than 15% for up to
/// `--quiet-wait` seconds; returns the last sample.
pub async fn wait_quiet(args: &Args) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.quiet_wait);
    loop {
        let meter = CpuMeter::start(None);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = meter.stop().machine?;
        if busy <= 15.0 || Instant::now() >= deadline {
            return Some(busy);
        }
    }
}
