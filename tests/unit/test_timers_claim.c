/*
 * test_timers_claim.c — the timer claim and ack scripts (timers/claim.c)
 * against a real redis-server.
 *
 * The test starts its own redis-server on 127.0.0.1 (a free port from
 * 16400 + pid % 1000, no persistence, killed at the end and by the kernel if
 * the test dies) and runs the very scripts the service runs. Time is passed
 * in explicitly, so leases expire without sleeping. Each case starts from
 * an empty database.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "claim.h"
#include "fire.h"
#include "counters.h"

static pid_t server_pid = -1;
static int server_port;
static redisContext *rc;  /* the first claimer */
static redisContext *rc2; /* a second, independent claimer */
static cairn_timers_scripts_t sc, sc2;

/* ---- the redis-server fixture ------------------------------------------ */

static int port_free(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    if (fd < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static redisContext *connect_server(void) {
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", server_port, tv);
    if (c && !c->err)
        return c;
    if (c)
        redisFree(c);
    return NULL;
}

static int start_server(void **state) {
    (void)state;
    char port_s[16];
    server_port = 16400 + (int)(getpid() % 1000);
    for (int i = 0; i < 200 && !port_free(server_port); i++)
        server_port = 16400 + (server_port - 16400 + 7) % 1000;
    snprintf(port_s, sizeof(port_s), "%d", server_port);
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 1);
        execlp("redis-server", "redis-server", "--port", port_s, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize",
               "no", (char *)NULL);
        fprintf(stderr, "exec redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 5 s */
        int status;
        if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
            fprintf(stderr, "redis-server exited at start\n");
            server_pid = -1;
            return -1;
        }
        if ((rc = connect_server()))
            break;
        usleep(10000);
    }
    if (!rc || !(rc2 = connect_server())) {
        fprintf(stderr, "cannot connect to redis-server on %d\n", server_port);
        return -1;
    }
    return 0;
}

static int stop_server(void **state) {
    (void)state;
    if (rc)
        redisFree(rc);
    if (rc2)
        redisFree(rc2);
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
    return 0;
}

static void cmd_ok(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis: %s", r->str);
    freeReplyObject(r);
}

static long long cmd_int(redisContext *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static int fresh(void **state) {
    (void)state;
    cmd_ok(rc, "FLUSHALL");
    memset(&sc, 0, sizeof(sc));
    memset(&sc2, 0, sizeof(sc2));
    char why[256];
    if (cairn_timers_scripts_load(rc, &sc, why, sizeof(why)) ||
        cairn_timers_scripts_load(rc2, &sc2, why, sizeof(why))) {
        fprintf(stderr, "script load: %s\n", why);
        return -1;
    }
    return 0;
}

/* ZADD cairn:timers:{p} due "gen|timer|wf". */
static void add_timer(int p, long long due, const char *member) {
    char key[CAIRN_TIMERS_KEY_MAX];
    cairn_timers_key_due(key, p);
    cmd_ok(rc, "ZADD %s %lld %s", key, due, member);
}

/* Claims one partition; returns the count, result in *c. */
static size_t claim1(redisContext *c, cairn_timers_scripts_t *s, int p,
                     int64_t now, int64_t lease, int64_t max,
                     cairn_timers_claim_t *out) {
    char why[256];
    cairn_err_t err = cairn_timers_claim(c, s, &p, 1, now, lease, max, out,
                                         why, sizeof(why));
    if (err)
        fail_msg("claim: %s", why);
    if (out->error[0])
        fail_msg("claim script: %s", out->error);
    return out->n;
}

static int has_member(const cairn_timers_claim_t *c, const char *m) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->items[i].member, m))
            return 1;
    return 0;
}

static const cairn_timers_item_t *item(const cairn_timers_claim_t *c,
                                       const char *m) {
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->items[i].member, m))
            return &c->items[i];
    fail_msg("member %s not claimed", m);
    return NULL;
}

/* ---- cases -------------------------------------------------------------- */

static void due_claimed_once_not_due_left(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    add_timer(0, 1000, "1|t1|wf-a");
    add_timer(0, 2000, "1|t2|wf-b");
    add_timer(0, 5000, "3|t3|wf|with|bars"); /* exactly now: due */
    add_timer(0, 5001, "1|t4|wf-c");         /* 1 ms later: not due */
    add_timer(0, 90000, "1|t5|wf-d");

    assert_int_equal(claim1(rc, &sc, 0, 5000, 1000, 100, &c), 3);
    assert_int_equal(item(&c, "1|t1|wf-a")->due_ms, 1000);
    assert_int_equal(item(&c, "1|t2|wf-b")->due_ms, 2000);
    assert_int_equal(item(&c, "3|t3|wf|with|bars")->due_ms, 5000);
    assert_false(item(&c, "1|t1|wf-a")->reclaimed);
    assert_false(has_member(&c, "1|t4|wf-c"));
    assert_int_equal(c.pending, 2);
    assert_int_equal(c.overdue, 0); /* everything due was claimed */
    assert_int_equal(c.inflight, 3);
    assert_int_equal(c.next_ms, 5001); /* the next due entry */
    assert_int_equal(c.merged, 0);
    cairn_timers_claim_clear(&c);

    /* Same instant again, and from the other connection: nothing. */
    assert_int_equal(claim1(rc, &sc, 0, 5000, 1000, 100, &c), 0);
    assert_int_equal(claim1(rc2, &sc2, 0, 5000, 1000, 100, &c), 0);

    /* The due set lost exactly the claimed members; the hash has them. */
    assert_int_equal(cmd_int(rc, "ZCARD cairn:timers:{0}"), 2);
    assert_int_equal(cmd_int(rc, "ZCARD cairn:timers:{0}:inflight"), 3);
    assert_int_equal(cmd_int(rc, "HLEN cairn:timers:{0}:due"), 3);
    redisReply *r = redisCommand(rc, "ZSCORE cairn:timers:{0}:inflight %s",
                                 "1|t1|wf-a");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "6000"); /* leased until now + lease */
    freeReplyObject(r);

    /* 5001 is due at 5001 and only it. */
    assert_int_equal(claim1(rc2, &sc2, 0, 5001, 1000, 100, &c), 1);
    assert_true(has_member(&c, "1|t4|wf-c"));
    cairn_timers_claim_clear(&c);
}

static void lease_blocks_then_expires(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    add_timer(0, 1000, "1|a|wf-1");
    add_timer(0, 1500, "1|b|wf-2");
    assert_int_equal(claim1(rc, &sc, 0, 2000, 1000, 100, &c), 2);
    assert_int_equal(c.next_ms, 3000); /* the lease expiry */
    cairn_timers_claim_clear(&c);

    /* Before the lease expires nobody gets them. */
    assert_int_equal(claim1(rc, &sc, 0, 2500, 1000, 100, &c), 0);
    assert_int_equal(claim1(rc2, &sc2, 0, 2999, 1000, 100, &c), 0);
    assert_int_equal(c.next_ms, 3000);

    /* At expiry the other claimer takes both over, with the due times. */
    assert_int_equal(claim1(rc2, &sc2, 0, 3000, 700, 100, &c), 2);
    assert_true(item(&c, "1|a|wf-1")->reclaimed);
    assert_int_equal(item(&c, "1|a|wf-1")->due_ms, 1000);
    assert_int_equal(item(&c, "1|b|wf-2")->due_ms, 1500);
    assert_int_equal(c.next_ms, 3700);
    cairn_timers_claim_clear(&c);

    /* The new lease holds too, and expires in turn. */
    assert_int_equal(claim1(rc, &sc, 0, 3699, 1000, 100, &c), 0);
    assert_int_equal(claim1(rc, &sc, 0, 3700, 1000, 100, &c), 2);
    cairn_timers_claim_clear(&c);
}

static void bound_is_honoured(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    char m[64];
    for (int i = 0; i < 10; i++) {
        snprintf(m, sizeof(m), "1|t%d|wf", i);
        add_timer(0, 100 + i, m);
    }
    assert_int_equal(claim1(rc, &sc, 0, 1000, 5000, 4, &c), 4);
    /* The earliest come first. */
    assert_true(has_member(&c, "1|t0|wf"));
    assert_true(has_member(&c, "1|t3|wf"));
    assert_int_equal(c.next_ms, 104); /* more are due already */
    cairn_timers_claim_clear(&c);
    assert_int_equal(claim1(rc, &sc, 0, 1000, 5000, 4, &c), 4);
    cairn_timers_claim_clear(&c);
    assert_int_equal(claim1(rc, &sc, 0, 1000, 5000, 4, &c), 2);
    cairn_timers_claim_clear(&c);
    assert_int_equal(claim1(rc, &sc, 0, 1000, 5000, 4, &c), 0);

    /* Expired leases count against the bound too: 10 expire, take 3+3+3+1. */
    size_t total = 0, got;
    while ((got = claim1(rc, &sc, 0, 6000, 5000, 3, &c)) > 0) {
        assert_true(got <= 3);
        for (size_t i = 0; i < c.n; i++)
            assert_true(c.items[i].reclaimed);
        total += got;
        cairn_timers_claim_clear(&c);
    }
    assert_int_equal(total, 10);
}

static void ack_removes_delivered(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    cairn_timers_acks_t acks = {0};
    char why[256];
    size_t removed = 99;
    add_timer(2, 100, "1|a|wf-1");
    add_timer(2, 100, "1|b|wf-2");
    add_timer(2, 100, "1|c|wf-3");
    assert_int_equal(claim1(rc, &sc, 2, 200, 1000, 10, &c), 3);
    cairn_timers_claim_clear(&c);

    assert_int_equal(cairn_timers_acks_push(&acks, 2, strdup("1|a|wf-1")), 0);
    assert_int_equal(cairn_timers_acks_push(&acks, 2, strdup("1|b|wf-2")), 0);
    assert_int_equal(cairn_timers_acks_push(&acks, 2, strdup("9|zz|none")), 0);
    assert_int_equal(
        cairn_timers_ack(rc, &sc, &acks, &removed, why, sizeof(why)), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(acks.n, 0);
    assert_int_equal(cmd_int(rc, "ZCARD cairn:timers:{2}:inflight"), 1);
    assert_int_equal(cmd_int(rc, "HLEN cairn:timers:{2}:due"), 1);

    /* After the lease only the undelivered one comes back. */
    assert_int_equal(claim1(rc2, &sc2, 2, 1200, 1000, 10, &c), 1);
    assert_true(has_member(&c, "1|c|wf-3"));
    assert_int_equal(c.items[0].due_ms, 100);
    cairn_timers_claim_clear(&c);

    /* An ack after another instance re-claimed still removes it: the
     * delivered TimerFired makes every lease on it moot. */
    assert_int_equal(cairn_timers_acks_push(&acks, 2, strdup("1|c|wf-3")), 0);
    assert_int_equal(
        cairn_timers_ack(rc, &sc, &acks, &removed, why, sizeof(why)), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(cmd_int(rc, "EXISTS cairn:timers:{2}:inflight"), 0);
    assert_int_equal(cmd_int(rc, "EXISTS cairn:timers:{2}:due"), 0);
    assert_int_equal(claim1(rc, &sc, 2, 99999, 1000, 10, &c), 0);
    assert_int_equal(c.next_ms, -1);
    cairn_timers_acks_clear(&acks);
}

/* A claim capped below what is due leaves the rest counted as overdue
 * (the backlog gauge), not as merely pending. */
static void capped_claim_leaves_overdue(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    add_timer(0, 1000, "1|t1|wf-a");
    add_timer(0, 2000, "1|t2|wf-b");
    add_timer(0, 3000, "1|t3|wf-c");
    add_timer(0, 9000, "1|t4|wf-d"); /* not due */
    assert_int_equal(claim1(rc, &sc, 0, 5000, 1000, 1, &c), 1);
    assert_true(has_member(&c, "1|t1|wf-a")); /* the earliest first */
    assert_int_equal(c.pending, 3);
    assert_int_equal(c.overdue, 2);
    cairn_timers_claim_clear(&c);
    assert_int_equal(claim1(rc, &sc, 0, 5000, 1000, 10, &c), 2);
    assert_int_equal(c.pending, 1);
    assert_int_equal(c.overdue, 0);
    cairn_timers_claim_clear(&c);
}

static void reregistered_inflight_is_merged(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    add_timer(1, 100, "4|t|wf");
    assert_int_equal(claim1(rc, &sc, 1, 200, 1000, 10, &c), 1);
    cairn_timers_claim_clear(&c);
    /* A shard owner re-registers it while it is being fired. */
    add_timer(1, 100, "4|t|wf");
    assert_int_equal(claim1(rc2, &sc2, 1, 300, 1000, 10, &c), 0);
    assert_int_equal(c.merged, 1);
    assert_int_equal(cmd_int(rc, "ZCARD cairn:timers:{1}"), 0);
    /* It is still inflight under the first lease, claimable after it. */
    assert_int_equal(claim1(rc2, &sc2, 1, 1200, 1000, 10, &c), 1);
    assert_true(c.items[0].reclaimed);
    cairn_timers_claim_clear(&c);
}

static void many_partitions_one_round_trip(void **state) {
    (void)state;
    cairn_timers_claim_t out[4];
    int parts[4] = {0, 1, 2, 3};
    char why[256];
    memset(out, 0, sizeof(out));
    add_timer(0, 10, "1|a|w0");
    add_timer(1, 10, "1|a|w1");
    add_timer(1, 20, "1|b|w1");
    add_timer(3, 5000, "1|a|w3");
    /* Partition 2's key holds the wrong type: only it fails. */
    cmd_ok(rc, "SET cairn:timers:{2} oops");
    assert_int_equal(cairn_timers_claim(rc, &sc, parts, 4, 100, 1000, 10, out,
                                        why, sizeof(why)),
                     0);
    assert_int_equal(out[0].n, 1);
    assert_int_equal(out[0].partition, 0);
    assert_int_equal(out[1].n, 2);
    assert_int_equal(out[1].partition, 1);
    assert_int_equal(out[2].n, 0);
    assert_true(out[2].error[0] != '\0');
    assert_int_equal(out[3].n, 0);
    assert_int_equal(out[3].next_ms, 5000);
    assert_string_equal(out[1].items[0].member, "1|a|w1");
    for (int i = 0; i < 4; i++)
        cairn_timers_claim_clear(&out[i]);
}

static void noscript_falls_back_to_eval(void **state) {
    (void)state;
    cairn_timers_claim_t c = {0};
    cairn_timers_acks_t acks = {0};
    char why[256];
    add_timer(0, 10, "1|a|w");
    cmd_ok(rc, "SCRIPT FLUSH");
    assert_int_equal(claim1(rc, &sc, 0, 100, 1000, 10, &c), 1);
    cairn_timers_claim_clear(&c);
    cmd_ok(rc, "SCRIPT FLUSH");
    assert_int_equal(cairn_timers_acks_push(&acks, 0, strdup("1|a|w")), 0);
    assert_int_equal(cairn_timers_ack(rc, &sc, &acks, NULL, why, sizeof(why)),
                     0);
    assert_int_equal(cmd_int(rc, "EXISTS cairn:timers:{0}:inflight"), 0);
    /* A never-loaded script handle works too (EVAL directly). */
    cairn_timers_scripts_t none = {{0}, {0}};
    add_timer(0, 10, "1|b|w");
    assert_int_equal(claim1(rc, &none, 0, 100, 1000, 10, &c), 1);
    cairn_timers_claim_clear(&c);
    cairn_timers_acks_clear(&acks);
}

/* Two connections alternating over a large set: disjoint, complete. */
static void alternating_claimers_disjoint(void **state) {
    (void)state;
    enum { N = 2000 };
    static unsigned char seen[N];
    cairn_timers_claim_t c = {0};
    char m[64];
    memset(seen, 0, sizeof(seen));
    redisAppendCommand(rc, "MULTI");
    for (int i = 0; i < N; i++) {
        snprintf(m, sizeof(m), "1|t%d|wf-%d", i, i);
        redisAppendCommand(rc, "ZADD cairn:timers:{5} %d %s", i % 50, m);
    }
    redisAppendCommand(rc, "EXEC");
    for (int i = 0; i < N + 2; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    size_t total = 0;
    for (int turn = 0;; turn++) {
        redisContext *who = turn % 2 ? rc2 : rc;
        size_t got = claim1(who, turn % 2 ? &sc2 : &sc, 5, 1000, 60000,
                            7 + turn % 5, &c);
        if (!got && turn > 1)
            break;
        if (turn > 2 * N)
            fail_msg("claims never end: leases are not respected");
        for (size_t i = 0; i < got; i++) {
            int t = atoi(strchr(c.items[i].member, 't') + 1);
            assert_in_range(t, 0, N - 1);
            if (seen[t])
                fail_msg("%s claimed twice within one lease",
                         c.items[i].member);
            seen[t] = 1;
        }
        total += got;
        cairn_timers_claim_clear(&c);
    }
    assert_int_equal(total, N);
}

/* Two threads racing with their own connections: still disjoint. */
typedef struct {
    redisContext *c;
    cairn_timers_scripts_t *s;
    unsigned char *seen;
    size_t got;
    int dup;
} racer_t;

static void *race(void *arg) {
    racer_t *r = arg;
    cairn_timers_claim_t c = {0};
    int p = 6;
    char why[256];
    for (int round = 0;; round++) {
        if (round > 100000) { /* claims never end: leases not respected */
            r->dup = -1;
            break;
        }
        if (cairn_timers_claim(r->c, r->s, &p, 1, 1000, 60000, 3, &c, why,
                               sizeof(why)) ||
            c.error[0]) {
            r->dup = -1;
            break;
        }
        if (!c.n)
            break;
        for (size_t i = 0; i < c.n; i++) {
            int t = atoi(strchr(c.items[i].member, 't') + 1);
            /* seen[] is shared: a byte set by both threads is a double. */
            if (__atomic_exchange_n(&r->seen[t], 1, __ATOMIC_SEQ_CST))
                r->dup++;
        }
        r->got += c.n;
        cairn_timers_claim_clear(&c);
    }
    cairn_timers_claim_clear(&c);
    return NULL;
}

static void racing_claimers_disjoint(void **state) {
    (void)state;
    enum { N = 3000 };
    static unsigned char seen[N];
    char m[64];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < N; i++) {
        snprintf(m, sizeof(m), "2|t%d|wf", i);
        redisAppendCommand(rc, "ZADD cairn:timers:{6} %d %s", i % 100, m);
    }
    for (int i = 0; i < N; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    racer_t a = {rc, &sc, seen, 0, 0}, b = {rc2, &sc2, seen, 0, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.dup, 0);
    assert_int_equal(b.dup, 0);
    assert_int_equal(a.got + b.got, N);
    assert_true(a.got > 0 && b.got > 0); /* both really raced */
}

/* The member format the service parses before it fires. */
static void member_split(void **state) {
    (void)state;
    char m1[] = "7|sleep-1|order|42", m2[] = "x|t|w", m3[] = "1||w",
         m4[] = "1|t|", m5[] = "1|t", m6[] = "-1|t|w", m7[] = "|t|w";
    int64_t g;
    char *t, *w;
    assert_int_equal(cairn_timers_member_split(m1, &g, &t, &w), 0);
    assert_int_equal(g, 7);
    assert_string_equal(t, "sleep-1");
    assert_string_equal(w, "order|42");
    assert_int_equal(cairn_timers_member_split(m2, &g, &t, &w), -1);
    assert_int_equal(cairn_timers_member_split(m3, &g, &t, &w), -1);
    assert_int_equal(cairn_timers_member_split(m4, &g, &t, &w), -1);
    assert_int_equal(cairn_timers_member_split(m5, &g, &t, &w), -1);
    assert_int_equal(cairn_timers_member_split(m6, &g, &t, &w), -1);
    assert_int_equal(cairn_timers_member_split(m7, &g, &t, &w), -1);
}

/* The lateness quantiles the summary line reports. */
static void lateness_quantiles(void **state) {
    (void)state;
    static cairn_timers_metrics_t m;
    cairn_timers_snapshot_t s0, s1;
    cairn_timers_metrics_init(&m);
    cairn_timers_metrics_snapshot(&m, &s0);
    assert_int_equal(
        cairn_timers_hist_quantile(s0.late_produce, NULL, 0.5), -1);
    for (int i = 0; i < 98; i++)
        cairn_timers_hist_observe(&m.late_produce, 3);
    cairn_timers_hist_observe(&m.late_produce, 400);
    cairn_timers_hist_observe(&m.late_produce, 999999);
    cairn_timers_metrics_snapshot(&m, &s1);
    int64_t p50 = cairn_timers_hist_quantile(s1.late_produce, NULL, 0.5);
    int64_t p99 = cairn_timers_hist_quantile(s1.late_produce, NULL, 0.99);
    assert_in_range(p50, 2, 3);
    assert_in_range(p99, 300, 500);
    assert_int_equal(cairn_timers_hist_quantile(s1.late_produce, NULL, 0.999),
                     300000);
    /* A window with nothing new has no quantile. */
    assert_int_equal(
        cairn_timers_hist_quantile(s1.late_produce, s1.late_produce, 0.5),
        -1);
    char buf[16384];
    size_t n = cairn_timers_metrics_format(&m, buf, sizeof(buf));
    assert_true(n < sizeof(buf));
    assert_non_null(strstr(buf, "cairn_timers_lateness_seconds_count 100\n"));
    assert_non_null(
        strstr(buf, "cairn_timers_lateness_seconds_bucket{le=\"+Inf\"} 100\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(due_claimed_once_not_due_left, fresh),
        cmocka_unit_test_setup(capped_claim_leaves_overdue, fresh),
        cmocka_unit_test_setup(lease_blocks_then_expires, fresh),
        cmocka_unit_test_setup(bound_is_honoured, fresh),
        cmocka_unit_test_setup(ack_removes_delivered, fresh),
        cmocka_unit_test_setup(reregistered_inflight_is_merged, fresh),
        cmocka_unit_test_setup(many_partitions_one_round_trip, fresh),
        cmocka_unit_test_setup(noscript_falls_back_to_eval, fresh),
        cmocka_unit_test_setup(alternating_claimers_disjoint, fresh),
        cmocka_unit_test_setup(racing_claimers_disjoint, fresh),
        cmocka_unit_test(member_split),
        cmocka_unit_test(lateness_quantiles),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
