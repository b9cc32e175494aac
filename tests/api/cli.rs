//! The binary itself: start-up failures end the process with one line that says what to fix.

use std::process::{Command, Output};

fn saaskit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_saaskit"));
    command.args(args).current_dir(dir.path());
    for var in ["DATABASE_URL", "RUST_LOG"] {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("saaskit runs")
}

fn last_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn an_unreachable_database_ends_start_up_with_one_clear_line() {
    let output = saaskit(
        &["migrate"],
        &[(
            "DATABASE_URL",
            "postgres://postgres:secret@127.0.0.1:1/nothing",
        )],
    );
    assert!(!output.status.success());
    let line = last_line(&output);
    assert!(
        line.starts_with("error: cannot connect to the database"),
        "{line}"
    );
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(
        !line.contains("secret"),
        "the password is not printed: {line}"
    );
}

#[test]
fn an_unopenable_sqlite_file_ends_start_up_with_one_clear_line() {
    let output = saaskit(
        &["serve"],
        &[(
            "DATABASE_URL",
            "sqlite:///nonexistent-dir/x/saaskit.db?mode=rwc",
        )],
    );
    assert!(!output.status.success());
    assert!(last_line(&output).contains("DATABASE_URL"));
}

#[test]
fn a_bad_setting_is_named() {
    let output = saaskit(&["serve"], &[("SAASKIT_SESSION_TTL", "forever")]);
    assert!(!output.status.success());
    assert!(
        last_line(&output).contains("SAASKIT_SESSION_TTL"),
        "{}",
        last_line(&output)
    );

    let output = saaskit(&["serve"], &[("DATABASE_URL", "mysql://localhost/db")]);
    assert!(!output.status.success());
    assert!(last_line(&output).contains("DATABASE_URL"));
}

#[test]
fn production_refuses_to_start_without_a_root_key() {
    let output = saaskit(
        &["serve"],
        &[
            ("SAASKIT_ENV", "production"),
            ("SAASKIT_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    assert!(last_line(&output).contains("SAASKIT_ROOT_KEY"));
}

#[test]
fn keygen_prints_a_usable_root_key() {
    let output = saaskit(&["keygen"], &[]);
    assert!(output.status.success());
    let key = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn staff_create_reads_the_password_from_stdin_and_the_staff_user_can_log_in() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("staff.db").display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_saaskit"))
        .args(["staff", "create", "--email", "ops@example.com"])
        .current_dir(dir.path())
        .env("DATABASE_URL", &db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("saaskit runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long staff password\n")
        .expect("written");
    let output = child.wait_with_output().expect("it ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created staff user ops@example.com"));

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let conn = saaskit::db::connect(&db, Some(1))
            .await
            .expect("the database");
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let user = entity::users::Entity::find()
            .filter(entity::users::Column::Email.eq("ops@example.com"))
            .one(&conn)
            .await
            .expect("query")
            .expect("the staff user");
        assert!(user.is_staff);
        let ticket = saaskit::auth::password::Budget::new()
            .take()
            .expect("a ticket");
        let ok = saaskit::auth::password::verify(
            &ticket,
            "a long staff password".into(),
            user.password_hash,
        )
        .await
        .expect("verifies");
        assert!(ok);
    });
}

#[tokio::test]
async fn cycle_once_renews_what_is_due_and_prints_a_summary() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = crate::helpers::spawn_app().await;
    let account = app.signup("due@example.com").await;
    let business: uuid::Uuid = account.business_id.parse().expect("a uuid");
    let past = chrono::Utc::now() - chrono::TimeDelta::days(40);
    entity::subscriptions::Entity::update_many()
        .col_expr(
            entity::subscriptions::Column::CurrentPeriodStart,
            Expr::value(past),
        )
        .col_expr(
            entity::subscriptions::Column::PeriodAnchor,
            Expr::value(past),
        )
        .col_expr(
            entity::subscriptions::Column::CurrentPeriodEnd,
            Expr::value(past + chrono::TimeDelta::days(30)),
        )
        .filter(entity::subscriptions::Column::BusinessId.eq(business))
        .exec(&app.state.db)
        .await
        .expect("the period is moved back");

    let url = app.db_url();
    let output = tokio::task::spawn_blocking(move || {
        saaskit(&["cycle", "--once"], &[("DATABASE_URL", url.as_str())])
    })
    .await
    .expect("it runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("renewed 1,"), "{stdout}");
    assert!(stdout.contains("expired 0,"), "{stdout}");
    let sub = saaskit::services::billing::subscription::subscription_of(&app.state.db, business)
        .await
        .expect("the subscription");
    assert!(sub.current_period_end > chrono::Utc::now());

    let output = saaskit(&["cycle"], &[]);
    assert!(
        !output.status.success(),
        "without --once it explains itself"
    );
    assert!(last_line(&output).contains("--once"));
}
