//! Database access for conversations.
//! Rows and queries only; the rules live in `service.rs`.

use crate::db::ids::{ContactId, ConversationId, IdKind, OrganizationId};
use crate::domain::channel_kind::ChannelKind;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::lateral::{self, ChildTable};
use crate::db::page::{PageRequest, SortOrder, keyset};
use crate::db::schema::conversations;

/// Conversations list newest first.
pub const ORDER: SortOrder = SortOrder::Descending;

/// A logged conversation with one contact, on a channel kind, on a date.
#[derive(Queryable, QueryableByName, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = conversations)]
pub struct Conversation {
    pub id: ConversationId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub contact_id: ContactId,
    pub channel: ChannelKind,
    pub happened_at: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated conversation to insert.
#[derive(Insertable, Debug)]
#[diesel(table_name = conversations)]
pub struct NewConversation {
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub contact_id: ContactId,
    pub channel: ChannelKind,
    pub happened_at: NaiveDate,
}

impl NewConversation {
    /// A conversation with a fresh public id.
    pub fn new(
        organization_id: OrganizationId,
        contact_id: ContactId,
        channel: ChannelKind,
        happened_at: NaiveDate,
    ) -> Self {
        NewConversation {
            organization_id,
            public_id: IdKind::Conversation.generate(),
            contact_id,
            channel,
            happened_at,
        }
    }
}

/// Validated changes.
#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = conversations)]
pub struct ConversationChanges {
    pub happened_at: Option<NaiveDate>,
    pub channel: Option<ChannelKind>,
}

fn of_organization(
    organization_id: OrganizationId,
    contact_id: Option<ContactId>,
) -> conversations::BoxedQuery<'static, Pg> {
    let mut query = conversations::table
        .filter(conversations::organization_id.eq(organization_id))
        .into_boxed();
    if let Some(contact_id) = contact_id {
        query = query.filter(conversations::contact_id.eq(contact_id));
    }
    query
}

crate::tenant_rows!(conversations => Conversation, id ConversationId { insert(NewConversation), find, by_ids, update_stamped(ConversationChanges) as update, delete });

/// One page of the organization's conversations (or one contact's), newest first.
pub async fn page(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    contact_id: Option<ContactId>,
    page: &PageRequest,
) -> QueryResult<Vec<Conversation>> {
    let query = of_organization(organization_id, contact_id).select(Conversation::as_select());
    keyset(query, conversations::id, &page.scan(ORDER))
        .load(conn)
        .await
}

/// How many conversations the organization (or one contact) has.
pub async fn count(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    contact_id: Option<ContactId>,
) -> QueryResult<i64> {
    of_organization(organization_id, contact_id)
        .count()
        .get_result(conn)
        .await
}

/// For each contact, one page of its conversations, newest first.
pub async fn page_per_contact(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    contact_ids: &[ContactId],
    page: &PageRequest,
) -> QueryResult<Vec<Conversation>> {
    let child = ChildTable {
        table: "conversations",
        columns: "*",
        parent_column: "contact_id",
        key_column: "id",
    };
    lateral::page_per_parent(conn, child, organization_id, contact_ids, page.scan(ORDER)).await
}

/// Bumps `updated_at` (a message changed).
pub async fn touch(conn: &mut AsyncPgConnection, id: ConversationId) -> QueryResult<Conversation> {
    diesel::update(conversations::table.find(id))
        .set(conversations::updated_at.eq(diesel::dsl::now))
        .returning(Conversation::as_returning())
        .get_result(conn)
        .await
}
