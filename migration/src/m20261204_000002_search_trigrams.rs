use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Trigram indexes for staff's search over businesses (`src/services/team/search.rs`): a part
/// of a business's name or of a member's e-mail is found through them at any size. PostgreSQL
/// only, and only where its contrib package provides `pg_trgm` (Debian's server package
/// does); without it the search stays correct and scans. SQLite has nothing to do.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let available = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'",
            ))
            .await?
            .is_some();
        if !available {
            return Ok(());
        }
        for statement in [
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            "CREATE INDEX IF NOT EXISTS businesses_name_trigrams \
             ON businesses USING gin (lower(name) gin_trgm_ops)",
            "CREATE INDEX IF NOT EXISTS users_email_trigrams \
             ON users USING gin (email gin_trgm_ops)",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        for statement in [
            "DROP INDEX IF EXISTS businesses_name_trigrams",
            "DROP INDEX IF EXISTS users_email_trigrams",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
