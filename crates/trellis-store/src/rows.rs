//! Rows of queries decoded into `FromQueryResult` types, and the small rows many queries share.
//! A row type's fields are named as the columns (or aliases) they are read from, with the types
//! the store decodes them as on both databases: JSON columns as `String` (decoded by their
//! callers with serde_json, not by sea-orm's lossy JSON decoding), booleans as `bool`,
//! timestamps as `DateTime<Utc>`.

use sea_orm::sea_query::{Alias, SelectStatement};
use sea_orm::{ConnectionTrait, FromQueryResult, StatementBuilder};

use crate::error::StoreError;

/// Every row of a query, decoded.
pub(crate) async fn all<T: FromQueryResult, C: ConnectionTrait>(
    c: &C,
    q: &impl StatementBuilder,
) -> Result<Vec<T>, StoreError> {
    c.query_all(q)
        .await?
        .iter()
        .map(|r| T::from_query_result(r, "").map_err(StoreError::from))
        .collect()
}

/// The first row of a query (if any), decoded.
pub(crate) async fn one<T: FromQueryResult, C: ConnectionTrait>(
    c: &C,
    q: &impl StatementBuilder,
) -> Result<Option<T>, StoreError> {
    Ok(match c.query_one(q).await? {
        Some(r) => Some(T::from_query_result(&r, "")?),
        None => None,
    })
}

/// A count, selected as `n`.
#[derive(FromQueryResult)]
pub(crate) struct Count {
    pub n: i64,
}

impl Count {
    /// The alias a count is selected as.
    pub(crate) fn alias() -> Alias {
        Alias::new("n")
    }

    /// The count a query answers (0 without a row).
    pub(crate) async fn of<C: ConnectionTrait>(c: &C, q: &SelectStatement) -> Result<i64, StoreError> {
        Ok(one::<Count, C>(c, q).await?.map_or(0, |r| r.n))
    }
}

/// A row of one `id` column.
#[derive(FromQueryResult)]
pub(crate) struct Id {
    pub id: String,
}

impl Id {
    /// The ids a query answers, in its order.
    pub(crate) async fn all<C: ConnectionTrait>(c: &C, q: &SelectStatement) -> Result<Vec<String>, StoreError> {
        Ok(all::<Id, C>(c, q).await?.into_iter().map(|r| r.id).collect())
    }
}
