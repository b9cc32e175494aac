//! The migrations as a stand-alone CLI (`cargo run -p migration -- up|down|status|fresh`).
//! It reads `DATABASE_URL` like saaskit does.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
