-- 0008_message_snapshots: a change-log row keeps the event exactly as the
-- stream carried it (API.md "Chat versions and catch-up": /changes gives the
-- same event objects), and a deleted message's content is purged from every
-- row that kept it (API.md "Messages": purged everywhere it was kept).
--
-- Message events snapshot the message at their version (a BEFORE INSERT
-- trigger, so every write path gets it); chat events snapshot the chat with
-- its last_message. Deleting a message rewrites those snapshots to the
-- tombstone (an AFTER UPDATE trigger on messages).

CREATE OR REPLACE FUNCTION chat_snapshot(p_chat bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT chat_json(c)::jsonb FROM chats c WHERE c.id = p_chat
$$;

CREATE FUNCTION chat_changes_snapshot_message() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type LIKE 'message.%' THEN
        NEW.data := jsonb_build_object('message',
            (SELECT message_json(m)::jsonb FROM messages m
             WHERE m.chat_id = NEW.chat_id AND m.seq = NEW.seq));
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER chat_changes_snapshot_message BEFORE INSERT ON chat_changes
    FOR EACH ROW EXECUTE FUNCTION chat_changes_snapshot_message();

CREATE FUNCTION messages_purge_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE tomb jsonb := message_json(NEW)::jsonb;
BEGIN
    UPDATE chat_changes SET data = jsonb_set(data, '{message}', tomb)
    WHERE chat_id = NEW.chat_id AND seq = NEW.seq AND type LIKE 'message.%';
    UPDATE chat_changes SET data = jsonb_set(data, '{chat,last_message}', tomb)
    WHERE chat_id = NEW.chat_id AND data->'chat'->'last_message'->>'seq' = NEW.seq::text;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_purge_deleted AFTER UPDATE OF deleted ON messages
    FOR EACH ROW WHEN (NEW.deleted AND NOT OLD.deleted)
    EXECUTE FUNCTION messages_purge_deleted();

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
