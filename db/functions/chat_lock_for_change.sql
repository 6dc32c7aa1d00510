-- chat_lock_for_change: the group chat p_chat locked (FOR UPDATE) for a
-- change by its member p_actor, and the actor's role in it. status:
-- not_found (no such chat, or p_actor not a member) | direct (a direct chat
-- has no title or member changes) | NULL (go on).
-- Called by chat_update_title, chat_add_members and chat_remove_member.
CREATE OR REPLACE FUNCTION chat_lock_for_change(p_chat bigint, p_actor bigint, OUT chat chats,
                                                OUT role text, OUT status text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT ch.* INTO chat FROM chats ch JOIN chat_members cm ON cm.chat_id = ch.id
    WHERE ch.id = p_chat AND cm.user_id = p_actor FOR UPDATE OF ch;
    IF NOT FOUND THEN status := 'not_found'; RETURN; END IF;
    IF chat.type = 'direct' THEN status := 'direct'; RETURN; END IF;
    SELECT cm.role INTO role FROM chat_members cm WHERE cm.chat_id = p_chat AND cm.user_id = p_actor;
END $$;
