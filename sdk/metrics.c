/*
 * metrics.c — the Prometheus registry and its libmicrohttpd endpoint.
 *
 * Ownership: the registry owns its families, a family owns its series, and
 * nothing is freed before cairn_metrics_destroy(), so a handle stays valid
 * for the registry's life. `mu` guards the family and series lists (written
 * on registration, read by a scrape); the values are C11 atomics outside the
 * lock. A double lives in an _Atomic uint64_t as its bit pattern and is added
 * to with a compare-and-swap loop; a histogram counts each bucket on its own
 * (non-cumulative, one fetch_add per observation) and the scrape sums them.
 * Series are cache-line aligned so that two hot counters never share a line.
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CACHE_LINE 64
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

static const char *kind_names[] = {"counter", "gauge", "histogram"};

typedef struct family_s family_t;

struct cairn_metric_s {
    _Atomic uint64_t bits;    /* the value (histogram: the sum) as a double */
    _Atomic uint64_t *counts; /* histogram: nbounds + 1 buckets, own counts */
    family_t *family;
    char *labels; /* "" for none */
    cairn_metrics_value_fn fn;
    void *opaque;
    cairn_metric_t *next;
};

struct family_s {
    char *name, *help;
    kind_t kind;
    double *bounds;
    size_t nbounds;
    cairn_metric_t *first, *last;
    family_t *next;
};

typedef struct {
    cairn_metrics_text_fn fn;
    void *opaque;
} text_t;

struct cairn_metrics_s {
    pthread_mutex_t mu; /* guards families, texts, health, error */
    family_t *first, *last;
    text_t *texts;
    size_t ntexts;
    cairn_metrics_health_fn health;
    void *health_opaque;
    struct MHD_Daemon *daemon;
    int port;
    char error[256];
};

/* ---- doubles in atomics -------------------------------------------------- */

static uint64_t d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double u2d(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void add_double(_Atomic uint64_t *p, double v) {
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old,
                                                  d2u(u2d(old) + v),
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* ---- the hot path -------------------------------------------------------- */

void cairn_metric_inc(cairn_metric_t *metric, double v) {
    if (!metric || metric->fn || isnan(v))
        return;
    if (metric->family->kind == KIND_COUNTER && v >= 0)
        add_double(&metric->bits, v);
    else if (metric->family->kind == KIND_GAUGE)
        add_double(&metric->bits, v);
}

void cairn_metric_set(cairn_metric_t *metric, double v) {
    if (!metric || metric->fn || metric->family->kind != KIND_GAUGE)
        return;
    atomic_store_explicit(&metric->bits, d2u(v), memory_order_relaxed);
}

void cairn_metric_observe(cairn_metric_t *metric, double v) {
    if (!metric || metric->family->kind != KIND_HISTOGRAM || isnan(v))
        return;
    const double *b = metric->family->bounds;
    size_t lo = 0, hi = metric->family->nbounds;
    while (lo < hi) { /* first bound >= v; nbounds means +Inf */
        size_t mid = (lo + hi) / 2;
        if (b[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    atomic_fetch_add_explicit(&metric->counts[lo], 1, memory_order_relaxed);
    add_double(&metric->bits, v);
}

double cairn_metric_value(const cairn_metric_t *metric) {
    if (!metric)
        return NAN;
    if (metric->fn)
        return metric->fn(metric->opaque);
    return u2d(atomic_load_explicit(&((cairn_metric_t *)metric)->bits,
                                    memory_order_relaxed));
}

/* ---- registration -------------------------------------------------------- */

static int valid_name(const char *s) {
    if (!s || !*s || !(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') ||
                       (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (s++; *s; s++)
        if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* name="value"(,name="value")*; 1 if valid (and no `le` when no_le). */
static int valid_labels(const char *s, int no_le) {
    while (*s) {
        const char *n = s;
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
        while (*s == '_' || (*s >= 'a' && *s <= 'z') ||
               (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))
            s++;
        if (no_le && s - n == 2 && !strncmp(n, "le", 2))
            return 0;
        if (*s++ != '=' || *s++ != '"')
            return 0;
        for (; *s != '"'; s++) {
            if (!*s || *s == '\n')
                return 0;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n')
                    return 0;
            }
        }
        s++;
        if (*s == ',' && s[1])
            s++;
        else if (*s)
            return 0;
    }
    return 1;
}

static void *aligned_zalloc(size_t size) {
    size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    void *p = aligned_alloc(CACHE_LINE, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static void free_series(cairn_metric_t *s) {
    if (!s)
        return;
    free(s->counts);
    free(s->labels);
    free(s);
}

static void free_family(family_t *f) {
    if (!f)
        return;
    cairn_metric_t *s = f->first;
    while (s) {
        cairn_metric_t *next = s->next;
        free_series(s);
        s = next;
    }
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

static void set_error(cairn_metrics_t *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(cairn_metrics_t *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error, sizeof(m->error), fmt, ap);
    va_end(ap);
}

static int same_bounds(const family_t *f, const double *b, size_t n) {
    if (f->nbounds != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (f->bounds[i] != b[i])
            return 0;
    return 1;
}

/* Finds or creates the family (caller holds mu); NULL with m->error. */
static family_t *family_for(cairn_metrics_t *m, const char *name,
                            const char *help, kind_t kind, const double *b,
                            size_t n) {
    family_t *f;
    for (f = m->first; f; f = f->next) {
        if (strcmp(f->name, name))
            continue;
        if (f->kind != kind || strcmp(f->help, help) ||
            (kind == KIND_HISTOGRAM && !same_bounds(f, b, n))) {
            set_error(m, "metric %s already registered with another type, "
                         "help or buckets", name);
            return NULL;
        }
        return f;
    }
    if (!(f = calloc(1, sizeof(*f))))
        goto oom;
    f->kind = kind;
    if (!(f->name = strdup(name)) || !(f->help = strdup(help)))
        goto oom;
    if (kind == KIND_HISTOGRAM && n) {
        if (!(f->bounds = malloc(n * sizeof(double))))
            goto oom;
        memcpy(f->bounds, b, n * sizeof(double));
        f->nbounds = n;
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
oom:
    free_family(f);
    set_error(m, "out of memory registering %s", name);
    return NULL;
}

static cairn_metric_t *add(cairn_metrics_t *m, const char *name,
                           const char *help, const char *labels, kind_t kind,
                           const double *b, size_t n,
                           cairn_metrics_value_fn fn, void *opaque) {
    cairn_metric_t *s = NULL;
    family_t *f;
    if (!m)
        return NULL;
    if (!labels)
        labels = "";
    if (!help)
        help = "";
    pthread_mutex_lock(&m->mu);
    if (!valid_name(name)) {
        set_error(m, "invalid metric name \"%s\"", name ? name : "(null)");
        goto out;
    }
    if (!valid_labels(labels, kind == KIND_HISTOGRAM)) {
        set_error(m, "metric %s: invalid labels {%s}", name, labels);
        goto out;
    }
    for (size_t i = 0; kind == KIND_HISTOGRAM && i < n; i++) {
        if (!isfinite(b[i]) || (i && b[i] <= b[i - 1])) {
            set_error(m, "metric %s: buckets must be finite and strictly "
                         "increasing", name);
            goto out;
        }
    }
    if (!(f = family_for(m, name, help, kind, b, n)))
        goto out;
    for (s = f->first; s; s = s->next) {
        if (!strcmp(s->labels, labels)) {
            if (s->fn != fn || s->opaque != opaque) {
                set_error(m, "metric %s{%s} already registered", name, labels);
                s = NULL;
            }
            goto out;
        }
    }
    if (!(s = aligned_zalloc(sizeof(*s))) || !(s->labels = strdup(labels)) ||
        (kind == KIND_HISTOGRAM &&
         !(s->counts = aligned_zalloc((n + 1) * sizeof(*s->counts))))) {
        free_series(s);
        s = NULL;
        set_error(m, "out of memory registering %s", name);
        goto out;
    }
    s->family = f;
    s->fn = fn;
    s->opaque = opaque;
    atomic_init(&s->bits, d2u(0.0));
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
out:
    pthread_mutex_unlock(&m->mu);
    return s;
}

cairn_metric_t *cairn_metrics_counter(cairn_metrics_t *m, const char *name,
                                      const char *help, const char *labels) {
    return add(m, name, help, labels, KIND_COUNTER, NULL, 0, NULL, NULL);
}

cairn_metric_t *cairn_metrics_gauge(cairn_metrics_t *m, const char *name,
                                    const char *help, const char *labels) {
    return add(m, name, help, labels, KIND_GAUGE, NULL, 0, NULL, NULL);
}

cairn_metric_t *cairn_metrics_histogram(cairn_metrics_t *m, const char *name,
                                        const char *help, const char *labels,
                                        const double *buckets, size_t n) {
    return add(m, name, help, labels, KIND_HISTOGRAM, buckets, n, NULL, NULL);
}

cairn_metric_t *cairn_metrics_gauge_fn(cairn_metrics_t *m, const char *name,
                                       const char *help, const char *labels,
                                       cairn_metrics_value_fn fn,
                                       void *opaque) {
    if (!fn)
        return NULL;
    return add(m, name, help, labels, KIND_GAUGE, NULL, 0, fn, opaque);
}

cairn_metric_t *cairn_metrics_counter_fn(cairn_metrics_t *m, const char *name,
                                         const char *help, const char *labels,
                                         cairn_metrics_value_fn fn,
                                         void *opaque) {
    if (!fn)
        return NULL;
    return add(m, name, help, labels, KIND_COUNTER, NULL, 0, fn, opaque);
}

cairn_err_t cairn_metrics_add_text(cairn_metrics_t *m, cairn_metrics_text_fn fn,
                                   void *opaque) {
    if (!m || !fn)
        return CAIRN_ERR_INVALID_ARG;
    pthread_mutex_lock(&m->mu);
    text_t *t = realloc(m->texts, (m->ntexts + 1) * sizeof(*t));
    if (t) {
        m->texts = t;
        t[m->ntexts].fn = fn;
        t[m->ntexts].opaque = opaque;
        m->ntexts++;
    }
    pthread_mutex_unlock(&m->mu);
    return t ? CAIRN_ERR_OK : CAIRN_ERR_NOMEM;
}

void cairn_metrics_set_health(cairn_metrics_t *m, cairn_metrics_health_fn fn,
                              void *opaque) {
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->health = fn;
    m->health_opaque = opaque;
    pthread_mutex_unlock(&m->mu);
}

const char *cairn_metrics_error(const cairn_metrics_t *m) {
    return m ? m->error : "no registry";
}

/* ---- process metrics ------------------------------------------------------ */

/* Field i (1-based, as in proc(5)) of /proc/self/stat, or -1. */
static double proc_stat_field(int i) {
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || i < 3)
        return -1;
    p++; /* the space before field 3 */
    for (int f = 3; f < i && p; f++)
        p = strchr(p + 1, ' ');
    return p ? strtod(p + 1, NULL) : -1;
}

static double process_rss(void *opaque) {
    (void)opaque;
    long size, rss;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (!fp)
        return NAN;
    int ok = fscanf(fp, "%ld %ld", &size, &rss) == 2;
    fclose(fp);
    return ok ? (double)rss * (double)sysconf(_SC_PAGESIZE) : NAN;
}

static double process_cpu(void *opaque) {
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_threads(void *opaque) {
    (void)opaque;
    return proc_stat_field(20);
}

static double process_fds(void *opaque) {
    (void)opaque;
    DIR *d = opendir("/proc/self/fd");
    double n = 0;
    if (!d)
        return NAN;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double start_time_s(void) {
    char line[256];
    double btime = -1, ticks = proc_stat_field(22);
    FILE *fp = fopen("/proc/stat", "r");
    if (!fp || ticks < 0) {
        if (fp)
            fclose(fp);
        return NAN;
    }
    while (fgets(line, sizeof(line), fp))
        if (!strncmp(line, "btime ", 6))
            btime = strtod(line + 6, NULL);
    fclose(fp);
    return btime < 0 ? NAN : btime + ticks / (double)sysconf(_SC_CLK_TCK);
}

cairn_err_t cairn_metrics_add_process(cairn_metrics_t *m) {
    cairn_metric_t *start = cairn_metrics_gauge(
        m, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", NULL);
    cairn_metric_set(start, start_time_s());
    if (!start ||
        !cairn_metrics_gauge_fn(m, "process_resident_memory_bytes",
                                "Resident memory size in bytes.", NULL,
                                process_rss, NULL) ||
        !cairn_metrics_counter_fn(m, "process_cpu_seconds_total",
                                  "Total user and system CPU time spent in "
                                  "seconds.",
                                  NULL, process_cpu, NULL) ||
        !cairn_metrics_gauge_fn(m, "process_threads",
                                "Number of OS threads in the process.", NULL,
                                process_threads, NULL) ||
        !cairn_metrics_gauge_fn(m, "process_open_fds",
                                "Number of open file descriptors.", NULL,
                                process_fds, NULL))
        return CAIRN_ERR_NOMEM;
    return CAIRN_ERR_OK;
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sb_t;

static int sb_reserve(sb_t *sb, size_t more) {
    if (sb->oom)
        return -1;
    if (sb->len + more + 1 <= sb->cap)
        return 0;
    size_t cap = sb->cap ? sb->cap : 4096;
    while (cap < sb->len + more + 1)
        cap *= 2;
    char *nb = realloc(sb->buf, cap);
    if (!nb) {
        sb->oom = 1;
        return -1;
    }
    sb->buf = nb;
    sb->cap = cap;
    return 0;
}

static void sb_put(sb_t *sb, const char *s, size_t n) {
    if (sb_reserve(sb, n))
        return;
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

static void sb_str(sb_t *sb, const char *s) { sb_put(sb, s, strlen(s)); }

/* Prometheus' float text: integers plainly, else the shortest round trip. */
static void fmt_double(char *out, size_t size, double v) {
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, size, "%.0f", v);
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, size, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
}

static void put_help(sb_t *sb, const family_t *f) {
    sb_str(sb, "# HELP ");
    sb_str(sb, f->name);
    sb_str(sb, " ");
    for (const char *p = f->help; *p; p++) {
        if (*p == '\\')
            sb_str(sb, "\\\\");
        else if (*p == '\n')
            sb_str(sb, "\\n");
        else
            sb_put(sb, p, 1);
    }
    sb_str(sb, "\n# TYPE ");
    sb_str(sb, f->name);
    sb_str(sb, " ");
    sb_str(sb, kind_names[f->kind]);
    sb_str(sb, "\n");
}

/* name[suffix]{labels[,extra]} value\n */
static void put_sample(sb_t *sb, const char *name, const char *suffix,
                       const char *labels, const char *extra, double v) {
    char num[64];
    sb_str(sb, name);
    sb_str(sb, suffix);
    if (*labels || extra) {
        sb_str(sb, "{");
        sb_str(sb, labels);
        if (*labels && extra)
            sb_str(sb, ",");
        if (extra)
            sb_str(sb, extra);
        sb_str(sb, "}");
    }
    fmt_double(num, sizeof(num), v);
    sb_str(sb, " ");
    sb_str(sb, num);
    sb_str(sb, "\n");
}

static void put_histogram(sb_t *sb, const family_t *f, cairn_metric_t *s) {
    char le[96], num[64];
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (i < f->nbounds)
            fmt_double(num, sizeof(num), f->bounds[i]);
        else
            snprintf(num, sizeof(num), "+Inf");
        snprintf(le, sizeof(le), "le=\"%s\"", num);
        put_sample(sb, f->name, "_bucket", s->labels, le, (double)cum);
    }
    put_sample(sb, f->name, "_sum", s->labels, NULL,
               u2d(atomic_load_explicit(&s->bits, memory_order_relaxed)));
    put_sample(sb, f->name, "_count", s->labels, NULL, (double)cum);
}

/* A raw collector writes straight into the buffer, retried if it grows. */
static void put_text(sb_t *sb, const text_t *t) {
    size_t want = 4096;
    for (int tries = 0; tries < 8; tries++) {
        if (sb_reserve(sb, want))
            return;
        size_t room = sb->cap - sb->len;
        size_t got = t->fn(t->opaque, sb->buf + sb->len, room);
        if (got < room) {
            sb->len += got;
            break;
        }
        want = got + 4096; /* it may grow again between the two calls */
    }
    sb->buf[sb->len] = '\0';
    if (sb->len && sb->buf[sb->len - 1] != '\n')
        sb_str(sb, "\n");
}

char *cairn_metrics_render(cairn_metrics_t *m) {
    sb_t sb = {0};
    if (!m)
        return NULL;
    sb_reserve(&sb, 0);
    pthread_mutex_lock(&m->mu);
    for (family_t *f = m->first; f; f = f->next) {
        put_help(&sb, f);
        for (cairn_metric_t *s = f->first; s; s = s->next) {
            if (f->kind == KIND_HISTOGRAM)
                put_histogram(&sb, f, s);
            else
                put_sample(&sb, f->name, "", s->labels, NULL,
                           cairn_metric_value(s));
        }
    }
    for (size_t i = 0; i < m->ntexts; i++)
        put_text(&sb, &m->texts[i]);
    pthread_mutex_unlock(&m->mu);
    if (sb.oom) {
        free(sb.buf);
        return NULL;
    }
    return sb.buf;
}

/* ---- the endpoint --------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             char *body, size_t len, int must_free) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
    static int first_call;
    cairn_metrics_t *m = cls;
    (void)version;
    (void)upload_data;
    if (*req_cls != &first_call) { /* headers only: answer on the next call */
        *req_cls = &first_call;
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body we do not read */
        *upload_data_size = 0;
        return MHD_YES;
    }
    int is_metrics = !strcmp(url, "/metrics"), is_health = !strcmp(url, "/healthz");
    if (!is_metrics && !is_health) {
        static char nf[] = "not found: try /metrics or /healthz\n";
        return reply(conn, MHD_HTTP_NOT_FOUND, nf, sizeof(nf) - 1, 0);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) &&
        strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        static char na[] = "method not allowed\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, na, sizeof(na) - 1, 0);
    }
    if (is_metrics) {
        char *text = cairn_metrics_render(m);
        if (!text) {
            static char oom[] = "out of memory\n";
            return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, oom,
                         sizeof(oom) - 1, 0);
        }
        return reply(conn, MHD_HTTP_OK, text, strlen(text), 1);
    }
    char why[512] = "";
    int bad = 0;
    pthread_mutex_lock(&m->mu);
    if (m->health)
        bad = m->health(m->health_opaque, why, sizeof(why));
    pthread_mutex_unlock(&m->mu);
    if (!bad) {
        static char ok[] = "ok\n";
        return reply(conn, MHD_HTTP_OK, ok, sizeof(ok) - 1, 0);
    }
    size_t n = strnlen(why, sizeof(why) - 2);
    char *body = malloc(n + 2);
    if (!body)
        return MHD_NO;
    memcpy(body, why, n);
    body[n] = '\n';
    body[n + 1] = '\0';
    return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body, n + 1, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    LOG_WARN("metrics endpoint: %s", msg);
}

cairn_err_t cairn_metrics_serve(cairn_metrics_t *m, const char *address,
                                int port, char *errstr, size_t errstr_size) {
    struct addrinfo hints, *ai = NULL;
    char portstr[16];
    cairn_err_t ret = CAIRN_ERR_OK;
    if (!m || port < 0 || port > 65535)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "metrics: bad port %d", port);
    if (m->daemon)
        return cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                             "metrics: already serving on port %d", m->port);
    if (!address || !*address || !strcmp(address, "localhost"))
        address = "127.0.0.1"; /* numeric only: binding never waits on DNS */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int gai = getaddrinfo(address, portstr, &hints, &ai);
    if (gai) {
        ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_INVALID_ARG,
                            "metrics: address %s: %s", address,
                            gai_strerror(gai));
        goto out;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    m->daemon = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, handle, m,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, as MHD wants */
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_END);
    if (!m->daemon) {
        ret = cairn__seterr(errstr, errstr_size, CAIRN_ERR_IO,
                            "metrics: cannot serve on %s:%d%s%s", address,
                            port, errno ? ": " : "",
                            errno ? strerror(errno) : "");
        goto out;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info && info->port ? info->port : port;
out:
    if (ai)
        freeaddrinfo(ai);
    return ret;
}

int cairn_metrics_port(const cairn_metrics_t *m) {
    return m && m->daemon ? m->port : 0;
}

/* ---- life ----------------------------------------------------------------- */

cairn_metrics_t *cairn_metrics_new(void) {
    cairn_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL)) {
        free(m);
        return NULL;
    }
    return m;
}

void cairn_metrics_destroy(cairn_metrics_t *m) {
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon);
    family_t *f = m->first;
    while (f) {
        family_t *next = f->next;
        free_family(f);
        f = next;
    }
    free(m->texts);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
