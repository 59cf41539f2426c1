/* nv/log.c - the one-line logger behind nv_log.h. */
#include "nv_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void default_handler(nv_log_level_t level, const char *line,
                            void *context)
{
    char out[NV_LOG_LINE_MAX + 32];
    (void)context;
    /* One fputs of a complete line, so lines from concurrent writers do not
     * interleave mid-line. */
    snprintf(out, sizeof out, "libnv %s: %s\n", nv_log_level_name(level), line);
    fputs(out, stderr);
}

static nv_log_handler_t log_handler = default_handler;
static void *log_context;
static nv_log_level_t log_min_level = NV_LOG_INFO;

void nv_log_set_handler(nv_log_handler_t handler, void *context)
{
    log_handler = handler ? handler : default_handler;
    log_context = handler ? context : NULL;
}

nv_log_level_t nv_log_set_level(nv_log_level_t level)
{
    nv_log_level_t previous = log_min_level;
    log_min_level = level;
    return previous;
}

const char *nv_log_level_name(nv_log_level_t level)
{
    switch (level) {
    case NV_LOG_DEBUG:
        return "debug";
    case NV_LOG_INFO:
        return "info";
    case NV_LOG_WARN:
        return "warn";
    case NV_LOG_ERROR:
        return "error";
    }
    return "unknown";
}

static void log_line(nv_log_level_t level, const char *format, va_list args)
{
    char line[NV_LOG_LINE_MAX + 1];
    int length;
    char *p;

    if (level < log_min_level)
        return;
    length = vsnprintf(line, sizeof line, format, args);
    if (length < 0) {
        snprintf(line, sizeof line, "(unformattable log message: %s)", format);
    } else if ((size_t)length >= sizeof line) {
        memcpy(line + sizeof line - 4, "...", 4);
    }
    /* Keep the promise of one line per call. */
    for (p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    log_handler(level, line, log_context);
}

void nv_log(nv_log_level_t level, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    log_line(level, format, args);
    va_end(args);
}

#define NV_DEFINE_LEVEL_FUNCTION(name, level) \
    void name(const char *format, ...)        \
    {                                         \
        va_list args;                         \
        va_start(args, format);               \
        log_line(level, format, args);        \
        va_end(args);                         \
    }

NV_DEFINE_LEVEL_FUNCTION(nv_log_error, NV_LOG_ERROR)
NV_DEFINE_LEVEL_FUNCTION(nv_log_warn, NV_LOG_WARN)
NV_DEFINE_LEVEL_FUNCTION(nv_log_info, NV_LOG_INFO)
NV_DEFINE_LEVEL_FUNCTION(nv_log_debug, NV_LOG_DEBUG)
