-- chat_update_title: PATCH /chats/{id}. status: ok | not_found | forbidden
-- | direct. event and version: the chat.updated to publish (ok only).
-- Called by cgi/chats.c (chats_update).
CREATE OR REPLACE FUNCTION chat_update_title(p_chat bigint, p_actor bigint, p_title text,
                                             OUT status text, OUT event json, OUT version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE c chats; r text; l record;
BEGIN
    SELECT * INTO l FROM chat_lock_for_change(p_chat, p_actor);
    IF l.status IS NOT NULL THEN status := l.status; RETURN; END IF;
    c := l.chat;
    r := l.role;
    IF r <> 'admin' THEN status := 'forbidden'; RETURN; END IF;
    UPDATE chats SET title = p_title, version = version + 1, last_activity_at = now()
    WHERE id = p_chat RETURNING * INTO c;
    event := chat_change_add(p_chat, c.version, 'chat.updated', NULL, p_actor, NULL);
    version := c.version;
    status := 'ok';
END $$;
