/* jwt.c - HS256 JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515).
 *
 * Verification order: shape (three parts, sizes), header (alg pinned to
 * HS256, no crit), signature in constant time, then the claims. Nothing in
 * the header chooses a key or an algorithm. Claims are read through
 * json_get_int, so a number that is not an exact integer is refused.
 */
#include "jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "json.h"

#define JWT_MAX_LEN 4096 /* bytes of a whole token; ours are about 300 */

/* base64url of {"alg":"HS256","typ":"JWT"} */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

static void jwt_add_b64(struct buf *out, const void *data, size_t len)
{
    buf_grow(out, (len + 2) / 3 * 4);
    out->len += crypto_b64url_encode(data, len, out->s + out->len);
}

static void jwt_add_claims(struct buf *p, const char *iss, const char *aud,
                           const struct jwt_claims *cl)
{
    buf_adds(p, "{\"iss\":");
    buf_add_json_str(p, iss, strlen(iss));
    buf_adds(p, ",\"aud\":");
    buf_add_json_str(p, aud, strlen(aud));
    buf_addf(p,
             ",\"sub\":%" PRId64 ",\"sid\":%" PRId64 ",\"tv\":%" PRId64 ",\"iat\":%" PRId64
             ",\"nbf\":%" PRId64 ",\"exp\":%" PRId64 "}",
             cl->sub, cl->sid, cl->tv, cl->iat, cl->nbf, cl->exp);
}

void jwt_sign(const unsigned char *key, const char *iss, const char *aud,
              const struct jwt_claims *cl, struct buf *out)
{
    struct buf payload = BUF_INIT;
    unsigned char mac[32];
    size_t start = out->len;

    jwt_add_claims(&payload, iss, aud, cl);
    buf_adds(out, jwt_header_b64);
    buf_addch(out, '.');
    jwt_add_b64(out, payload.s, payload.len);
    crypto_hmac_sha256(key, JWT_KEY_LEN, out->s + start, out->len - start, mac);
    buf_addch(out, '.');
    jwt_add_b64(out, mac, sizeof(mac));
    buf_release(&payload);
}

/* Decode a base64url part and parse it as a JSON object. NULL if either fails. */
static cJSON *jwt_decode_json(const char *s, size_t len)
{
    unsigned char *raw = malloc(len / 4 * 3 + 3);
    const char *why;
    cJSON *obj = NULL;
    long n;

    if (!raw)
        return NULL;
    n = crypto_b64url_decode(s, len, raw);
    if (n >= 0)
        obj = json_parse((const char *)raw, (size_t)n, &why);
    free(raw);
    if (obj && !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        obj = NULL;
    }
    return obj;
}

/* The header must say alg HS256; typ, if present, JWT; crit must be absent
 * (RFC 7515 section 4.1.11: we understand no extension). */
static int jwt_check_header(const char *s, size_t len)
{
    cJSON *h = jwt_decode_json(s, len);
    const cJSON *alg, *typ;
    int rc = CHAT_ERR_INVALID;

    if (!h)
        return CHAT_ERR_INVALID;
    alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    typ = cJSON_GetObjectItemCaseSensitive(h, "typ");
    if (cJSON_IsString(alg) && !strcmp(alg->valuestring, "HS256") &&
        (!typ || (cJSON_IsString(typ) && !strcasecmp(typ->valuestring, "JWT"))) &&
        !cJSON_GetObjectItemCaseSensitive(h, "crit"))
        rc = 0;
    cJSON_Delete(h);
    return rc;
}

static int jwt_check_signature(const unsigned char *key, const char *token, size_t signed_len,
                               const char *sig, size_t sig_len)
{
    unsigned char mac[32], got[32 + 3];

    if (sig_len != 43 || crypto_b64url_decode(sig, sig_len, got) != 32)
        return CHAT_ERR_INVALID;
    crypto_hmac_sha256(key, JWT_KEY_LEN, token, signed_len, mac);
    return crypto_equal(mac, got, 32) ? 0 : CHAT_ERR_AUTH;
}

static bool jwt_str_claim_is(const cJSON *obj, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) && !strcmp(v->valuestring, want);
}

static int jwt_int_claim(const cJSON *obj, const char *name, int64_t min, int64_t *out)
{
    return json_get_int(cJSON_GetObjectItemCaseSensitive(obj, name), min, JSON_INT_MAX, out);
}

/* Read the integer claims; all are required since jwt_sign writes them all. */
static int jwt_read_claims(const cJSON *p, struct jwt_claims *cl)
{
    if (jwt_int_claim(p, "sub", 1, &cl->sub) || jwt_int_claim(p, "sid", 0, &cl->sid) ||
        jwt_int_claim(p, "tv", 0, &cl->tv) || jwt_int_claim(p, "iat", 0, &cl->iat) ||
        jwt_int_claim(p, "nbf", 0, &cl->nbf) || jwt_int_claim(p, "exp", 0, &cl->exp))
        return CHAT_ERR_INVALID;
    return 0;
}

static int jwt_check_claims(const char *s, size_t len, const char *iss, const char *aud,
                            int64_t now, struct jwt_claims *cl)
{
    cJSON *p = jwt_decode_json(s, len);
    struct jwt_claims tmp;
    int rc;

    if (!p)
        return CHAT_ERR_INVALID;
    rc = jwt_read_claims(p, &tmp);
    if (!rc && (!jwt_str_claim_is(p, "iss", iss) || !jwt_str_claim_is(p, "aud", aud)))
        rc = CHAT_ERR_AUTH;
    /* RFC 7519 4.1.4: refuse at or after exp; 4.1.5: refuse before nbf. */
    if (!rc && (now >= tmp.exp + JWT_SKEW || now < tmp.nbf - JWT_SKEW))
        rc = CHAT_ERR_AUTH;
    if (!rc)
        *cl = tmp;
    cJSON_Delete(p);
    return rc;
}

int jwt_verify(const unsigned char *key, const char *iss, const char *aud, const char *token,
               int64_t now, struct jwt_claims *cl)
{
    size_t len = strnlen(token, JWT_MAX_LEN + 1);
    const char *dot1, *dot2;
    int rc;

    if (len > JWT_MAX_LEN)
        return CHAT_ERR_INVALID;
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return CHAT_ERR_INVALID;
    if ((rc = jwt_check_header(token, (size_t)(dot1 - token))))
        return rc;
    rc = jwt_check_signature(key, token, (size_t)(dot2 - token), dot2 + 1,
                             len - (size_t)(dot2 + 1 - token));
    if (rc)
        return rc;
    return jwt_check_claims(dot1 + 1, (size_t)(dot2 - dot1 - 1), iss, aud, now, cl);
}

/* Read exactly JWT_KEY_LEN bytes from path. CHAT_ERR_NOT_FOUND if it does
 * not exist, CHAT_ERR_INVALID if its size is wrong. */
static int jwt_key_read(const char *path, unsigned char *key)
{
    unsigned char tmp[JWT_KEY_LEN + 1];
    size_t got = 0;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? CHAT_ERR_NOT_FOUND : CHAT_ERR_IO;
    while (got < sizeof(tmp) && (n = read(fd, tmp + got, sizeof(tmp) - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (n < 0)
        return CHAT_ERR_IO;
    if (got != JWT_KEY_LEN)
        return CHAT_ERR_INVALID;
    memcpy(key, tmp, JWT_KEY_LEN);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return 0;
}

/* Create the parent directory of path (mode 0700) if it is missing. */
static int jwt_key_mkdir(const char *path)
{
    char *copy = strdup(path);
    int rc = 0;

    if (!copy)
        return CHAT_ERR_NOMEM;
    if (mkdir(dirname(copy), 0700) && errno != EEXIST)
        rc = CHAT_ERR_IO;
    free(copy);
    return rc;
}

static int jwt_write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return CHAT_ERR_IO;
        p += n;
        len -= (size_t)n;
    }
    return fsync(fd) ? CHAT_ERR_IO : 0;
}

/* Create path with a fresh key. CHAT_ERR_NOT_FOUND asks the caller to read
 * it instead: another process created it first. */
static int jwt_key_create(const char *path, unsigned char *key)
{
    int fd, rc;

    if ((rc = jwt_key_mkdir(path)))
        return rc;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? CHAT_ERR_NOT_FOUND : CHAT_ERR_IO;
    rc = crypto_random(key, JWT_KEY_LEN);
    if (!rc)
        rc = jwt_write_all(fd, key, JWT_KEY_LEN);
    close(fd);
    if (rc)
        unlink(path);
    return rc;
}

int jwt_key_load(const char *path, unsigned char *key)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    int rc = jwt_key_read(path, key);

    if (rc != CHAT_ERR_NOT_FOUND)
        return rc;
    rc = jwt_key_create(path, key);
    if (rc != CHAT_ERR_NOT_FOUND)
        return rc;
    /* Lost the O_EXCL race: the winner may still be writing, so give it up
     * to a second to finish before calling a short file invalid. */
    for (int i = 0; i < 50; i++) {
        rc = jwt_key_read(path, key);
        if (rc != CHAT_ERR_INVALID && rc != CHAT_ERR_NOT_FOUND)
            return rc;
        nanosleep(&pause, NULL);
    }
    return rc == CHAT_ERR_NOT_FOUND ? CHAT_ERR_IO : rc;
}
