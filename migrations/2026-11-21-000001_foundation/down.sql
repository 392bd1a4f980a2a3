DROP TABLE contacts;
DROP TABLE user_tokens;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE organizations;
