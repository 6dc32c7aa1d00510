-- 0013_drop_messages_page: chat-api reads history pages with
-- messages_page_at (db/functions/), which returns the page with the chat
-- version it was read at; the older messages_page (0002, 0011 before
-- issue #12) has no caller left. IF EXISTS: a database migrated from zero
-- never had it.
DROP FUNCTION IF EXISTS messages_page(bigint, bigint, bigint, bigint, bigint, int);
