-- 0015_write_outcomes: the write functions return the version of the
-- event they return as a column of its own (chat-api publishes without
-- re-parsing the event), and arrays instead of joined text
-- (chat_create_group's members, chat_add_members' events). Their result
-- types change, which CREATE OR REPLACE cannot do: drop the old ones here,
-- db/functions/ creates the new ones after the migrations. IF EXISTS: a
-- database migrated from zero has none yet.
DROP FUNCTION IF EXISTS message_post(bigint, bigint, text, text, bigint);
DROP FUNCTION IF EXISTS message_change(bigint, bigint, bigint, text, boolean);
DROP FUNCTION IF EXISTS chat_create_direct(bigint, bigint);
DROP FUNCTION IF EXISTS chat_create_group(bigint, text, bigint[], int);
DROP FUNCTION IF EXISTS chat_update_title(bigint, bigint, text);
DROP FUNCTION IF EXISTS chat_add_members(bigint, bigint, bigint[], int);
DROP FUNCTION IF EXISTS chat_remove_member(bigint, bigint, bigint);
