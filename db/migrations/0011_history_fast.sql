-- 0011_history_fast: history pages without building JSON per read.
--
-- Measured (bench/, docs/BENCHMARKS.md): a 50-message page spent most of its
-- PostgreSQL time re-planning the page query and building each message's
-- JSON (json_build_object, to_char). Each message now keeps its API JSON
-- text in messages.doc, set by the trigger messages_set_doc (BEFORE INSERT
-- OR UPDATE), so a page is one string_agg over an index range; and the two
-- hot functions keep a generic plan instead of re-planning per call
-- (db/functions/: message_build, message_json, messages_set_doc,
-- messages_page_at, message_post).

ALTER TABLE messages ADD COLUMN doc text;

-- The messages already kept, with the text message_build gives (this is
-- an inline copy of db/functions/message_build.sql and api_ts.sql as they
-- were at 0011: the functions are loaded only after the migrations).
UPDATE messages m SET doc = json_build_object('id', m.id, 'chat_id', m.chat_id, 'seq', m.seq,
    'version', m.version, 'sender_id', m.sender_id, 'content', m.content,
    'created_at', to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'edited_at', to_char(m.edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'deleted', m.deleted, 'reply_to_seq', m.reply_to_seq,
    'client_msg_id', m.client_msg_id)::text;
