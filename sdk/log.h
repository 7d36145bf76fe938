/*
 * log.h — structured logs: one event a line on stderr, logfmt:
 *   ts=2026-11-22T03:54:13.123Z level=info comp=cairnd shard=3 wf=order-7 msg="..."
 * shard < 0 and wf == NULL are left out. Thread-safe: a line is written whole.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

typedef enum {
    CAIRN_LOG_DEBUG,
    CAIRN_LOG_INFO,
    CAIRN_LOG_WARN,
    CAIRN_LOG_ERROR,
    CAIRN_LOG_NONE /* as a minimum level: log nothing */
} cairn_log_level_t;

/* Sets the component name ("cairnd") and the level name ("info"...). */
void cairn_log_init(const char *component, const char *level);
int cairn_log_enabled(cairn_log_level_t level);
void cairn_log(cairn_log_level_t level, int shard, const char *wf,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define LOG_DEBUG(...)                                                         \
    do {                                                                       \
        if (cairn_log_enabled(CAIRN_LOG_DEBUG))                                \
            cairn_log(CAIRN_LOG_DEBUG, -1, NULL, __VA_ARGS__);                 \
    } while (0)
#define LOG_INFO(...) cairn_log(CAIRN_LOG_INFO, -1, NULL, __VA_ARGS__)
#define LOG_WARN(...) cairn_log(CAIRN_LOG_WARN, -1, NULL, __VA_ARGS__)
#define LOG_ERROR(...) cairn_log(CAIRN_LOG_ERROR, -1, NULL, __VA_ARGS__)

#endif
