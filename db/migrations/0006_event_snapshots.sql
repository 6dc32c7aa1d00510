-- 0006_event_snapshots: /changes must give the same event objects the
-- stream carried (API.md "Chat versions and catch-up"). Chat events now
-- keep a snapshot of the chat as it was at their version, without
-- last_message (so a deleted message's content is never kept here); and
-- member_ids appears on direct chats only (API.md "Chats").

CREATE OR REPLACE FUNCTION chat_json(c chats) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT (jsonb_build_object('id', c.id, 'type', c.type, 'title', c.title,
        'created_at', api_ts(c.created_at),
        'last_activity_at', api_ts(c.last_activity_at), 'version', c.version,
        'last_seq', c.last_seq,
        'last_message', (SELECT message_json(m) FROM messages m
                         WHERE m.chat_id = c.id AND m.seq = c.last_seq),
        'members_count', c.members_count)
        || CASE WHEN c.type = 'direct' THEN jsonb_build_object('member_ids', c.member_ids)
                ELSE '{}'::jsonb END)::json
$$;

-- The chat at the time of a change, as events carry it.
CREATE FUNCTION chat_snapshot(p_chat bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT chat_json(c)::jsonb - 'last_message' FROM chats c WHERE c.id = p_chat
$$;

CREATE OR REPLACE FUNCTION chat_change_add(p_chat bigint, p_version bigint, p_type text,
                                           p_seq bigint, p_user bigint, p_data jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE ch chat_changes;
BEGIN
    IF p_type LIKE 'chat.%' OR p_type = 'member.joined' THEN
        p_data := coalesce(p_data, '{}'::jsonb) || jsonb_build_object('chat', chat_snapshot(p_chat));
    END IF;
    INSERT INTO chat_changes (chat_id, version, type, seq, user_id, data)
    VALUES (p_chat, p_version, p_type, p_seq, p_user, p_data) RETURNING * INTO ch;
    RETURN change_event(ch);
END $$;

CREATE OR REPLACE FUNCTION change_event(ch chat_changes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE
    WHEN ch.type LIKE 'message.%' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'message', (SELECT message_json(m) FROM messages m
                        WHERE m.chat_id = ch.chat_id AND m.seq = ch.seq))
    WHEN ch.type = 'member.joined' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'user_id', ch.user_id, 'role', ch.data->>'role', 'chat', ch.data->'chat')
    WHEN ch.type = 'member.left' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'user_id', ch.user_id)
    ELSE -- chat.created (with the initial member_ids), chat.updated
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'chat', (ch.data->'chat') || (ch.data - 'chat'))
    END
$$;
