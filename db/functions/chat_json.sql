-- chat_json: the chat object of API.md "Chats" without the per-caller
-- fields (as events carry it); member_ids on direct chats only. Called by
-- chat_json_for and chat_snapshot.
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
