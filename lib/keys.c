/* keys.c - the shared Redis names (keys.h). */
#include "keys.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

static int fmt_id(char *out, const char *prefix, int64_t id, const char *suffix)
{
    int n = snprintf(out, KEY_MAX, "%s%lld}%s", prefix, (long long)id, suffix);

    return n < KEY_MAX ? n : KEY_MAX - 1;
}

int key_chat(char *out, int64_t chat_id)
{
    return fmt_id(out, KEY_CHAT_PREFIX, chat_id, "");
}

int key_user(char *out, int64_t user_id)
{
    return fmt_id(out, KEY_USER_PREFIX, user_id, "");
}

int key_chat_version(char *out, int64_t chat_id)
{
    return fmt_id(out, KEY_CHAT_PREFIX, chat_id, ":cv");
}

int key_auth_epoch(char *out, int64_t user_id)
{
    return fmt_id(out, KEY_USER_PREFIX, user_id, ":ae");
}

int key_presence(char *out, int64_t user_id)
{
    return fmt_id(out, KEY_USER_PREFIX, user_id, ":presence");
}

int key_ticket(char *out, const char *hex)
{
    int n = snprintf(out, KEY_MAX, "ticket:%s", hex);

    return n < KEY_MAX ? n : KEY_MAX - 1;
}

int key_rate(char *out, const char *class, int64_t user_id, const char *addr, long long window)
{
    int n = user_id ? snprintf(out, KEY_MAX, KEY_USER_PREFIX "%lld}:rl:%s:%lld", (long long)user_id,
                               class, window)
                    : snprintf(out, KEY_MAX, "rl:%s:ip%s:%lld", class, addr, window);

    return n < KEY_MAX ? n : KEY_MAX - 1;
}

bool key_channel_id(const char *name, size_t len, const char *prefix, int64_t *id)
{
    size_t plen = strlen(prefix);
    char digits[24];

    if (len <= plen + 1 || len - plen - 1 >= sizeof(digits) || memcmp(name, prefix, plen) != 0 ||
        name[len - 1] != '}')
        return false;
    memcpy(digits, name + plen, len - plen - 1);
    digits[len - plen - 1] = '\0';
    return json_parse_int(digits, 1, JSON_INT_MAX, id) == 0;
}
