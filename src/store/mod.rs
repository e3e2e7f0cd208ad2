//! Storage: sqlx repositories over PostgreSQL and SQLite. All SQL of the
//! project lives here. Query functions are named by verb and take `&mut Tx`;
//! the desk layer owns the transaction (one per use case). The same SQL text
//! serves both backends except where a comment says why it differs.
//! May import `domain`; nothing here knows HTTP or chat platforms.

pub mod activity;
pub mod alerts;
pub mod approvals;
pub mod assignment;
pub mod audit;
pub mod blobs;
pub mod catalog;
pub mod changes;
pub mod chat;
pub mod cmdb;
pub mod flush;
pub mod gateway;
pub mod identity;
pub mod inbound;
pub mod inbox;
pub mod links;
pub mod macros;
pub mod mail;
pub mod orgs;
pub mod outbox;
pub mod people;
pub mod problems;
pub mod reports;
pub mod rules;
pub mod schedules;
pub mod scim;
pub mod setup;
pub mod sla;
pub mod slack_installs;
pub mod sso;
pub mod teams;
pub mod tickets;
pub mod time_entries;
pub mod timers;
pub mod tokens;
pub mod webhooks;

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, Postgres, Sqlite, SqlitePool, Transaction,
};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A connection pool on one of the two backends.
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// An open transaction; dropping it without `commit` rolls back.
pub enum Tx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// Runs the same expression against whichever connection `tx` holds:
/// `on!(tx, c => sqlx::query("...").execute(c).await.map(|r| r.rows_affected()))`.
macro_rules! on {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on;

/// Like [`on!`] over a pool, for reads that need no transaction.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Postgres($pool) => $body,
            $crate::store::Db::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Where a read runs: inside a use case's transaction, or straight on the
/// pool when no transaction is needed (saves BEGIN/COMMIT round trips).
pub enum Exec<'a> {
    Tx(&'a mut Tx),
    Db(&'a Db),
}

impl Exec<'_> {
    /// A shorter-lived copy, to run several statements through one `Exec`.
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::Tx(tx) => Exec::Tx(tx),
            Exec::Db(db) => Exec::Db(db),
        }
    }
}

impl<'a> From<&'a mut Tx> for Exec<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Exec::Tx(tx)
    }
}

impl<'a> From<&'a Db> for Exec<'a> {
    fn from(db: &'a Db) -> Self {
        Exec::Db(db)
    }
}

/// Like [`on!`] for an [`Exec`].
macro_rules! on_exec {
    ($exec:expr, $conn:ident => $body:expr) => {
        match $exec {
            $crate::store::Exec::Tx($crate::store::Tx::Postgres(t)) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Exec::Tx($crate::store::Tx::Sqlite(t)) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Exec::Db($crate::store::Db::Postgres(p)) => {
                let $conn = p;
                $body
            }
            $crate::store::Exec::Db($crate::store::Db::Sqlite(p)) => {
                let $conn = p;
                $body
            }
        }
    };
}
pub(crate) use on_exec;

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| "parsing database.url as a SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // An in-memory database exists once per connection, so it must be one.
            let max = if url.contains(":memory:") {
                1
            } else {
                max_connections.min(8)
            };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await
                .context("opening the SQLite database")?;
            Ok(Db::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url)
                .context("parsing database.url as a PostgreSQL URL")?;
            // A connection idle for a while is checked before use (the
            // server may have restarted, a firewall dropped it); one in
            // steady use is not: the check is a round trip per use case.
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > Duration::from_secs(10) {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(Db::Postgres(pool))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Postgres(pool) => PG_MIGRATIONS.run(pool).await,
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
        .context("applying database migrations")
    }

    /// True when every migration shipped with this binary has been applied.
    pub async fn migrations_applied(&self) -> anyhow::Result<bool> {
        let expected = match self {
            Db::Postgres(_) => PG_MIGRATIONS.iter().count(),
            Db::Sqlite(_) => SQLITE_MIGRATIONS.iter().count(),
        } as i64;
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = on_pool!(self, p => sqlx::query_scalar(sql).fetch_one(p).await)?;
        Ok(applied >= expected)
    }

    /// [`migrations_applied`](Self::migrations_applied) on a connection of
    /// its own rather than a pooled one: readiness must be told at once when
    /// the server is gone (a refused connect fails now, where the pool would
    /// retry until its acquire timeout) and must not queue behind a busy
    /// pool when the server is fine.
    pub async fn probe_migrations(&self) -> anyhow::Result<bool> {
        let Db::Postgres(pool) = self else {
            // A local file: nothing to be cut off from.
            return self.migrations_applied().await;
        };
        let mut conn = sqlx::ConnectOptions::connect(&*pool.connect_options())
            .await
            .context("connecting to PostgreSQL")?;
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
        let _ = sqlx::Connection::close(conn).await;
        Ok(applied >= PG_MIGRATIONS.iter().count() as i64)
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    /// A transaction for reads only: on SQLite a deferred one, so readers
    /// do not take the single write lock (`begin` takes it up front so that
    /// a use case never has to upgrade mid-way).
    pub async fn read(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
        })
    }

    /// A read-only transaction whose reads all see one snapshot (REPEATABLE
    /// READ on Postgres; a deferred SQLite transaction is one already), for
    /// reads that must agree with each other.
    pub async fn snapshot(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
        })
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))
            .map(|_| ())
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Postgres(t) => t.commit().await,
            Tx::Sqlite(t) => t.commit().await,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(_))
    }
}

/// `prefix ($1, …, $n), (…) … suffix` for `rows` rows of `columns` values.
pub(crate) fn multi_row_insert(prefix: &str, columns: usize, rows: usize, suffix: &str) -> String {
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 5 + suffix.len());
    sql.push_str(prefix);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..columns {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", row * columns + col + 1));
        }
        sql.push(')');
    }
    sql.push_str(suffix);
    sql
}

/// The clock used for every stored timestamp, truncated to what Postgres
/// keeps so a value reads back equal to what was written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// True for a unique-constraint violation (maps to 409 at the edge).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Whether the database could not be reached or is going away (a
/// restart, a stop, a full pool): the request may succeed later, so it is
/// answered 503, not as a bug. SQLSTATE class 08 is a connection failure;
/// 57P01–57P03 an administrator shutdown, a crash shutdown and "cannot
/// connect now" (starting up); 53300 too many connections.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Whether Postgres broke a deadlock by failing this statement.
pub fn is_deadlock(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("40P01"))
}

/// Marks a point inside a transaction that [`rollback_to_savepoint`] can
/// return to; automation runs each rule's actions behind one, so a failing
/// rule undoes only its own writes. One name: savepoints are not nested.
pub async fn savepoint(tx: &mut Tx) -> Result<(), sqlx::Error> {
    on!(tx, c => sqlx::query("SAVEPOINT automation_rule").execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn rollback_to_savepoint(tx: &mut Tx) -> Result<(), sqlx::Error> {
    on!(tx, c => sqlx::query("ROLLBACK TO SAVEPOINT automation_rule").execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn release_savepoint(tx: &mut Tx) -> Result<(), sqlx::Error> {
    on!(tx, c => sqlx::query("RELEASE SAVEPOINT automation_rule").execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
