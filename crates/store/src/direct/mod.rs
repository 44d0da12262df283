//! SQLite's short reads, run on the thread that asks.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is sent to that
//! thread and every row sent back, each a wake-up of a sleeping thread. Under the timeline read
//! of the benchmark (issue 6) those hand-offs were about a third of the server's CPU: futex
//! wakes from the request's side, `flume`'s signalling, and the connection threads' own
//! switches. A read on the request's path (the account behind a token or session, the patient
//! gate, a page of the timeline and its lookups) is a few index probes into a local file, which
//! WAL lets run beside the writer without waiting for it; it takes tens of microseconds, about
//! what rendering its answer takes. So such reads run here, through rusqlite, on the calling
//! thread, between two awaits of the request. Reads that may scan (the directory search, the
//! audit log's search, exports) stay on sqlx's reader threads (`readers.rs`).
//!
//! A connection is taken from the idle list for one statement and put back at once: as a
//! statement never awaits, at most one connection per thread is in use at a time, so the list
//! stays as long as the number of threads that read at once (the runtime's workers). A
//! connection is opened when none is idle.
//!
//! Rows decode through serde (`decode.rs`), by column name, into the same row types the
//! PostgreSQL side decodes with sqlx's `FromRow`.

mod decode;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use serde::de::DeserializeOwned;

use crate::writer::Val;
use crate::{Result, StoreError};

/// Idle connections kept at most (more are closed when put back).
const MAX_IDLE: usize = 8;

/// Prepared statements kept per connection (the request path's reads are a few dozen shapes).
const STATEMENTS_KEPT: usize = 64;

pub(crate) struct Direct {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Direct {
    /// Readers of the SQLite file at `path`; `warm` connections are opened now, so the first
    /// requests do not open them (and a file that cannot be read fails the start).
    pub(crate) fn open(path: PathBuf, warm: usize) -> Result<Self> {
        let direct = Self { path, idle: Mutex::new(Vec::new()) };
        let mut opened = Vec::with_capacity(warm);
        for _ in 0..warm {
            opened.push(direct.connect()?);
        }
        direct.put_back_all(opened);
        Ok(direct)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As the sqlx readers (lib.rs): a WAL reader waits only in rare moments (a checkpoint
        // restarting the log); 4 MB of page cache, the rest is the operating system's.
        c.busy_timeout(Duration::from_secs(10))?;
        c.pragma_update(None, "cache_size", -4000)?;
        c.pragma_update(None, "temp_store", "memory")?;
        c.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(c)
    }

    fn put_back_all(&self, connections: Vec<Connection>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.extend(connections);
            idle.truncate(MAX_IDLE);
        }
    }

    /// Runs `f` on an idle connection (or a new one) and puts it back.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
        out
    }

    /// Every row of `sql` with `args` bound to its placeholders `$1…`, as `T`.
    pub(crate) fn all<T: DeserializeOwned>(&self, sql: &str, args: &[Val]) -> Result<Vec<T>> {
        self.rows(sql, args, usize::MAX)
    }

    /// The first row of `sql`, if any (the statement is not run further).
    pub(crate) fn first<T: DeserializeOwned>(&self, sql: &str, args: &[Val]) -> Result<Option<T>> {
        Ok(self.rows(sql, args, 1)?.pop())
    }

    /// At most `at_most` rows of `sql`.
    fn rows<T: DeserializeOwned>(&self, sql: &str, args: &[Val], at_most: usize) -> Result<Vec<T>> {
        self.with(|c| {
            let mut st = c.prepare_cached(&numbered(sql))?;
            bind(&mut st, args)?;
            let columns: Vec<String> = st.column_names().into_iter().map(str::to_string).collect();
            let mut rows = st.raw_query();
            let mut out = Vec::new();
            while out.len() < at_most {
                match rows.next()? {
                    Some(row) => out.push(decode(row, &columns)?),
                    None => break,
                }
            }
            Ok(out)
        })
    }
}

/// The statement with its placeholders `$n` written `?n`. SQLite numbers `$n` by first
/// appearance (so `$2` before `$1` would take the first value) and binding by name looks each
/// up; `?n` is the n-th value wherever it stands, bound by position.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    crate::writer::push_placeholders(&mut out, sql, 0, '?');
    out
}

/// Binds `args` to the statement's placeholders `?1…` (see [`numbered`]).
fn bind(st: &mut rusqlite::Statement<'_>, args: &[Val]) -> Result<()> {
    for i in 1..=st.parameter_count() {
        match args.get(i - 1) {
            Some(v) => st.raw_bind_parameter(i, v)?,
            None => return Err(StoreError::Placeholder(i)),
        }
    }
    Ok(())
}

/// One row as `T`. A failure names the column, never the value (it may be a patient's).
fn decode<T: DeserializeOwned>(row: &rusqlite::Row<'_>, columns: &[String]) -> Result<T> {
    T::deserialize(decode::RowDe { row, columns })
        .map_err(|e| StoreError::Decode(e.column.unwrap_or_else(|| std::any::type_name::<T>().to_string())))
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null(_) => ValueRef::Null,
            Val::Int(i) => ValueRef::Integer(*i),
            Val::Real(f) => ValueRef::Real(*f),
            Val::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Person {
        id: String,
        age: i64,
        note: Option<String>,
        active: bool,
    }

    /// A database file with a few rows, written by another connection (as the writer would).
    fn fixture() -> (tempfile::TempDir, Direct) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch(
            "pragma journal_mode = wal;
             create table people (id text primary key, age integer not null, note text, active integer not null);
             insert into people values ('a', 30, null, 1), ('b', 40, '山田', 0), ('c', 50, 'x', 1);",
        )
        .unwrap();
        (dir, Direct::open(path, 1).unwrap())
    }

    #[test]
    fn placeholders_take_the_value_of_their_number_wherever_they_stand() {
        let (_dir, d) = fixture();
        // `$2` appears first: SQLite would number it 1; it must still take the second value.
        let rows: Vec<Person> = d
            .all(
                "select id, age, note, active from people where age > $2 and id <> $1 order by id",
                &[Val::Text("c".into()), Val::Int(25)],
            )
            .unwrap();
        assert_eq!(rows.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(rows[1], Person { id: "b".into(), age: 40, note: Some("山田".into()), active: false });
        // A placeholder used twice binds once.
        let n: Vec<(i64,)> =
            d.all("select count(*) from people where age >= $1 and age <= $1 + 10", &[Val::Int(30)]).unwrap();
        assert_eq!(n, vec![(2,)]);
    }

    #[test]
    fn first_reads_one_row_or_none() {
        let (_dir, d) = fixture();
        let p: Option<Person> =
            d.first("select id, age, note, active from people order by age desc", &[]).unwrap();
        assert_eq!(p.map(|p| p.id), Some("c".to_string()));
        let none: Option<Person> = d
            .first("select id, age, note, active from people where id = $1", &[Val::Text("z".into())])
            .unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn a_missing_value_or_a_bad_row_fails_without_showing_the_value() {
        let (_dir, d) = fixture();
        let missing = d.all::<Person>("select id, age, note, active from people where id = $2", &[]);
        assert!(matches!(missing, Err(StoreError::Placeholder(1))), "{missing:?}");
        // `note` is text where a number is expected: the error names the column only.
        let bad =
            d.all::<(String, i64)>("select id, note from people where id = $1", &[Val::Text("b".into())]);
        let err = bad.expect_err("a text is not a number");
        assert!(matches!(&err, StoreError::Decode(c) if c == "note"), "{err:?}");
        let message = err.to_string();
        assert!(!message.contains("山田"), "{message}");
        let wrong = d.all::<Person>("select id, note, active from people", &[]);
        assert!(wrong.is_err(), "a missing column is refused");
        let syntax = d.all::<Person>("select from", &[]);
        assert!(matches!(syntax, Err(StoreError::Sqlite(_))), "{syntax:?}");
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Outer {
        #[serde(flatten)]
        person: Named,
        score: Option<f64>,
        flag: Option<bool>,
        #[serde(default)]
        absent: Option<i64>,
    }

    /// A flattened struct's values are buffered without their column's type: no booleans there.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Named {
        id: String,
        age: i64,
        note: Option<String>,
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Visit,
        Note,
    }

    #[test]
    fn rows_decode_flattened_optional_and_positional() {
        let (_dir, d) = fixture();
        // A flattened struct takes its columns by name; unknown columns are skipped, NULL is
        // `None`, an integer is a float where one is asked for, 0 and 1 are booleans.
        let rows: Vec<Outer> = d
            .all(
                "select id, 'unused' as extra, age, note, active, age * 2 as score, \
                 case when note is null then null else active end as flag from people order by id",
                &[],
            )
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            Outer {
                person: Named { id: "a".into(), age: 30, note: None },
                score: Some(60.0),
                flag: None,
                absent: None,
            }
        );
        assert_eq!(rows[1].person.note.as_deref(), Some("山田"));
        assert_eq!(rows[1].flag, Some(false));
        // A tuple takes the columns by position; one column too few is refused.
        let t: Vec<(String, Option<String>, bool)> =
            d.all("select id, note, active from people where id = $1", &[Val::Text("b".into())]).unwrap();
        assert_eq!(t, vec![("b".to_string(), Some("山田".to_string()), false)]);
        let short = d.all::<(String, i64, i64)>("select id, age from people", &[]);
        assert!(matches!(short, Err(StoreError::Decode(_))), "{short:?}");
        // A unit variant by its name; an unknown name is refused without being shown.
        let k: Vec<(Kind,)> = d.all("select 'visit' union all select 'note'", &[]).unwrap();
        assert_eq!(k, vec![(Kind::Visit,), (Kind::Note,)]);
        let unknown = d.all::<(Kind,)>("select note from people where id = 'b'", &[]);
        let message = unknown.expect_err("not a kind").to_string();
        assert!(!message.contains("山田"), "{message}");
    }

    #[test]
    fn connections_are_reused_and_see_later_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch("pragma journal_mode = wal; create table t (v integer);").unwrap();
        let d = Direct::open(path, 2).unwrap();
        for i in 0..20_i64 {
            w.execute("insert into t values (?1)", [i]).unwrap();
            let n: Vec<(i64,)> = d.all("select count(*) from t", &[]).unwrap();
            assert_eq!(n, vec![(i + 1,)]);
        }
        assert_eq!(d.idle.lock().unwrap().len(), 2, "no connection opened beyond the idle ones");
        // A read-only connection cannot write.
        assert!(d.all::<(i64,)>("insert into t values (1) returning v", &[]).is_err());
    }
}
