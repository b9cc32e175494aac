use std::process::ExitCode;

use clap::Parser;
use std::io::BufRead;

use saaskit::cli::{Cli, Command, StaffCommand};
use saaskit::clock::{Clock, SystemClock};
use saaskit::config::Settings;
use saaskit::services::staff;
use saaskit::{auth, graphql, startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command.unwrap_or(Command::Serve)).await {
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
        Command::Staff {
            command: StaffCommand::Create { email, password },
        } => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            let db = startup::connect_and_migrate(&settings).await?;
            let created = staff::ensure_staff(&db, &email, password.into(), SystemClock.now())
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            if created {
                println!("created staff user {email}");
            } else {
                println!("{email} already existed and is now staff (its password is unchanged)");
            }
            Ok(())
        }
        Command::Serve => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            let app = startup::Application::build(settings).await?;
            app.run_until_stopped().await?;
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
