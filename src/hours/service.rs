//! Business hours' storage: one row, `id = 'desk'`. The only place with their SQL.

use entity::business_hours;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::types::BusinessHours;
use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;

const ROW: &str = "desk";

/// The stored business hours, if an admin ever set them.
pub async fn get<C: ConnectionTrait>(db: &C) -> AppResult<Option<BusinessHours>> {
    let Some(row) = business_hours::Entity::find_by_id(ROW.to_string())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let days = serde_json::from_str(&row.schedule)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored business hours: {e}")))?;
    Ok(Some(BusinessHours {
        enabled: row.enabled,
        timezone: row.timezone,
        days,
    }))
}

/// Stores `hours` (checked by the caller), replacing what was there.
pub async fn put<C: ConnectionTrait>(db: &C, hours: &BusinessHours) -> AppResult<()> {
    let schedule = serde_json::to_string(&hours.days)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("business hours: {e}")))?;
    let row = business_hours::ActiveModel {
        id: Set(ROW.to_string()),
        enabled: Set(hours.enabled),
        timezone: Set(hours.timezone.clone()),
        schedule: Set(schedule),
        updated_at: Set(now_millis()),
    };
    business_hours::Entity::insert(row)
        .on_conflict(
            OnConflict::column(business_hours::Column::Id)
                .update_columns([
                    business_hours::Column::Enabled,
                    business_hours::Column::Timezone,
                    business_hours::Column::Schedule,
                    business_hours::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
