/* loop.h - the one epoll event loop of chat-push (loop.c; main.c drives it).
 *
 * Every descriptor the process waits on is a struct loop_io whose owner
 * keeps it alive as long as the loop may report it (static or long-lived
 * structs; never freed while registered). Callbacks run on the loop thread
 * and must not block.
 */
#ifndef CHAT_LOOP_H
#define CHAT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop_io {
    int fd; /* -1 while not registered */
    uint32_t events;
    void (*cb)(struct loop_io *io, uint32_t revents);
};

#define LOOP_IO_INIT(cb)                                                                           \
    {                                                                                              \
        -1, 0, (cb)                                                                                \
    }

/* Create the epoll set and read the clock. Returns 0 or CHAT_ERR_IO. */
int loop_init(void);
/* Wait at most wait_ms (-1: no limit) for descriptors, read the clock, and
 * run the callbacks of those that are ready. Dies if epoll_wait fails. */
void loop_wait(int64_t wait_ms);
/* Register io for fd with the epoll events mask (EPOLLIN, EPOLLOUT; level
 * triggered), or change its fd or mask. Returns 0 or CHAT_ERR_IO. */
int loop_io_set(struct loop_io *io, int fd, uint32_t events);
/* Unregister io (call before closing its fd, or after: both are fine). */
void loop_io_del(struct loop_io *io);
/* Milliseconds of CLOCK_MONOTONIC, read once per loop pass. */
int64_t loop_now_ms(void);
/* Unix seconds (CLOCK_REALTIME), for JWT checks and stream ages. */
int64_t loop_unix(void);

#endif
