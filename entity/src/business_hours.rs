//! The desk's business hours: one row (`id = 'desk'`), a weekly schedule in an IANA zone.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "business_hours")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub enabled: bool,
    /// IANA time zone name, e.g. `Europe/Paris`.
    pub timezone: String,
    /// JSON: `{"mon": [["09:00", "17:00"]], ...}`.
    pub schedule: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
