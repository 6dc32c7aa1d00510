-- message_change: PATCH /chats/{id}/messages/{seq} (sender only) and DELETE
-- (sender or admin; a tombstone with empty content). status: ok | not_found |
-- forbidden | deleted (already a tombstone) | unchanged. event and version:
-- the message.updated or message.deleted to publish (ok only).
-- Called by cgi/messages.c (PATCH and DELETE).
CREATE OR REPLACE FUNCTION message_change(
    p_chat bigint, p_actor bigint, p_seq bigint, p_content text, p_delete boolean, OUT status text,
    OUT message json, OUT event json, OUT version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
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
    version := c.version;
    message := message_json(m);
    status := 'ok';
END $$;
