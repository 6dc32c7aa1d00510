/* loop.c - chat-push's one epoll event loop: registrations, the wait and
 * dispatch, and the clock read once per pass (loop.h). main.c drives it:
 * each pass is loop_wait, then the steps main.c wires after it. */
#include "loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "err.h"
#include "log.h"

#define LOOP_MAX_EVENTS 64

static int epfd = -1;
static int64_t now_ms, now_unix;

static void clock_update(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    now_unix = (int64_t)time(NULL);
}

int loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return CHAT_ERR_IO;
    clock_update();
    return 0;
}

int loop_io_set(struct loop_io *io, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};

    if (io->fd >= 0 && io->fd != fd)
        loop_io_del(io);
    if (io->fd == fd && io->events == events)
        return 0;
    if (io->fd == fd && epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
        io->events = events;
        return 0;
    }
    /* New, or the old registration vanished with a closed descriptor. */
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) &&
        (errno != EEXIST || epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)))
        return CHAT_ERR_IO;
    io->fd = fd;
    io->events = events;
    return 0;
}

void loop_io_del(struct loop_io *io)
{
    if (io->fd >= 0)
        epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL); /* may be closed already */
    io->fd = -1;
    io->events = 0;
}

void loop_wait(int64_t wait_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n, i;

    n = epoll_wait(epfd, evs, LOOP_MAX_EVENTS, (int)wait_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    clock_update();
    for (i = 0; i < n; i++) {
        struct loop_io *io = evs[i].data.ptr;

        io->cb(io, evs[i].events);
    }
}

int64_t loop_now_ms(void)
{
    return now_ms;
}

int64_t loop_unix(void)
{
    return now_unix;
}
