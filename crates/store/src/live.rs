//! Live updates across server processes. On PostgreSQL a new timeline entry is announced with
//! `pg_notify` in the transaction that writes it (so the announcement is sent exactly when, and
//! only if, the entry commits), and each process that has someone watching listens on the
//! channel. SQLite is one process: announcing is a no-op there and the app layer delivers from
//! its in-process hub after the commit.

use sqlx::postgres::PgListener;

use crate::{Db, Result, Store, Tx, TxInner};

/// The PostgreSQL channel the announcements travel on.
pub const CHANNEL: &str = "tsunagu_live";

impl Tx {
    /// Announces `payload` to every listening process when (and if) this transaction commits.
    /// SQLite: does nothing.
    pub async fn notify_live(&mut self, payload: &str) -> Result<()> {
        if let TxInner::Postgres(t) = &mut self.inner {
            sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut **t).await?;
        }
        Ok(())
    }
}

/// A connection listening on [`CHANNEL`] (PostgreSQL only).
pub struct LiveListener {
    inner: PgListener,
}

/// Why a listener stopped answering.
#[derive(Debug)]
pub enum ListenError {
    /// The store was closed: stop listening for good.
    Closed,
    /// A database error; listening again later may work (the listener reconnects).
    Database(crate::StoreError),
}

impl LiveListener {
    /// The next announcement's payload. A lost connection is re-established transparently
    /// (announcements sent meanwhile are lost).
    pub async fn recv(&mut self) -> std::result::Result<String, ListenError> {
        match self.inner.recv().await {
            Ok(n) => Ok(n.payload().to_string()),
            Err(sqlx::Error::PoolClosed) => Err(ListenError::Closed),
            Err(e) => Err(ListenError::Database(e.into())),
        }
    }
}

impl Store {
    /// Starts listening for announcements: `Some` on PostgreSQL once `LISTEN` is in effect (so
    /// nothing committed after this returns is missed), `None` on SQLite.
    pub async fn live_listener(&self) -> Result<Option<LiveListener>> {
        match &self.db {
            Db::Sqlite { .. } => Ok(None),
            Db::Postgres(pool) => {
                let mut inner = PgListener::connect_with(pool).await?;
                inner.listen(CHANNEL).await?;
                Ok(Some(LiveListener { inner }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use crate::Db;
    use crate::patients::{UNACKNOWLEDGED_COUNT_SQL, UNREAD_COUNT_SQL, WAITING_URGENT_SQL};

    /// SQLite's plan for `sql`, one line per step.
    async fn plan(store: &crate::Store, sql: &str) -> String {
        let Db::Sqlite { read, .. } = &store.db else { panic!("not SQLite") };
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("explain query plan {sql}"))
            .fetch_all(&mut *read.get().await.expect("reader"))
            .await
            .expect("plan");
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }

    #[tokio::test]
    async fn the_unread_and_unacknowledged_counts_read_indexes_only() {
        let db = crate::testing::sqlite().await;
        let p = plan(&db.store, UNREAD_COUNT_SQL).await;
        assert!(p.contains("USING COVERING INDEX timeline_entries_unread_idx"), "{p}");
        assert!(p.contains("USING COVERING INDEX sqlite_autoindex_entry_reads"), "{p}");
        assert!(!p.contains("SCAN"), "{p}");
        let p = plan(&db.store, UNACKNOWLEDGED_COUNT_SQL).await;
        assert!(p.contains("USING INDEX timeline_entries_addressee_idx"), "{p}");
        assert!(!p.contains("SCAN"), "{p}");
    }

    #[tokio::test]
    async fn the_escalation_query_uses_the_partial_index_not_the_whole_timeline() {
        let db = crate::testing::sqlite().await;
        let p = plan(&db.store, &format!("select id {WAITING_URGENT_SQL}")).await;
        assert!(p.contains("USING INDEX timeline_entries_waiting_idx"), "{p}");
        assert!(!p.contains("SCAN") && !p.contains("TEMP B-TREE"), "{p}");
    }

    #[tokio::test]
    async fn announcing_on_sqlite_does_nothing_and_nobody_listens() {
        let db = crate::testing::sqlite().await;
        let mut tx = db.store.begin().await.expect("begin");
        tx.notify_live("p:e").await.expect("notify");
        tx.commit().await.expect("commit");
        assert!(db.store.live_listener().await.expect("listener").is_none());
    }

    #[tokio::test]
    async fn a_postgresql_announcement_reaches_a_listener_only_when_its_transaction_commits() {
        let Some(db) = crate::testing::postgres().await else { return };
        let mut l = db.store.live_listener().await.expect("listen").expect("a listener on PostgreSQL");
        let mut tx = db.store.begin().await.expect("begin");
        tx.notify_live("rolled-back").await.expect("notify");
        drop(tx);
        let mut tx = db.store.begin().await.expect("begin");
        tx.notify_live("p1:e1").await.expect("notify");
        tx.commit().await.expect("commit");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), l.recv())
            .await
            .expect("the announcement arrives")
            .expect("recv");
        assert_eq!(got, "p1:e1");
    }
}
