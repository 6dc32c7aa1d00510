/* rds.c - blocking Redis connections with AUTH. */
#include "rds.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "err.h"

int rds_connect_blocking(const char *host, int port, const char *socket, const char *password,
                         int timeout_ms, redisContext **out, char *err, size_t errlen)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c;
    redisReply *r;
    int rc;

    *out = NULL;
    if (socket && socket[0])
        c = redisConnectUnixWithTimeout(socket, tv);
    else
        c = redisConnectWithTimeout(host, port, tv);
    if (!c) {
        snprintf(err, errlen, "connect: out of memory");
        return CHAT_ERR_NOMEM;
    }
    if (c->err) {
        snprintf(err, errlen, "connect: %s", c->errstr);
        redisFree(c);
        return CHAT_ERR_REDIS;
    }
    redisSetTimeout(c, tv);
    if (password) {
        r = redisCommand(c, "AUTH %s", password);
        if (!r) {
            snprintf(err, errlen, "AUTH: %s", c->errstr);
            redisFree(c);
            return CHAT_ERR_REDIS;
        }
        rc = r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "OK") ? 0 : CHAT_ERR_AUTH;
        if (rc)
            snprintf(err, errlen, "AUTH refused: %s (check redis_password_file)",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        if (rc) {
            redisFree(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}
