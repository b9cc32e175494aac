use std::process::ExitCode;

use clap::Parser;
use std::io::BufRead;

use saaskit::cli::{Cli, Command, StaffCommand};
use saaskit::clock::{Clock, SystemClock};
use saaskit::config::Settings;
use saaskit::services::billing::cycle;
use saaskit::services::identity::staff::{self, Ensured, IfNotStaff};
use saaskit::{auth, graphql, startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command.unwrap_or(Command::Serve { no_worker: false })).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        // Neither needs settings: they must work whatever the environment holds.
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Keygen => {
            println!("{}", auth::keys::generate_hex());
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            startup::migrate(&settings).await?;
            Ok(())
        }
        Command::Cycle { once } => {
            anyhow::ensure!(
                once,
                "the cycle runs on a schedule in `saaskit worker`; `saaskit cycle --once` runs \
                 one pass now"
            );
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            let db = startup::connect_and_migrate(&settings).await?;
            let policy = cycle::Policy::from_settings(&settings, db.get_database_backend());
            let summary = cycle::run_once(&db, SystemClock.now(), &cycle::ManualProvider, &policy)
                .await
                .map_err(|err| anyhow::anyhow!("the cycle pass failed: {err:?}"))?;
            println!("{summary}");
            Ok(())
        }
        Command::Staff { command } => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            run_staff(command, &settings).await
        }
        Command::Serve { no_worker } => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            let mut app = startup::Application::build(settings).await?;
            if no_worker {
                app = app.without_worker();
            }
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Worker => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            startup::run_worker(settings).await
        }
    }
}

async fn run_staff(command: StaffCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        StaffCommand::Create {
            email,
            password,
            promote,
        } => {
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            let if_not_staff = if promote {
                IfNotStaff::Promote
            } else {
                IfNotStaff::Refuse
            };
            let db = startup::connect_and_migrate(settings).await?;
            let ensured = staff::ensure_staff(
                &db,
                &email,
                password.into(),
                if_not_staff,
                SystemClock.now(),
            )
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
            match ensured {
                Ensured::Created => println!("created staff user {email}"),
                Ensured::AlreadyStaff => println!("{email} is already staff; nothing changed"),
                Ensured::Promoted => {
                    println!(
                        "{email} already existed and is now staff (its password is unchanged)"
                    );
                }
                Ensured::Refused => anyhow::bail!(
                    "{email} is an existing account that is not staff; if its owner is the \
                     person you mean, run `saaskit staff create --promote --email {email}` \
                     (it keeps that account's password)"
                ),
            }
            Ok(())
        }
        StaffCommand::Deactivate { email } => {
            let db = startup::connect_and_migrate(settings).await?;
            let done = staff::deactivate(&db, &email, SystemClock.now())
                .await
                .map_err(|err| anyhow::anyhow!("{email}: {err}"))?;
            let was = if done.was_staff {
                ""
            } else {
                " (it was not staff)"
            };
            println!(
                "{email} is no longer staff{was}; {} sessions revoked, refused by every node \
                 within seconds",
                done.sessions_revoked
            );
            Ok(())
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "no password was given on standard input"
    );
    Ok(password)
}
