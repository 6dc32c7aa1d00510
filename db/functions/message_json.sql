-- message_json: the message object of API.md "Messages", from the kept
-- text (messages.doc, set by the trigger messages_set_doc) when present.
-- Called by chat_json, the write functions (message_post, message_change),
-- the snapshot triggers, and chat-api's search (cgi/messages.c).
CREATE OR REPLACE FUNCTION message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(m.doc::json, message_build(m))
$$;
