//! Files and folders only the station's user may read (ECARD.md section 12): files 0600, folders
//! 0700, created that way.
//!
//! The daemon sets its umask to 077 before it creates anything ([`restrict_umask`]), so every
//! file and folder it or its libraries make (the SQLite database and its WAL, card images, spool
//! files, tokens) is private from the moment it exists, with no window between create and
//! chmod. It refuses a data directory that others can read or enter ([`check_private_dir`]).

use std::path::Path;

/// Makes every file and folder this process creates from now on private to its user (umask 077).
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Creates `dir` (and its parents) with mode 0700 when it is absent; refuses one that exists
/// and is open to the group or others, naming it and the command that fixes it.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("{}: cannot create it: {e}", dir.display()))?;
        }
        let mode = std::fs::metadata(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 && !holds_station_data(dir) {
            // A folder made for the station (by an installer or `mkdir`) that holds none of its
            // data yet: closed now, before anything is written into it.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                format!("{}: cannot make it private (chmod 700): {e}", dir.display())
            })?;
            tracing::info!(dir = %dir.display(), "data folder made private (mode 700)");
            return Ok(());
        }
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is open to other users (mode {:o}) and holds personal data and keys; run `chmod 700 {}` (and `chmod -R go-rwx {}`)",
                dir.display(),
                mode & 0o777,
                dir.display(),
                dir.display()
            ));
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(())
}

/// What a station keeps in its data folder: a folder holding any of these is in use.
const STATION_DATA: &[&str] = &[
    "station.db",
    "admin.token",
    "data.key",
    "pki",
    "print-spool",
    "cards",
    "lanes",
    "to-destroy",
];

fn holds_station_data(dir: &Path) -> bool {
    STATION_DATA.iter().any(|n| dir.join(n).exists())
}

/// Refuses a key file that the group or others can read.
pub fn check_private_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "is readable by other users (mode {:o}); run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes a new file with mode 0600, refusing to replace one that exists.
pub fn create_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_data_dir_is_0700_and_an_open_one_in_use_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        check_private_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Open but empty (made by an installer): closed, not refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_private_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Open and holding a station's data: refused, by name.
        std::fs::write(dir.join("station.db"), b"").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_private_dir(&dir).unwrap_err();
        assert!(
            e.contains(&dir.display().to_string()) && e.contains("chmod 700"),
            "{e}"
        );
    }
}
