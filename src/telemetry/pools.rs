//! The database pools a process holds, sampled when `/metrics` is scraped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ::metrics::gauge;
use sea_orm::sqlx::{PgPool, SqlitePool};
use sea_orm::{DatabaseConnection, DbBackend};

use super::metrics::{DB_POOL_CONNECTIONS, DB_POOL_MAX};

/// Every pool registered with [`Pools::watch`], under a name that becomes the `pool` label.
/// Pools of one name (the share of each HTTP worker) are summed.
#[derive(Clone, Default)]
pub struct Pools(Arc<Mutex<Vec<(&'static str, Probe)>>>);

#[derive(Clone)]
enum Probe {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Default)]
struct Sizes {
    open: u64,
    idle: u64,
    max: u64,
}

impl Probe {
    fn sizes(&self) -> Sizes {
        let (open, idle, max) = match self {
            Probe::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Probe::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        Sizes {
            open: open.into(),
            idle: idle as u64,
            max: max.into(),
        }
    }
}

impl Pools {
    /// Samples `db`'s pool from now on, as part of the pool called `name`.
    pub fn watch(&self, name: &'static str, db: &DatabaseConnection) {
        let probe = match db.get_database_backend() {
            DbBackend::Sqlite => Probe::Sqlite(db.get_sqlite_connection_pool().clone()),
            DbBackend::Postgres => Probe::Postgres(db.get_postgres_connection_pool().clone()),
            _ => return,
        };
        if let Ok(mut pools) = self.0.lock() {
            pools.push((name, probe));
        }
    }

    /// Sets the pool gauges to what the pools hold now.
    pub fn sample(&self) {
        let Ok(pools) = self.0.lock() else { return };
        let mut by_name: BTreeMap<&'static str, Sizes> = BTreeMap::new();
        for (name, probe) in pools.iter() {
            let sizes = probe.sizes();
            let total = by_name.entry(name).or_default();
            total.open += sizes.open;
            total.idle += sizes.idle;
            total.max += sizes.max;
        }
        drop(pools);
        for (name, sizes) in by_name {
            // `size` and `num_idle` are read apart; a connection may move in between.
            let in_use = sizes.open.saturating_sub(sizes.idle);
            gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "in_use").set(in_use as f64);
            gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "idle").set(sizes.idle as f64);
            gauge!(DB_POOL_MAX, "pool" => name).set(sizes.max as f64);
        }
    }
}
