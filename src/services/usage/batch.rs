//! Many calls in one transaction: `recordUsages`, and the group commit of concurrent
//! `recordUsage` calls (see [`super::coalesce`]).
//!
//! Every call is judged by [`rule::judge`] against its counter as the calls before it in the
//! batch left it, so each answer is the one it would get had the calls run one by one in
//! order — while the database sees one read of the known keys, one locking read of the
//! counters, one counter update and one event insert. The counter rows stay locked
//! (`FOR UPDATE`, in one fixed order) until the commit, so one-by-one calls and other nodes'
//! batches wait for it: limits stay exact across nodes. On SQLite the transaction is
//! `BEGIN IMMEDIATE`, which holds the database's one write lock instead.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::SubscriptionStatus;
use futures_util::future::BoxFuture;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait, Value,
};
use uuid::Uuid;

use super::rule::{self, Standing};
use super::rule_as_batch_statement;
use super::slow::{self, Earlier, replay};
use super::{Recorded, Valid};
use crate::error::{AppError, is_deadlock};
use crate::services::locks;
use crate::telemetry::metrics as measure;

/// One call of a batch: a business's checked input and when it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) business_id: Uuid,
    pub(crate) valid: Valid,
    pub(crate) now: DateTime<Utc>,
}

/// Runs inside a batch's transaction just before it commits, told which path wrote it (tests
/// use it to drop the connection there).
pub type BeforeCommit = Arc<
    dyn for<'a> Fn(&'a DatabaseTransaction, BatchPath) -> BoxFuture<'a, Result<(), DbErr>>
        + Send
        + Sync,
>;

/// How a batch was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPath {
    /// PostgreSQL's one statement ([`rule_as_batch_statement`]).
    Statement,
    /// The portable transaction, each call judged in Rust.
    Transaction,
}

/// How batches are written. The server writes with the default; tests choose a path and stand
/// a hook before the commit, on either path.
#[derive(Clone, Default)]
pub struct WriteOptions {
    /// Runs in every batch of two or more events just before it commits (tests drop the
    /// connection there, hold the writer, or panic). PostgreSQL's one statement then runs
    /// inside a transaction, so that the hook stands between the statement and its commit.
    pub before_commit: Option<BeforeCommit>,
    /// Every batch as the portable transaction, never PostgreSQL's one statement.
    pub transaction_only: bool,
}

/// How many times a batch is written again after another writer took one of its keys between
/// the batch's read of the keys and its insert.
const ATTEMPTS: usize = 3;

type Pair = (Uuid, String);

/// A metric's counter as the batch found it, and as its calls leave it.
struct Counter {
    subscription_id: Uuid,
    standing: Standing,
    found: i64,
}

/// What the batch knows of a business's metric: its counter, or why nothing counts on it.
enum Known {
    Counter(Counter),
    Refused(AppError),
}

/// Writes `calls` as one transaction and answers each, in order: on PostgreSQL as one
/// statement when every call simply counts ([`rule_as_batch_statement`]), else judged one by one.
///
/// # Errors
/// The database failed (nothing of the batch counts), or the keys kept being taken under it.
pub(crate) async fn write_all(
    db: &DatabaseConnection,
    calls: &[Call],
    options: &WriteOptions,
) -> Result<Vec<Result<Recorded, AppError>>, AppError> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let before_commit = options.before_commit.as_ref();
    if !options.transaction_only && rule_as_batch_statement::applies(db, calls) {
        let counted = match before_commit {
            None => rule_as_batch_statement::count_all_or_none(db, calls).await?,
            Some(hook) => statement_before(db, calls, hook).await?,
        };
        if let Some(answers) = counted {
            measure::usage_batch("statement", calls.len());
            return Ok(answers);
        }
    }
    measure::usage_batch("transaction", calls.len());
    for _ in 0..ATTEMPTS {
        match attempt(db, calls, before_commit).await {
            Ok(Some(answers)) => return Ok(answers),
            // A key taken meanwhile, or a deadlock PostgreSQL broke (a counter created on its
            // first use is locked outside the fixed order): nothing was written.
            Ok(None) => {}
            Err(AppError::Database(err)) if is_deadlock(&err) => {}
            Err(error) => return Err(error),
        }
    }
    Err(AppError::Conflict {
        field: None,
        message: "the usage changed while this call was judged; try again".to_owned(),
    })
}

/// The one statement in a transaction of its own, `hook` between it and the commit (tests).
async fn statement_before(
    db: &DatabaseConnection,
    calls: &[Call],
    hook: &BeforeCommit,
) -> Result<Option<Vec<Result<Recorded, AppError>>>, AppError> {
    let txn = db.begin().await?;
    let Some(answers) = rule_as_batch_statement::count_all_or_none(&txn, calls).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    hook(&txn, BatchPath::Statement).await?;
    txn.commit().await?;
    Ok(Some(answers))
}

/// One try at the batch; `None` when a key was taken meanwhile (nothing was written).
async fn attempt(
    db: &DatabaseConnection,
    calls: &[Call],
    before_commit: Option<&BeforeCommit>,
) -> Result<Option<Vec<Result<Recorded, AppError>>>, AppError> {
    let txn = crate::db::begin_write(db).await?;
    locks::share_subscriptions(&txn, calls.iter().map(|call| call.business_id)).await?;
    let mut taken = known_keys(&txn, calls).await?;
    let pairs: BTreeSet<Pair> = calls
        .iter()
        .filter(|call| !key_of(call).is_some_and(|key| taken.contains_key(&key)))
        .map(|call| (call.business_id, call.valid.metric.clone()))
        .collect();
    let mut known = look_up(&txn, &pairs).await?;
    let mut answers = Vec::with_capacity(calls.len());
    let mut events = Vec::new();
    for call in calls {
        let answer = judge(call, &mut taken, &mut known);
        if let (Ok(recorded), Some(key)) = (&answer, &call.valid.key)
            && !recorded.duplicate
        {
            events.push((call, key, recorded.clone()));
        }
        answers.push(answer);
    }
    update_counters(&txn, &known).await?;
    if !insert_events(&txn, &events).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    if let Some(hook) = before_commit {
        hook(&txn, BatchPath::Transaction).await?;
    }
    txn.commit().await?;
    Ok(Some(answers))
}

fn key_of(call: &Call) -> Option<Pair> {
    call.valid.key.clone().map(|key| (call.business_id, key))
}

/// One call, against the keys taken and the counters as the calls before it left them.
fn judge(
    call: &Call,
    taken: &mut HashMap<Pair, Earlier>,
    known: &mut HashMap<Pair, Known>,
) -> Result<Recorded, AppError> {
    let Valid {
        metric,
        quantity,
        key,
    } = &call.valid;
    // A replay is answered as the first call was, before any refusal is diagnosed.
    if let Some(first) = key_of(call).and_then(|key| taken.get(&key)) {
        return replay(first.clone(), metric, *quantity);
    }
    let counter = match known.get_mut(&(call.business_id, metric.clone())) {
        Some(Known::Counter(counter)) => counter,
        Some(Known::Refused(error)) => return Err(repeat(error)),
        None => return Err(anyhow::anyhow!("a batch's counter was not looked up").into()),
    };
    if let Err(refusal) = rule::judge(counter.standing, *quantity) {
        return Err(refusal.into_error(metric, counter.standing));
    }
    counter.standing.used += quantity;
    if let Some(key) = key {
        let first = Earlier {
            metric: metric.clone(),
            quantity: *quantity,
            used_after: counter.standing.used,
            limit_after: counter.standing.max,
        };
        taken.insert((call.business_id, key.clone()), first);
    }
    Ok(Recorded {
        metric: metric.clone(),
        used: counter.standing.used,
        limit: counter.standing.max,
        duplicate: false,
    })
}

/// The same error again, for each call a batch's refusal or failure applies to.
pub(crate) fn repeat(error: &AppError) -> AppError {
    match error {
        AppError::BadInput { field, message } => AppError::bad_input(field, message),
        AppError::SubscriptionInactive => AppError::SubscriptionInactive,
        AppError::Conflict { field, message } => AppError::Conflict {
            field: field.clone(),
            message: message.clone(),
        },
        // Logged once by the writer; each caller is told of an internal error.
        _ => anyhow::anyhow!("the batch this call was in failed").into(),
    }
}

/// `$first, …` placeholders for `rows` rows of `width` values each.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| {
            let values: Vec<String> = (1..=width)
                .map(|i| format!("${}", row * width + i))
                .collect();
            format!("({})", values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys of `calls` that earlier calls took, with their answers.
async fn known_keys(
    txn: &DatabaseTransaction,
    calls: &[Call],
) -> Result<HashMap<Pair, Earlier>, AppError> {
    let keys: BTreeSet<Pair> = calls.iter().filter_map(key_of).collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT business_id, idempotency_key, metric, quantity, used_after, limit_after \
         FROM usage_events WHERE (business_id, idempotency_key) IN (VALUES {})",
        placeholders(keys.len(), 2)
    );
    let values = keys
        .into_iter()
        .flat_map(|(business, key)| [Value::from(business), key.into()]);
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            sql,
            values,
        ))
        .await?;
    rows.into_iter()
        .map(|row| {
            let key = (
                row.try_get("", "business_id")?,
                row.try_get("", "idempotency_key")?,
            );
            let first = Earlier {
                metric: row.try_get("", "metric")?,
                quantity: row.try_get("", "quantity")?,
                used_after: row.try_get("", "used_after")?,
                limit_after: row.try_get("", "limit_after")?,
            };
            Ok((key, first))
        })
        .collect::<Result<_, DbErr>>()
        .map_err(AppError::from)
}

/// The counters of `pairs`, locked; a metric's first use creates its counter, and a metric
/// nothing can count on is known by its refusal (the same ones a call on its own gets).
async fn look_up(
    txn: &DatabaseTransaction,
    pairs: &BTreeSet<Pair>,
) -> Result<HashMap<Pair, Known>, AppError> {
    let mut known = lock(txn, pairs).await?;
    let mut created = BTreeSet::new();
    let missing: Vec<&Pair> = pairs
        .iter()
        .filter(|pair| !known.contains_key(*pair))
        .collect();
    for pair in missing {
        let (business_id, metric) = pair;
        let metered = match slow::metered(txn, *business_id, metric).await {
            Ok(metered) => metered,
            Err(error @ (AppError::Database(_) | AppError::Internal(_))) => return Err(error),
            Err(refusal) => {
                known.insert(pair.clone(), Known::Refused(refusal));
                continue;
            }
        };
        if metered.status == SubscriptionStatus::Active {
            slow::create_counter(txn, &metered, metric).await?;
            created.insert(pair.clone());
        } else {
            let used = slow::current(txn, &metered, metric).await?;
            let standing = metered.standing(used);
            let counter = Counter {
                subscription_id: metered.subscription_id(),
                standing,
                found: used,
            };
            known.insert(pair.clone(), Known::Counter(counter));
        }
    }
    if !created.is_empty() {
        let mut fresh = lock(txn, &created).await?;
        for pair in created {
            let found = fresh.remove(&pair).unwrap_or_else(|| {
                Known::Refused(AppError::Conflict {
                    field: None,
                    message: "the usage changed while this call was judged; try again".to_owned(),
                })
            });
            known.insert(pair, found);
        }
    }
    Ok(known)
}

/// Locks the existing counters of `pairs` whose plan has the metric, in one fixed order so
/// that two batches never wait for each other.
async fn lock(
    txn: &DatabaseTransaction,
    pairs: &BTreeSet<Pair>,
) -> Result<HashMap<Pair, Known>, AppError> {
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = txn.get_database_backend();
    let sql = format!(
        "SELECT s.business_id, c.metric, c.subscription_id, c.used, s.status, l.max, \
           l.resets_each_period \
         FROM usage_counters c \
         JOIN subscriptions s ON s.id = c.subscription_id \
         JOIN plan_limits l ON l.plan_id = s.plan_id AND l.metric = c.metric \
         WHERE (s.business_id, c.metric) IN (VALUES {}) \
         ORDER BY c.subscription_id, c.metric{}",
        placeholders(pairs.len(), 2),
        if backend == DbBackend::Postgres {
            " FOR UPDATE OF c"
        } else {
            ""
        }
    );
    let values = pairs
        .iter()
        .flat_map(|(business, metric)| [Value::from(*business), metric.clone().into()]);
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.into_iter()
        .map(|row| {
            let pair = (row.try_get("", "business_id")?, row.try_get("", "metric")?);
            let used: i64 = row.try_get("", "used")?;
            let status: String = row.try_get("", "status")?;
            let standing = Standing {
                active: status == "active",
                max: row.try_get("", "max")?,
                resets_each_period: row.try_get("", "resets_each_period")?,
                used,
            };
            let counter = Counter {
                subscription_id: row.try_get("", "subscription_id")?,
                standing,
                found: used,
            };
            Ok((pair, Known::Counter(counter)))
        })
        .collect::<Result<_, DbErr>>()
        .map_err(AppError::from)
}

/// Sets every counter the batch changed, in one statement.
async fn update_counters(
    txn: &DatabaseTransaction,
    known: &HashMap<Pair, Known>,
) -> Result<(), AppError> {
    let changed: Vec<(Uuid, &str, i64)> = known
        .iter()
        .filter_map(|((_, metric), known)| match known {
            Known::Counter(c) if c.standing.used != c.found => {
                Some((c.subscription_id, metric.as_str(), c.standing.used))
            }
            _ => None,
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE usage_counters SET used = v.column3 FROM (VALUES {}) AS v \
         WHERE usage_counters.subscription_id = v.column1 AND usage_counters.metric = v.column2",
        placeholders(changed.len(), 3)
    );
    let values = changed
        .into_iter()
        .flat_map(|(subscription, metric, used)| {
            [
                Value::from(subscription),
                metric.to_owned().into(),
                used.into(),
            ]
        });
    txn.execute_raw(Statement::from_sql_and_values(
        txn.get_database_backend(),
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Records the accepted calls that have keys, in one statement. `false` when another writer
/// took one of the keys since [`known_keys`] read them: the batch must be written again.
async fn insert_events(
    txn: &DatabaseTransaction,
    events: &[(&Call, &String, Recorded)],
) -> Result<bool, AppError> {
    if events.is_empty() {
        return Ok(true);
    }
    let sql = format!(
        "INSERT INTO usage_events (id, business_id, idempotency_key, metric, quantity, accepted, \
           used_after, limit_after, created_at) \
         VALUES {} ON CONFLICT (business_id, idempotency_key) DO NOTHING",
        placeholders(events.len(), 9)
    );
    let values = events.iter().flat_map(|(call, key, recorded)| {
        [
            Value::from(Uuid::now_v7()),
            call.business_id.into(),
            (*key).clone().into(),
            recorded.metric.clone().into(),
            call.valid.quantity.into(),
            true.into(),
            recorded.used.into(),
            recorded.limit.into(),
            call.now.into(),
        ]
    });
    let inserted = txn
        .execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            sql,
            values,
        ))
        .await?;
    Ok(inserted.rows_affected() == events.len() as u64)
}
