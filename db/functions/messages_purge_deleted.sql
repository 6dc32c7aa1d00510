-- messages_purge_deleted: the trigger of the same name (AFTER UPDATE OF
-- deleted on messages, when a message becomes a tombstone) rewrites every
-- snapshot of the message kept in chat_changes (message events' data.message,
-- chat events' data.chat.last_message) to the tombstone (API.md
-- "Messages": a deleted message's content is purged everywhere it was kept).
CREATE OR REPLACE FUNCTION messages_purge_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE tomb jsonb := message_json(NEW)::jsonb;
BEGIN
    UPDATE chat_changes SET data = jsonb_set(data, '{message}', tomb)
    WHERE chat_id = NEW.chat_id AND seq = NEW.seq AND type LIKE 'message.%';
    UPDATE chat_changes SET data = jsonb_set(data, '{chat,last_message}', tomb)
    WHERE chat_id = NEW.chat_id AND data->'chat'->'last_message'->>'seq' = NEW.seq::text;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER messages_purge_deleted AFTER UPDATE OF deleted ON messages
    FOR EACH ROW WHEN (NEW.deleted AND NOT OLD.deleted)
    EXECUTE FUNCTION messages_purge_deleted();
