//! What the report says about the machine: CPU model (`lscpu`), CPUs (`nproc`), kernel, and
//! the load average when the compare started (a hint that something else was running).

use std::process::Command;

/// The machine, as the report prints it.
pub struct Machine {
    pub cpu_model: String,
    pub nproc: String,
    pub kernel: String,
    pub load_at_start: String,
}

impl Machine {
    /// Reads it now.
    pub fn read() -> Machine {
        let cpu_model = command_output("lscpu", &[])
            .and_then(|out| {
                out.lines()
                    .find(|l| l.trim_start().starts_with("Model name:"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU (no lscpu)".to_owned());
        let nproc = command_output("nproc", &[])
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or("?".to_owned(), |n| n.to_string())
            });
        let kernel = command_output("uname", &["-sr"])
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        let load_at_start = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "unknown".to_owned());
        Machine {
            cpu_model,
            nproc,
            kernel,
            load_at_start,
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
