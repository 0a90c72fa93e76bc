//! One chunk of a file kept in the database (`ATTACHMENT_STORE=database`): a file is the
//! chunks of its key in `idx` order, each at most 256 KiB, so that neither an upload nor a
//! download holds a whole file in memory.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachment_blobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub store_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i32,
    pub data: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
