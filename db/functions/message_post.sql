-- message_post: POST /chats/{id}/messages. status: created | replayed |
-- reused | not_found | bad_reply. message: the message (also when
-- replayed or reused); event and version: the message.created to publish
-- after COMMIT (created only).
-- Called by cgi/messages.c (messages_create).
CREATE OR REPLACE FUNCTION message_post(p_chat bigint, p_sender bigint, p_content text,
                                        p_client_msg_id text, p_reply_to bigint,
                                        OUT status text, OUT message json, OUT event json,
                                        OUT version bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE c chats; m messages;
BEGIN
    -- Lock the chat first: concurrent retries of one client_msg_id then
    -- see each other's committed row below.
    SELECT ch.* INTO c FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_sender FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    IF p_client_msg_id IS NOT NULL THEN
        SELECT * INTO m FROM messages WHERE chat_id = p_chat AND sender_id = p_sender
                                        AND client_msg_id = p_client_msg_id;
        IF FOUND THEN
            -- The same key with other content is a reused key (API.md "Idempotency").
            status := CASE WHEN m.deleted OR (m.content = p_content AND
                                  m.reply_to_seq IS NOT DISTINCT FROM p_reply_to)
                           THEN 'replayed' ELSE 'reused' END;
            message := message_json(m);
            RETURN;
        END IF;
    END IF;
    IF p_reply_to IS NOT NULL AND (p_reply_to < 1 OR p_reply_to > c.last_seq) THEN
        status := 'bad_reply'; RETURN;
    END IF;
    UPDATE chats SET last_seq = last_seq + 1, version = version + 1, last_activity_at = now()
    WHERE id = p_chat RETURNING * INTO c;
    INSERT INTO messages (chat_id, seq, version, sender_id, content, client_msg_id, reply_to_seq)
    VALUES (p_chat, c.last_seq, c.version, p_sender, p_content, p_client_msg_id, p_reply_to)
    RETURNING * INTO m;
    UPDATE chat_members SET read_seq = m.seq, delivered_seq = m.seq
    WHERE chat_id = p_chat AND user_id = p_sender;
    event := chat_change_add(p_chat, c.version, 'message.created', m.seq, NULL, NULL);
    version := c.version;
    status := 'created';
    message := message_json(m);
END $$;
