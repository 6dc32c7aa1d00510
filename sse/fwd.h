/* fwd.h - chat-push's outgoing HTTP: WebSocket ops forwarded to chat-api.
 *
 * A WebSocket `send`, `typing` or `read` op does exactly what its REST
 * twin does because it is that REST call: a POST through nginx to chat-api
 * with the stream user's token (API.md "Transports", WebSocket; DESIGN.md:
 * the write path exists once). libcurl's multi interface runs on our epoll
 * loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); nothing blocks.
 */
#ifndef CHAT_FWD_H
#define CHAT_FWD_H

#include <stddef.h>
#include <stdint.h>

#define FWD_TIMEOUT_MS 10000 /* whole request */

struct fwd_req;

/* The answer: HTTP status (0 when the request failed before one came) and
 * the body (len bytes, valid during the call). Called exactly once, never
 * from inside fwd_post, unless cancelled. */
typedef void fwd_cb(void *arg, long status, const char *body, size_t len);

/* base: "http://127.0.0.1:<nginx port>". Returns 0 or CHAT_ERR_IO. */
int fwd_init(const char *base);
void fwd_close(void);
/* POST base + path with the JSON body (copied) and "Authorization: Bearer
 * token". Returns a handle for fwd_cancel, or NULL (out of memory). */
struct fwd_req *fwd_post(const char *path, const char *token, const char *body, size_t len,
                         fwd_cb *cb, void *arg);
/* cb of r will not be called; r is freed. */
void fwd_cancel(struct fwd_req *r);
/* Once per loop pass: curl's timers, finished transfers. */
void fwd_run(int64_t now_ms);
/* Milliseconds until fwd_run is due (-1: no timer). */
int64_t fwd_wait_ms(int64_t now_ms);

#endif
