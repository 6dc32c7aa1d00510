/* handlers.h - every chat-api endpoint; one file per REST resource. */
#ifndef CHAT_HANDLERS_H
#define CHAT_HANDLERS_H

struct req;

/* auth.c - API.md "Auth" */
void auth_register(struct req *req);
void auth_login(struct req *req);
void auth_refresh(struct req *req);
void auth_logout(struct req *req);
void auth_logout_all(struct req *req);
void auth_password(struct req *req);
void auth_sessions_list(struct req *req);
void auth_sessions_delete(struct req *req);

/* tokens.c - API.md "Auth": personal API tokens */
void tokens_create(struct req *req);
void tokens_list(struct req *req);
void tokens_delete(struct req *req);

/* users.c - API.md "Users" */
void users_me(struct req *req);
void users_me_update(struct req *req);
void users_search(struct req *req);
void users_get(struct req *req);

/* chats.c - API.md "Chats" */
void chats_create(struct req *req);
void chats_list(struct req *req);
void chats_get(struct req *req);
void chats_update(struct req *req);
void chats_members_list(struct req *req);
void chats_members_add(struct req *req);
void chats_members_remove(struct req *req);

/* messages.c - API.md "Messages" */
void messages_create(struct req *req);
void messages_list(struct req *req);
void messages_read(struct req *req);
void messages_delivered(struct req *req);
void messages_typing(struct req *req);
void messages_update(struct req *req);
void messages_delete(struct req *req);
void messages_search(struct req *req);
void messages_changes(struct req *req);

/* stream.c - API.md "Auth" (stream tickets) */
void stream_ticket_create(struct req *req);

/* health.c - API.md "Operations" */
void health_live(struct req *req);
/* GET /readyz: 200 when PostgreSQL and Redis each answer a round trip in
 * time, else 503 unavailable (with Retry-After) naming what did not. */
void health_ready(struct req *req);

/* webhooks.c - API.md "Outgoing webhooks and push" (delivered by chat-notify) */
void webhooks_create(struct req *req);
void webhooks_list(struct req *req);
void webhooks_delete(struct req *req);
void webhooks_rotate_secret(struct req *req);
void webhooks_deliveries(struct req *req);
void webhooks_redeliver(struct req *req);

/* push.c - API.md "Outgoing webhooks and push": a user's push devices */
void push_subscriptions_create(struct req *req);
void push_subscriptions_list(struct req *req);
void push_subscriptions_delete(struct req *req);

#endif
