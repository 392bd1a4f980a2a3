//! GraphQL types, queries and mutations for contacts.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::model::{self, Contact, ContactChanges, NewContact};
use crate::graphql::context::{db, viewer};
use crate::graphql::errors::{ApiError, UserError, UserErrorCode};
use crate::graphql::pagination::{KeyCursor, PageRequest};
use crate::validation::{
    MAX_SHORT_TEXT, non_blank, normalize_e164, normalize_email, normalize_http_url,
};

/// An external person the organization talks to: a candidate, guest or customer.
#[Object]
impl Contact {
    /// Opaque id (`ctc_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn first_name(&self) -> &str {
        &self.first_name
    }
    async fn last_name(&self) -> Option<&str> {
        self.last_name.as_deref()
    }
    async fn nickname(&self) -> Option<&str> {
        self.nickname.as_deref()
    }
    /// First and last name.
    async fn complete_name(&self) -> String {
        complete_name(self)
    }
    /// Upper-case initials of the first and last name, e.g. `AL`.
    async fn initials(&self) -> String {
        initials(self)
    }
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    /// Phone number in E.164 form, e.g. `+14155550100`.
    async fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.avatar_url.as_deref()
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.updated_at
    }
}

fn complete_name(contact: &Contact) -> String {
    match &contact.last_name {
        Some(last) => format!("{} {last}", contact.first_name),
        None => contact.first_name.clone(),
    }
}

fn initials(contact: &Contact) -> String {
    [Some(&contact.first_name), contact.last_name.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|name| name.chars().next())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Extra fields of `ContactConnection`.
pub struct ContactConnectionFields {
    organization_id: i64,
    search: Option<String>,
}

#[Object]
impl ContactConnectionFields {
    /// How many contacts match, over all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.organization_id, self.search.as_deref()).await?)
    }
}

/// `Query.contacts` and `Query.contact`.
#[derive(Default)]
pub struct ContactsQuery;

#[Object]
impl ContactsQuery {
    /// The organization's contacts, oldest first. `search` keeps those where
    /// every word appears in a name, the nickname, the email or the phone.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<KeyCursor, Contact, ContactConnectionFields>, ApiError> {
        let viewer = viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let search = search.and_then(|s| non_blank(&s));
        let mut conn = db(ctx).await?;
        let rows = model::page(&mut conn, viewer.organization_id, search.as_deref(), &page).await?;
        let fields = ContactConnectionFields {
            organization_id: viewer.organization_id,
            search,
        };
        Ok(page.into_connection(rows, |contact| contact.id, fields))
    }

    /// One contact; null when no contact of the organization has this id.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Contact>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find(&mut conn, viewer.organization_id, &id).await?)
    }
}

/// Input of `createContact`.
#[derive(InputObject)]
pub struct CreateContactInput {
    pub first_name: String,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    /// E.164, e.g. `+14155550100`; spaces, dashes and parentheses are removed.
    pub phone: Option<String>,
    /// An absolute http(s) URL.
    pub avatar_url: Option<String>,
}

/// Input of `updateContact`: an omitted field is left alone, null clears it.
#[derive(InputObject)]
pub struct UpdateContactInput {
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: MaybeUndefined<String>,
    pub nickname: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub avatar_url: MaybeUndefined<String>,
}

/// Input of `deleteContact`.
#[derive(InputObject)]
pub struct DeleteContactInput {
    pub id: ID,
}

/// Result of `createContact` and `updateContact`.
#[derive(SimpleObject)]
pub struct ContactPayload {
    /// The contact, or null when there are user errors.
    pub contact: Option<Contact>,
    pub user_errors: Vec<UserError>,
}

impl ContactPayload {
    fn done(contact: Contact) -> Self {
        ContactPayload {
            contact: Some(contact),
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        ContactPayload {
            contact: None,
            user_errors,
        }
    }
}

/// Result of `deleteContact`.
#[derive(SimpleObject)]
pub struct DeleteContactPayload {
    /// The id of the deleted contact, or null when there are user errors.
    pub deleted_contact_id: Option<ID>,
    pub user_errors: Vec<UserError>,
}

/// `Mutation.createContact`, `updateContact`, `deleteContact`.
#[derive(Default)]
pub struct ContactsMutation;

#[Object]
impl ContactsMutation {
    /// Creates a contact.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> Result<ContactPayload, ApiError> {
        let viewer = viewer(ctx)?;
        let mut errors = Vec::new();
        let first_name = required_name("firstName", &input.first_name, &mut errors);
        let mut new = NewContact::new(viewer.organization_id, first_name.unwrap_or_default());
        new.last_name = optional_name("lastName", input.last_name.as_deref(), &mut errors);
        new.nickname = optional_name("nickname", input.nickname.as_deref(), &mut errors);
        new.email = optional_email(input.email.as_deref(), &mut errors);
        new.phone = optional_phone(input.phone.as_deref(), &mut errors);
        new.avatar_url = optional_url("avatarUrl", input.avatar_url.as_deref(), &mut errors);
        if !errors.is_empty() {
            return Ok(ContactPayload::failed(errors));
        }
        let mut conn = db(ctx).await?;
        Ok(ContactPayload::done(model::create(&mut conn, &new).await?))
    }

    /// Changes a contact's fields.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        input: UpdateContactInput,
    ) -> Result<ContactPayload, ApiError> {
        let viewer = viewer(ctx)?;
        let mut errors = Vec::new();
        let changes = ContactChanges {
            first_name: input
                .first_name
                .as_deref()
                .and_then(|name| required_name("firstName", name, &mut errors)),
            last_name: changed(input.last_name, |v| {
                optional_name("lastName", v, &mut errors)
            }),
            nickname: changed(input.nickname, |v| {
                optional_name("nickname", v, &mut errors)
            }),
            email: changed(input.email, |v| optional_email(v, &mut errors)),
            phone: changed(input.phone, |v| optional_phone(v, &mut errors)),
            avatar_url: changed(input.avatar_url, |v| {
                optional_url("avatarUrl", v, &mut errors)
            }),
        };
        if !errors.is_empty() {
            return Ok(ContactPayload::failed(errors));
        }
        let mut conn = db(ctx).await?;
        let updated = if is_empty(&changes) {
            model::find(&mut conn, viewer.organization_id, &input.id).await?
        } else {
            model::update(&mut conn, viewer.organization_id, &input.id, &changes).await?
        };
        Ok(match updated {
            Some(contact) => ContactPayload::done(contact),
            None => ContactPayload::failed(vec![UserError::not_found("id", &input.id)]),
        })
    }

    /// Deletes a contact; returns its id.
    async fn delete_contact(
        &self,
        ctx: &Context<'_>,
        input: DeleteContactInput,
    ) -> Result<DeleteContactPayload, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        let deleted = model::delete(&mut conn, viewer.organization_id, &input.id).await?;
        Ok(if deleted {
            DeleteContactPayload {
                deleted_contact_id: Some(input.id),
                user_errors: Vec::new(),
            }
        } else {
            DeleteContactPayload {
                deleted_contact_id: None,
                user_errors: vec![UserError::not_found("id", &input.id)],
            }
        })
    }
}

fn is_empty(changes: &ContactChanges) -> bool {
    changes.first_name.is_none()
        && changes.last_name.is_none()
        && changes.nickname.is_none()
        && changes.email.is_none()
        && changes.phone.is_none()
        && changes.avatar_url.is_none()
}

/// Maps an optional input to a column change: absent leaves the column,
/// null or blank clears it, a value is validated by `validate`.
fn changed(
    value: MaybeUndefined<String>,
    validate: impl FnOnce(Option<&str>) -> Option<String>,
) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(validate(Some(&value))),
    }
}

fn required_name(field: &str, value: &str, errors: &mut Vec<UserError>) -> Option<String> {
    match non_blank(value) {
        None => {
            errors.push(UserError::on_input(
                field,
                UserErrorCode::Required,
                format!("{field} is required"),
            ));
            None
        }
        Some(name) => optional_name(field, Some(&name), errors),
    }
}

fn optional_name(field: &str, value: Option<&str>, errors: &mut Vec<UserError>) -> Option<String> {
    let name = non_blank(value?)?;
    if name.chars().count() > MAX_SHORT_TEXT {
        errors.push(UserError::on_input(
            field,
            UserErrorCode::TooLong,
            format!("{field} must be at most {MAX_SHORT_TEXT} characters"),
        ));
        return None;
    }
    Some(name)
}

fn optional_email(value: Option<&str>, errors: &mut Vec<UserError>) -> Option<String> {
    let value = non_blank(value?)?;
    let email = normalize_email(&value);
    if email.is_none() {
        errors.push(UserError::on_input(
            "email",
            UserErrorCode::InvalidEmail,
            format!("{value:?} is not an email address"),
        ));
    }
    email
}

fn optional_phone(value: Option<&str>, errors: &mut Vec<UserError>) -> Option<String> {
    let value = non_blank(value?)?;
    let phone = normalize_e164(&value);
    if phone.is_none() {
        errors.push(UserError::on_input(
            "phone",
            UserErrorCode::InvalidPhone,
            format!("{value:?} is not a phone number in E.164 form: start with + and the country code, e.g. +14155550100"),
        ));
    }
    phone
}

fn optional_url(field: &str, value: Option<&str>, errors: &mut Vec<UserError>) -> Option<String> {
    let value = non_blank(value?)?;
    let url = normalize_http_url(&value);
    if url.is_none() {
        errors.push(UserError::on_input(
            field,
            UserErrorCode::InvalidUrl,
            format!("{value:?} is not an absolute http(s) URL"),
        ));
    }
    url
}
