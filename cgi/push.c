/* push.c - a user's push devices (API.md "Outgoing webhooks and push").
 *
 * A subscription names a device the way Matrix's push gateway API does
 * (app_id, pushkey) and the gateway chat-notify posts to; gateways come
 * from the operator's allow-list (push_gateways in chat.conf). A pushkey
 * is unique per app: registering it again moves it to the caller, as a
 * device changes hands. chat-notify deletes one the gateway rejects.
 */
#include <string.h>

#include "buf.h"
#include "handlers.h"
#include "netaddr.h"
#include "req.h"
#include "req_input.h"

#define PUSH_APP_ID_MAX 64
#define PUSH_KEY_MAX 512
#define PUSH_URL_MAX 2048
#define PUSH_FORMAT_MAX 32
#define PUSH_SUBS_PER_USER 20

static const struct str_field f_app_id = {"app_id", .required = true, .min = 1,
                                          .max = PUSH_APP_ID_MAX};
static const struct str_field f_pushkey = {"pushkey", .required = true, .min = 1,
                                           .max = PUSH_KEY_MAX};
static const struct str_field f_gateway_url = {"gateway_url", .required = true, .min = 1,
                                               .max = PUSH_URL_MAX};
static const struct str_field f_format = {"format", .min = 1, .max = PUSH_FORMAT_MAX};

static const struct db_stmt st_create = {
    "push_sub_create",
    "INSERT INTO push_subscriptions (user_id, app_id, pushkey, gateway_url, format) "
    "SELECT $1, $2, $3, $4, $5 "
    "WHERE (SELECT count(*) FROM push_subscriptions WHERE user_id = $1 "
    "       AND (app_id, pushkey) <> ($2, $3)) < $6 "
    "ON CONFLICT (app_id, pushkey) DO UPDATE SET user_id = EXCLUDED.user_id, "
    "  gateway_url = EXCLUDED.gateway_url, format = EXCLUDED.format "
    "RETURNING push_subscription_json(push_subscriptions)",
    6, false};

void push_subscriptions_create(struct req *req)
{
    cJSON *body;
    const char *app_id, *pushkey, *url, *format;

    if (req_json_body_or_reply(req, &body) ||
        req_json_str_or_reply(req, body, &f_app_id, &app_id) ||
        req_json_str_or_reply(req, body, &f_pushkey, &pushkey) ||
        req_json_str_or_reply(req, body, &f_gateway_url, &url) ||
        req_json_str_or_reply(req, body, &f_format, &format))
        return;
    if (!netaddr_url_allowed(req->w->cfg->push_gateways, url)) {
        req_error(req, 400, "gateway_not_allowed", "gateway_url is not an allowed push gateway");
        return;
    }
    PGresult *r =
        req_db_or_reply(req, &st_create,
                        (const char *[]){req_id_str(req, req->user_id), app_id, pushkey, url,
                                         format, req_id_str(req, PUSH_SUBS_PER_USER)});
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        req_error(req, 409, "too_many_subscriptions", "at most %d push subscriptions per user",
                  PUSH_SUBS_PER_USER);
        return;
    }
    req_reply(req, 201, PQgetvalue(r, 0, 0), PQgetlength(r, 0, 0));
}

static const struct db_stmt st_list = {
    "push_sub_list",
    "SELECT coalesce(json_agg(push_subscription_json(s) ORDER BY s.id), '[]') "
    "FROM push_subscriptions s WHERE user_id = $1",
    1, true};

void push_subscriptions_list(struct req *req)
{
    req_reply_list(req, "subscriptions", &st_list, (const char *[]){req_id_str(req, req->user_id)});
}

static const struct db_stmt st_delete = {
    "push_sub_delete", "DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2", 2, false};

void push_subscriptions_delete(struct req *req)
{
    req_delete_owned(req, &st_delete, "subscription");
}
