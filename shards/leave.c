/*
 * leave.c — two Kafka protocol requests over a plain blocking socket.
 *
 * Wire format (all big-endian): a request is int32 size, then the v1 request
 * header (int16 api_key, int16 api_version, int32 correlation_id,
 * nullable string client_id) and the body; a response is int32 size, int32
 * correlation_id, body. Strings are int16 length + bytes (-1 = null); arrays
 * are int32 count + items. Both API versions used here predate flexible
 * (tagged-field) encodings, and Kafka 2.4+ brokers accept them.
 */
#include "leave.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define API_FIND_COORDINATOR 10
#define API_LEAVE_GROUP 13

typedef struct {
    unsigned char buf[2048];
    size_t n;
    int overflow;
} wbuf_t;

static void put(wbuf_t *w, const void *p, size_t n) {
    if (w->n + n > sizeof(w->buf)) {
        w->overflow = 1;
        return;
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}
static void put16(wbuf_t *w, int16_t v) {
    uint16_t b = htons((uint16_t)v);
    put(w, &b, 2);
}
static void put32(wbuf_t *w, int32_t v) {
    uint32_t b = htonl((uint32_t)v);
    put(w, &b, 4);
}
static void put8(wbuf_t *w, int8_t v) { put(w, &v, 1); }
static void putstr(wbuf_t *w, const char *s) {
    if (!s) {
        put16(w, -1);
        return;
    }
    put16(w, (int16_t)strlen(s));
    put(w, s, strlen(s));
}

typedef struct {
    const unsigned char *p;
    size_t n, off;
    int bad;
} rbuf_t;

static int32_t get32(rbuf_t *r) {
    if (r->off + 4 > r->n) {
        r->bad = 1;
        return 0;
    }
    uint32_t v;
    memcpy(&v, r->p + r->off, 4);
    r->off += 4;
    return (int32_t)ntohl(v);
}
static int16_t get16(rbuf_t *r) {
    if (r->off + 2 > r->n) {
        r->bad = 1;
        return 0;
    }
    uint16_t v;
    memcpy(&v, r->p + r->off, 2);
    r->off += 2;
    return (int16_t)ntohs(v);
}
/* Copies a string into out (truncated); NULL string -> "". */
static void getstr(rbuf_t *r, char *out, size_t size) {
    int16_t len = get16(r);
    out[0] = '\0';
    if (len < 0 || r->bad)
        return;
    if (r->off + (size_t)len > r->n) {
        r->bad = 1;
        return;
    }
    size_t c = (size_t)len < size - 1 ? (size_t)len : size - 1;
    memcpy(out, r->p + r->off, c);
    out[c] = '\0';
    r->off += (size_t)len;
}

static int dial(const char *host, const char *port, int timeout_ms) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res))
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int io_all(int fd, void *buf, size_t n, int writing) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = writing ? write(fd, (char *)buf + done, n - done)
                            : read(fd, (char *)buf + done, n - done);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

/* Sends header+body, reads the response body into *resp (caller frees). */
static int call(int fd, int16_t api, int16_t ver, int32_t corr,
                const wbuf_t *body, unsigned char **resp, size_t *resp_len) {
    wbuf_t w = {.n = 4};
    put16(&w, api);
    put16(&w, ver);
    put32(&w, corr);
    putstr(&w, "cairnd-leave");
    put(&w, body->buf, body->n);
    if (w.overflow || body->overflow)
        return -1;
    uint32_t size = htonl((uint32_t)(w.n - 4));
    memcpy(w.buf, &size, 4);
    if (io_all(fd, w.buf, w.n, 1))
        return -1;
    uint32_t rsz;
    if (io_all(fd, &rsz, 4, 0))
        return -1;
    rsz = ntohl(rsz);
    if (rsz < 4 || rsz > (1u << 20))
        return -1;
    unsigned char *p = malloc(rsz);
    if (!p || io_all(fd, p, rsz, 0)) {
        free(p);
        return -1;
    }
    uint32_t rc;
    memcpy(&rc, p, 4);
    if ((int32_t)ntohl(rc) != corr) {
        free(p);
        return -1;
    }
    *resp = p;
    *resp_len = rsz;
    return 0;
}

static void split_hostport(const char *hp, char *host, size_t hs, char *port,
                           size_t ps) {
    const char *colon = strrchr(hp, ':');
    size_t n = colon ? (size_t)(colon - hp) : strlen(hp);
    snprintf(host, hs, "%.*s", (int)n, hp);
    snprintf(port, ps, "%s", colon ? colon + 1 : "9092");
}

cairn_err_t cairn_leave_group(const char *bootstrap, const char *group,
                              const char *instance_id, int timeout_ms,
                              char *errstr, size_t errstr_size) {
    char list[1024], host[256], port[16], why[512] = "no broker answered";
    unsigned char *resp = NULL;
    size_t rlen;
    int fd = -1;
    cairn_err_t ret = CAIRN_ERR_KAFKA;
    snprintf(list, sizeof(list), "%s", bootstrap);

    /* 1. FindCoordinator(key=group, key_type=0) on any bootstrap broker. */
    char *save = NULL;
    for (char *hp = strtok_r(list, ",", &save); hp;
         hp = strtok_r(NULL, ",", &save)) {
        split_hostport(hp, host, sizeof(host), port, sizeof(port));
        if ((fd = dial(host, port, timeout_ms)) < 0)
            continue;
        wbuf_t b = {0};
        putstr(&b, group);
        put8(&b, 0);
        if (call(fd, API_FIND_COORDINATOR, 1, 1, &b, &resp, &rlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    if (fd < 0 || !resp)
        goto out;
    close(fd);
    fd = -1;
    rbuf_t r = {resp, rlen, 4, 0};
    get32(&r); /* throttle */
    int16_t ec = get16(&r);
    char emsg[256];
    getstr(&r, emsg, sizeof(emsg));
    get32(&r); /* node id */
    getstr(&r, host, sizeof(host));
    int32_t cport = get32(&r);
    free(resp);
    resp = NULL;
    if (r.bad || ec) {
        snprintf(why, sizeof(why), "FindCoordinator: error %d %s", ec, emsg);
        goto out;
    }
    snprintf(port, sizeof(port), "%d", cport);

    /* 2. LeaveGroup v3: members [{member_id "", group_instance_id}]. */
    if ((fd = dial(host, port, timeout_ms)) < 0) {
        snprintf(why, sizeof(why), "cannot connect to coordinator %s:%s",
                 host, port);
        goto out;
    }
    wbuf_t b = {0};
    putstr(&b, group);
    put32(&b, 1);
    putstr(&b, "");
    putstr(&b, instance_id);
    if (call(fd, API_LEAVE_GROUP, 3, 2, &b, &resp, &rlen)) {
        snprintf(why, sizeof(why), "LeaveGroup: no answer from %s:%s", host,
                 port);
        goto out;
    }
    r = (rbuf_t){resp, rlen, 4, 0};
    get32(&r);
    ec = get16(&r);
    int32_t n = get32(&r);
    int16_t mec = 0;
    for (int32_t i = 0; i < n && !r.bad; i++) {
        char mid[256], iid[256];
        getstr(&r, mid, sizeof(mid));
        getstr(&r, iid, sizeof(iid));
        int16_t e = get16(&r);
        if (!strcmp(iid, instance_id))
            mec = e;
    }
    if (r.bad || ec || mec) {
        snprintf(why, sizeof(why), "LeaveGroup: error %d/%d", ec, mec);
        goto out;
    }
    ret = CAIRN_ERR_OK;
out:
    if (fd >= 0)
        close(fd);
    free(resp);
    if (ret)
        cairn__seterr(errstr, errstr_size, ret, "leave group %s as %s: %s",
                      group, instance_id, why);
    return ret;
}
