//! What the operating system says about this process: CPU time (`getrusage`), the CPU a thread
//! may run on (`sched_setaffinity`), and resident memory (`/proc/self/status`, and glibc's
//! `malloc_trim` to tell memory a queue holds from memory the allocator keeps).
//!
//! Linux only where Linux is the only way (`RUSAGE_THREAD`, affinity, `/proc`); elsewhere the
//! readings are zero or `None` and pinning does nothing, so the benches still build.

use std::time::Duration;

/// User + system CPU time of every thread of this process so far (`RUSAGE_SELF`).
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// User + system CPU time of the calling thread so far (`RUSAGE_THREAD`; zero off Linux).
pub fn thread_cpu() -> Duration {
    #[cfg(target_os = "linux")]
    {
        rusage(libc::RUSAGE_THREAD)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Duration::ZERO
    }
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: `rusage` is plain old data, so all-zero is a valid value; `getrusage` only writes
    // into the struct we pass, which lives for the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `who` is RUSAGE_SELF or RUSAGE_THREAD and `&mut usage` is a valid pointer.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    assert_eq!(
        rc,
        0,
        "getrusage failed: {}",
        std::io::Error::last_os_error()
    );
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Pins the calling thread to `cpu`. Returns false if the system refused (no such CPU) or
/// cannot pin (not Linux).
pub fn pin_current_thread(cpu: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `cpu_set_t` is a plain bit set, all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes one bit of the set we own; `cpu` is bounds-checked by the
        // macro's implementation in libc (it ignores out-of-range CPUs).
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: pid 0 is the calling thread; the pointer and size describe `set`.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = cpu;
        false
    }
}

/// Where the threads of a two-party workload (SPSC, ping-pong, paced latency) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the scheduler puts them.
    Free,
    /// Senders on CPU 0, receivers on CPU 1 (the same for every implementation).
    Pinned,
}

impl Placement {
    /// The CPU of senders.
    pub const SENDER_CPU: usize = 0;
    /// The CPU of receivers.
    pub const RECEIVER_CPU: usize = 1;

    /// Called first thing by a sending thread.
    pub fn enter_sender(self) {
        self.enter(Self::SENDER_CPU);
    }

    /// Called first thing by a receiving thread.
    pub fn enter_receiver(self) {
        self.enter(Self::RECEIVER_CPU);
    }

    fn enter(self, cpu: usize) {
        if self == Placement::Pinned {
            assert!(
                pin_current_thread(cpu),
                "cannot pin a thread to CPU {cpu} (pinned workloads need CPUs 0 and 1): {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Resident memory of this process in bytes (`VmRSS` of `/proc/self/status`), `None` where
/// there is no such file.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Asks the allocator to give free heap memory back to the system (glibc's `malloc_trim(0)`,
/// which also releases free pages in the middle of the heap, not only at its top). Returns
/// false where there is no such call (not glibc), so the reading after it means nothing.
///
/// Used only outside timed sections: it tells memory that a queue still holds (live blocks or
/// buffers, which stay resident) from memory it freed but the allocator kept for reuse (which
/// goes).
pub fn release_free_heap() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks glibc's own arenas under their locks; it takes no
        // pointer and is safe to call at any time from any thread.
        unsafe { libc::malloc_trim(0) };
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
