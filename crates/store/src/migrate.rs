//! Forward-only migrations, one folder per backend with matching names, embedded in the binary.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Db, Result, Store};

const SQLITE: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../migrations/sqlite/0001_foundation.sql")),
    (2, "sharing", include_str!("../migrations/sqlite/0002_sharing.sql")),
    (3, "live", include_str!("../migrations/sqlite/0003_live.sql")),
    (4, "attachments", include_str!("../migrations/sqlite/0004_attachments.sql")),
    (5, "directory", include_str!("../migrations/sqlite/0005_directory.sql")),
    (6, "api", include_str!("../migrations/sqlite/0006_api.sql")),
    (7, "timeline_pages", include_str!("../migrations/sqlite/0007_timeline_pages.sql")),
    (8, "directory_search", include_str!("../migrations/sqlite/0008_directory_search.sql")),
    (9, "directory_points", include_str!("../migrations/sqlite/0009_directory_points.sql")),
    (10, "directory_codes", include_str!("../migrations/sqlite/0010_directory_codes.sql")),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "foundation", include_str!("../migrations/postgres/0001_foundation.sql")),
    (2, "sharing", include_str!("../migrations/postgres/0002_sharing.sql")),
    (3, "live", include_str!("../migrations/postgres/0003_live.sql")),
    (4, "attachments", include_str!("../migrations/postgres/0004_attachments.sql")),
    (5, "directory", include_str!("../migrations/postgres/0005_directory.sql")),
    (6, "api", include_str!("../migrations/postgres/0006_api.sql")),
    (7, "timeline_pages", include_str!("../migrations/postgres/0007_timeline_pages.sql")),
    (8, "directory_search", include_str!("../migrations/postgres/0008_directory_search.sql")),
    (9, "directory_points", include_str!("../migrations/postgres/0009_directory_points.sql")),
    (10, "directory_codes", include_str!("../migrations/postgres/0010_directory_codes.sql")),
];

/// Migrations embedded in the binary, in the shape sqlx's migrator reads.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(*v, Cow::Borrowed(*d), MigrationType::Simple, Cow::Borrowed(*sql), false)
                })
                .collect())
        })
    }
}

impl Store {
    /// Applies every pending migration. Refuses a database migrated by a newer version.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut c = write.idle().await?;
                Migrator::new(Embedded(SQLITE)).await?.run(&mut *c).await?
            }
            Db::Postgres(p) => Migrator::new(Embedded(POSTGRES)).await?.run(p).await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_have_the_same_migrations() {
        let a: Vec<_> = super::SQLITE.iter().map(|(v, d, _)| (v, d)).collect();
        let b: Vec<_> = super::POSTGRES.iter().map(|(v, d, _)| (v, d)).collect();
        assert_eq!(a, b);
    }
}
