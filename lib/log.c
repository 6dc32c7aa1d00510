/* log.c - one-line logs on stderr, one write() per line.
 *
 * The message is formatted first, then copied into the line with every
 * control byte (below 0x20, and 0x7f) written as \xNN, so a value taken
 * from a request can neither end a line nor hide in one. A mutex keeps
 * lines whole when a write is split by the kernel.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "hex.h"

static const char *log_component = "chat";
static enum log_level log_min = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *component, enum log_level min)
{
    log_component = component ? component : "chat";
    log_min = min;
}

enum log_level log_level_parse(const char *s)
{
    if (!s)
        return LOG_INFO;
    for (int i = LOG_DEBUG; i <= LOG_ERR; i++)
        if (!strcmp(s, log_names[i]))
            return (enum log_level)i;
    return LOG_INFO;
}

/* Append "2026-11-21T07:10:00.123Z" (UTC, milliseconds). */
static void log_add_time(struct buf *b)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    buf_addf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Append s[0..len) with control bytes as \xNN. */
static void log_add_safe(struct buf *b, const char *s, size_t len)
{
    size_t i, start = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 0x20 && c != 0x7f)
            continue;
        buf_add(b, s + start, i - start);
        start = i + 1;
        char esc[4] = {'\\', 'x', hex_digits[c >> 4], hex_digits[c & 15]};
        buf_add(b, esc, 4);
    }
    buf_add(b, s + start, len - start);
}

static void log_write(const char *s, size_t len)
{
    int saved = errno;

    pthread_mutex_lock(&log_lock);
    while (len) {
        ssize_t n = write(STDERR_FILENO, s, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s += n;
        len -= (size_t)n;
    }
    pthread_mutex_unlock(&log_lock);
    errno = saved;
}

/* Build one escaped line from fmt and write it. */
static void log_vline(enum log_level lvl, const char *fmt, va_list ap)
{
    struct buf msg = BUF_INIT, line = BUF_INIT;

    buf_vaddf(&msg, fmt, ap);
    log_add_time(&line);
    buf_addf(&line, " %s %s ", log_names[lvl], log_component);
    log_add_safe(&line, msg.s, msg.len);
    buf_addch(&line, '\n');
    log_write(line.s, line.len);
    buf_release(&msg);
    buf_release(&line);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (lvl < log_min || lvl > LOG_ERR)
        return;
    va_start(ap, fmt);
    log_vline(lvl, fmt, ap);
    va_end(ap);
}

void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vline(LOG_ERR, fmt, ap);
    va_end(ap);
    exit(1);
}
