//! SQLite's reader connections.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement to it, so
//! a statement costs a round trip between threads. sqlx's own pool adds a second one: when a
//! connection goes back to it, a spawned task pings the connection before anyone may take it
//! again. Every read on a `SqlitePool` therefore paid two round trips and a task. A reader here
//! is handed back as it is (a read-only connection to a local file has no session state to
//! flush), so a read costs its statements' round trips only.
//!
//! The connections are opened up front (a SQLite connection is a file handle and a thread, and
//! opening one takes about a millisecond) and kept in deadpool's plain pool: taken in turn,
//! waited for fairly when all are busy, put back when the guard drops, also when a request is
//! cancelled mid-read. A connection whose thread has died is set aside and replaced.

use std::time::Duration;

use deadpool::unmanaged::{Object, Pool, PoolError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// How long a read waits for a free connection before it fails (sqlx's pool waited 30 s).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A taken reader connection; it goes back to the pool when dropped.
pub(crate) type Reader = Object<SqliteConnection>;

#[derive(Clone)]
pub(crate) struct Readers {
    pool: Pool<SqliteConnection>,
    /// For opening a replacement (boxed: the options are large, the pool is cloned often).
    options: std::sync::Arc<SqliteConnectOptions>,
}

impl Readers {
    /// Opens `size` read-only connections with `options`.
    pub(crate) async fn open(options: SqliteConnectOptions, size: usize) -> Result<Self, sqlx::Error> {
        let size = size.max(1);
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size {
            connections.push(options.connect().await?);
        }
        Ok(Self { pool: Pool::from(connections), options: std::sync::Arc::new(options) })
    }

    /// A free connection, waiting (fairly) while all are in use.
    pub(crate) async fn get(&self) -> Result<Reader, sqlx::Error> {
        match tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.get()).await {
            Ok(Ok(reader)) => Ok(reader),
            Ok(Err(PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(_)) | Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }

    /// Looks at how a read on `reader` ended: a connection whose thread has stopped answers
    /// every later statement with the same error, so it leaves the pool and a new one takes its
    /// place (opened in the background; the pool is one short until then).
    pub(crate) fn settle<T, E: ReadError>(&self, reader: Reader, outcome: &Result<T, E>) {
        let Err(e) = outcome else { return };
        if !e.worker_crashed() {
            return;
        }
        drop(Object::take(reader));
        tracing::error!("a SQLite reader connection's thread stopped; opening a replacement");
        let (pool, options) = (self.pool.clone(), self.options.clone());
        tokio::spawn(async move {
            match options.connect().await {
                Ok(c) => {
                    if let Err((c, _)) = pool.add(c).await {
                        let _ = c.close().await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not open a replacement SQLite reader"),
            }
        });
    }

    /// Closes every connection (waits for those in use to come back).
    pub(crate) async fn close(&self) {
        let size = self.pool.status().size;
        for _ in 0..size {
            match tokio::time::timeout(ACQUIRE_TIMEOUT, self.pool.remove()).await {
                Ok(Ok(c)) => {
                    let _ = c.close().await;
                }
                _ => break,
            }
        }
        self.pool.close();
    }
}

/// The errors a read may end with, as far as [`Readers::settle`] needs to know them.
pub(crate) trait ReadError {
    fn worker_crashed(&self) -> bool;
}

impl ReadError for sqlx::Error {
    fn worker_crashed(&self) -> bool {
        matches!(self, sqlx::Error::WorkerCrashed)
    }
}

impl ReadError for crate::StoreError {
    fn worker_crashed(&self) -> bool {
        matches!(self, crate::StoreError::Database(sqlx::Error::WorkerCrashed))
    }
}
