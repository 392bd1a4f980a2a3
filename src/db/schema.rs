// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "regconfig", schema = "pg_catalog"))]
    pub struct Regconfig;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "xid8", schema = "pg_catalog"))]
    pub struct Xid8;
}

diesel::table! {
    api_keys (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        name -> Text,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    channel_members (channel_id, position) {
        organization_id -> Int8,
        channel_id -> Int8,
        position -> Int4,
        user_id -> Nullable<Int8>,
        api_key_id -> Nullable<Int8>,
        contact_id -> Nullable<Int8>,
    }
}

diesel::table! {
    channel_publishers (channel_id, thread_id) {
        organization_id -> Int8,
        channel_id -> Int8,
        thread_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    channels (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        name -> Text,
        subscriber_hash -> Text,
        last_message_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    contact_tokens (id) {
        id -> Int8,
        organization_id -> Int8,
        contact_id -> Int8,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        first_name -> Text,
        last_name -> Nullable<Text>,
        nickname -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        contact_id -> Int8,
        channel -> Text,
        happened_at -> Date,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    event_sequences (organization_id) {
        organization_id -> Int8,
        pruned_through -> Int8,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Xid8;

    events (organization_id, position) {
        organization_id -> Int8,
        position -> Int8,
        kind -> Text,
        thread_id -> Nullable<Int8>,
        conversation_id -> Nullable<Int8>,
        payload -> Jsonb,
        created_at -> Timestamptz,
        channel_id -> Nullable<Int8>,
        xid -> Xid8,
    }
}

diesel::table! {
    message_reactions (id) {
        id -> Int8,
        organization_id -> Int8,
        message_id -> Int8,
        subscriber_id -> Int8,
        emoji -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Regconfig;
    use super::sql_types::Tsvector;

    messages (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        thread_id -> Nullable<Int8>,
        conversation_id -> Nullable<Int8>,
        kind -> Text,
        body -> Text,
        event -> Nullable<Text>,
        author_subscriber_id -> Nullable<Int8>,
        media_urls -> Array<Nullable<Text>>,
        resource_id -> Nullable<Text>,
        client_message_id -> Nullable<Text>,
        written_at -> Nullable<Timestamptz>,
        written_by_me -> Nullable<Bool>,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        channel_id -> Nullable<Int8>,
        publish_to_channel_at -> Nullable<Timestamptz>,
        published_at -> Nullable<Timestamptz>,
        channel_position -> Nullable<Int8>,
        search_config -> Regconfig,
        search_vector -> Tsvector,
        search_bucket -> Int8,
        created_at_rfc3339 -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Regconfig;

    organizations (id) {
        id -> Int8,
        public_id -> Text,
        name -> Text,
        created_at -> Timestamptz,
        search_language -> Regconfig,
    }
}

diesel::table! {
    thread_subscribers (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        thread_id -> Int8,
        user_id -> Nullable<Int8>,
        api_key_id -> Nullable<Int8>,
        contact_id -> Nullable<Int8>,
        viewed_at -> Nullable<Timestamptz>,
        unread_count -> Int4,
        is_archived -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    threads (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        name -> Nullable<Text>,
        subject -> Nullable<Text>,
        original_sender -> Nullable<Text>,
        channel -> Nullable<Text>,
        identifier -> Nullable<Text>,
        chatbot_paused -> Bool,
        is_resolved -> Bool,
        resource_id -> Nullable<Text>,
        location_id -> Nullable<Text>,
        contact_id -> Nullable<Int8>,
        last_message_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_tokens (id) {
        id -> Int8,
        organization_id -> Int8,
        user_id -> Int8,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        name -> Text,
        email -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        organization_id -> Int8,
        webhook_id -> Int8,
        public_id -> Text,
        event_cursor -> Text,
        event_kind -> Text,
        body -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_attempt_at -> Nullable<Timestamptz>,
        response_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Int8,
        organization_id -> Int8,
        public_id -> Text,
        url -> Text,
        description -> Nullable<Text>,
        event_kinds -> Nullable<Array<Nullable<Text>>>,
        secret -> Text,
        api_key_id -> Int8,
        event_cursor -> Int8,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        next_attempt_at -> Nullable<Timestamptz>,
        lease_token -> Nullable<Text>,
        lease_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(channel_members -> api_keys (api_key_id));
diesel::joinable!(channel_members -> channels (channel_id));
diesel::joinable!(channel_members -> contacts (contact_id));
diesel::joinable!(channel_members -> organizations (organization_id));
diesel::joinable!(channel_members -> users (user_id));
diesel::joinable!(channel_publishers -> channels (channel_id));
diesel::joinable!(channel_publishers -> organizations (organization_id));
diesel::joinable!(channel_publishers -> threads (thread_id));
diesel::joinable!(channels -> organizations (organization_id));
diesel::joinable!(contact_tokens -> contacts (contact_id));
diesel::joinable!(contact_tokens -> organizations (organization_id));
diesel::joinable!(contacts -> organizations (organization_id));
diesel::joinable!(conversations -> contacts (contact_id));
diesel::joinable!(conversations -> organizations (organization_id));
diesel::joinable!(event_sequences -> organizations (organization_id));
diesel::joinable!(events -> organizations (organization_id));
diesel::joinable!(message_reactions -> messages (message_id));
diesel::joinable!(message_reactions -> organizations (organization_id));
diesel::joinable!(message_reactions -> thread_subscribers (subscriber_id));
diesel::joinable!(messages -> channels (channel_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(messages -> organizations (organization_id));
diesel::joinable!(messages -> thread_subscribers (author_subscriber_id));
diesel::joinable!(messages -> threads (thread_id));
diesel::joinable!(thread_subscribers -> api_keys (api_key_id));
diesel::joinable!(thread_subscribers -> contacts (contact_id));
diesel::joinable!(thread_subscribers -> organizations (organization_id));
diesel::joinable!(thread_subscribers -> threads (thread_id));
diesel::joinable!(thread_subscribers -> users (user_id));
diesel::joinable!(threads -> contacts (contact_id));
diesel::joinable!(threads -> organizations (organization_id));
diesel::joinable!(user_tokens -> organizations (organization_id));
diesel::joinable!(user_tokens -> users (user_id));
diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(webhook_deliveries -> organizations (organization_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    channel_members,
    channel_publishers,
    channels,
    contact_tokens,
    contacts,
    conversations,
    event_sequences,
    events,
    message_reactions,
    messages,
    organizations,
    thread_subscribers,
    threads,
    user_tokens,
    users,
    webhook_deliveries,
    webhooks,
);
