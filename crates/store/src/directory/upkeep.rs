//! The upkeep of directory entries: how many entries wait for their operator's confirmation.

use crate::{Result, Store, read};

impl Store {
    /// How many entries have not been confirmed since `before` (never confirmed included).
    pub async fn count_unconfirmed_providers(&self, before: i64) -> Result<i64> {
        let n: (i64,) = read!(self, |c| sqlx::query_as::<_, (i64,)>(
            "select count(*) from organisations where confirmed_at is null or confirmed_at < $1"
        )
        .bind(before)
        .fetch_one(c)
        .await)?;
        Ok(n.0)
    }
}
