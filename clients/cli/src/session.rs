//! The saved session: which server and which token `login` left for the next commands.
//! Stored as JSON in `$XDG_CONFIG_HOME/salon/cli.json` (or `~/.config/salon/cli.json`),
//! readable by its owner only; `--session FILE` picks another file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::api::{CliError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub server: String,
    pub token: String,
    pub email: String,
}

pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("salon").join("cli.json")
}

pub fn load(path: &PathBuf) -> Result<Option<Saved>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| CliError::Other(format!("{}: not a session file ({e}); log in again", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Other(format!("cannot read {}: {e}", path.display()))),
    }
}

pub fn save(path: &PathBuf, saved: &Saved) -> Result<()> {
    let fail = |e: std::io::Error| CliError::Other(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let text = serde_json::to_string_pretty(saved).expect("a session serializes");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path).and_then(|mut f| f.write_all(text.as_bytes())).map_err(fail)
}

pub fn forget(path: &PathBuf) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::Other(format!("cannot remove {}: {e}", path.display()))),
    }
}
