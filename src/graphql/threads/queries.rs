//! `Query.thread`, `threadByChannel`, `threadByResource` and `threads`, with
//! their filters (ids, intervals of at most three months) and connection fields.

use super::*;
use crate::db::ids::{ContactId, OrganizationId};
use crate::domain::errors::Violations;
use crate::domain::threads::service::check_identifier;

/// A time interval, both ends included.
#[derive(InputObject, Clone, Copy)]
pub struct DateTimeInterval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Filters of `threads`; all given ones must match.
#[derive(InputObject, Default)]
pub struct ThreadsFilter {
    /// Only these threads (at most 1000 ids).
    pub ids: Option<Vec<ID>>,
    /// Created within this interval (at most 3 months long).
    pub created_at: Option<DateTimeInterval>,
    /// Last changed within this interval (at most 3 months long).
    pub updated_at: Option<DateTimeInterval>,
    pub channel: Option<ChannelKind>,
    pub contact_id: Option<ID>,
    pub is_resolved: Option<bool>,
    /// Only threads where the caller has unread messages.
    #[graphql(default = false)]
    pub unread_only: bool,
}

/// Checks a date filter: it ends after it starts, and spans at most
/// `MAX_INTERVAL_MONTHS` months.
pub fn check_interval(
    name: &str,
    interval: Option<DateTimeInterval>,
) -> Result<Option<Interval>, ApiError> {
    let Some(DateTimeInterval { start, end }) = interval else {
        return Ok(None);
    };
    if end < start {
        return Err(ApiError::bad_input(
            UserErrorCode::IntervalReversed,
            format!("`{name}` ends before it starts"),
        ));
    }
    let longest = start.checked_add_months(Months::new(MAX_INTERVAL_MONTHS));
    if longest.is_none_or(|longest| end > longest) {
        return Err(ApiError::bad_input(
            UserErrorCode::IntervalTooLong,
            format!("`{name}` may span at most {MAX_INTERVAL_MONTHS} months"),
        ));
    }
    Ok(Some((start, end)))
}

impl ThreadsFilter {
    async fn validate(
        self,
        conn: &mut AsyncPgConnection,
        viewer: &Viewer,
    ) -> Result<Option<ThreadFilter>, ApiError> {
        if let Some(ids) = &self.ids
            && ids.len() > MAX_FILTER_IDS
        {
            return Err(ApiError::bad_input(
                UserErrorCode::TooManyIds,
                format!(
                    "`ids` takes at most {MAX_FILTER_IDS} ids, got {}",
                    ids.len()
                ),
            ));
        }
        let mut filter = ThreadFilter {
            public_ids: self.ids.map(|ids| ids.into_iter().map(|id| id.0).collect()),
            created_between: check_interval("createdAt", self.created_at)?,
            updated_between: check_interval("updatedAt", self.updated_at)?,
            channel: self.channel.map(Into::into),
            contact_id: None,
            is_resolved: self.is_resolved,
            unread_for: self.unread_only.then_some(viewer.actor),
        };
        if let Some(contact_id) = self.contact_id {
            match contacts::model::find(conn, viewer.organization_id, &contact_id).await? {
                Some(contact) => filter.contact_id = Some(contact.id),
                // No such contact: nothing can match.
                None => return Ok(None),
            }
        }
        Ok(Some(filter))
    }
}

/// Extra fields of `ThreadConnection`.
pub struct ThreadConnectionFields {
    scope: ThreadScope,
    /// `None` when the filter can match nothing.
    filter: Option<ThreadFilter>,
}

impl ThreadConnectionFields {
    /// Fields of a connection over the threads linked to a contact.
    pub fn of_contact(organization_id: OrganizationId, contact_id: ContactId) -> Self {
        ThreadConnectionFields {
            scope: ThreadScope {
                organization_id,
                only_contact: None,
            },
            filter: Some(ThreadFilter {
                contact_id: Some(contact_id),
                ..ThreadFilter::default()
            }),
        }
    }
}

#[Object]
impl ThreadConnectionFields {
    /// How many threads match, over all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let Some(filter) = &self.filter else {
            return Ok(0);
        };
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.scope, filter).await?)
    }
}

/// `Query.thread`, `threadByChannel`, `threadByResource`, `threads`.
#[derive(Default)]
pub struct ThreadsQuery;

#[Object]
impl ThreadsQuery {
    /// One thread; null when the caller cannot see one with this id.
    async fn thread(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Thread>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find(&mut conn, ThreadScope::of(&viewer), &id).await?)
    }

    /// The thread on `channel` with `identifier` (phones in E.164).
    async fn thread_by_channel(
        &self,
        ctx: &Context<'_>,
        channel: ChannelKind,
        identifier: String,
    ) -> Result<Option<Thread>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut violations = Violations::default();
        let Some(identifier) = check_identifier(&mut violations, channel.into(), &identifier)
        else {
            return Ok(None);
        };
        let mut conn = db(ctx).await?;
        Ok(model::find_by_channel(
            &mut conn,
            ThreadScope::of(&viewer),
            channel.into(),
            &identifier,
        )
        .await?)
    }

    /// The thread about `resourceId` (the same as `thread(id: "thrd_<resourceId>")`).
    async fn thread_by_resource(
        &self,
        ctx: &Context<'_>,
        resource_id: String,
    ) -> Result<Option<Thread>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find_by_resource(&mut conn, ThreadScope::of(&viewer), &resource_id).await?)
    }

    /// The threads the caller can see, newest first.
    async fn threads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ThreadsFilter>,
    ) -> Result<Connection<Cursor, Thread, ThreadConnectionFields>, ApiError> {
        let viewer = viewer(ctx)?;
        let scope = ThreadScope::of(&viewer);
        let page = PageRequest::new(first, after, last, before)?;
        let mut conn = db(ctx).await?;
        let filter = filter
            .unwrap_or_default()
            .validate(&mut conn, &viewer)
            .await?;
        let rows = match &filter {
            Some(filter) => model::page(&mut conn, scope, filter, &page).await?,
            None => Vec::new(),
        };
        Ok(page.into_connection(rows, |t| t.id, ThreadConnectionFields { scope, filter }))
    }
}
