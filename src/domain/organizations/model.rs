//! Database access for organizations, users, api keys and user tokens.
//! Tenants and the credentials that act in them.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{ApiKeyId, IdKind, OrganizationId, UserId};
use crate::db::schema::{api_keys, organizations, user_tokens, users};
use crate::domain::auth::{self, TokenKind};

/// A tenant: owns every other row.
#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: OrganizationId,
    pub public_id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = organizations)]
struct NewOrganization<'a> {
    public_id: String,
    name: &'a str,
}

/// An internal member of an organization (agent, recruiter).
#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub name: String,
    pub email: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    organization_id: OrganizationId,
    public_id: String,
    name: &'a str,
    email: &'a str,
}

/// An organization-level credential.
#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
struct NewApiKey<'a> {
    organization_id: OrganizationId,
    public_id: String,
    name: &'a str,
    token_hash: Vec<u8>,
}

#[derive(Insertable)]
#[diesel(table_name = user_tokens)]
struct NewUserToken {
    organization_id: OrganizationId,
    user_id: UserId,
    token_hash: Vec<u8>,
}

/// A freshly made credential: the only time its token is seen in clear.
pub struct IssuedToken<T> {
    pub owner: T,
    pub token: String,
}

/// Creates an organization with one api key, in one transaction.
pub async fn create_organization(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<(Organization, IssuedToken<ApiKey>)> {
    conn.transaction(async |conn| {
        let organization = diesel::insert_into(organizations::table)
            .values(NewOrganization {
                public_id: IdKind::Organization.generate(),
                name,
            })
            .returning(Organization::as_returning())
            .get_result(conn)
            .await?;
        let key = create_api_key(conn, organization.id, "default").await?;
        Ok((organization, key))
    })
    .await
}

/// The organization's `search_language` as text, for a `select`.
pub const SEARCH_LANGUAGE: &str = "search_language::text";

/// The text search configuration (`simple`, `english`, `german`, …; see
/// `pg_ts_config`) the organization's messages are indexed and searched in.
pub async fn search_language(
    conn: &mut AsyncPgConnection,
    id: OrganizationId,
) -> QueryResult<String> {
    organizations::table
        .find(id)
        .select(crate::db::cached::fixed_sql::<diesel::sql_types::Text>(
            SEARCH_LANGUAGE,
        ))
        .get_result(conn)
        .await
}

/// Sets the organization's search language and re-indexes its messages in
/// it, in one transaction. An unknown configuration is a database error.
pub async fn set_search_language(
    conn: &mut AsyncPgConnection,
    id: OrganizationId,
    language: &str,
) -> QueryResult<()> {
    conn.transaction(async |conn| {
        diesel::sql_query("UPDATE organizations SET search_language = $1::regconfig WHERE id = $2")
            .bind::<diesel::sql_types::Text, _>(language)
            .bind::<diesel::sql_types::BigInt, _>(id)
            .execute(conn)
            .await?;
        crate::domain::messages::model::set_search_config(conn, id, language).await?;
        Ok(())
    })
    .await
}

/// Creates the organization `default` with an api key when the database has
/// no organization yet; `None` when it already has one. Safe to race.
pub async fn create_default_if_empty(
    conn: &mut AsyncPgConnection,
) -> QueryResult<Option<(Organization, IssuedToken<ApiKey>)>> {
    conn.transaction(async |conn| {
        // Serialises concurrent first starts of several servers.
        diesel::sql_query("LOCK TABLE organizations IN SHARE ROW EXCLUSIVE MODE")
            .execute(conn)
            .await?;
        let existing: i64 = organizations::table.count().get_result(conn).await?;
        if existing > 0 {
            return Ok(None);
        }
        create_organization(conn, "default").await.map(Some)
    })
    .await
}

/// The organization with this name.
pub async fn find_organization_by_name(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> QueryResult<Option<Organization>> {
    organizations::table
        .filter(organizations::name.eq(name))
        .select(Organization::as_select())
        .first(conn)
        .await
        .optional()
}

/// Organizations by internal id.
pub async fn organizations_by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[OrganizationId],
) -> QueryResult<Vec<Organization>> {
    organizations::table
        .filter(organizations::id.eq_any(ids))
        .select(Organization::as_select())
        .load(conn)
        .await
}

/// Issues a new api key for an organization.
pub async fn create_api_key(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    name: &str,
) -> QueryResult<IssuedToken<ApiKey>> {
    let (token, token_hash) = auth::generate_token(TokenKind::ApiKey);
    let key = diesel::insert_into(api_keys::table)
        .values(NewApiKey {
            organization_id,
            public_id: IdKind::ApiKey.generate(),
            name,
            token_hash,
        })
        .returning(ApiKey::as_returning())
        .get_result(conn)
        .await?;
    Ok(IssuedToken { owner: key, token })
}

/// Creates a user with a first token, in one transaction.
pub async fn create_user(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    name: &str,
    email: &str,
) -> QueryResult<IssuedToken<User>> {
    conn.transaction(async |conn| {
        let user = diesel::insert_into(users::table)
            .values(NewUser {
                organization_id,
                public_id: IdKind::User.generate(),
                name,
                email,
            })
            .returning(User::as_returning())
            .get_result(conn)
            .await?;
        let (token, token_hash) = auth::generate_token(TokenKind::User);
        diesel::insert_into(user_tokens::table)
            .values(NewUserToken {
                organization_id,
                user_id: user.id,
                token_hash,
            })
            .execute(conn)
            .await?;
        Ok(IssuedToken { owner: user, token })
    })
    .await
}

crate::tenant_rows!(users => User, id UserId { by_ids as users_by_ids, find as find_user });
crate::tenant_rows!(api_keys => ApiKey, id ApiKeyId { by_ids as api_keys_by_ids, find as find_api_key });

/// The organization and api key of an unrevoked api key token hash.
pub async fn find_api_key_by_token_hash(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<(OrganizationId, ApiKeyId)>> {
    api_keys::table
        .filter(api_keys::token_hash.eq(token_hash))
        .filter(api_keys::revoked_at.is_null())
        .select((api_keys::organization_id, api_keys::id))
        .first(conn)
        .await
        .optional()
}

/// The organization and user of an unrevoked user token hash.
pub async fn find_user_by_token_hash(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<(OrganizationId, UserId)>> {
    user_tokens::table
        .filter(user_tokens::token_hash.eq(token_hash))
        .filter(user_tokens::revoked_at.is_null())
        .select((user_tokens::organization_id, user_tokens::user_id))
        .first(conn)
        .await
        .optional()
}
