//! One tenant's bad call never fails another tenant's call that shares its batch.
//!
//! Names the database cannot store are refused before they are queued, so a poisoned call is
//! made here the way no input can make one: a trigger of the test's own refuses one event's
//! row with the error a NUL in a name used to raise (`22021` on PostgreSQL, an abort on
//! SQLite). It sits among 1,000 calls of 100 businesses, all queued at once into one batch.

use futures::future::join_all;
use saaskit::services::usage::Coalescer;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

use super::coalescer::{assert_took, nothing, on, paths, recording};
use crate::helpers::{Account, TestApp, error_code, spawn_app};

const BUSINESSES: usize = 100;
const CALLS: usize = 1_000;
const POISON: &str = "poison";

/// Refuses the insert of any event whose key is [`POISON`].
async fn poison_one_key(app: &TestApp) {
    let db = &app.state.db;
    let statements: &[&str] = if db.get_database_backend() == DbBackend::Postgres {
        &[
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'poisoned' USING ERRCODE = '22021'; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON usage_events FOR EACH ROW \
             WHEN (NEW.idempotency_key = 'poison') EXECUTE FUNCTION refuse_poison()",
        ]
    } else {
        &["CREATE TRIGGER poison BEFORE INSERT ON usage_events \
           WHEN NEW.idempotency_key = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"]
    };
    for statement in statements {
        db.execute_unprepared(statement).await.expect("the trigger");
    }
}

async fn businesses(app: &TestApp) -> Vec<(Account, Uuid)> {
    let mut found = Vec::with_capacity(BUSINESSES);
    for chunk in 0..BUSINESSES / 10 {
        let emails: Vec<String> = (0..10)
            .map(|i| format!("b{chunk}-{i}@example.com"))
            .collect();
        let signups = emails.iter().map(|email| app.signup(email));
        for account in join_all(signups).await {
            let business = account.business_id.parse().expect("uuid");
            // The counter exists, so that PostgreSQL's one statement may count on it.
            saaskit::services::usage::reference::record(
                &app.state.db,
                business,
                recording(None),
                chrono::Utc::now(),
            )
            .await
            .expect("creates the counter");
            found.push((account, business));
        }
    }
    found
}

async fn counters(app: &TestApp, of: &[(Account, Uuid)]) -> Vec<i64> {
    let mut all = Vec::with_capacity(of.len());
    for (_, business) in of {
        let row = app
            .state
            .db
            .query_one_raw(Statement::from_sql_and_values(
                app.state.db.get_database_backend(),
                "SELECT c.used FROM usage_counters c JOIN subscriptions s \
                 ON s.id = c.subscription_id WHERE s.business_id = $1 AND c.metric = 'recordings'",
                [(*business).into()],
            ))
            .await
            .expect("reads")
            .expect("a counter");
        all.push(row.try_get("", "used").expect("used"));
    }
    all
}

async fn events(app: &TestApp, run: &str) -> i64 {
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_sql_and_values(
            app.state.db.get_database_backend(),
            "SELECT count(*) AS n FROM usage_events WHERE idempotency_key LIKE $1",
            [format!("{run}-%").into()],
        ))
        .await
        .expect("reads")
        .expect("a row");
    row.try_get("", "n").expect("a count")
}

#[tokio::test]
async fn a_poisoned_call_among_a_thousand_fails_alone_and_every_other_counts_once() {
    let app = spawn_app().await;
    poison_one_key(&app).await;
    let all = businesses(&app).await;
    for path in paths(&app) {
        let run = format!("{path:?}");
        let before = counters(&app, &all).await;
        let (options, taken) = on(path, nothing());
        let coalescer = Coalescer::start_with(app.state.db.clone(), 1, options);
        let now = chrono::Utc::now();
        // Queued before the writer runs: one batch of 1,000, half of them with keys.
        let poisoned = CALLS / 2 + 7;
        let answers = join_all((0..CALLS).map(|i| {
            let key = if i == poisoned {
                Some(POISON.to_owned())
            } else {
                (i % 2 == 0).then(|| format!("{run}-{i}"))
            };
            coalescer.submit(all[i % BUSINESSES].1, recording(key), now)
        }))
        .await;
        let error = answers[poisoned]
            .as_ref()
            .expect_err("the poisoned call fails");
        assert_eq!(error.code(), "INTERNAL_SERVER_ERROR", "{run}");
        // Every other call is answered as one by one in arrival order: its business's
        // counter as it stood, plus one per call of that business before it (and itself).
        let mut next = before.clone();
        for (i, answer) in answers.iter().enumerate() {
            if i == poisoned {
                continue;
            }
            let at = i % BUSINESSES;
            next[at] += 1;
            let recorded = answer
                .as_ref()
                .unwrap_or_else(|e| panic!("{run}: call {i} failed: {e:?}"));
            assert_eq!(
                (recorded.used, recorded.duplicate),
                (next[at], false),
                "{run}: {i}"
            );
        }
        let after = counters(&app, &all).await;
        assert_eq!(after, next, "{run}: each call counted exactly once");
        assert_eq!(after.iter().sum::<i64>() - before.iter().sum::<i64>(), 999);
        assert_eq!(
            events(&app, &run).await,
            500,
            "{run}: each key recorded once"
        );
        assert_took(&taken, path);
    }
}

#[tokio::test]
async fn a_name_no_database_can_store_is_refused_before_it_is_queued() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for metric in [
        "\u{0}",
        "recordings\u{0}",
        "rec\u{7}ordings",
        &"m".repeat(65),
        "  ",
    ] {
        let response = app
            .graphql(
                "mutation($m: String!) { recordUsage(input: { metric: $m }) { used } }",
                json!({ "m": metric }),
                Some(&account.api_key),
            )
            .await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{metric:?}: {response}"
        );
        assert_eq!(response["errors"][0]["extensions"]["field"], "metric");
    }
    let key = app
        .graphql(
            r#"mutation { recordUsage(input: { metric: "recordings", idempotencyKey: "a\u0000" }) { used } }"#,
            json!({}),
            Some(&account.api_key),
        )
        .await;
    assert_eq!(
        key["errors"][0]["extensions"]["field"], "idempotencyKey",
        "{key}"
    );
    // In a list, the bad event is refused on its own and the others count.
    let many = app
        .graphql(
            "mutation($i: [RecordUsageInput!]!) { recordUsages(inputs: $i) {
                usage { used } error { code field } } }",
            json!({ "i": [{ "metric": "recordings" }, { "metric": "\u{0}" },
                          { "metric": " recordings " }] }),
            Some(&account.api_key),
        )
        .await;
    let outcomes = &crate::helpers::data(&many)["recordUsages"];
    assert_eq!(outcomes[0]["usage"]["used"], 1, "{many}");
    assert_eq!(
        outcomes[1]["error"],
        json!({ "code": "BAD_USER_INPUT", "field": "metric" })
    );
    assert_eq!(outcomes[2]["usage"]["used"], 2);
    assert_eq!(crate::usage::used(&app, &account, "recordings").await, 2);
}

/// The measured case: an SDK key sending NUL names from 4 tasks while other businesses
/// record. On PostgreSQL this made 22% of the others' calls fail before names were checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sending_unstorable_names_never_fails_another_business() {
    let app = spawn_app().await;
    let attacker = app.signup("mallory@example.com").await;
    let mut others = Vec::new();
    for i in 0..4 {
        others.push(app.signup(&format!("user{i}@example.com")).await);
    }
    let record = |key: String, metric: &'static str| {
        let app = &app;
        async move {
            app.graphql(
                "mutation($m: String!) { recordUsage(input: { metric: $m }) { used } }",
                json!({ "m": metric }),
                Some(&key),
            )
            .await
        }
    };
    let attacks = (0..4).map(|_| async {
        for _ in 0..25 {
            let answer = record(attacker.api_key.clone(), "\u{0}").await;
            assert_eq!(error_code(&answer), "BAD_USER_INPUT", "{answer}");
        }
    });
    let honest = others.iter().map(|account| async {
        let mut failed = 0;
        for _ in 0..25 {
            let answer = record(account.api_key.clone(), "recordings").await;
            failed += usize::from(answer.get("errors").is_some());
        }
        failed
    });
    let (_, failed) = tokio::join!(join_all(attacks), join_all(honest));
    assert_eq!(failed, vec![0; 4]);
    for account in &others {
        assert_eq!(crate::usage::used(&app, account, "recordings").await, 25);
    }
}
