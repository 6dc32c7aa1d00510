/* hex.h - hexadecimal digits (RFC 4648 §8, base 16): the one table of
 * them, and the tests of a character. */
#ifndef CHAT_HEX_H
#define CHAT_HEX_H

#include <stdbool.h>

/* "0123456789abcdef": what we write (crypto_hex, \u escapes, \xNN in logs). */
extern const char hex_digits[16];

/* c is a hex digit of either case (JSON's \uXXXX, RFC 8259 §7). */
static inline bool hex_is_digit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* c is a hex digit as we write them: 0-9 or a-f (tickets, cursors). */
static inline bool hex_is_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

#endif
