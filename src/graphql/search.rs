//! `Query.searchMessages`, `searchThreads` and `searchContacts`: relevance-
//! ordered connections of hits, over the domain's search statements.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::auth::Actor;
use crate::domain::contacts::Contact;
use crate::domain::messages::model::Message;
use crate::domain::search::model::{self, MessageFilter, MessageHit};
use crate::domain::search::names::{self, ContactHit, ThreadHit};
use crate::domain::search::{self, QueryText};
use crate::domain::threads::Thread;
use crate::domain::threads::model::ThreadScope;
use crate::graphql::context::{db, staff_viewer, viewer};
use crate::graphql::errors::{ApiError, UserErrorCode};
use crate::graphql::messages::MessageType;
use crate::graphql::pagination::{Cursor, PageRequest, Position};
use crate::graphql::threads::{DateTimeInterval, check_interval};

/// Largest page of hits (each message hit builds a highlighted snippet).
pub const MAX_SEARCH_PAGE_SIZE: usize = 100;

/// Filters of `searchMessages`; all given ones must match.
#[derive(InputObject, Default)]
pub struct SearchMessagesFilter {
    /// Only messages of this thread.
    pub thread_id: Option<ID>,
    /// Only messages of this conversation (api keys and users only).
    pub conversation_id: Option<ID>,
    /// Only messages by this author: a subscriber id (`Message.author.id`),
    /// or the id of the user, api key or contact who wrote them.
    pub author_id: Option<ID>,
    /// Written within this interval (at most 3 months long).
    pub created_at: Option<DateTimeInterval>,
    /// Only messages of this type.
    #[graphql(name = "type")]
    pub kind: Option<MessageType>,
}

impl SearchMessagesFilter {
    fn validate(self) -> Result<MessageFilter, ApiError> {
        Ok(MessageFilter {
            thread_id: self.thread_id.map(|id| id.0),
            conversation_id: self.conversation_id.map(|id| id.0),
            author_id: self.author_id.map(|id| id.0),
            created_between: check_interval("createdAt", self.created_at)?,
            kind: self.kind.map(Into::into),
        })
    }
}

/// A message that matches a search.
#[Object]
impl MessageHit {
    async fn message(&self) -> &Message {
        &self.message
    }
    /// The text (an excerpt of 15 to 35 words around the best match when
    /// longer) with each matched word between `<mark>` and `</mark>`. The
    /// rest is the message's plain text, not HTML-escaped: escape it before
    /// rendering it as HTML.
    async fn snippet(&self) -> &str {
        &self.snippet
    }
    /// How well it matches (PostgreSQL `ts_rank`, to 6 decimals); hits come
    /// best first, then newest first.
    async fn rank(&self) -> f64 {
        search::score_value(self.score)
    }
}

/// A thread whose name matches a search.
#[Object]
impl ThreadHit {
    async fn thread(&self) -> &Thread {
        &self.thread
    }
    /// How close the name is (trigram `word_similarity`, 0 to 1, to 6
    /// decimals); hits come best first.
    async fn score(&self) -> f64 {
        search::score_value(self.score)
    }
}

/// A contact whose name (first, last and nickname) matches a search.
#[Object]
impl ContactHit {
    async fn contact(&self) -> &Contact {
        &self.contact
    }
    /// How close the name is (trigram `word_similarity`, 0 to 1, to 6
    /// decimals); hits come best first.
    async fn score(&self) -> f64 {
        search::score_value(self.score)
    }
}

/// The query text, checked: `BAD_USER_INPUT` with reason `REQUIRED` when
/// blank, `TOO_LONG` past 256 characters.
fn query_text(text: &str) -> Result<QueryText, ApiError> {
    QueryText::parse("query", text)
        .map_err(|violation| ApiError::bad_input(violation.code.into(), violation.message))
}

/// Reads the page arguments of a search whose cursors hold `sort_keys`
/// keys of the shape `fits` accepts; pages hold at most 100 hits.
fn search_page(
    sort_keys: usize,
    fits: fn(&Position) -> bool,
    (first, after, last, before): (Option<i32>, Option<String>, Option<i32>, Option<String>),
) -> Result<PageRequest, ApiError> {
    let cursors = [after.clone(), before.clone()];
    let page = PageRequest::sorted_by(sort_keys, first, after, last, before)?;
    if page.size > MAX_SEARCH_PAGE_SIZE {
        return Err(ApiError::bad_input(
            UserErrorCode::PageSizeOutOfRange,
            format!(
                "searches return at most {MAX_SEARCH_PAGE_SIZE} hits a page, asked for {}",
                page.size
            ),
        ));
    }
    for (position, cursor) in [&page.after, &page.before].into_iter().zip(cursors) {
        if let (Some(position), Some(cursor)) = (position, cursor)
            && !fits(position)
        {
            return Err(ApiError::bad_input(
                UserErrorCode::InvalidCursor,
                format!("invalid cursor {cursor:?}"),
            ));
        }
    }
    Ok(page)
}

/// `Query.searchMessages`, `searchThreads`, `searchContacts`.
#[derive(Default)]
pub struct SearchQuery;

#[Object]
impl SearchQuery {
    /// Messages the caller may read whose text matches `query`, best first
    /// (then newest first). `query` is web-search syntax in the
    /// organization's search language (`simple` unless set otherwise):
    /// words must all appear (in any form the language stems to the same
    /// word), `"quoted words"` as a phrase, `a OR b` either, `-word` not.
    /// At most 256 characters; pages of at most 100. A contact token
    /// searches only the threads it is an active subscriber of.
    #[allow(clippy::too_many_arguments)]
    async fn search_messages(
        &self,
        ctx: &Context<'_>,
        query: String,
        filter: Option<SearchMessagesFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, MessageHit, EmptyFields>, ApiError> {
        let viewer = viewer(ctx)?;
        let text = query_text(&query)?;
        let page = search_page(2, search::is_message_position, (first, after, last, before))?;
        let filter = filter.unwrap_or_default();
        if filter.conversation_id.is_some() && matches!(viewer.actor, Actor::Contact(_)) {
            // Contacts see no conversations, as `conversation` refuses them.
            return Err(ApiError::Forbidden);
        }
        let filter = filter.validate()?;
        let mut conn = db(ctx).await?;
        let hits = model::page(&mut conn, ThreadScope::of(&viewer), &text, &filter, &page).await?;
        Ok(page.into_connection(hits, MessageHit::position, EmptyFields))
    }

    /// Threads the caller may see whose name matches `query`, also with a
    /// typo or a partial word (trigram similarity), closest first.
    async fn search_threads(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, ThreadHit, EmptyFields>, ApiError> {
        let viewer = viewer(ctx)?;
        let text = query_text(&query)?;
        let page = search_page(1, search::is_name_position, (first, after, last, before))?;
        let mut conn = db(ctx).await?;
        let hits = names::threads(&mut conn, ThreadScope::of(&viewer), &text, &page).await?;
        let place = |hit: &ThreadHit| names::position(hit.score, hit.thread.id.into());
        Ok(page.into_connection(hits, place, EmptyFields))
    }

    /// Contacts whose name (first name, last name, nickname) matches
    /// `query`, also with a typo or a partial word, closest first. Api keys
    /// and users only.
    async fn search_contacts(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, ContactHit, EmptyFields>, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let text = query_text(&query)?;
        let page = search_page(1, search::is_name_position, (first, after, last, before))?;
        let mut conn = db(ctx).await?;
        let hits = names::contacts(&mut conn, viewer.organization_id, &text, &page).await?;
        let place = |hit: &ContactHit| names::position(hit.score, hit.contact.id.into());
        Ok(page.into_connection(hits, place, EmptyFields))
    }
}
