-- messages_set_doc: the trigger messages_set_doc (BEFORE INSERT OR UPDATE
-- on messages) keeps each message's API JSON text in messages.doc
-- (message_build), so a history page is one string_agg (messages_page_at)
-- and message_json needs no rebuilding.
CREATE OR REPLACE FUNCTION messages_set_doc() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.doc := message_build(NEW)::text;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER messages_set_doc BEFORE INSERT OR UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_set_doc();
