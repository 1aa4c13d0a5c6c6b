//! The state database: checkpoints, leases, alert rules and the webhook outbox live here, never access
//! logs. SQLite by default (one file in the data directory), PostgreSQL when several replicas share state.
//!
//! Queries go through sqlx's `Any` driver and are written once in SQL both dialects accept; the schema
//! itself is per dialect (`migrations/sqlite`, `migrations/postgres`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A unix-millisecond column value as a time (the state database keeps times as BIGINT milliseconds).
pub fn time_of_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Which SQL engine the URL selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbBackend {
    Sqlite,
    Postgres,
}

impl DbBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("unsupported database URL scheme (expected sqlite: or postgres://)")]
    UnsupportedUrl,
    #[error("could not create the directory for the SQLite database {path}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not connect to the {backend} state database")]
    Connect {
        backend: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("state database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("state database query failed")]
    Query(#[from] sqlx::Error),
}

/// A pool on the state database plus the dialect it speaks.
#[derive(Clone)]
pub struct StateDb {
    pool: AnyPool,
    backend: DbBackend,
}

impl StateDb {
    /// Connects (creating the SQLite file and its directory when needed). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StateDbError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            DbBackend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbBackend::Postgres
        } else {
            return Err(StateDbError::UnsupportedUrl);
        };
        let url = match backend {
            DbBackend::Sqlite => {
                ensure_sqlite_dir(url)?;
                // Create the file on first start unless the URL says otherwise (e.g. `mode=ro`).
                if url.contains("mode=") {
                    url.to_owned()
                } else {
                    format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
                }
            }
            DbBackend::Postgres => url.to_owned(),
        };
        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        options = match backend {
            // SQLite allows one writer; a small pool avoids lock churn while WAL lets readers proceed.
            DbBackend::Sqlite => options.max_connections(4),
            DbBackend::Postgres => options.max_connections(10),
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StateDbError::Connect { backend: backend.as_str(), source })?;
        if backend == DbBackend::Sqlite {
            // WAL lets readers proceed while one writer commits; the setting persists in the file.
            // (sqlx's default busy timeout of 5 s covers writer contention.)
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await?;
        }
        Ok(Self { pool, backend })
    }

    /// Applies the embedded migrations of this dialect. Safe to run concurrently from several replicas:
    /// sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<(), StateDbError> {
        let migrator = match self.backend {
            DbBackend::Sqlite => &SQLITE_MIGRATIONS,
            DbBackend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(StateDbError::Migrate)
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A round trip to the database, for readiness.
    pub async fn ping(&self) -> Result<(), StateDbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Records this process in `instances`.
    pub async fn register_instance(&self, instance: &Instance) -> Result<(), StateDbError> {
        sqlx::query("INSERT INTO instances (id, hostname, version, started_at, last_seen) VALUES ($1, $2, $3, $4, $5)")
            .bind(&instance.id)
            .bind(&instance.hostname)
            .bind(&instance.version)
            .bind(instance.started_at_ms)
            .bind(instance.started_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Looks up one registered process.
    pub async fn instance(&self, id: &str) -> Result<Option<Instance>, StateDbError> {
        let row = sqlx::query("SELECT id, hostname, version, started_at FROM instances WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| Instance {
            id: row.get(0),
            hostname: row.get(1),
            version: row.get(2),
            started_at_ms: row.get(3),
        }))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One running firesight process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub hostname: String,
    pub version: String,
    pub started_at_ms: i64,
}

impl Instance {
    pub fn current() -> Self {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            hostname,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at_ms: chrono::Utc::now().timestamp_millis(),
        }
    }
}

fn ensure_sqlite_dir(url: &str) -> Result<(), StateDbError> {
    let Ok(options) = sqlx::sqlite::SqliteConnectOptions::from_str(url) else {
        return Ok(()); // the connect call reports the bad URL with sqlx's own message
    };
    let file = options.get_filename();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| StateDbError::CreateDir { path: dir.display().to_string(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_migrates_and_registers() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/state.db", dir.path().display());
        let db = StateDb::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap(); // idempotent
        let me = Instance::current();
        db.register_instance(&me).await.unwrap();
        assert_eq!(db.instance(&me.id).await.unwrap(), Some(me));
        assert!(dir.path().join("sub/state.db").exists());
    }
}
