-- change_event: a change-log row as the event object of API.md "Real-time
-- events", from the snapshot the row keeps (chat_changes.data), so the
-- stream, /changes, backfill and webhooks carry the same object. The one
-- builder of every durable event: called by chat_change_add (the events
-- the write functions return for chat-api to publish), changes_page
-- (GET /changes), chat-push's backfill (sse/sync.c) and chat-notify's
-- webhook payload (notify/webhook.c).
CREATE OR REPLACE FUNCTION change_event(ch chat_changes) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT CASE
    WHEN ch.type LIKE 'message.%' THEN
        json_build_object('type', ch.type, 'chat_id', ch.chat_id, 'version', ch.version,
            'message', coalesce(ch.data->'message',
                                (SELECT message_json(m)::jsonb FROM messages m
                                 WHERE m.chat_id = ch.chat_id AND m.seq = ch.seq)))
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
