/* log.h - one-line structured logs on stderr.
 *
 * Each line: "2026-11-21T07:10:00.123Z level component message key=value...".
 * Every argument passes through log_safe formatting: CR, LF, NUL and other
 * control bytes are written as \xNN, so no input can forge or split a line.
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

/* Set the component name printed on each line (static string) and the minimum level. */
void log_init(const char *component, enum log_level min);
/* Parse "debug", "info", "warn" or "error"; returns LOG_INFO for anything else. */
enum log_level log_level_parse(const char *s);
/* printf-style; the formatted result has control characters escaped. Thread-safe. */
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

/* Print to stderr and exit(1). Only at startup, never while serving. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
