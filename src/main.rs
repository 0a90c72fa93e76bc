//! The chatdesk binary: parse configuration, set up logging, run.

use chatdesk::config::{Cli, Command};
use chatdesk::App;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    init_tracing(&config.rust_log, &config.log_format);

    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let db = chatdesk::db::connect(&config).await?;
            chatdesk::db::migrate(&db).await?;
            println!("migrations applied to {}", config.database_url_redacted());
        }
        Command::Serve => {
            let db_url = config.database_url_redacted();
            let host = config.host.clone();
            let app = App::build(config).await?;
            let backend = chatdesk::db::backend_name(&app.state().db);
            println!(
                "chatdesk listening on http://{host}:{} (database: {backend}, {db_url})",
                app.port()
            );
            let token = app.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                token.cancel();
            });
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}

fn init_tracing(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format.eq_ignore_ascii_case("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
