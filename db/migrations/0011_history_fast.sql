-- 0011_history_fast: history pages without building JSON per read.
--
-- Measured (bench/, docs/BENCHMARKS.md): a 50-message page spent most of its
-- PostgreSQL time re-planning the page query and building each message's
-- JSON (json_build_object, to_char). Each message now keeps its API JSON
-- text in messages.doc, set by a BEFORE INSERT OR UPDATE trigger, so a page
-- is one string_agg over an index range; and the two hot functions keep a
-- generic plan instead of re-planning per call.

CREATE FUNCTION message_build(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', m.id, 'chat_id', m.chat_id, 'seq', m.seq,
        'version', m.version, 'sender_id', m.sender_id, 'content', m.content,
        'created_at', api_ts(m.created_at), 'edited_at', api_ts(m.edited_at),
        'deleted', m.deleted, 'reply_to_seq', m.reply_to_seq,
        'client_msg_id', m.client_msg_id)
$$;

ALTER TABLE messages ADD COLUMN doc text;

-- API.md "Messages": the message object, from the kept text when present.
CREATE OR REPLACE FUNCTION message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(m.doc::json, message_build(m))
$$;

CREATE FUNCTION messages_set_doc() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.doc := message_build(NEW)::text;
    RETURN NEW;
END $$;
CREATE TRIGGER messages_set_doc BEFORE INSERT OR UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_set_doc();
UPDATE messages SET doc = NULL;

-- GET /chats/{id}/messages, as text: the answer is spliced, never re-parsed.
DROP FUNCTION messages_page(bigint, bigint, bigint, bigint, bigint, int);
CREATE FUNCTION messages_page(p_chat bigint, p_user bigint, p_before bigint, p_after bigint,
                              p_around bigint, p_limit int) RETURNS text
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE last bigint; lo bigint; hi bigint; page text;
BEGIN
    SELECT c.last_seq INTO last FROM chats c JOIN chat_members cm ON cm.chat_id = c.id
    WHERE c.id = p_chat AND cm.user_id = p_user;
    IF NOT FOUND THEN RETURN NULL; END IF;
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
    SELECT string_agg(m.doc, ',' ORDER BY m.seq) INTO page
    FROM messages m WHERE m.chat_id = p_chat AND m.seq BETWEEN lo AND hi;
    RETURN '{"messages":[' || coalesce(page, '') || '],"has_more_before":'
        || (lo > 1 AND last > 0)::text || ',"has_more_after":' || (hi < last)::text || '}';
END $$;

ALTER FUNCTION message_post(bigint, bigint, text, text, bigint)
    SET plan_cache_mode = force_generic_plan;
