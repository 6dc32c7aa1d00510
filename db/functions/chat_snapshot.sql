-- chat_snapshot: the chat at the time of a change, as chat events keep it
-- in chat_changes.data (with its last_message; the trigger
-- messages_purge_deleted rewrites that to the tombstone when the message
-- is deleted). Called by chat_change_add.
CREATE OR REPLACE FUNCTION chat_snapshot(p_chat bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT chat_json(c)::jsonb FROM chats c WHERE c.id = p_chat
$$;
