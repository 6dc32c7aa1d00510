/* rds.h - blocking Redis connections with AUTH (chat-api, chat-notify).
 *
 * Redis runs with requirepass (docs/OPERATIONS.md "Secrets"): a connection
 * that has not sent AUTH gets NOAUTH for every command, so each new context
 * authenticates before it is handed out. chat-push's asynchronous contexts
 * do the same in sse/rds_sub.c.
 */
#ifndef CHAT_RDS_H
#define CHAT_RDS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/* Connect to the Unix socket path socket (when not NULL or ""), else to
 * host:port, within timeout_ms for the connect and for each later command
 * (redisSetTimeout), then send AUTH password unless password is NULL.
 * On success stores the context in *out (the caller redisFrees it) and
 * returns 0. Returns CHAT_ERR_REDIS when Redis cannot be reached or the
 * AUTH got no answer, CHAT_ERR_AUTH when Redis refused the password
 * (WRONGPASS, or AUTH without a password configured), CHAT_ERR_NOMEM; then
 * *out is NULL and err (errlen bytes) says why, naming redis_password_file
 * for a refused password. */
int rds_connect_blocking(const char *host, int port, const char *socket, const char *password,
                         int timeout_ms, redisContext **out, char *err, size_t errlen);

#endif
