-- chat_change_add: append a durable change to the change log and return
-- its event (change_event). Chat and member.joined changes keep the chat
-- as it is now (chat_snapshot); message changes get their message
-- snapshot from the trigger chat_changes_snapshot_message, and every
-- change fans out to webhooks and push through the trigger
-- chat_changes_notify (notify_outbox_add). Called by every write function
-- (message_post, message_change, chat_create_*, chat_add_members,
-- chat_remove_member, chat_update_title) while it holds the chat row.
CREATE OR REPLACE FUNCTION chat_change_add(p_chat bigint, p_version bigint, p_type text,
                                           p_seq bigint, p_user bigint, p_data jsonb) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE ch chat_changes;
BEGIN
    IF p_type LIKE 'chat.%' OR p_type = 'member.joined' THEN
        p_data := coalesce(p_data, '{}'::jsonb) || jsonb_build_object('chat', chat_snapshot(p_chat));
    END IF;
    INSERT INTO chat_changes (chat_id, version, type, seq, user_id, data)
    VALUES (p_chat, p_version, p_type, p_seq, p_user, p_data) RETURNING * INTO ch;
    RETURN change_event(ch);
END $$;
