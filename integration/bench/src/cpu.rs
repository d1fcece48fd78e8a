//! CPU time of a process from `/proc/<pid>/stat` (user + system, all threads). On a shared machine
//! this is the steadiest figure: other load stretches wall time, not the CPU Envoy itself spends.

use std::time::Duration;

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on every Linux we know).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime of `pid` in clock ticks.
pub fn process_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    parse_stat(&text).ok_or_else(|| format!("{path}: unexpected format"))
}

/// Fields 14 (utime) and 15 (stime); the command name (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing parenthesis.
fn parse_stat(text: &str) -> Option<u64> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    // After ')' comes field 3 (state); utime is field 14, i.e. the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// utime + stime in clock ticks of this process's threads named `name` (`/proc/self/task/*/comm`,
/// the first 15 bytes of the name): the CPU of one in-process service, e.g. the auth service's
/// tokio runtime, apart from the load generator and the echo upstream in the same process.
pub fn threads_ticks(name: &str) -> Result<u64, String> {
    let short: String = name.chars().take(15).collect();
    let dir = std::fs::read_dir("/proc/self/task").map_err(|e| format!("/proc/self/task: {e}"))?;
    let mut total = 0;
    for task in dir.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end() != short {
            continue;
        }
        // A thread that ended since the listing is simply not counted.
        if let Some(t) = std::fs::read_to_string(path.join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        {
            total += t;
        }
    }
    Ok(total)
}

pub fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / per_second.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_name() {
        let line = "1234 (env oy) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0 100 0 0";
        assert_eq!(parse_stat(line), Some(300));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_process_has_cpu_time() {
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            // black_box: in release the loop would otherwise fold away, leaving no CPU to see.
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(x != 1);
        assert!(process_ticks(std::process::id()).unwrap() > 0);
        assert!(ticks_per_second() >= 100);
    }

    #[test]
    fn named_threads_are_counted_apart() {
        // Busy until its own ticks show (bounded: a loaded machine gives it less than its share).
        let busy = std::thread::Builder::new()
            .name("cpu-test-busy".into())
            .spawn(|| {
                let start = std::time::Instant::now();
                let mut x = 0u64;
                let mut ticks = 0;
                while ticks < 3 && start.elapsed() < Duration::from_secs(10) {
                    for _ in 0..1_000_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                    }
                    ticks = threads_ticks("cpu-test-busy").unwrap();
                }
                ticks
            })
            .unwrap();
        assert!(busy.join().unwrap() >= 3);
        assert_eq!(threads_ticks("no-such-thread").unwrap(), 0);
    }
}
