-- 0005_tokens_edits_search: personal API tokens, message edits and
-- deletes (durable changes with their own version), full-text search and
-- the /changes catch-up page.

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

CREATE FUNCTION api_token_json(t api_tokens) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', t.id, 'name', t.name, 'scopes', t.scopes,
                             'created_at', api_ts(t.created_at))
$$;

-- API.md "Messages": full-text search over the caller's chats; 'simple'
-- configuration, so no language's stemming is imposed on a mixed chat.
CREATE INDEX messages_content_fts ON messages USING gin (to_tsvector('simple', content));

-- PATCH /chats/{id}/messages/{seq} (sender only) and DELETE (sender or
-- admin; a tombstone with empty content). status: ok | not_found |
-- forbidden | deleted (already a tombstone) | unchanged.
CREATE FUNCTION message_change(p_chat bigint, p_actor bigint, p_seq bigint, p_content text,
                               p_delete boolean, OUT status text, OUT message json,
                               OUT event json)
LANGUAGE plpgsql AS $$
DECLARE c chats; m messages; r text;
BEGIN
    SELECT ch.* INTO c FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_actor FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    SELECT * INTO m FROM messages WHERE chat_id = p_chat AND seq = p_seq;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    SELECT role INTO r FROM chat_members WHERE chat_id = p_chat AND user_id = p_actor;
    IF m.sender_id <> p_actor AND (NOT p_delete OR r <> 'admin') THEN
        status := 'forbidden'; RETURN;
    END IF;
    IF m.deleted THEN
        status := CASE WHEN p_delete THEN 'unchanged' ELSE 'deleted' END;
        message := message_json(m);
        RETURN;
    END IF;
    IF NOT p_delete AND m.content = p_content THEN
        status := 'unchanged'; message := message_json(m); RETURN;
    END IF;
    UPDATE chats SET version = version + 1 WHERE id = p_chat RETURNING * INTO c;
    UPDATE messages SET version = c.version,
                        content = CASE WHEN p_delete THEN '' ELSE p_content END,
                        deleted = p_delete,
                        edited_at = CASE WHEN p_delete THEN edited_at ELSE now() END
    WHERE chat_id = p_chat AND seq = p_seq RETURNING * INTO m;
    event := chat_change_add(p_chat, c.version,
                             CASE WHEN p_delete THEN 'message.deleted' ELSE 'message.updated' END,
                             p_seq, p_actor, NULL);
    message := message_json(m);
    status := 'ok';
END $$;

-- GET /chats/{id}/changes: every durable change after p_since, in version
-- order (versions are gapless, so a page is a version range); version is
-- the last one the page covers, where the next page starts. NULL when
-- p_user is not a member.
CREATE FUNCTION changes_page(p_chat bigint, p_user bigint, p_since bigint, p_limit int)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint; n bigint;
BEGIN
    SELECT c.version INTO v FROM chats c JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN RETURN NULL; END IF;
    n := least(v, p_since + p_limit);
    RETURN json_build_object(
        'events', coalesce((SELECT json_agg(change_event(ch) ORDER BY ch.version)
                            FROM chat_changes ch WHERE ch.chat_id = p_chat
                              AND ch.version > p_since AND ch.version <= n), '[]'),
        'version', n,
        'has_more', n < v);
END $$;
