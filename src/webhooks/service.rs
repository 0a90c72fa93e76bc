//! Webhooks' storage: the only place with SQL for endpoints and deliveries (the outbox's
//! INSERT lives in `outbox::service`). The worker's side: look at the head of each
//! endpoint's queue, claim the endpoint with a lease, read the run's deliveries, record each
//! attempt's outcome.

use chrono::{DateTime, Utc};
use entity::{webhook_delivery as delivery, webhook_endpoint as endpoint};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::types::{Status, MAX_ENDPOINTS};
use crate::error::{AppError, AppResult};
use crate::outbox::service::now_millis;

fn not_found() -> AppError {
    AppError::NotFound("no such webhook".into())
}

/// Every endpoint, oldest first.
pub async fn list<C: ConnectionTrait>(db: &C) -> AppResult<Vec<endpoint::Model>> {
    Ok(endpoint::Entity::find()
        .order_by_asc(endpoint::Column::CreatedAt)
        .order_by_asc(endpoint::Column::Id)
        .all(db)
        .await?)
}

/// The active endpoints (the worker's list).
pub async fn active<C: ConnectionTrait>(db: &C) -> AppResult<Vec<endpoint::Model>> {
    Ok(endpoint::Entity::find()
        .filter(endpoint::Column::Active.eq(true))
        .all(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<endpoint::Model> {
    endpoint::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(not_found)
}

/// Stores a new endpoint.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    url: String,
    events: String,
    active: bool,
    batch_size: i32,
    secret: String,
) -> AppResult<endpoint::Model> {
    if endpoint::Entity::find().count(db).await? >= MAX_ENDPOINTS {
        return Err(AppError::Conflict(format!(
            "a desk has at most {MAX_ENDPOINTS} webhooks"
        )));
    }
    let now = now_millis();
    Ok(endpoint::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        url: Set(url),
        secret: Set(secret),
        events: Set(events),
        active: Set(active),
        batch_size: Set(batch_size),
        lease: Set(None),
        locked_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

/// Changes an endpoint's URL, events, switch or batch size.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    current: endpoint::Model,
    url: Option<String>,
    events: Option<String>,
    active: Option<bool>,
    batch_size: Option<i32>,
) -> AppResult<endpoint::Model> {
    let mut am: endpoint::ActiveModel = current.into();
    if let Some(n) = batch_size {
        am.batch_size = Set(n);
    }
    if let Some(u) = url {
        am.url = Set(u);
    }
    if let Some(e) = events {
        am.events = Set(e);
    }
    if let Some(a) = active {
        am.active = Set(a);
    }
    am.updated_at = Set(now_millis());
    Ok(am.update(db).await?)
}

/// Deletes an endpoint and its deliveries.
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<()> {
    // Deliveries first: SQLite enforces the foreign key's cascade only with its pragma on.
    delivery::Entity::delete_many()
        .filter(delivery::Column::EndpointId.eq(id))
        .exec(db)
        .await?;
    let gone = endpoint::Entity::delete_by_id(id.to_string())
        .exec(db)
        .await?;
    if gone.rows_affected == 0 {
        return Err(not_found());
    }
    Ok(())
}

/// A page of an endpoint's deliveries, newest first, and whether older ones remain.
pub async fn deliveries<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    before: Option<i64>,
    limit: u64,
) -> AppResult<(Vec<delivery::Model>, bool)> {
    let mut q = delivery::Entity::find().filter(delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(b) = before {
        q = q.filter(delivery::Column::Id.lt(b));
    }
    let mut rows = q
        .order_by_desc(delivery::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Asks for one more attempt of a delivery now: a finished one (delivered or failed) goes
/// back to `pending` for a single attempt (a failure marks it `failed` again); one still
/// queued is made due now. Its place in the endpoint's order is its id: an old delivery
/// redelivered goes before the newer ones still queued.
pub async fn redeliver<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    id: i64,
) -> AppResult<delivery::Model> {
    let row = delivery::Entity::find_by_id(id)
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound("no such delivery".into()))?;
    let now = now_millis();
    let mut am: delivery::ActiveModel = row.clone().into();
    am.next_attempt_at = Set(now);
    if matches!(
        Status::stored(&row.status),
        Status::Delivered | Status::Failed
    ) {
        am.status = Set(Status::Pending.as_str().into());
        am.give_up_at = Set(Some(now));
    }
    Ok(am.update(db).await?)
}

/// Whether the head of an endpoint's queue (its oldest delivery still to send) is due: a
/// run stops at its first row not due, so nothing behind the head can be sent before it.
/// Read from the partial index `ix_webhook_deliveries_queue`.
pub async fn head_due<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let head: Option<DateTime<Utc>> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::NextAttemptAt)
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .filter(queued())
        .order_by_asc(delivery::Column::Id)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(head.is_some_and(|at| at <= now))
}

/// Deliveries still to send. Literal values, not parameters: PostgreSQL uses the partial
/// index `ix_webhook_deliveries_queue` (`WHERE status IN ('pending', 'retrying')`) only when
/// it can prove the query implies its predicate, which a generic plan with `IN ($1, $2)`
/// cannot; it then walked the endpoint's whole delivered history on every run (3.3 ms a run
/// at 65,000 deliveries, growing with the log).
fn queued() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!(
        "webhook_deliveries.status IN ('{}', '{}')",
        Status::Pending.as_str(),
        Status::Retrying.as_str()
    ))
}

/// The same rows as [`queued`], said so that PostgreSQL does not pick the partial queue
/// index for it: an UPDATE by primary key that also read the queue index walked the whole
/// backlog of a lagging endpoint (7 ms for 100 rows behind 39,000 queued).
fn unfinished() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!(
        "webhook_deliveries.status NOT IN ('{}', '{}')",
        Status::Delivered.as_str(),
        Status::Failed.as_str()
    ))
}

/// Claims an endpoint for one run until `until`: the endpoint as it is now (URL, secret,
/// batch size), or `None` when it is switched off, deleted, or another run holds it (on
/// this node or another: one run per endpoint on the whole desk keeps its order).
pub async fn lease_endpoint<C: ConnectionTrait>(
    db: &C,
    id: &str,
    lease: &str,
    until: DateTime<Utc>,
) -> AppResult<Option<endpoint::Model>> {
    let now = now_millis();
    let claimed = endpoint::Entity::update_many()
        .col_expr(endpoint::Column::Lease, Expr::value(lease.to_string()))
        .col_expr(endpoint::Column::LockedUntil, Expr::value(until))
        .filter(endpoint::Column::Id.eq(id))
        .filter(endpoint::Column::Active.eq(true))
        .filter(
            sea_orm::Condition::any()
                .add(endpoint::Column::LockedUntil.is_null())
                .add(endpoint::Column::LockedUntil.lt(now)),
        )
        .exec_with_returning(db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// Extends a run's claim on its endpoint until `until`; false when it is no longer the
/// run's (it expired and another run took the endpoint, or the endpoint was deleted).
pub async fn renew_endpoint<C: ConnectionTrait>(
    db: &C,
    id: &str,
    lease: &str,
    until: DateTime<Utc>,
) -> AppResult<bool> {
    let res = endpoint::Entity::update_many()
        .col_expr(endpoint::Column::LockedUntil, Expr::value(until))
        .filter(endpoint::Column::Id.eq(id))
        .filter(endpoint::Column::Lease.eq(lease))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Ends a run's claim on its endpoint.
pub async fn release_endpoint<C: ConnectionTrait>(db: &C, id: &str, lease: &str) -> AppResult<()> {
    endpoint::Entity::update_many()
        .col_expr(endpoint::Column::Lease, Expr::value(Option::<String>::None))
        .col_expr(
            endpoint::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(endpoint::Column::Id.eq(id))
        .filter(endpoint::Column::Lease.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

/// A run's deliveries: the first `limit` of the endpoint's queue, in order, up to the first
/// one not due. Call it holding the endpoint's lease.
pub async fn run_rows<C: ConnectionTrait>(
    db: &C,
    endpoint_id: &str,
    limit: u64,
    now: DateTime<Utc>,
) -> AppResult<Vec<delivery::Model>> {
    let mut rows = delivery::Entity::find()
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .filter(queued())
        .order_by_asc(delivery::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let due = rows.iter().take_while(|r| r.next_attempt_at <= now).count();
    rows.truncate(due);
    Ok(rows)
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered {
        status_code: i32,
    },
    /// Failed; `retry_at` when it is tried again, `None` when this was the last attempt.
    Failed {
        status_code: Option<i32>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Records one attempt's outcome for deliveries of a run (one POST carried them all), in
/// one UPDATE; how many were still to send (a delivery finished meanwhile, by an admin's
/// action or a run that took over an expired lease, is left as it is).
pub async fn record<C: ConnectionTrait>(db: &C, ids: &[i64], outcome: &Outcome) -> AppResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let now = now_millis();
    let mut q = delivery::Entity::update_many().col_expr(
        delivery::Column::Attempts,
        Expr::col(delivery::Column::Attempts).add(1),
    );
    q = match outcome {
        Outcome::Delivered { status_code } => q
            .col_expr(
                delivery::Column::Status,
                Expr::value(Status::Delivered.as_str()),
            )
            .col_expr(delivery::Column::DeliveredAt, Expr::value(now))
            .col_expr(delivery::Column::LastStatusCode, Expr::value(*status_code))
            .col_expr(
                delivery::Column::LastError,
                Expr::value(Option::<String>::None),
            ),
        Outcome::Failed {
            status_code,
            error,
            retry_at,
        } => {
            let q = q
                .col_expr(delivery::Column::LastStatusCode, Expr::value(*status_code))
                .col_expr(delivery::Column::LastError, Expr::value(error.clone()));
            match retry_at {
                Some(at) => q
                    .col_expr(
                        delivery::Column::Status,
                        Expr::value(Status::Retrying.as_str()),
                    )
                    .col_expr(delivery::Column::NextAttemptAt, Expr::value(*at)),
                None => q.col_expr(
                    delivery::Column::Status,
                    Expr::value(Status::Failed.as_str()),
                ),
            }
        }
    };
    let res = q
        .filter(delivery::Column::Id.is_in(ids.to_vec()))
        .filter(unfinished())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
