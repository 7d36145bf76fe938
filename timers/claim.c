/*
 * claim.c — claim and ack scripts for the per-partition timer sets.
 *
 * Invariants the scripts keep (each runs atomically in Redis):
 *  - a member is handed out by a claim only if it was due (score <= now) in
 *    the due set, or inflight with a lease that expired (score <= now); it
 *    leaves the script inflight with a lease until now + lease, so no second
 *    claim can return it before that time;
 *  - a due member that is already inflight under a live lease is dropped
 *    from the due set (`merged`): the inflight entry will either be
 *    delivered or re-claimed, so the due entry adds only a duplicate. This
 *    is what a shard owner's re-registration of a pending timer that is
 *    being fired produces;
 *  - the due time of an inflight member is kept in the :due hash, so a
 *    re-claim fires it with its original fire_at_ms;
 *  - the ack removes a member from the inflight set and the hash together.
 * Expired leases are served before new due members: they are older.
 *
 * Time values are passed as decimal strings and stored as Redis formats
 * them, never computed in Lua, so no millisecond is lost to floating point.
 */
#include "claim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cairn_timers_claim_lua[] =
    "-- cairn-timers claim: KEYS due, inflight, due-hash;\n"
    "-- ARGV now_ms, lease_until_ms, max. See timers/claim.c.\n"
    "local now, lease_until, max = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local out = {0, '-1', 0, 0, 0}\n"
    "local n, merged = 0, 0\n"
    "local exp = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now,\n"
    "                       'LIMIT', 0, max)\n"
    "for _, m in ipairs(exp) do\n"
    "  redis.call('ZADD', KEYS[2], lease_until, m)\n"
    "  local due = redis.call('HGET', KEYS[3], m)\n"
    "  if not due then\n"
    "    due = now\n"
    "    redis.call('HSET', KEYS[3], m, now)\n"
    "  end\n"
    "  out[#out + 1] = m\n"
    "  out[#out + 1] = due\n"
    "  out[#out + 1] = 1\n"
    "  n = n + 1\n"
    "end\n"
    "if n < max then\n"
    "  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,\n"
    "                         'WITHSCORES', 'LIMIT', 0, max - n)\n"
    "  for i = 1, #due, 2 do\n"
    "    local m, s = due[i], due[i + 1]\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "    if redis.call('ZSCORE', KEYS[2], m) then\n"
    "      merged = merged + 1\n"
    "    else\n"
    "      redis.call('ZADD', KEYS[2], lease_until, m)\n"
    "      redis.call('HSET', KEYS[3], m, s)\n"
    "      out[#out + 1] = m\n"
    "      out[#out + 1] = s\n"
    "      out[#out + 1] = 0\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local best = nil\n"
    "local h = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "if h[2] then best = h[2] end\n"
    "h = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n"
    "if h[2] and (not best or tonumber(h[2]) < tonumber(best)) then\n"
    "  best = h[2]\n"
    "end\n"
    "out[1] = merged\n"
    "if best then out[2] = best end\n"
    "out[3] = redis.call('ZCARD', KEYS[1])\n"
    "out[4] = redis.call('ZCARD', KEYS[2])\n"
    "out[5] = redis.call('ZCOUNT', KEYS[1], '-inf', now)\n"
    "return out\n";

const char cairn_timers_ack_lua[] =
    "-- cairn-timers ack: KEYS inflight, due-hash; ARGV 1..512 members.\n"
    "local n = redis.call('ZREM', KEYS[1], unpack(ARGV))\n"
    "redis.call('HDEL', KEYS[2], unpack(ARGV))\n"
    "return n\n";

/*
 * Members per ack script run: bounds one script's time in Redis and stays
 * far below Lua's unpack() limit (LUAI_MAXCSTACK, 8000).
 */
#define ACK_CHUNK 512

void cairn_timers_key_due(char *buf, int partition) {
    snprintf(buf, CAIRN_TIMERS_KEY_MAX, "cairn:timers:{%d}", partition);
}

void cairn_timers_key_inflight(char *buf, int partition) {
    snprintf(buf, CAIRN_TIMERS_KEY_MAX, "cairn:timers:{%d}:inflight",
             partition);
}

void cairn_timers_key_duehash(char *buf, int partition) {
    snprintf(buf, CAIRN_TIMERS_KEY_MAX, "cairn:timers:{%d}:due", partition);
}

static cairn_err_t load_one(redisContext *rc, const char *src, char *sha,
                            char *errstr, size_t errstr_size) {
    redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", src);
    cairn_err_t err = CAIRN_ERR_OK;
    if (!r) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                            "SCRIPT LOAD: %s", rc->errstr);
        goto err;
    }
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                            "SCRIPT LOAD: %s",
                            r->type == REDIS_REPLY_ERROR ? r->str
                                                         : "unexpected reply");
        goto err;
    }
    memcpy(sha, r->str, 40);
    sha[40] = '\0';
err:
    if (r)
        freeReplyObject(r);
    return err;
}

cairn_err_t cairn_timers_scripts_load(redisContext *rc,
                                      cairn_timers_scripts_t *sc,
                                      char *errstr, size_t errstr_size) {
    cairn_err_t err;
    if ((err = load_one(rc, cairn_timers_claim_lua, sc->claim_sha, errstr,
                        errstr_size)) ||
        (err = load_one(rc, cairn_timers_ack_lua, sc->ack_sha, errstr,
                        errstr_size)))
        sc->claim_sha[0] = sc->ack_sha[0] = '\0';
    return err;
}

/*
 * One pipelined script run: argv[0] and argv[1] are filled in here
 * (EVALSHA sha, or EVAL source); the rest is "numkeys keys... args...".
 */
typedef struct {
    int argc;
    const char **argv;
} call_t;

static int is_noscript(const redisReply *r) {
    return r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8);
}

static void aim(call_t *c, const char *sha, const char *src, int eval) {
    if (eval || !sha[0]) {
        c->argv[0] = "EVAL";
        c->argv[1] = src;
    } else {
        c->argv[0] = "EVALSHA";
        c->argv[1] = sha;
    }
}

/*
 * Sends calls[0..n-1] in one pipeline and reads the n replies into rep[]
 * (the caller frees them). A NOSCRIPT reply is answered by EVAL of src
 * (which caches the script). Only a connection failure is an error (rc->err
 * is set, every rep[i] is NULL); a script's error reply is left in rep[i].
 */
static cairn_err_t run_scripts(redisContext *rc, const char *sha,
                               const char *src, call_t *calls, size_t n,
                               redisReply **rep, char *errstr,
                               size_t errstr_size) {
    size_t i, again = 0;
    for (i = 0; i < n; i++)
        rep[i] = NULL;
    for (i = 0; i < n; i++) {
        aim(&calls[i], sha, src, 0);
        if (redisAppendCommandArgv(rc, calls[i].argc, calls[i].argv, NULL) !=
            REDIS_OK)
            goto err;
    }
    for (i = 0; i < n; i++)
        if (redisGetReply(rc, (void **)&rep[i]) != REDIS_OK)
            goto err;
    for (i = 0; i < n; i++) {
        if (!is_noscript(rep[i]))
            continue;
        freeReplyObject(rep[i]);
        rep[i] = NULL;
        aim(&calls[i], sha, src, 1);
        if (redisAppendCommandArgv(rc, calls[i].argc, calls[i].argv, NULL) !=
            REDIS_OK)
            goto err;
        again++;
    }
    for (i = 0; again && i < n; i++) {
        if (rep[i])
            continue;
        if (redisGetReply(rc, (void **)&rep[i]) != REDIS_OK)
            goto err;
        again--;
    }
    return CAIRN_ERR_OK;
err:
    for (i = 0; i < n; i++) {
        if (rep[i])
            freeReplyObject(rep[i]);
        rep[i] = NULL;
    }
    return cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS, "%s",
                         rc->err ? rc->errstr : "out of memory");
}

void cairn_timers_claim_clear(cairn_timers_claim_t *c) {
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].member);
    free(c->items);
    int partition = c->partition;
    memset(c, 0, sizeof(*c));
    c->partition = partition;
    c->next_ms = -1;
}

/* A score as Redis prints it ("1700000000123", "1.5e+12") to ms. */
static int parse_ms(const redisReply *r, int64_t *out) {
    char buf[64], *end;
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING || !r->len || r->len >= sizeof(buf))
        return -1;
    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';
    double d = strtod(buf, &end);
    if (*end || !isfinite(d) || d > 9e15 || d < -9e15)
        return -1;
    *out = (int64_t)llround(d);
    return 0;
}

static int parse_int(const redisReply *r, int64_t *out) {
    if (r->type != REDIS_REPLY_INTEGER)
        return -1;
    *out = r->integer;
    return 0;
}

/* Fills c from one claim script reply. 0, or -1 for a malformed reply. */
static int parse_claim(const redisReply *r, cairn_timers_claim_t *c) {
    int64_t merged;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 5 ||
        (r->elements - 5) % 3 || parse_int(r->element[0], &merged) ||
        parse_ms(r->element[1], &c->next_ms) ||
        parse_int(r->element[2], &c->pending) ||
        parse_int(r->element[3], &c->inflight) ||
        parse_int(r->element[4], &c->overdue))
        return -1;
    c->merged = (size_t)merged;
    size_t n = (r->elements - 5) / 3;
    if (!n)
        return 0;
    if (!(c->items = calloc(n, sizeof(*c->items))))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const redisReply *m = r->element[5 + 3 * i];
        cairn_timers_item_t *it = &c->items[c->n];
        int64_t flag;
        if (m->type != REDIS_REPLY_STRING ||
            parse_ms(r->element[6 + 3 * i], &it->due_ms) ||
            parse_int(r->element[7 + 3 * i], &flag))
            return -1;
        if (!(it->member = malloc(m->len + 1)))
            return -1;
        memcpy(it->member, m->str, m->len);
        it->member[m->len] = '\0';
        it->reclaimed = flag != 0;
        c->n++;
    }
    return 0;
}

cairn_err_t cairn_timers_claim(redisContext *rc, cairn_timers_scripts_t *sc,
                               const int *parts, size_t nparts, int64_t now_ms,
                               int64_t lease_ms, int64_t max,
                               cairn_timers_claim_t *out, char *errstr,
                               size_t errstr_size) {
    enum { ARGC = 9 };
    cairn_err_t err = CAIRN_ERR_OK;
    size_t i;
    char now_s[32], until_s[32], max_s[32];
    char (*keys)[3][CAIRN_TIMERS_KEY_MAX] = calloc(nparts ? nparts : 1,
                                                  sizeof(*keys));
    const char **argv = calloc((nparts ? nparts : 1) * ARGC, sizeof(*argv));
    call_t *calls = calloc(nparts ? nparts : 1, sizeof(*calls));
    redisReply **rep = calloc(nparts ? nparts : 1, sizeof(*rep));

    for (i = 0; i < nparts; i++) {
        out[i].n = 0;
        out[i].items = NULL;
        out[i].partition = parts[i];
        cairn_timers_claim_clear(&out[i]);
    }
    if (!keys || !argv || !calls || !rep) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "out of memory");
        goto err;
    }
    if (max < 1)
        max = 1;
    if (lease_ms < 1)
        lease_ms = 1;
    snprintf(now_s, sizeof(now_s), "%lld", (long long)now_ms);
    snprintf(until_s, sizeof(until_s), "%lld", (long long)(now_ms + lease_ms));
    snprintf(max_s, sizeof(max_s), "%lld", (long long)max);
    for (i = 0; i < nparts; i++) {
        const char **a = argv + i * ARGC;
        cairn_timers_key_due(keys[i][0], parts[i]);
        cairn_timers_key_inflight(keys[i][1], parts[i]);
        cairn_timers_key_duehash(keys[i][2], parts[i]);
        a[2] = "3";
        a[3] = keys[i][0];
        a[4] = keys[i][1];
        a[5] = keys[i][2];
        a[6] = now_s;
        a[7] = until_s;
        a[8] = max_s;
        calls[i].argc = ARGC;
        calls[i].argv = a;
    }
    if ((err = run_scripts(rc, sc->claim_sha, cairn_timers_claim_lua, calls,
                           nparts, rep, errstr, errstr_size)))
        goto err;
    for (i = 0; i < nparts; i++) {
        if (rep[i]->type == REDIS_REPLY_ERROR) {
            snprintf(out[i].error, sizeof(out[i].error), "%s", rep[i]->str);
            continue;
        }
        if (parse_claim(rep[i], &out[i])) {
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                                "claim of partition %d: malformed reply or "
                                "out of memory",
                                parts[i]);
            goto err;
        }
    }
    goto out;
err:
    for (i = 0; i < nparts; i++)
        cairn_timers_claim_clear(&out[i]);
out:
    for (i = 0; rep && i < nparts; i++)
        if (rep[i])
            freeReplyObject(rep[i]);
    free(rep);
    free(calls);
    free(argv);
    free(keys);
    return err;
}

cairn_err_t cairn_timers_acks_push(cairn_timers_acks_t *acks, int partition,
                                   char *member) {
    if (acks->n == acks->cap) {
        size_t cap = acks->cap ? acks->cap * 2 : 64;
        cairn_timers_ack_t *v = realloc(acks->v, cap * sizeof(*v));
        if (!v)
            return CAIRN_ERR_NOMEM;
        acks->v = v;
        acks->cap = cap;
    }
    acks->v[acks->n].partition = partition;
    acks->v[acks->n].member = member;
    acks->n++;
    return CAIRN_ERR_OK;
}

void cairn_timers_acks_clear(cairn_timers_acks_t *acks) {
    for (size_t i = 0; i < acks->n; i++)
        free(acks->v[i].member);
    free(acks->v);
    memset(acks, 0, sizeof(*acks));
}

static int by_partition(const void *a, const void *b) {
    const cairn_timers_ack_t *x = a, *y = b;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

cairn_err_t cairn_timers_ack(redisContext *rc, cairn_timers_scripts_t *sc,
                             cairn_timers_acks_t *acks, size_t *removed,
                             char *errstr, size_t errstr_size) {
    cairn_err_t err = CAIRN_ERR_OK;
    size_t ncalls = 0, i, j, c = 0, total = 0;
    call_t *calls = NULL;
    const char **a;
    redisReply **rep = NULL;
    const char **argv = NULL;
    char (*keys)[2][CAIRN_TIMERS_KEY_MAX] = NULL;

    if (removed)
        *removed = 0;
    if (!acks->n)
        return CAIRN_ERR_OK;
    /* Runs of one partition, split into chunks of ACK_CHUNK members. */
    qsort(acks->v, acks->n, sizeof(*acks->v), by_partition);
    for (i = 0; i < acks->n; i = j) {
        for (j = i; j < acks->n && j - i < ACK_CHUNK &&
                    acks->v[j].partition == acks->v[i].partition;
             j++)
            ;
        ncalls++;
    }
    calls = calloc(ncalls, sizeof(*calls));
    rep = calloc(ncalls, sizeof(*rep));
    keys = calloc(ncalls, sizeof(*keys));
    argv = calloc(acks->n + 5 * ncalls, sizeof(*argv));
    if (!calls || !rep || !keys || !argv) {
        err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_NOMEM,
                            "out of memory");
        goto out;
    }
    a = argv;
    for (i = 0, c = 0; i < acks->n; i = j, c++) {
        int p = acks->v[i].partition;
        cairn_timers_key_inflight(keys[c][0], p);
        cairn_timers_key_duehash(keys[c][1], p);
        a[2] = "2";
        a[3] = keys[c][0];
        a[4] = keys[c][1];
        int argc = 5;
        for (j = i; j < acks->n && j - i < ACK_CHUNK &&
                    acks->v[j].partition == p;
             j++)
            a[argc++] = acks->v[j].member;
        calls[c].argc = argc;
        calls[c].argv = a;
        a += argc;
    }
    if ((err = run_scripts(rc, sc->ack_sha, cairn_timers_ack_lua, calls,
                           ncalls, rep, errstr, errstr_size)))
        goto out;
    for (c = 0; c < ncalls; c++) {
        if (rep[c]->type == REDIS_REPLY_INTEGER)
            total += (size_t)rep[c]->integer;
        else if (!err)
            err = cairn__seterr(errstr, errstr_size, CAIRN_ERR_REDIS,
                                "ack script: %s",
                                rep[c]->type == REDIS_REPLY_ERROR
                                    ? rep[c]->str
                                    : "unexpected reply");
    }
    if (removed)
        *removed = total;
    for (i = 0; i < acks->n; i++)
        free(acks->v[i].member);
    acks->n = 0;
out:
    for (c = 0; rep && c < ncalls; c++)
        if (rep[c])
            freeReplyObject(rep[c]);
    free(rep);
    free(keys);
    free(argv);
    free(calls);
    return err;
}
