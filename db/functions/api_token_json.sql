-- api_token_json: the API token object of API.md "Auth" (never the secret).
-- Called by cgi/tokens.c.
CREATE OR REPLACE FUNCTION api_token_json(t api_tokens) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', t.id, 'name', t.name, 'scopes', t.scopes,
                             'created_at', api_ts(t.created_at))
$$;
