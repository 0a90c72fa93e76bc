//! Account and revocation storage: the only place with SQL for accounts.

use chrono::{DateTime, Utc};
use entity::{account, revoked_token};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, SqlErr,
};

use super::Role;
use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;

/// A new account (password already hashed).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

pub async fn create<C: ConnectionTrait>(db: &C, a: NewAccount) -> AppResult<account::Model> {
    let now = now_millis();
    let model = account::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        email: Set(a.email.map(|e| e.trim().to_lowercase())),
        username_norm: Set(a.username.as_ref().map(|u| u.trim().to_lowercase())),
        username: Set(a.username.map(|u| u.trim().to_string())),
        name: Set(a.name),
        role: Set(a.role.as_str().into()),
        password_hash: Set(a.password_hash),
        disabled: Set(false),
        token_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
    };
    account::Entity::insert(model)
        .exec_with_returning(db)
        .await
        .map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                AppError::Conflict("an account with this email or username already exists".into())
            }
            _ => e.into(),
        })
}

pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<Option<account::Model>> {
    Ok(account::Entity::find_by_id(id.to_string()).one(db).await?)
}

/// The account whose email or username (case-insensitive) is `login`.
pub async fn find_by_login<C: ConnectionTrait>(
    db: &C,
    login: &str,
) -> AppResult<Option<account::Model>> {
    let norm = login.trim().to_lowercase();
    Ok(account::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(account::Column::Email.eq(norm.clone()))
                .add(account::Column::UsernameNorm.eq(norm)),
        )
        .one(db)
        .await?)
}

/// How many admin accounts exist (disabled ones included).
pub async fn count_admins<C: ConnectionTrait>(db: &C) -> AppResult<u64> {
    Ok(account::Entity::find()
        .filter(account::Column::Role.eq(Role::Admin.as_str()))
        .count(db)
        .await?)
}

pub async fn count_staff<C: ConnectionTrait>(db: &C) -> AppResult<u64> {
    Ok(account::Entity::find()
        .filter(account::Column::Role.is_in([Role::Admin.as_str(), Role::Agent.as_str()]))
        .count(db)
        .await?)
}

/// Staff accounts (admins and agents), oldest first.
pub async fn list_staff<C: ConnectionTrait>(db: &C) -> AppResult<Vec<account::Model>> {
    Ok(account::Entity::find()
        .filter(account::Column::Role.is_in([Role::Admin.as_str(), Role::Agent.as_str()]))
        .order_by_asc(account::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Changes to an account.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// Applies `patch`; disabling, a role change or a new password revokes older tokens.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    current: account::Model,
    patch: AccountPatch,
) -> AppResult<account::Model> {
    let revoke = patch.disabled == Some(true)
        || patch.password_hash.is_some()
        || patch.role.is_some_and(|r| r.as_str() != current.role);
    let version = current.token_version;
    let mut am: account::ActiveModel = current.into();
    if let Some(n) = patch.name {
        am.name = Set(n);
    }
    if let Some(r) = patch.role {
        am.role = Set(r.as_str().into());
    }
    if let Some(d) = patch.disabled {
        am.disabled = Set(d);
    }
    if let Some(h) = patch.password_hash {
        am.password_hash = Set(h);
    }
    if revoke {
        am.token_version = Set(version + 1);
    }
    am.updated_at = Set(now_millis());
    Ok(am.update(db).await?)
}

pub async fn touch_login<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<()> {
    account::Entity::update_many()
        .col_expr(
            account::Column::LastLoginAt,
            sea_orm::sea_query::Expr::val(now_millis()),
        )
        .filter(account::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<bool> {
    Ok(account::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// Records a revoked token until its natural expiry.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    jti: &str,
    account_id: &str,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    let model = revoked_token::ActiveModel {
        jti: Set(jti.to_string()),
        account_id: Set(account_id.to_string()),
        expires_at: Set(expires_at),
    };
    match revoked_token::Entity::insert(model).exec(db).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn is_revoked<C: ConnectionTrait>(db: &C, jti: &str) -> AppResult<bool> {
    Ok(revoked_token::Entity::find_by_id(jti.to_string())
        .one(db)
        .await?
        .is_some())
}

/// Forgets revocations of tokens that have expired anyway.
pub async fn purge_expired_revocations<C: ConnectionTrait>(db: &C) -> AppResult<u64> {
    Ok(revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?
        .rows_affected)
}
