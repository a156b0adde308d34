//! Syncing SQLite's write-ahead log on a thread of its own, so that the group committer can
//! write the next batch while the disk makes the last one durable.
//!
//! With `synchronous = FULL` every commit syncs the log before it returns, and the one writer
//! waits for the disk with nothing else to do. The group committer instead commits its batches
//! with `synchronous = NORMAL` (the frames are written to the log, not synced) and hands the
//! batch's answers here; this thread syncs the log file (`fdatasync`) and only then answers.
//! One sync covers every batch committed before it, so batches that committed while the disk
//! was busy share the next one. Nobody hears of a batch before the disk has confirmed it — the
//! same promise as `synchronous = FULL` — and a sync that fails answers its batches with an
//! error and stops the committer (after a failed sync the kernel may have dropped the pages,
//! and a later sync that succeeds would prove nothing).
//!
//! The log is found by its name (`<database>-wal`). SQLite deletes it only when its last
//! connection closes, after copying it into the database and syncing that; should the file be
//! gone, or another file have taken its name, the database file is synced and the new log
//! opened.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The log's file, opened once and opened again when SQLite has replaced it.
pub(super) struct WalFile {
    database: PathBuf,
    wal: PathBuf,
    open: Option<File>,
}

impl WalFile {
    pub(super) fn new(database: &Path) -> WalFile {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        WalFile {
            database: database.to_owned(),
            wal: PathBuf::from(wal),
            open: None,
        }
    }

    /// Makes everything committed so far durable.
    pub(super) fn sync(&mut self) -> io::Result<()> {
        match std::fs::metadata(&self.wal) {
            Ok(named) => {
                if let Some(file) = self.open.as_ref().filter(|f| is_named(f, &named)) {
                    return file.sync_data();
                }
                match File::open(&self.wal) {
                    Ok(file) => {
                        // A new log's name must survive a power loss as well as its frames.
                        self.sync_directory()?;
                        let synced = file.sync_data();
                        self.open = Some(file);
                        synced
                    }
                    Err(error) if error.kind() == io::ErrorKind::NotFound => self.sync_database(),
                    Err(error) => Err(error),
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => self.sync_database(),
            Err(error) => Err(error),
        }
    }

    /// The log is gone: SQLite copied it into the database (and synced that) before deleting
    /// it. The database is synced once more, which costs little and assumes nothing.
    fn sync_database(&mut self) -> io::Result<()> {
        self.open = None;
        File::open(&self.database)?.sync_all()
    }

    fn sync_directory(&self) -> io::Result<()> {
        #[cfg(unix)]
        {
            let directory = match self.wal.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            File::open(directory)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            Ok(())
        }
    }
}

/// Whether `file` is the one that has the log's name now (`named`). Where that cannot be told,
/// it is taken not to be, and the log opened again.
fn is_named(file: &File, named: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata()
            .is_ok_and(|open| open.ino() == named.ino() && open.dev() == named.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = (file, named);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_the_log_and_follows_it_when_it_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("brygga.db");
        std::fs::write(&database, b"database").unwrap();
        let mut wal = WalFile::new(&database);
        assert_eq!(wal.wal, dir.path().join("brygga.db-wal"));

        // No log yet: the database is synced.
        wal.sync().unwrap();
        assert!(wal.open.is_none());

        std::fs::write(dir.path().join("brygga.db-wal"), b"frames").unwrap();
        wal.sync().unwrap();
        let first = wal.open.as_ref().unwrap().metadata().unwrap();

        // Replaced under the same name: the new file is the one synced.
        std::fs::remove_file(dir.path().join("brygga.db-wal")).unwrap();
        std::fs::write(dir.path().join("brygga.db-wal"), b"other frames").unwrap();
        wal.sync().unwrap();
        let second = wal.open.as_ref().unwrap().metadata().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert_ne!(first.ino(), second.ino());
            let named = std::fs::metadata(dir.path().join("brygga.db-wal")).unwrap();
            assert_eq!(second.ino(), named.ino());
        }
        let _ = (first, second);

        // Gone: back to the database.
        std::fs::remove_file(dir.path().join("brygga.db-wal")).unwrap();
        wal.sync().unwrap();
        assert!(wal.open.is_none());
    }

    #[test]
    fn a_missing_database_is_an_error_not_a_silent_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalFile::new(&dir.path().join("absent.db"));
        let error = wal.sync().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
