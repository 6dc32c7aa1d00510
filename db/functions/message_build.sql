-- message_build: the message object of API.md "Messages", built from the
-- row. Called by the trigger messages_set_doc (which keeps it in
-- messages.doc) and by message_json for a row without doc.
CREATE OR REPLACE FUNCTION message_build(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', m.id, 'chat_id', m.chat_id, 'seq', m.seq,
        'version', m.version, 'sender_id', m.sender_id, 'content', m.content,
        'created_at', api_ts(m.created_at), 'edited_at', api_ts(m.edited_at),
        'deleted', m.deleted, 'reply_to_seq', m.reply_to_seq,
        'client_msg_id', m.client_msg_id)
$$;
