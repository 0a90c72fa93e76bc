//! Operating-system bits (Linux): the open-file limit, the spawned server's parent-death
//! signal, and the /proc figures (memory, CPU ticks of a process and of the machine).

use std::process::Command;

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod sys {
    #[repr(C)]
    pub struct RLimit {
        pub cur: u64,
        pub max: u64,
    }
    pub const RLIMIT_NOFILE: i32 = 7;
    pub const PR_SET_PDEATHSIG: i32 = 1;
    pub const SIGKILL: u64 = 9;
    extern "C" {
        pub fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
        pub fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
        pub fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    }
}

/// Raises the soft open-file limit to the hard limit (the spawned server inherits it).
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub fn raise_open_file_limit() {
    let mut lim = sys::RLimit { cur: 0, max: 0 };
    // SAFETY: plain libc calls with a correctly laid out `struct rlimit` (64-bit Linux).
    unsafe {
        if sys::getrlimit(sys::RLIMIT_NOFILE, &mut lim) == 0 && lim.cur < lim.max {
            let raised = sys::RLimit {
                cur: lim.max,
                max: lim.max,
            };
            if sys::setrlimit(sys::RLIMIT_NOFILE, &raised) == 0 {
                lim.cur = lim.max;
            }
        }
    }
    println!("open-file limit: {} (hard {})", lim.cur, lim.max);
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub fn raise_open_file_limit() {
    println!("open-file limit: not changed on this platform (use `ulimit -n`)");
}

/// The spawned server gets SIGKILL if the bench dies without cleaning up.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            sys::prctl(sys::PR_SET_PDEATHSIG, sys::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub fn die_with_parent(_cmd: &mut Command) {}

/// VmRSS of a process, in kB.
pub fn proc_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux).
pub fn proc_cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, total) ticks of the whole machine.
/// (busy, total, interrupts) ticks of the whole machine; interrupts (mostly loopback TCP
/// here) are charged to no process.
pub fn machine_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let field = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    let total: u64 = (0..8).map(field).sum();
    Some((total - field(3) - field(4), total, field(5) + field(6)))
}
