//! Running the `contact-sync` binary as a user would, for the CLI's integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with only the given variables, the state in `state`, logs at `warn`.
pub fn contact_sync(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contact-sync"));
    cmd.args(args)
        .env_clear()
        .env("CONTACT_SYNC_STATE_DIR", state)
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run contact-sync")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
