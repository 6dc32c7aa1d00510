-- messages_page_at: GET /chats/{id}/messages, as text (the answer is
-- spliced, never re-parsed), together with the chat version it was read
-- at, for chat-api's page cache (docs/DESIGN.md "Caches in chat-api").
-- seq is gapless (deletes leave tombstones), so a page is a seq range
-- computed from last_seq, and has_more_* follow from its bounds. At most
-- one anchor is given; none means the newest page. The page and the
-- version come from one snapshot (a STABLE function sees its calling
-- statement's). NULL page: not a member, or no chat. A generic plan, not
-- re-planned per call (measured in bench/).
-- Called by cgi/messages.c (page_from_db).
CREATE OR REPLACE FUNCTION messages_page_at(
    p_chat bigint, p_user bigint, p_before bigint, p_after bigint, p_around bigint, p_limit int,
    OUT page text, OUT version bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE last bigint; lo bigint; hi bigint; body text;
BEGIN
    SELECT c.last_seq, c.version INTO last, version FROM chats c
    JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN page := NULL; version := NULL; RETURN; END IF;
    IF p_before IS NOT NULL THEN
        hi := least(p_before - 1, last); lo := greatest(1, hi - p_limit + 1);
    ELSIF p_after IS NOT NULL THEN
        lo := greatest(p_after + 1, 1); hi := least(last, lo + p_limit - 1);
    ELSIF p_around IS NOT NULL THEN
        lo := greatest(1, p_around - p_limit / 2); hi := least(last, lo + p_limit - 1);
        lo := greatest(1, least(lo, hi - p_limit + 1));
    ELSE
        hi := last; lo := greatest(1, hi - p_limit + 1);
    END IF;
    SELECT string_agg(m.doc, ',' ORDER BY m.seq) INTO body
    FROM messages m WHERE m.chat_id = p_chat AND m.seq BETWEEN lo AND hi;
    page := '{"messages":[' || coalesce(body, '') || '],"has_more_before":'
        || (lo > 1 AND last > 0)::text || ',"has_more_after":' || (hi < last)::text || '}';
END $$;
