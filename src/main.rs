use std::process::ExitCode;

use clap::Parser;
use saaskit::cli::{Cli, Command};
use saaskit::config::Settings;
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
        Command::Serve => {
            let settings = Settings::load()?;
            telemetry::init(settings.log_format, &settings.log);
            let app = startup::Application::build(settings).await?;
            app.run_until_stopped().await?;
            Ok(())
        }
    }
}
