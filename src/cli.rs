//! The command line.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "saaskit",
    version,
    about = "The GraphQL backend a SaaS product starts from"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default): migrates, seeds the default plans, listens, and
    /// runs the job worker in-process.
    Serve {
        /// Leave jobs (mail delivery) to separate `saaskit worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run the job worker alone (mail delivery), without HTTP.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL); `schema.graphql` is this output.
    Schema,
    /// Run the subscription cycle: renewals, expiries, scheduled plan changes, pruning.
    /// `saaskit worker` runs it every SAASKIT_CYCLE_EVERY; `--once` runs one pass now and
    /// prints what it did.
    Cycle {
        /// Run one pass and exit (the only mode here; the schedule belongs to the worker).
        #[arg(long)]
        once: bool,
    },
    /// Print a new root key for SAASKIT_ROOT_KEY.
    Keygen,
    /// Manage staff users.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a staff user. An existing account that is not staff is refused unless
    /// `--promote` is given.
    Create {
        #[arg(long)]
        email: String,
        /// The password; read from standard input when omitted (keeps it out of shell history).
        /// Unused when the account exists.
        #[arg(long)]
        password: Option<String>,
        /// Make an existing account staff, keeping its password.
        #[arg(long)]
        promote: bool,
    },
    /// Take staff rights away: the account stays as an ordinary user; its sessions and every
    /// impersonation it opened are revoked.
    Deactivate {
        #[arg(long)]
        email: String,
    },
}
