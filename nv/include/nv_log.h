/*
 * nv_log.h - libnv logging: one line per call.
 *
 * Each nv_log_* call formats one message and hands it, as a single line
 * without its newline, to the installed handler. The default handler writes
 * "libnv <level>: <message>\n" to stderr in one write. Applications (and
 * tests) install their own handler to route or capture the lines.
 *
 * The handler and level are process-wide. Set them before other threads use
 * libnv; a handler must not call back into nv_log_*.
 */
#ifndef NV_LOG_H
#define NV_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define NV_PRINTF_LIKE(fmt_index, first_arg) \
    __attribute__((format(printf, fmt_index, first_arg)))
#else
#define NV_PRINTF_LIKE(fmt_index, first_arg)
#endif

typedef enum nv_log_level_e {
    NV_LOG_DEBUG = 0,
    NV_LOG_INFO = 1,
    NV_LOG_WARN = 2,
    NV_LOG_ERROR = 3
} nv_log_level_t;

/* Longest message passed to a handler; longer ones are cut and end in "...". */
#define NV_LOG_LINE_MAX 512

/* Receives one formatted line (no trailing newline, never NULL). */
typedef void (*nv_log_handler_t)(nv_log_level_t level, const char *line,
                                 void *context);

/* Installs `handler` (with `context` passed back on each call); NULL restores
 * the default stderr handler. */
void nv_log_set_handler(nv_log_handler_t handler, void *context);

/* Messages below `level` are dropped before formatting. Default: NV_LOG_INFO.
 * Returns the previous level. */
nv_log_level_t nv_log_set_level(nv_log_level_t level);

/* Name of a level ("debug", "info", "warn", "error"). */
const char *nv_log_level_name(nv_log_level_t level);

void nv_log(nv_log_level_t level, const char *format, ...) NV_PRINTF_LIKE(2, 3);
void nv_log_error(const char *format, ...) NV_PRINTF_LIKE(1, 2);
void nv_log_warn(const char *format, ...) NV_PRINTF_LIKE(1, 2);
void nv_log_info(const char *format, ...) NV_PRINTF_LIKE(1, 2);
void nv_log_debug(const char *format, ...) NV_PRINTF_LIKE(1, 2);

#ifdef __cplusplus
}
#endif

#endif /* NV_LOG_H */
