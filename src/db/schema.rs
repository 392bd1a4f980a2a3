// @generated automatically by Diesel CLI.

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
    organizations (id) {
        id -> Int8,
        public_id -> Text,
        name -> Text,
        created_at -> Timestamptz,
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

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(contacts -> organizations (organization_id));
diesel::joinable!(user_tokens -> organizations (organization_id));
diesel::joinable!(user_tokens -> users (user_id));
diesel::joinable!(users -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    contacts,
    organizations,
    user_tokens,
    users,
);
