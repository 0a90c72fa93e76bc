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
        Command::Agent { command } => {
            let db = chatdesk::db::connect(&config).await?;
            chatdesk::db::migrate(&db).await?;
            chatdesk::auth::cli::run(&db, command).await?;
        }
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

/// Libraries whose TRACE/DEBUG output prints raw frames or headers (and so tokens): capped
/// whatever `RUST_LOG` says, so that secrets never reach the logs.
const SECRET_SAFE_CAPS: &[&str] = &[
    "socketioxide=info",
    "engineioxide=info",
    "tungstenite=info",
    "tokio_tungstenite=info",
    "hyper=info",
    "hyper_util=info",
    "h2=info",
];

fn init_tracing(filter: &str, format: &str) {
    let mut filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    for cap in SECRET_SAFE_CAPS {
        if let Ok(d) = cap.parse() {
            filter = filter.add_directive(d);
        }
    }
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
