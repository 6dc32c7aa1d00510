-- 0013_drop_messages_page: chat-api reads history pages with
-- messages_page_at (0012), which returns the page with the chat version it
-- was read at; the older messages_page (0011) has no caller left.
DROP FUNCTION messages_page(bigint, bigint, bigint, bigint, bigint, int);
