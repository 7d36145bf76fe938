/*
 * log.c — logfmt writer. The message is quoted and escaped so that a log
 * line can always be split on spaces outside quotes.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *component = "cairn";
static cairn_log_level_t min_level = CAIRN_LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error", "none"};

void cairn_log_init(const char *comp, const char *level) {
    if (comp)
        component = comp;
    for (int i = 0; level && i < 5; i++)
        if (!strcmp(level, level_names[i]))
            min_level = (cairn_log_level_t)i;
}

int cairn_log_enabled(cairn_log_level_t level) { return level >= min_level; }

static void put_quoted(FILE *fp, const char *s) {
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', fp), fputc(*s, fp);
        else if (*s == '\n')
            fputs("\\n", fp);
        else
            fputc(*s, fp);
    }
    fputc('"', fp);
}

void cairn_log(cairn_log_level_t level, int shard, const char *wf,
               const char *fmt, ...) {
    if (level < min_level)
        return;
    char msg[2048], ts[64];
    struct timespec now;
    struct tm tm;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    flockfile(stderr);
    fprintf(stderr, "ts=%s.%03ldZ level=%s comp=%s", ts,
            now.tv_nsec / 1000000, level_names[level], component);
    if (shard >= 0)
        fprintf(stderr, " shard=%d", shard);
    if (wf) {
        fputs(" wf=", stderr);
        put_quoted(stderr, wf);
    }
    fputs(" msg=", stderr);
    put_quoted(stderr, msg);
    fputc('\n', stderr);
    funlockfile(stderr);
}
