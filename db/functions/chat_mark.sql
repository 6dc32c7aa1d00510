-- chat_mark: POST /chats/{id}/read and /delivered: p_read or p_delivered may
-- be NULL. No row when p_user is not a member; moved says whether a marker
-- changed.
-- Called by cgi/messages.c.
CREATE OR REPLACE FUNCTION chat_mark(
    p_chat bigint, p_user bigint, p_read bigint, p_delivered bigint, OUT read_seq bigint,
    OUT delivered_seq bigint, OUT moved boolean) RETURNS SETOF record
LANGUAGE plpgsql AS $$
DECLARE last bigint; old_r bigint; old_d bigint;
BEGIN
    SELECT c.last_seq, cm.read_seq, cm.delivered_seq INTO last, old_r, old_d
    FROM chats c JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user FOR UPDATE OF cm;
    IF NOT FOUND THEN RETURN; END IF;
    read_seq := greatest(old_r, least(coalesce(p_read, 0), last));
    delivered_seq := greatest(old_d, read_seq, least(coalesce(p_delivered, 0), last));
    moved := read_seq <> old_r OR delivered_seq <> old_d;
    IF moved THEN
        UPDATE chat_members cm SET read_seq = chat_mark.read_seq,
                                   delivered_seq = chat_mark.delivered_seq
        WHERE cm.chat_id = p_chat AND cm.user_id = p_user;
    END IF;
    RETURN NEXT;
END $$;
