/* err.h - the error codes every library function of libchat returns. */
#ifndef CHAT_ERR_H
#define CHAT_ERR_H

/* Library functions return 0 on success or one of these (negative). */
enum chat_err {
    CHAT_OK = 0,
    CHAT_ERR_NOMEM = -1,   /* allocation failed */
    CHAT_ERR_INVALID = -2, /* malformed input */
    CHAT_ERR_TOO_BIG = -3, /* input over a limit */
    CHAT_ERR_IO = -4,      /* a system call failed; errno is kept */
    CHAT_ERR_AUTH = -5,    /* signature, expiry or claim check failed */
    CHAT_ERR_DB = -6,      /* PostgreSQL error */
    CHAT_ERR_REDIS = -7,   /* Redis error */
    CHAT_ERR_NOT_FOUND = -8,
    CHAT_ERR_BUSY = -9, /* a capacity limit is reached; retry later */
};

#endif
