//! The `salon` binary as an operator runs it: configuration errors stop it with a message
//! naming the key, `migrate` and `check-config` work, `openapi` prints the document.

use std::process::Command;

fn salon() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_salon"));
    // Only what a test sets: no SALON_ variable from the environment of the run.
    for (key, _) in std::env::vars() {
        if key.starts_with("SALON_") {
            command.env_remove(key);
        }
    }
    command
}

/// A folder of the test's own, removed when the test passes (a failing test leaves it to be
/// looked at).
fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("salon-bin-{:016x}", salon::crypto::random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_wrong_setting_stops_start_up_naming_the_key() {
    let dir = temp_dir();
    let config = dir.join("config.toml");
    for (text, key) in [
        ("[http]\nlisten = \"nowhere\"\n", "http.listen"),
        ("[database]\nurl = \"mysql://x\"\n", "database.url"),
        ("[auth]\nsession_ttl_hours = 0\n", "auth.session_ttl_hours"),
        ("[gateway]\ntypo = 1\n", "typo"),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = salon().arg("--config").arg(&config).current_dir(&dir).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
    let out = salon().arg("check-config").env("SALON_HTTP_LISTN", "x").current_dir(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SALON_HTTP_LISTN"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn migrate_and_check_config_work_from_anywhere() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.join("db/salon.db").display());
    let out = salon().arg("migrate").env("SALON_DATABASE_URL", &url).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("db/salon.db").exists(), "the database file and its folder are created");
    let again = salon().arg("migrate").env("SALON_DATABASE_URL", &url).current_dir(&dir).output().unwrap();
    assert!(again.status.success(), "migrating twice changes nothing");
    let check = salon().arg("check-config").current_dir(&dir).output().unwrap();
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("configuration OK"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn openapi_prints_the_committed_document() {
    let out = salon().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/openapi.json"))).unwrap();
    assert_eq!(printed, committed);
}
