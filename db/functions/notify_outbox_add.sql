-- notify_outbox_add: the trigger chat_changes_notify (AFTER INSERT on
-- chat_changes) fills the outbox of chat-notify in the writer's
-- transaction: a webhook delivery row for every webhook whose owner is a
-- member at the event's version (chat_members is exactly that while the
-- writer holds the chat row), and a push_outbox row per message.created.
-- No event body is kept: chat-notify builds it with change_event() when it
-- sends (notify/webhook.c), so a deleted message's content is purged here
-- too.
CREATE OR REPLACE FUNCTION notify_outbox_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (webhook_id, chat_id, version, type)
    SELECT w.id, NEW.chat_id, NEW.version, NEW.type FROM webhooks w
    WHERE NEW.type = ANY (w.events)
      AND (w.chat_ids IS NULL OR NEW.chat_id = ANY (w.chat_ids))
      AND (EXISTS (SELECT 1 FROM chat_members cm
                   WHERE cm.chat_id = NEW.chat_id AND cm.user_id = w.user_id)
           -- the one who left gets their member.left, as streams do
           OR (NEW.type = 'member.left' AND w.user_id = NEW.user_id));
    IF NEW.type = 'message.created' THEN
        INSERT INTO push_outbox (chat_id, version, seq) VALUES (NEW.chat_id, NEW.version, NEW.seq);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER chat_changes_notify AFTER INSERT ON chat_changes
    FOR EACH ROW EXECUTE FUNCTION notify_outbox_add();
