//! The contact operations: create, update, delete, and issuing a contact
//! token. Each runs in the caller's `Tx`; expected failures are violations.

use super::model::{self, Contact, ContactChanges, NewContact};
use crate::domain::auth::Viewer;
use crate::domain::errors::{Change, DomainError, DomainResult, Violations};
use crate::domain::tx::Tx;
use crate::domain::validation::MAX_SHORT_TEXT;

/// What `create_contact` is asked.
#[derive(Debug, Default)]
pub struct CreateContact {
    pub first_name: String,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub avatar_url: Option<String>,
}

/// What `update_contact` is asked: each field kept, cleared or set.
#[derive(Debug, Default)]
pub struct UpdateContact {
    pub id: String,
    /// `None` keeps the first name, which cannot be cleared.
    pub first_name: Option<String>,
    pub last_name: Change<String>,
    pub nickname: Change<String>,
    pub email: Change<String>,
    pub phone: Change<String>,
    pub avatar_url: Change<String>,
}

/// Creates a contact; its phone is stored in E.164 and its email lower-cased.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id))]
pub async fn create_contact(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: CreateContact,
) -> DomainResult<Contact> {
    let mut violations = Violations::default();
    let first_name = violations.required_text("firstName", &request.first_name, MAX_SHORT_TEXT);
    let mut new = NewContact::new(viewer.organization_id, first_name.unwrap_or_default());
    new.last_name =
        violations.optional_text("lastName", request.last_name.as_deref(), MAX_SHORT_TEXT);
    new.nickname =
        violations.optional_text("nickname", request.nickname.as_deref(), MAX_SHORT_TEXT);
    new.email = violations.optional_email("email", request.email.as_deref());
    new.phone = violations.optional_phone("phone", request.phone.as_deref());
    new.avatar_url = violations.optional_url("avatarUrl", request.avatar_url.as_deref());
    violations.finish()?;
    Ok(model::create(tx, &new).await?)
}

/// Changes a contact's fields; a change to nothing returns it as it is.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, contact = %request.id))]
pub async fn update_contact(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: UpdateContact,
) -> DomainResult<Contact> {
    let mut violations = Violations::default();
    let changes = ContactChanges {
        first_name: request
            .first_name
            .as_deref()
            .and_then(|name| violations.required_text("firstName", name, MAX_SHORT_TEXT)),
        last_name: request
            .last_name
            .into_column(|v| violations.optional_text("lastName", Some(&v), MAX_SHORT_TEXT)),
        nickname: request
            .nickname
            .into_column(|v| violations.optional_text("nickname", Some(&v), MAX_SHORT_TEXT)),
        email: request
            .email
            .into_column(|v| violations.optional_email("email", Some(&v))),
        phone: request
            .phone
            .into_column(|v| violations.optional_phone("phone", Some(&v))),
        avatar_url: request
            .avatar_url
            .into_column(|v| violations.optional_url("avatarUrl", Some(&v))),
    };
    violations.finish()?;
    let updated = if changes.is_empty() {
        model::find(tx, viewer.organization_id, &request.id).await?
    } else {
        model::update(tx, viewer.organization_id, &request.id, &changes).await?
    };
    updated.ok_or_else(|| DomainError::not_found("id", &request.id))
}

/// Deletes a contact. Its conversations go with it; threads linked to it
/// keep their messages and lose the link.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, contact = %id))]
pub async fn delete_contact(tx: &mut Tx<'_>, viewer: &Viewer, id: &str) -> DomainResult<()> {
    if model::delete(tx, viewer.organization_id, id).await? {
        Ok(())
    } else {
        Err(DomainError::not_found("id", id))
    }
}

/// Issues a bearer token that acts as the contact (for a chat widget).
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, contact = %contact_id))]
pub async fn issue_token(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    contact_id: &str,
) -> DomainResult<(String, Contact)> {
    let contact = model::find(tx, viewer.organization_id, contact_id)
        .await?
        .ok_or_else(|| DomainError::not_found("contactId", contact_id))?;
    let token = model::create_token(tx, &contact).await?;
    Ok((token, contact))
}

impl ContactChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.first_name.is_none()
            && self.last_name.is_none()
            && self.nickname.is_none()
            && self.email.is_none()
            && self.phone.is_none()
            && self.avatar_url.is_none()
    }
}
