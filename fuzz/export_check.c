/*
 * export_check.c - checks the text of nv_pool_stats_json and
 * nv_pool_stats_prometheus: well-formed (JSON: RFC 8259 syntax and UTF-8;
 * Prometheus: text exposition format 0.0.4 lines), the pool label equal to
 * the pool's name, and every number equal to nv_pool_get_stats.
 */
#include "fuzz/export_check.h"

#include <nv_pool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser_s {
    const char *start, *p, *end;
    char *error;
    size_t error_size;
} parser_t;

static int bad(parser_t *ps, const char *what)
{
    if (ps->error[0] == '\0')
        snprintf(ps->error, ps->error_size, "%s at byte %ld", what, (long)(ps->p - ps->start));
    return 0;
}

/* One UTF-8 sequence at ps->p (already known to be >= 0x80). */
static int utf8(parser_t *ps)
{
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t left = (size_t)(ps->end - ps->p), n, i;
    unsigned c = s[0];
    unsigned long cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return bad(ps, "invalid UTF-8 lead byte");
    }
    if (left < n)
        return bad(ps, "truncated UTF-8 sequence");
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return bad(ps, "invalid UTF-8 continuation byte");
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return bad(ps, "overlong or surrogate UTF-8 sequence");
    ps->p += n;
    return 1;
}

/* A JSON string; its unescaped bytes go to out (if not NULL). */
static int json_string(parser_t *ps, char *out, size_t out_size)
{
    size_t n = 0;
    if (ps->p >= ps->end || *ps->p != '"')
        return bad(ps, "expected a string");
    ps->p++;
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        char decoded;
        if (c < 0x20)
            return bad(ps, "raw control character in a JSON string");
        if (c >= 0x80) {
            const char *from = ps->p;
            if (!utf8(ps))
                return 0;
            while (from < ps->p) {
                if (out && n + 1 < out_size)
                    out[n++] = *from;
                from++;
            }
            continue;
        }
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end)
                return bad(ps, "escape at the end");
            switch (*ps->p) {
            case '"': decoded = '"'; break;
            case '\\': decoded = '\\'; break;
            case '/': decoded = '/'; break;
            case 'b': decoded = '\b'; break;
            case 'f': decoded = '\f'; break;
            case 'n': decoded = '\n'; break;
            case 'r': decoded = '\r'; break;
            case 't': decoded = '\t'; break;
            case 'u': {
                int i;
                for (i = 1; i <= 4; i++)
                    if (ps->p + i >= ps->end || !strchr("0123456789abcdefABCDEF", ps->p[i]) ||
                        ps->p[i] == '\0')
                        return bad(ps, "bad \\u escape");
                ps->p += 4;
                decoded = '?';
                break;
            }
            default:
                return bad(ps, "unknown escape in a JSON string");
            }
            ps->p++;
        } else {
            decoded = (char)c;
            ps->p++;
        }
        if (out && n + 1 < out_size)
            out[n++] = decoded;
    }
    if (ps->p >= ps->end)
        return bad(ps, "unterminated string");
    ps->p++;
    if (out)
        out[n] = '\0';
    return 1;
}

/* A JSON number; an integer value (if it is one) goes to *integer. */
static int json_number(parser_t *ps, unsigned long long *integer, int *is_integer)
{
    const char *start = ps->p;
    int fraction = 0;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return bad(ps, "expected a number");
    if (*ps->p == '0')
        ps->p++;
    else
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        fraction = 1;
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return bad(ps, "digits expected after '.'");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        fraction = 1;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return bad(ps, "digits expected in an exponent");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    *is_integer = !fraction && *start != '-';
    if (*is_integer) {
        char digits[32];
        size_t n = (size_t)(ps->p - start);
        if (n >= sizeof digits)
            return bad(ps, "integer too long");
        memcpy(digits, start, n);
        digits[n] = '\0';
        *integer = strtoull(digits, NULL, 10);
    }
    return 1;
}

static int json_value(parser_t *ps, int depth);

static void json_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int json_value(parser_t *ps, int depth)
{
    unsigned long long ignored;
    int is_integer;
    if (depth > 16)
        return bad(ps, "nesting too deep");
    json_ws(ps);
    if (ps->p >= ps->end)
        return bad(ps, "value expected");
    switch (*ps->p) {
    case '"':
        return json_string(ps, NULL, 0);
    case '{':
    case '[': {
        char close = *ps->p == '{' ? '}' : ']';
        int object = close == '}';
        ps->p++;
        json_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 1;
        }
        for (;;) {
            if (object) {
                json_ws(ps);
                if (!json_string(ps, NULL, 0))
                    return 0;
                json_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return bad(ps, "':' expected");
                ps->p++;
            }
            if (!json_value(ps, depth + 1))
                return 0;
            json_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                return 1;
            }
            return bad(ps, "',' or a closing bracket expected");
        }
    }
    case 't':
    case 'f':
    case 'n': {
        const char *word = *ps->p == 't' ? "true" : (*ps->p == 'f' ? "false" : "null");
        size_t n = strlen(word);
        if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
            return bad(ps, "bad literal");
        ps->p += n;
        return 1;
    }
    default:
        return json_number(ps, &ignored, &is_integer);
    }
}

/* The expected label: what the pool keeps of its name (at most
 * NV_POOL_NAME_MAX - 1 bytes, cut before a split UTF-8 character), with
 * control characters other than newline and bytes that are not valid UTF-8
 * shown as '?'. */
static size_t expected_utf8_length(const unsigned char *t)
{
    size_t len, i;
    if (t[0] < 0x80)
        return 1;
    if (t[0] >= 0xC2 && t[0] <= 0xDF)
        len = 2;
    else if (t[0] >= 0xE0 && t[0] <= 0xEF)
        len = 3;
    else if (t[0] >= 0xF0 && t[0] <= 0xF4)
        len = 4;
    else
        return 0;
    for (i = 1; i < len; i++)
        if ((t[i] & 0xC0) != 0x80)
            return 0;
    /* no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF */
    if ((t[0] == 0xE0 && t[1] < 0xA0) || (t[0] == 0xED && t[1] > 0x9F) ||
        (t[0] == 0xF0 && t[1] < 0x90) || (t[0] == 0xF4 && t[1] > 0x8F))
        return 0;
    return len;
}

static void expected_name(const char *name, char *out, size_t out_size)
{
    const char *s = name ? name : "pool";
    unsigned char kept[48];
    size_t n = strlen(s), i = 0, o = 0;
    if (n > 47) {
        n = 47;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(kept, s, n);
    kept[n] = '\0';
    while (i < n && o + 4 < out_size) {
        size_t len = expected_utf8_length(kept + i);
        if (len == 0 || (len == 1 && kept[i] < 0x20 && kept[i] != '\n')) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, kept + i, len);
            o += len;
            i += len;
        }
    }
    out[o] = '\0';
}

#define FIELD(name) {#name, offsetof(nv_pool_stats_t, name), sizeof(((nv_pool_stats_t *)0)->name)}

static const struct field_s {
    const char *key;
    size_t offset, size;
} fields[] = {
    FIELD(size),          FIELD(used),         FIELD(free),
    FIELD(peak_used),     FIELD(live_allocations), FIELD(blocks),
    FIELD(large_allocations), FIELD(overhead), FIELD(allocations),
    FIELD(frees),         FIELD(reallocations), FIELD(resets),
    FIELD(failed_allocations), FIELD(allocated_bytes),
};

static unsigned long long field_value(const nv_pool_stats_t *st, const struct field_s *f)
{
    const char *at = (const char *)st + f->offset;
    if (f->size == sizeof(uint64_t) && f->size != sizeof(size_t)) {
        uint64_t v;
        memcpy(&v, at, sizeof v);
        return v;
    }
    if (f->size == sizeof(size_t)) {
        size_t v;
        memcpy(&v, at, sizeof v);
        return v;
    }
    return 0;
}

int nv_fuzz_check_json(const char *text, size_t length, const nv_pool_stats_t *st,
                       const char *name, char *error, size_t error_size)
{
    parser_t ps = {text, text, text + length, error, error_size};
    char label[128], want[128], key[64];
    unsigned seen = 0;
    int histogram_seen = 0;
    error[0] = '\0';
    expected_name(name, want, sizeof want);
    if (length < 3 || text[length - 1] != '\n' || memchr(text, '\n', length - 1))
        return bad(&ps, "not exactly one line ending in a newline");
    ps.end = text + length - 1;
    json_ws(&ps);
    if (ps.p >= ps.end || *ps.p != '{')
        return bad(&ps, "the text is not an object");
    ps.p++;
    for (;;) {
        unsigned i;
        json_ws(&ps);
        if (!json_string(&ps, key, sizeof key))
            return 0;
        json_ws(&ps);
        if (ps.p >= ps.end || *ps.p != ':')
            return bad(&ps, "':' expected");
        ps.p++;
        json_ws(&ps);
        if (strcmp(key, "pool") == 0) {
            if (!json_string(&ps, label, sizeof label))
                return 0;
            if (strcmp(label, want) != 0) {
                snprintf(error, error_size, "\"pool\" is \"%s\", the pool is named \"%s\"", label,
                         want);
                return 0;
            }
            seen |= 1u << 31;
        } else if (strcmp(key, "size_histogram") == 0) {
            const char *start = ps.p;
            unsigned count = 0;
            unsigned long long v;
            int is_integer;
            if (ps.p >= ps.end || *ps.p != '[')
                return bad(&ps, "size_histogram is not an array");
            ps.p++;
            while (ps.p < ps.end && *ps.p != ']') {
                if (!json_number(&ps, &v, &is_integer))
                    return 0;
                if (!is_integer || count >= NV_POOL_HISTOGRAM_BUCKETS ||
                    v != st->size_histogram[count]) {
                    snprintf(error, error_size, "size_histogram[%u] differs from the stats", count);
                    return 0;
                }
                count++;
                if (ps.p < ps.end && *ps.p == ',')
                    ps.p++;
            }
            if (ps.p >= ps.end || count != NV_POOL_HISTOGRAM_BUCKETS) {
                ps.p = start;
                return bad(&ps, "size_histogram does not have NV_POOL_HISTOGRAM_BUCKETS counts");
            }
            ps.p++;
            histogram_seen = 1;
        } else {
            int known = 0;
            for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
                if (strcmp(key, fields[i].key) == 0) {
                    unsigned long long v;
                    int is_integer;
                    if (!json_number(&ps, &v, &is_integer))
                        return 0;
                    if (!is_integer || v != field_value(st, &fields[i])) {
                        snprintf(error, error_size, "\"%s\" is %llu, nv_pool_get_stats says %llu",
                                 key, v, field_value(st, &fields[i]));
                        return 0;
                    }
                    seen |= 1u << i;
                    known = 1;
                }
            }
            if (!known && !json_value(&ps, 1))
                return 0;
        }
        json_ws(&ps);
        if (ps.p < ps.end && *ps.p == ',') {
            ps.p++;
            continue;
        }
        if (ps.p < ps.end && *ps.p == '}') {
            ps.p++;
            break;
        }
        return bad(&ps, "',' or '}' expected");
    }
    json_ws(&ps);
    if (ps.p != ps.end)
        return bad(&ps, "text after the object");
    if (seen != ((1u << 31) | ((1u << (sizeof fields / sizeof fields[0])) - 1)) || !histogram_seen) {
        snprintf(error, error_size, "fields missing (seen mask 0x%x)", seen);
        return 0;
    }
    return 1;
}

/* Prometheus: HELP/TYPE comments and samples `name{labels} value`. */
int nv_fuzz_check_prometheus(const char *text, size_t length, const nv_pool_stats_t *st,
                             const char *name, char *error, size_t error_size)
{
    const char *p = text, *end = text + length;
    char want[128], metric[96], label[128], value[64];
    unsigned long long count_total = 0;
    unsigned long long previous_bucket = 0;
    unsigned samples = 0, buckets = 0;
    error[0] = '\0';
    expected_name(name, want, sizeof want);
    if (length == 0 || text[length - 1] != '\n') {
        snprintf(error, error_size, "the text does not end in a newline");
        return 0;
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t m = 0, l = 0, v = 0;
        unsigned i;
        int le_seen = 0;
        if (!eol)
            eol = end;
        if (*p == '#') {
            if (!((eol - p > 7 && memcmp(p, "# HELP ", 7) == 0) ||
                  (eol - p > 7 && memcmp(p, "# TYPE ", 7) == 0))) {
                snprintf(error, error_size, "a comment line that is neither HELP nor TYPE");
                return 0;
            }
            p = eol + 1;
            continue;
        }
        /* metric name */
        while (p < eol && (((*p | 32) >= 'a' && (*p | 32) <= 'z') || *p == '_' || *p == ':' ||
                           (m > 0 && *p >= '0' && *p <= '9'))) {
            if (m + 1 < sizeof metric)
                metric[m++] = *p;
            p++;
        }
        metric[m] = '\0';
        if (m == 0 || p >= eol || *p != '{') {
            snprintf(error, error_size, "a sample line without a metric name and labels");
            return 0;
        }
        p++;
        /* labels: name="value" pairs */
        for (;;) {
            char lname[16];
            size_t n = 0;
            while (p < eol && *p != '=' && n + 1 < sizeof lname)
                lname[n++] = *p++;
            lname[n] = '\0';
            if (p + 1 >= eol || *p != '=' || p[1] != '"') {
                snprintf(error, error_size, "%s: a malformed label", metric);
                return 0;
            }
            p += 2;
            l = 0;
            while (p < eol && *p != '"') {
                char c = *p++;
                if (c == '\\') {
                    if (p >= eol || (*p != '\\' && *p != '"' && *p != 'n')) {
                        snprintf(error, error_size, "%s: a bad escape in a label value", metric);
                        return 0;
                    }
                    c = *p == 'n' ? '\n' : *p;
                    p++;
                }
                if (l + 1 < sizeof label)
                    label[l++] = c;
            }
            label[l] = '\0';
            if (p >= eol) {
                snprintf(error, error_size, "%s: an unterminated label value", metric);
                return 0;
            }
            p++;
            if (strcmp(lname, "pool") == 0 && strcmp(label, want) != 0) {
                snprintf(error, error_size, "%s: pool label \"%s\", the pool is named \"%s\"",
                         metric, label, want);
                return 0;
            }
            if (strcmp(lname, "le") == 0)
                le_seen = 1;
            if (p < eol && *p == ',') {
                p++;
                continue;
            }
            break;
        }
        if (p + 1 >= eol || *p != '}' || p[1] != ' ') {
            snprintf(error, error_size, "%s: '} ' expected after the labels", metric);
            return 0;
        }
        p += 2;
        while (p < eol && v + 1 < sizeof value)
            value[v++] = *p++;
        value[v] = '\0';
        if (v == 0 || strspn(value, "0123456789.+-eEInf") != v) {
            snprintf(error, error_size, "%s: value \"%s\" is not a number", metric, value);
            return 0;
        }
        samples++;
        for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            /* Metric names for fields[i] (docs: nv_pool_<field>[_bytes|_total]);
             * allocated_bytes is the histogram's _sum. */
            static const char *const names[] = {
                "size_bytes", "used_bytes", "free_bytes", "peak_used_bytes",
                "live_allocations", "blocks", "large_allocations", "overhead_bytes",
                "allocations_total", "frees_total", "reallocations_total", "resets_total",
                "failed_allocations_total", NULL};
            char expect_name[96];
            if (i >= sizeof names / sizeof names[0] || !names[i])
                continue;
            snprintf(expect_name, sizeof expect_name, "nv_pool_%s", names[i]);
            if (strcmp(metric, expect_name) == 0 &&
                strtoull(value, NULL, 10) != field_value(st, &fields[i])) {
                snprintf(error, error_size, "%s is %s, nv_pool_get_stats says %llu", metric, value,
                         field_value(st, &fields[i]));
                return 0;
            }
        }
        if (strcmp(metric, "nv_pool_allocation_size_bytes_bucket") == 0) {
            unsigned long long c = strtoull(value, NULL, 10);
            if (!le_seen || c < previous_bucket) {
                snprintf(error, error_size, "histogram buckets are not cumulative");
                return 0;
            }
            count_total += st->size_histogram[buckets < NV_POOL_HISTOGRAM_BUCKETS ? buckets : 0];
            if (buckets >= NV_POOL_HISTOGRAM_BUCKETS || c != count_total) {
                snprintf(error, error_size, "histogram bucket %u is %llu, the stats give %llu",
                         buckets, c, count_total);
                return 0;
            }
            previous_bucket = c;
            buckets++;
        } else if (strcmp(metric, "nv_pool_allocation_size_bytes_sum") == 0) {
            if (strtoull(value, NULL, 10) != st->allocated_bytes) {
                snprintf(error, error_size, "histogram _sum %s, allocated_bytes %llu", value,
                         (unsigned long long)st->allocated_bytes);
                return 0;
            }
        } else if (strcmp(metric, "nv_pool_allocation_size_bytes_count") == 0) {
            if (strtoull(value, NULL, 10) != count_total) {
                snprintf(error, error_size, "histogram _count %s, buckets sum to %llu", value,
                         count_total);
                return 0;
            }
        }
        p = eol + 1;
    }
    if (buckets != NV_POOL_HISTOGRAM_BUCKETS || samples < 14) {
        snprintf(error, error_size, "%u samples and %u histogram buckets", samples, buckets);
        return 0;
    }
    return 1;
}
