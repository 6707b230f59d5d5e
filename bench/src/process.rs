//! What Linux says about a running process (`/proc/<pid>/status`).

/// A `kB` line of `/proc/<pid>/status`: `VmHWM` (peak resident set), `VmRSS` (resident now).
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == key)
            .then(|| value.trim().trim_end_matches("kB").trim().parse().ok())
            .flatten()
    })
}

/// User + system CPU seconds of a process, all threads (`/proc/<pid>/stat`, USER_HZ = 100).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// What a process has used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Peak resident set (`VmHWM`), kB.
    pub peak_kb: Option<u64>,
    /// Resident set now (`VmRSS`), kB.
    pub resident_kb: Option<u64>,
    /// User + system CPU seconds.
    pub cpu_seconds: Option<f64>,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        Usage {
            peak_kb: status_kb(pid, "VmHWM"),
            resident_kb: status_kb(pid, "VmRSS"),
            cpu_seconds: cpu_seconds(pid),
        }
    }
}
