-- chat_changes_snapshot_message: the trigger of the same name (BEFORE
-- INSERT on chat_changes) keeps, in a message event's row, the message as
-- it is at the event's version (data.message), so /changes, backfill and
-- webhooks give the event as it was streamed; every write path gets it.
CREATE OR REPLACE FUNCTION chat_changes_snapshot_message() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.type LIKE 'message.%' THEN
        NEW.data := jsonb_build_object('message',
            (SELECT message_json(m)::jsonb FROM messages m
             WHERE m.chat_id = NEW.chat_id AND m.seq = NEW.seq));
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER chat_changes_snapshot_message BEFORE INSERT ON chat_changes
    FOR EACH ROW EXECUTE FUNCTION chat_changes_snapshot_message();
