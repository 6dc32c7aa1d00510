/* field.c - field specs: the rule of one string field of a JSON body. */
#include "field.h"

#include <string.h>

static bool has_control(const char *s, bool multiline)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t' || c == '\r'))) || c == 0x7f)
            return true;
    }
    return false;
}

int field_str_check(const struct str_field *f, const cJSON *it, const char **out, struct buf *why)
{
    size_t len;

    *out = NULL;
    if (!it || cJSON_IsNull(it)) {
        if (!f->required)
            return 0;
        buf_addf(why, "%s is required", f->name);
        return -1;
    }
    if (!cJSON_IsString(it)) {
        buf_addf(why, "%s must be a string", f->name);
        return -1;
    }
    len = strlen(it->valuestring);
    if (len < f->min || len > f->max) {
        buf_addf(why, "%s must be %zu to %zu bytes", f->name, f->min, f->max);
        return -1;
    }
    if (has_control(it->valuestring, f->multiline)) {
        buf_addf(why, "%s holds control characters", f->name);
        return -1;
    }
    *out = it->valuestring;
    return 0;
}
