/* main.c - chat-push: startup, signals and the one epoll event loop.
 *
 * The epoll set (loop.c) holds MHD's own epoll fd (http.c), the two hiredis contexts
 * (rds_sub.c), the libpq socket (pgq.c), a timerfd ticking every 250 ms and
 * a signalfd for SIGTERM/SIGINT. Each pass: wait, dispatch, then resume the
 * woken connections in one batch and run MHD if it has work (http_run),
 * and send queued PostgreSQL queries. Nothing here blocks.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "cfg.h"
#include "crypto.h"
#include "err.h"
#include "fwd.h"
#include "http.h"
#include "hub.h"
#include "jwt.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "pgq.h"
#include "presence.h"
#include "rds_sub.h"
#include "sync.h"

#define TICK_MS 250
#define SHUTDOWN_GRACE_MS 1500

/* ---- the process ---- */

static struct {
    struct cfg cfg;
    unsigned char key[JWT_KEY_LEN];
    struct hub hub;
    bool mhd_ready, stopping, tick_due;
    int64_t stop_deadline_ms;
    int sigfd, timerfd;
} P;

static void on_mhd(struct loop_io *io, uint32_t revents)
{
    P.mhd_ready = true;
}

static void on_timer(struct loop_io *io, uint32_t revents)
{
    uint64_t n;

    if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn("timerfd read: %s", strerror(errno));
    P.tick_due = true;
}

static void on_signal(struct loop_io *io, uint32_t revents)
{
    struct signalfd_siginfo si;

    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (P.stopping)
            continue;
        log_info("signal %d: stopping, %u streams to end", (int)si.ssi_signo, http_active());
        P.stopping = true;
        P.stop_deadline_ms = loop_now_ms() + SHUTDOWN_GRACE_MS;
        http_shutdown_begin();
    }
}

static const struct hub_ops hub_ops = {
    .subscribe = rds_subscribe,
    .unsubscribe = rds_unsubscribe,
    .baseline = auth_baseline,
    .fetch = sync_fetch,
};

static int setup_fds(void)
{
    static struct loop_io mhd_io[HTTP_NDAEMONS] = {LOOP_IO_INIT(on_mhd), LOOP_IO_INIT(on_mhd),
                                                   LOOP_IO_INIT(on_mhd)};
    static struct loop_io timer_io = LOOP_IO_INIT(on_timer);
    static struct loop_io sig_io = LOOP_IO_INIT(on_signal);
    struct itimerspec its = {{0, TICK_MS * 1000000L}, {0, TICK_MS * 1000000L}};
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL))
        return CHAT_ERR_IO;
    P.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    P.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (P.sigfd < 0 || P.timerfd < 0 || timerfd_settime(P.timerfd, 0, &its, NULL))
        return CHAT_ERR_IO;
    if (loop_io_set(&sig_io, P.sigfd, EPOLLIN) || loop_io_set(&timer_io, P.timerfd, EPOLLIN))
        return CHAT_ERR_IO;
    for (enum http_daemon i = 0; i < HTTP_NDAEMONS; i++)
        if (http_epoll_fd(i) >= 0 && loop_io_set(&mhd_io[i], http_epoll_fd(i), EPOLLIN))
            return CHAT_ERR_IO;
    return 0;
}

static void tick(void)
{
    static int64_t last_http_tick;
    int64_t now_ms = loop_now_ms();

    P.tick_due = false;
    rds_tick(now_ms);
    pgq_tick(now_ms);
    sync_tick(now_ms);
    if (now_ms - last_http_tick >= 1000) {
        last_http_tick = now_ms;
        http_tick(now_ms);
        hub_tick(&P.hub, loop_unix());
        if (!P.stopping)
            presence_tick(now_ms);
    }
}

static void run(void)
{
    int64_t wait_ms = 0, now_ms;

    for (;;) {
        loop_wait(wait_ms);
        now_ms = loop_now_ms();
        if (P.tick_due)
            tick();
        fwd_run(now_ms);
        wait_ms = http_run(P.mhd_ready, now_ms);
        P.mhd_ready = false;
        pgq_poll(); /* last: MHD's handlers queue queries too (a stream's baseline) */
        if (http_busy())
            wait_ms = 0;
        else if (fwd_wait_ms(now_ms) >= 0 && (wait_ms < 0 || fwd_wait_ms(now_ms) < wait_ms))
            wait_ms = fwd_wait_ms(now_ms);
        if (P.stopping && (http_active() == 0 || now_ms >= P.stop_deadline_ms))
            break;
        if (wait_ms < 0 || wait_ms > TICK_MS)
            wait_ms = TICK_MS;
    }
}

/* Raise the descriptor limit to its hard limit and keep the connection limit
 * under it: MHD's own default (1020) and an EMFILE storm are both worse. */
static void fit_fd_limit(void)
{
    struct rlimit rl;
    int room;

    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    room = rl.rlim_cur > 1000000 ? 1000000 : (int)rl.rlim_cur - 64;
    if (P.cfg.push_max_conns > room) {
        log_info("push_max_conns %d is over the descriptor limit, using %d", P.cfg.push_max_conns,
                 room);
        P.cfg.push_max_conns = room;
    }
}

/* The cursor epoch of this process run: the start time, 16 random bits (two
 * runs in one second differ), and in the lowest byte push_node, which
 * nginx's resume map reads from the cursor's first part (hub.h; chatctl). */
static uint64_t run_epoch(void)
{
    unsigned char r[2] = {0, 0};

    if (crypto_random(r, sizeof(r)))
        log_warn("no randomness for the cursor epoch; using the pid");
    return ((uint64_t)loop_unix() << 24) |
           ((((uint64_t)r[0] << 8 | r[1]) ^ ((uint64_t)getpid() & 0xffff)) << 8) |
           (uint64_t)(P.cfg.push_node & 0xff);
}

int main(int argc, char **argv)
{
    char err[256];
    const struct sub_ops *transports[OPS_MAX_TRANSPORTS];
    size_t nt;

    signal(SIGPIPE, SIG_IGN); /* hiredis and MHD write to sockets */
    if (cfg_load(&P.cfg, NULL, err, sizeof(err)))
        die("chat-push: %s", err);
    if (cfg_load_secrets(&P.cfg, err, sizeof(err)))
        die("chat-push: %s", err);
    log_init("chat-push", log_level_parse(P.cfg.log_level));
    if (jwt_key_load(P.cfg.jwt_key_file, P.key))
        die("chat-push: cannot load the JWT key from %s", P.cfg.jwt_key_file);
    fit_fd_limit();
    if (loop_init())
        die("epoll_create1: %s", strerror(errno));
    hub_init(&P.hub, &hub_ops, NULL, run_epoch());
    nt = http_transports(transports, OPS_MAX_TRANSPORTS);
    if (ops_init(&P.hub, transports, nt))
        die("chat-push: cannot register its metrics");
    if (http_start(&P.cfg, &P.hub, P.key))
        die("chat-push: cannot start the HTTP daemon");
    if (setup_fds())
        die("chat-push: event loop setup: %s", strerror(errno));
    if (rds_init(&P.hub, P.cfg.redis_cluster, P.cfg.redis_host, P.cfg.redis_port,
                 P.cfg.redis_password))
        die("chat-push: bad redis_cluster");
    pgq_init(P.cfg.db_conninfo);
    {
        char base[64];

        snprintf(base, sizeof(base), "http://127.0.0.1:%d", P.cfg.port);
        if (fwd_init(base))
            die("chat-push: cannot set up libcurl");
    }
    sync_init(&P.hub);
    presence_init(&P.hub, P.cfg.max_ephemeral_fanout);
    if (P.cfg.redis_cluster[0])
        log_info("started, redis cluster %s, heartbeat %d s", P.cfg.redis_cluster, P.cfg.heartbeat);
    else
        log_info("started, redis %s:%d, heartbeat %d s", P.cfg.redis_host, P.cfg.redis_port,
                 P.cfg.heartbeat);

    run();

    http_stop();
    fwd_close();
    rds_close();
    pgq_close();
    presence_release();
    hub_release(&P.hub);
    ops_release();
    cfg_release(&P.cfg);
    log_info("stopped");
    return 0;
}
