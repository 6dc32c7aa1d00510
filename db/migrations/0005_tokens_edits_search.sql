-- 0005_tokens_edits_search: personal API tokens, message edits and
-- deletes (durable changes with their own version), full-text search and
-- the /changes catch-up page. Functions in db/functions/ (api_token_json,
-- message_change, changes_page).

-- API.md "Auth": opaque chat_pat_... tokens, stored as SHA-256, scoped.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    name         text NOT NULL,
    scopes       text[] NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- API.md "Messages": full-text search over the caller's chats; 'simple'
-- configuration, so no language's stemming is imposed on a mixed chat.
CREATE INDEX messages_content_fts ON messages USING gin (to_tsvector('simple', content));
