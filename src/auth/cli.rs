//! `chatdesk agent ...`: manage staff accounts without a UI (bootstrap, recovery).
//! Passwords come from standard input or from a named environment variable, never from
//! the command line (which other users of the machine can read).

use std::io::BufRead;

use clap::Subcommand;
use sea_orm::DatabaseConnection;

use super::service::{self, AccountPatch, NewAccount};
use super::{password, Role};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create a staff account (password from stdin, or from --password-env).
    Create {
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        name: String,
        /// `agent` or `admin`.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Read the password from this environment variable instead of stdin.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// List staff accounts.
    List,
    /// Disable an account (its tokens stop working at once).
    Disable {
        /// Email or username.
        login: String,
    },
    /// Enable a disabled account.
    Enable { login: String },
    /// Set a new password (password from stdin, or from --password-env).
    ResetPassword {
        login: String,
        #[arg(long)]
        password_env: Option<String>,
    },
}

fn read_password(env: Option<&str>) -> anyhow::Result<String> {
    let pw = match env {
        Some(var) => std::env::var(var)
            .map_err(|_| anyhow::anyhow!("environment variable {var} is not set"))?,
        None => {
            eprintln!("password (one line on stdin):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    password::validate(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(pw)
}

async fn find(db: &DatabaseConnection, login: &str) -> anyhow::Result<entity::account::Model> {
    service::find_by_login(db, login)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no account {login:?}"))
}

/// Runs one agent command against the configured database.
pub async fn run(db: &DatabaseConnection, cmd: AgentCommand) -> anyhow::Result<()> {
    let err = |e: crate::error::AppError| anyhow::anyhow!("{e}");
    match cmd {
        AgentCommand::Create {
            email,
            username,
            name,
            role,
            password_env,
        } => {
            let role = Role::parse(&role)
                .filter(|r| r.is_staff())
                .ok_or_else(|| anyhow::anyhow!("role must be agent or admin"))?;
            if email.is_none() && username.is_none() {
                anyhow::bail!("give --email or --username");
            }
            let pw = read_password(password_env.as_deref())?;
            let a = service::create(
                db,
                NewAccount {
                    email,
                    username,
                    name,
                    role,
                    password_hash: password::hash(pw).await.map_err(err)?,
                },
            )
            .await
            .map_err(err)?;
            println!(
                "created {} {} ({})",
                a.role,
                a.email.as_deref().or(a.username.as_deref()).unwrap_or(""),
                a.id
            );
        }
        AgentCommand::List => {
            for a in service::list_staff(db).await.map_err(err)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    a.id,
                    a.role,
                    a.email.as_deref().or(a.username.as_deref()).unwrap_or("-"),
                    a.name,
                    if a.disabled { "disabled" } else { "active" }
                );
            }
        }
        AgentCommand::Disable { login } => {
            let a = find(db, &login).await?;
            service::update(
                db,
                a,
                AccountPatch {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
            println!("disabled {login}");
        }
        AgentCommand::Enable { login } => {
            let a = find(db, &login).await?;
            service::update(
                db,
                a,
                AccountPatch {
                    disabled: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
            println!("enabled {login}");
        }
        AgentCommand::ResetPassword {
            login,
            password_env,
        } => {
            let a = find(db, &login).await?;
            let pw = read_password(password_env.as_deref())?;
            let hash = password::hash(pw).await.map_err(err)?;
            service::update(
                db,
                a,
                AccountPatch {
                    password_hash: Some(hash),
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
            println!("password reset for {login}; earlier tokens no longer work");
        }
    }
    Ok(())
}

/// Creates the first admin from `ADMIN_EMAIL` / `ADMIN_PASSWORD` when the desk has no admin,
/// and says whether the desk has one now. Everything that is not done is said, at `warn`:
/// an operator who sets `ADMIN_EMAIL` expects that account to exist.
pub async fn bootstrap_admin(
    db: &DatabaseConnection,
    email: Option<&str>,
    pw: Option<&str>,
) -> anyhow::Result<bool> {
    let err = |e: crate::error::AppError| anyhow::anyhow!("{e}");
    let has_admin = service::count_admins(db).await.map_err(err)? > 0;
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    let pw = pw.filter(|p| !p.is_empty());
    let (email, pw) = match (email, pw) {
        (Some(email), Some(pw)) => (email, pw),
        (None, None) => return Ok(has_admin),
        _ => {
            tracing::warn!("ADMIN_EMAIL and ADMIN_PASSWORD go together: one of them is not set, no admin is created");
            return Ok(has_admin);
        }
    };
    let existing = service::find_by_login(db, email).await.map_err(err)?;
    if has_admin {
        match existing {
            Some(a) if a.role == Role::Admin.as_str() => {
                tracing::debug!(email, "the ADMIN_EMAIL account exists");
            }
            _ => tracing::warn!(
                email,
                "ADMIN_EMAIL skipped: the desk already has an admin, so this account is not created (use `chatdesk agent create --role admin` or the console)"
            ),
        }
        return Ok(true);
    }
    if let Some(a) = existing {
        // Promoting it would hand the desk to whoever registered that address, with their
        // password: never done.
        tracing::warn!(
            email,
            role = %a.role,
            "ADMIN_EMAIL skipped: an account with this email already exists and is not an admin; it is not promoted (choose another email, or use `chatdesk agent create --role admin`)"
        );
        return Ok(false);
    }
    password::validate(pw).map_err(|e| anyhow::anyhow!("ADMIN_PASSWORD: {e}"))?;
    let hash = password::hash(pw.to_string()).await.map_err(err)?;
    let created = service::create(
        db,
        NewAccount {
            email: Some(email.to_string()),
            username: None,
            name: "Administrator".into(),
            role: Role::Admin,
            password_hash: hash,
        },
    )
    .await;
    match created {
        Ok(_) => tracing::info!(email, "created the first admin from ADMIN_EMAIL"),
        // Another node starting at the same moment created it first.
        Err(crate::error::AppError::Conflict(_)) => {
            tracing::debug!(email, "the ADMIN_EMAIL account was created by another node");
        }
        Err(e) => return Err(err(e)),
    }
    Ok(true)
}
