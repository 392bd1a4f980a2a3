//! Database access for contacts.
//! Rows, queries and contact tokens; the rules live in `service.rs`.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{ContactId, IdKind, OrganizationId};
use crate::db::page::{PageRequest, SortOrder, keyset};
use crate::db::schema::{contact_tokens, contacts};
use crate::domain::auth::{self, TokenKind};

/// An external person: a candidate, guest or customer.
#[derive(Queryable, QueryableByName, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = contacts)]
pub struct Contact {
    pub id: ContactId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar_url: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A validated contact to insert.
#[derive(Insertable, Debug)]
#[diesel(table_name = contacts)]
pub struct NewContact {
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar_url: Option<String>,
}

impl NewContact {
    /// A contact of `organization_id` with a fresh public id and only a first name.
    pub fn new(organization_id: OrganizationId, first_name: String) -> Self {
        NewContact {
            organization_id,
            public_id: IdKind::Contact.generate(),
            first_name,
            last_name: None,
            nickname: None,
            email: None,
            phone: None,
            avatar_url: None,
        }
    }
}

/// Validated changes: `None` leaves a column alone, `Some(None)` clears it.
#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = contacts)]
pub struct ContactChanges {
    pub first_name: Option<String>,
    pub last_name: Option<Option<String>>,
    pub nickname: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
}

crate::tenant_rows!(contacts => Contact, id ContactId { insert(NewContact) as create, find, by_ids });

/// Applies changes to the organization's contact; `None` when it does not exist.
pub async fn update(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    public_id: &str,
    changes: &ContactChanges,
) -> QueryResult<Option<Contact>> {
    diesel::update(contacts::table)
        .filter(contacts::organization_id.eq(organization_id))
        .filter(contacts::public_id.eq(public_id))
        .set((changes, contacts::updated_at.eq(diesel::dsl::now)))
        .returning(Contact::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes the organization's contact; false when it did not exist.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    public_id: &str,
) -> QueryResult<bool> {
    let deleted = diesel::delete(contacts::table)
        .filter(contacts::organization_id.eq(organization_id))
        .filter(contacts::public_id.eq(public_id))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

/// One page of the organization's contacts in creation order, optionally
/// only those matching `search`.
pub async fn page(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    search: Option<&str>,
    page: &PageRequest,
) -> QueryResult<Vec<Contact>> {
    let query = matching(organization_id, search).select(Contact::as_select());
    keyset(query, contacts::id, &page.scan(SortOrder::Ascending))
        .load(conn)
        .await
}

/// How many of the organization's contacts match `search`.
pub async fn count(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    search: Option<&str>,
) -> QueryResult<i64> {
    matching(organization_id, search)
        .count()
        .get_result(conn)
        .await
}

/// The organization's contacts; with `search`, those where every word of it
/// appears in a name, the nickname, the email or the phone.
fn matching(
    organization_id: OrganizationId,
    search: Option<&str>,
) -> contacts::BoxedQuery<'static, Pg> {
    let mut query = contacts::table
        .filter(contacts::organization_id.eq(organization_id))
        .into_boxed();
    for word in search.unwrap_or_default().split_whitespace() {
        let pattern = format!("%{}%", escape_like(word));
        query = query.filter(
            contacts::first_name
                .ilike(pattern.clone())
                .or(contacts::last_name.ilike(pattern.clone()))
                .or(contacts::nickname.ilike(pattern.clone()))
                .or(contacts::email.ilike(pattern.clone()))
                .or(contacts::phone.ilike(pattern)),
        );
    }
    query
}

/// Escapes LIKE's wildcards so user text matches literally.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[derive(Insertable)]
#[diesel(table_name = contact_tokens)]
struct NewContactToken {
    organization_id: OrganizationId,
    contact_id: ContactId,
    token_hash: Vec<u8>,
}

/// Issues a token that acts as the contact; returns it (shown only now).
pub async fn create_token(conn: &mut AsyncPgConnection, contact: &Contact) -> QueryResult<String> {
    let (token, token_hash) = auth::generate_token(TokenKind::Contact);
    diesel::insert_into(contact_tokens::table)
        .values(NewContactToken {
            organization_id: contact.organization_id,
            contact_id: contact.id,
            token_hash,
        })
        .execute(conn)
        .await?;
    Ok(token)
}

/// The organization and contact of an unrevoked contact token hash.
pub async fn find_by_token_hash(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<(OrganizationId, ContactId)>> {
    contact_tokens::table
        .filter(contact_tokens::token_hash.eq(token_hash))
        .filter(contact_tokens::revoked_at.is_null())
        .select((contact_tokens::organization_id, contact_tokens::contact_id))
        .first(conn)
        .await
        .optional()
}
