//! The run lock: one `contact-sync sync` at a time on a local state.
//!
//! An OS file lock (`flock` on Unix, `LockFileEx` on Windows, through the standard library's
//! `File::try_lock`) on `<store file>.lock`, held for the whole run. The operating system
//! drops it with the process however the process ends (exit, panic, `kill -9`, out of
//! memory, a laptop closed), so it never has to expire and a dead run never blocks the next
//! one. The run that holds it therefore knows that no other run is alive on this state: any
//! lease a one-process run left in it belongs to a run that died, and is taken over at once
//! ([`crate::wiring::store_for_run`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Held while it lives; dropped (or the process gone), the lock is free.
#[derive(Debug)]
pub struct RunLock {
    /// The locked file (the lock lives as long as this handle).
    _file: File,
}

/// Why the run lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RunLockError {
    /// Another live process holds it: permanent for this run (retry once that run ended).
    #[error(
        "another contact-sync run is working on the state {state} (it holds {lock}); wait for it to finish, then run again"
    )]
    Held { state: String, lock: String },
    /// The lock file cannot be created or locked (permissions, a full disk, a file system
    /// without locks).
    #[error("cannot take the run lock {lock}: {source}")]
    Io {
        lock: String,
        #[source]
        source: std::io::Error,
    },
}

impl RunLock {
    /// The lock file of a store file.
    pub fn file_for(store_file: &Path) -> PathBuf {
        let mut name = store_file.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the run lock of `store_file` without waiting (creating the lock file and its
    /// directory if needed).
    pub fn acquire(store_file: &Path) -> Result<RunLock, RunLockError> {
        let path = RunLock::file_for(store_file);
        let io = |source: std::io::Error| RunLockError::Io {
            lock: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(RunLockError::Held {
                state: store_file.display().to_string(),
                lock: path.display().to_string(),
            }),
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        // GIVEN a store file whose run lock is held
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("state").join("state.redb");
        let first = RunLock::acquire(&store).expect("first");

        // WHEN another run asks for it (a second open file description, as another process
        // would have)
        let second = RunLock::acquire(&store);

        // THEN it is refused with a message naming the state; once the first is gone, the
        // lock is free again
        let error = second.expect_err("held");
        assert!(matches!(error, RunLockError::Held { .. }), "{error:?}");
        assert!(error.to_string().contains("state.redb"), "{error}");
        drop(first);
        RunLock::acquire(&store).expect("free again");
    }
}
