//! Who holds an integration's sync lease, and whether that holder is still alive.
//!
//! A holder is stored as `host:pid:token`. The token is random per process, so a
//! process that reuses a dead one's pid is still a different holder. A holder on this
//! host whose process no longer exists is dead at once; a holder elsewhere is dead
//! when its lease expires without being renewed.

use std::fmt;

use rand::Rng as _;

/// One process that may hold sync leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    host: String,
    pid: u32,
    token: String,
}

impl LeaseHolder {
    /// This process: the host name, the process id and a fresh random token.
    pub fn this_process() -> LeaseHolder {
        let token: u64 = rand::rng().random();
        LeaseHolder {
            host: host_name(),
            pid: std::process::id(),
            token: format!("{token:016x}"),
        }
    }

    /// A holder with the given parts (tests and tools).
    pub fn new(host: impl Into<String>, pid: u32, token: impl Into<String>) -> LeaseHolder {
        LeaseHolder {
            host: sanitize(&host.into()),
            pid,
            token: sanitize(&token.into()),
        }
    }

    /// Reads a stored holder; `None` for text written by something else.
    pub fn parse(stored: &str) -> Option<LeaseHolder> {
        let mut parts = stored.rsplitn(3, ':');
        let token = parts.next()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?;
        Some(LeaseHolder {
            host: host.to_owned(),
            pid,
            token: token.to_owned(),
        })
    }

    /// The stored form, `host:pid:token`.
    pub fn stored(&self) -> String {
        format!("{}:{}:{}", self.host, self.pid, self.token)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The host name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether this holder is a process on this host that no longer runs. Only Linux
    /// can tell (through `/proc`); elsewhere, and for other hosts, the answer is `false`
    /// and the lease must expire instead.
    pub fn is_dead_here(&self) -> bool {
        if self.host != host_name() || self.pid == std::process::id() {
            return false;
        }
        process_is_gone(self.pid)
    }
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process {} on {}", self.pid, self.host)
    }
}

/// Describes a stored holder for people: `process 12 on host` when it is one of ours.
pub(crate) fn describe(stored: &str) -> String {
    match LeaseHolder::parse(stored) {
        Some(holder) => holder.to_string(),
        None => stored.to_owned(),
    }
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c == ':' || c.is_control() { '-' } else { c })
        .collect()
}

/// The kernel's host name on Linux; `localhost` where it cannot be read. (Reading a
/// proc file keeps a dependency out for one string.)
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| sanitize(name.trim()))
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether no live process has this pid. A zombie (killed, not yet reaped by its
/// parent) counts as gone: it will never renew its lease again.
#[cfg(target_os = "linux")]
fn process_is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the command name, which is in parentheses and may
        // itself contain spaces or parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| matches!(state, "Z" | "X")),
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
    }
}

#[cfg(not(target_os = "linux"))]
fn process_is_gone(_pid: u32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip_through_their_stored_form() {
        let holder = LeaseHolder::new("web:1", 42, "abc");
        assert_eq!(holder.stored(), "web-1:42:abc");
        assert_eq!(LeaseHolder::parse(&holder.stored()), Some(holder.clone()));
        assert_eq!(holder.to_string(), "process 42 on web-1");
        assert_eq!(LeaseHolder::parse("keepit-sync-42"), None);
        assert_eq!(LeaseHolder::parse("a:b:c"), None);
        assert_eq!(describe("keepit-sync-42"), "keepit-sync-42");
        assert_eq!(describe("h:7:t"), "process 7 on h");
    }

    #[test]
    fn this_process_is_alive_and_a_vanished_pid_is_dead() {
        let me = LeaseHolder::this_process();
        assert!(!me.is_dead_here());
        // Another process of this host that exited: spawn one and reap it.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = LeaseHolder::new(host_name(), pid, "t");
        assert_eq!(gone.is_dead_here(), cfg!(target_os = "linux"));
        // The same pid on another host is never judged from here.
        assert!(!LeaseHolder::new("elsewhere.example", pid, "t").is_dead_here());
    }
}
