/*
 * def.c — JSON workflow definitions: parsing, validation, canonical form.
 *
 * The format is documented in docs/WORKFLOWS.md. Parsing is strict: an
 * unknown key is an error (a typo must not silently change behaviour), and
 * every error names where it is ("state 'ship': on[1]: ..."). Validation
 * covers states (unique, reachable, at least one terminal), commands (one
 * kind each, terminal ones last), ids (unique across the definition, no ':'
 * or '#', which the engine uses to build runtime ids), transitions (known
 * event, reference to something the state starts, target exists) and every
 * path and guard (parsed against what its context offers).
 *
 * The compiled cairn_def_t owns all of its memory and is immutable; the
 * canonical JSON (compact, sorted keys) is what the registry compares.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_STATES 1000
#define MAX_NAME 128

typedef struct {
    char *err;
    size_t errsz;
    cairn_def_t *def;
    json_t *ids;  /* id -> state name, across the definition */
    char where[MAX_NAME * 2 + 64];
} dp_t;

static int derr(dp_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int derr(dp_t *d, const char *fmt, ...) {
    if (d->err && d->errsz) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (d->where[0])
            snprintf(d->err, d->errsz, "%s: %s", d->where, msg);
        else
            snprintf(d->err, d->errsz, "%s", msg);
    }
    return -1;
}

static const char *const evk_names[] = {
    [CAIRN__EVK_ACTIVITY_COMPLETED] = "activity_completed",
    [CAIRN__EVK_ACTIVITY_FAILED] = "activity_failed",
    [CAIRN__EVK_TIMER_FIRED] = "timer_fired",
    [CAIRN__EVK_SIGNAL_RECEIVED] = "signal_received",
    [CAIRN__EVK_SIGNAL_TIMEOUT] = "signal_timeout",
    [CAIRN__EVK_CHILD_COMPLETED] = "child_completed",
    [CAIRN__EVK_CHILD_FAILED] = "child_failed",
    [CAIRN__EVK_COMPENSATION_COMPLETED] = "compensation_completed",
    [CAIRN__EVK_COMPENSATION_FAILED] = "compensation_failed",
    [CAIRN__EVK_ALWAYS] = "always",
};
#define N_EVK ((int)(sizeof(evk_names) / sizeof(evk_names[0])))

const char *cairn__evk_name(cairn__evk_t evk) {
    if ((int)evk <= 0 || (int)evk >= N_EVK)
        return "?";
    return evk_names[evk];
}

/* ---- small validators ---------------------------------------------------- */

static int check_keys(dp_t *d, const json_t *obj, const char *const *allowed,
                      const char *what) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        const char *const *a;
        for (a = allowed; *a && strcmp(*a, k); a++)
            ;
        if (!*a)
            return derr(d, "%s: unknown key '%s'", what, k);
    }
    return 0;
}

/* Names of types, states, ids, queues: [A-Za-z0-9_.-]{1,128}. */
static int valid_name(const char *s) {
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0 && n <= MAX_NAME;
}

/* Required (or optional with NULL default) name-valued string member. */
static int get_name(dp_t *d, const json_t *obj, const char *key,
                    const char *dflt, char **out, const char *what) {
    const json_t *v = json_object_get(obj, key);
    const char *s = dflt;
    if (v) {
        if (!json_is_string(v))
            return derr(d, "%s: '%s' must be a string", what, key);
        s = json_string_value(v);
    } else if (!dflt) {
        return derr(d, "%s: '%s' is required", what, key);
    }
    if (!valid_name(s))
        return derr(d,
                    "%s: '%s' value '%s' must be 1-%d characters of "
                    "[A-Za-z0-9_.-]",
                    what, key, s, MAX_NAME);
    if (!(*out = strdup(s)))
        return derr(d, "out of memory");
    return 0;
}

static int get_ms(dp_t *d, const json_t *obj, const char *key, int64_t *out,
                  const char *what) {
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)1000 * 86400 * 365 * 100)
        return derr(d, "%s: '%s' must be a non-negative integer (ms)", what,
                    key);
    *out = json_integer_value(v);
    return 0;
}

static int check_tmpl(dp_t *d, const json_t *t, unsigned mask,
                      const char *what) {
    char msg[300];
    if (cairn__tmpl_check(t, mask, msg, sizeof(msg)))
        return derr(d, "%s: %s", what, msg);
    return 0;
}

/* Keeps a template: a new reference, or NULL when absent. */
static int keep_tmpl(dp_t *d, const json_t *t, unsigned mask, json_t **out,
                     const char *what) {
    if (!t)
        return 0;
    if (check_tmpl(d, t, mask, what))
        return -1;
    *out = json_incref((json_t *)t);
    return 0;
}

/* ---- retry policies ------------------------------------------------------ */

static const cairn__retry_t builtin_retry = {1000, 2.0, 60000, 3, NULL, 0};

static void retry_free(cairn__retry_t *r) {
    for (size_t i = 0; i < r->n_non_retryable; i++)
        free(r->non_retryable[i]);
    free(r->non_retryable);
    r->non_retryable = NULL;
    r->n_non_retryable = 0;
}

static int retry_copy(dp_t *d, cairn__retry_t *dst, const cairn__retry_t *src) {
    *dst = *src;
    dst->non_retryable = NULL;
    dst->n_non_retryable = 0;
    if (!src->n_non_retryable)
        return 0;
    if (!(dst->non_retryable = calloc(src->n_non_retryable, sizeof(char *))))
        return derr(d, "out of memory");
    for (size_t i = 0; i < src->n_non_retryable; i++) {
        if (!(dst->non_retryable[i] = strdup(src->non_retryable[i])))
            return derr(d, "out of memory");
        dst->n_non_retryable++;
    }
    return 0;
}

/* Parses a "retry" object over the defaults in base into *r. */
static int parse_retry(dp_t *d, const json_t *j, const cairn__retry_t *base,
                       cairn__retry_t *r, const char *what) {
    static const char *const keys[] = {
        "initial_interval_ms", "backoff_coefficient", "maximum_interval_ms",
        "maximum_attempts", "non_retryable_error_types", NULL};
    char w[320];
    const json_t *v;
    if (retry_copy(d, r, base))
        return -1;
    if (!j)
        return 0;
    snprintf(w, sizeof(w), "%s retry", what);
    if (!json_is_object(j))
        return derr(d, "%s: must be an object", w);
    if (check_keys(d, j, keys, w) ||
        get_ms(d, j, "initial_interval_ms", &r->initial_interval_ms, w) ||
        get_ms(d, j, "maximum_interval_ms", &r->maximum_interval_ms, w))
        return -1;
    if ((v = json_object_get(j, "backoff_coefficient"))) {
        if (!json_is_number(v) || json_number_value(v) < 1.0 ||
            json_number_value(v) > 100.0)
            return derr(d, "%s: 'backoff_coefficient' must be a number in "
                           "[1, 100]",
                        w);
        r->backoff_coefficient = json_number_value(v);
    }
    if ((v = json_object_get(j, "maximum_attempts"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > INT_MAX)
            return derr(d, "%s: 'maximum_attempts' must be an integer >= 0 "
                           "(0 = unlimited)",
                        w);
        r->maximum_attempts = (int32_t)json_integer_value(v);
    }
    if (r->maximum_interval_ms < r->initial_interval_ms)
        r->maximum_interval_ms = r->initial_interval_ms;
    if ((v = json_object_get(j, "non_retryable_error_types"))) {
        size_t i;
        json_t *e;
        if (!json_is_array(v))
            return derr(d, "%s: 'non_retryable_error_types' must be an array "
                           "of strings",
                        w);
        retry_free(r);
        if (json_array_size(v) &&
            !(r->non_retryable = calloc(json_array_size(v), sizeof(char *))))
            return derr(d, "out of memory");
        json_array_foreach(v, i, e) {
            if (!json_is_string(e))
                return derr(d, "%s: 'non_retryable_error_types' must be an "
                               "array of strings",
                            w);
            if (!(r->non_retryable[i] = strdup(json_string_value(e))))
                return derr(d, "out of memory");
            r->n_non_retryable++;
        }
    }
    return 0;
}

/* ---- freeing -------------------------------------------------------------- */

static void act_spec_free(cairn__act_spec_t *a) {
    if (!a)
        return;
    free(a->id);
    free(a->name);
    free(a->task_queue);
    json_decref(a->input);
    retry_free(&a->retry);
    act_spec_free(a->compensation);
    free(a);
}

static void state_free(cairn__state_t *s) {
    free(s->name);
    for (size_t i = 0; i < s->ncmds; i++) {
        cairn__cmd_t *c = &s->cmds[i];
        act_spec_free(c->act);
        free(c->id);
        json_decref(c->value);
        free(c->error_type);
        free(c->child_type);
        json_decref(c->child_wfid);
        free(c->parent_close);
    }
    free(s->cmds);
    for (size_t i = 0; i < s->ntrans; i++) {
        free(s->trans[i].ref);
        cairn__expr_free(s->trans[i].when);
        json_decref(s->trans[i].assign);
    }
    free(s->trans);
}

void cairn_def_destroy(cairn_def_t *def) {
    if (!def)
        return;
    free(def->type);
    free(def->task_queue);
    for (size_t i = 0; i < def->nstates; i++)
        state_free(&def->states[i]);
    free(def->states);
    free(def->canonical);
    free(def);
}

/* ---- commands ------------------------------------------------------------- */

/* Records a definition-wide id; refuses a second use. */
static int claim_id(dp_t *d, const char *id, const char *state,
                    const char *what) {
    const json_t *prev = json_object_get(d->ids, id);
    if (prev)
        return derr(d, "%s id '%s' is already used in state '%s'", what, id,
                    json_string_value(prev));
    if (json_object_set_new(d->ids, id, json_string(state)))
        return derr(d, "out of memory");
    return 0;
}

static int parse_timeouts(dp_t *d, const json_t *j, cairn__act_spec_t *a,
                          const char *what) {
    static const char *const keys[] = {"start_to_close_ms",
                                       "schedule_to_close_ms", "heartbeat_ms",
                                       NULL};
    char w[320];
    if (!j)
        return 0;
    snprintf(w, sizeof(w), "%s timeouts", what);
    if (!json_is_object(j))
        return derr(d, "%s: must be an object", w);
    return check_keys(d, j, keys, w) ||
                   get_ms(d, j, "start_to_close_ms", &a->start_to_close_ms, w) ||
                   get_ms(d, j, "schedule_to_close_ms",
                          &a->schedule_to_close_ms, w) ||
                   get_ms(d, j, "heartbeat_ms", &a->heartbeat_ms, w)
               ? -1
               : 0;
}

/* An activity spec (command or compensation). */
static int parse_act(dp_t *d, const json_t *j, const cairn__retry_t *dretry,
                     int is_comp, const char *state, cairn__act_spec_t **out) {
    static const char *const cmd_keys[] = {"activity", "id", "input",
                                           "task_queue", "retry", "timeouts",
                                           "compensation", NULL};
    static const char *const comp_keys[] = {"activity", "input", "task_queue",
                                            "retry", "timeouts", NULL};
    char what[200];
    cairn__act_spec_t *a = calloc(1, sizeof(*a));
    if (!a)
        return derr(d, "out of memory");
    *out = a;
    snprintf(what, sizeof(what), "%s", is_comp ? "compensation" : "activity");
    if (!json_is_object(j))
        return derr(d, "%s must be an object", what);
    if (check_keys(d, j, is_comp ? comp_keys : cmd_keys, what) ||
        get_name(d, j, "activity", NULL, &a->name, what))
        return -1;
    snprintf(what, sizeof(what), "%s '%s'",
             is_comp ? "compensation" : "activity", a->name);
    if (!is_comp) {
        if (get_name(d, j, "id", a->name, &a->id, what) ||
            claim_id(d, a->id, state, "activity"))
            return -1;
        snprintf(what, sizeof(what), "activity '%s'", a->id);
    }
    if (get_name(d, j, "task_queue", d->def->task_queue, &a->task_queue,
                 what) ||
        keep_tmpl(d, json_object_get(j, "input"),
                  CAIRN__R_ALWAYS | (is_comp ? CAIRN__R_RESULT : 0), &a->input,
                  what) ||
        parse_retry(d, json_object_get(j, "retry"), dretry, &a->retry, what) ||
        parse_timeouts(d, json_object_get(j, "timeouts"), a, what))
        return -1;
    if (!is_comp && json_object_get(j, "compensation"))
        return parse_act(d, json_object_get(j, "compensation"), dretry, 1,
                         state, &a->compensation);
    return 0;
}

static const char *const cmd_kinds[] = {
    "activity", "timer",  "sleep_ms", "wait_signal", "assign",
    "complete", "fail",   "cancel",   "child",       "continue_as_new",
    "compensate", NULL};

static int valid_var_path(const char *s) {
    /* name(.name)* with name chars [A-Za-z0-9_-] */
    size_t seg = 0;
    if (!*s || strlen(s) > 512)
        return 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (!seg)
                return 0;
            seg = 0;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                   (*s >= '0' && *s <= '9') || *s == '_' || *s == '-') {
            seg++;
        } else {
            return 0;
        }
    }
    return seg > 0;
}

static int parse_assign(dp_t *d, const json_t *j, unsigned mask,
                        json_t **out) {
    const char *k;
    json_t *v;
    char what[600];
    if (!json_is_object(j))
        return derr(d, "'assign' must be an object of variable: value");
    json_object_foreach((json_t *)j, k, v) {
        if (!valid_var_path(k))
            return derr(d, "assign: '%s' is not a variable name (name or "
                           "name.name... of [A-Za-z0-9_-])",
                        k);
        snprintf(what, sizeof(what), "assign '%s'", k);
        if (check_tmpl(d, v, mask, what))
            return -1;
    }
    *out = json_incref((json_t *)j);
    return 0;
}

static int parse_cmd(dp_t *d, const json_t *j, cairn__state_t *s,
                     cairn__cmd_t *c, const cairn__retry_t *dretry) {
    const char *kind = NULL;
    const json_t *v;
    int n = 0;
    if (!json_is_object(j))
        return derr(d, "a command must be an object");
    for (const char *const *k = cmd_kinds; *k; k++)
        if (json_object_get(j, *k)) {
            kind = *k;
            n++;
        }
    if (n != 1)
        return derr(d, "a command needs exactly one of activity, timer, "
                       "sleep_ms, wait_signal, assign, complete, fail, "
                       "cancel, child, continue_as_new, compensate");
    v = json_object_get(j, kind);
    if (!strcmp(kind, "activity")) {
        c->kind = CAIRN__CMD_ACTIVITY;
        return parse_act(d, j, dretry, 0, s->name, &c->act);
    }
    if (!strcmp(kind, "timer") || !strcmp(kind, "sleep_ms")) {
        static const char *const tkeys[] = {"id", "after_ms", NULL};
        static const char *const skeys[] = {"sleep_ms", "id", NULL};
        char dflt[MAX_NAME + 8];
        c->kind = CAIRN__CMD_TIMER;
        if (!strcmp(kind, "sleep_ms")) {
            snprintf(dflt, sizeof(dflt), "%s.sleep", s->name);
            if (check_keys(d, j, skeys, "sleep") ||
                get_ms(d, j, "sleep_ms", &c->after_ms, "sleep") ||
                get_name(d, j, "id", dflt, &c->id, "sleep"))
                return -1;
        } else {
            if (!json_is_object(v))
                return derr(d, "'timer' must be an object {id, after_ms}");
            if (check_keys(d, v, tkeys, "timer") ||
                get_name(d, v, "id", NULL, &c->id, "timer"))
                return -1;
            if (!json_object_get(v, "after_ms"))
                return derr(d, "timer '%s': 'after_ms' is required", c->id);
            if (get_ms(d, v, "after_ms", &c->after_ms, "timer"))
                return -1;
        }
        return claim_id(d, c->id, s->name, "timer");
    }
    if (!strcmp(kind, "wait_signal")) {
        static const char *const wkeys[] = {"name", "timeout_ms", NULL};
        const json_t *name = v;
        c->kind = CAIRN__CMD_WAIT_SIGNAL;
        if (json_is_object(v)) {
            if (check_keys(d, v, wkeys, "wait_signal") ||
                get_ms(d, v, "timeout_ms", &c->after_ms, "wait_signal"))
                return -1;
            name = json_object_get(v, "name");
        }
        if (!json_is_string(name) || !json_string_length(name) ||
            json_string_length(name) > MAX_NAME)
            return derr(d, "wait_signal needs a signal 'name' (a string of "
                           "1-%d bytes)",
                        MAX_NAME);
        if (!strncmp(json_string_value(name), "cairn.", 6))
            return derr(d, "wait_signal: signal names starting with 'cairn.' "
                           "are reserved");
        for (size_t i = 0; i + 1 < s->ncmds; i++) /* the earlier ones */
            if (s->cmds[i].kind == CAIRN__CMD_WAIT_SIGNAL &&
                !strcmp(s->cmds[i].id, json_string_value(name)))
                return derr(d, "waits twice for signal '%s'",
                            json_string_value(name));
        if (!(c->id = strdup(json_string_value(name))))
            return derr(d, "out of memory");
        return 0;
    }
    if (!strcmp(kind, "assign")) {
        c->kind = CAIRN__CMD_ASSIGN;
        if (json_object_size(j) != 1)
            return derr(d, "an assign command has no other keys");
        return parse_assign(d, v, CAIRN__R_ALWAYS, &c->value);
    }
    if (!strcmp(kind, "complete")) {
        c->kind = CAIRN__CMD_COMPLETE;
        if (json_object_size(j) != 1)
            return derr(d, "a complete command has no other keys");
        return keep_tmpl(d, v, CAIRN__R_ALWAYS, &c->value, "complete");
    }
    if (!strcmp(kind, "fail")) {
        static const char *const fkeys[] = {"error_type", "error_message",
                                            NULL};
        c->kind = CAIRN__CMD_FAIL;
        if (json_object_size(j) != 1)
            return derr(d, "a fail command has no other keys");
        if (!json_is_object(v))
            return derr(d, "'fail' must be an object {error_type, "
                           "error_message}");
        return check_keys(d, v, fkeys, "fail") ||
                       get_name(d, v, "error_type", NULL, &c->error_type,
                                "fail") ||
                       keep_tmpl(d, json_object_get(v, "error_message"),
                                 CAIRN__R_ALWAYS, &c->value, "fail")
                   ? -1
                   : 0;
    }
    if (!strcmp(kind, "cancel")) {
        static const char *const ckeys[] = {"reason", NULL};
        c->kind = CAIRN__CMD_CANCEL;
        if (json_object_size(j) != 1 || !json_is_object(v))
            return derr(d, "'cancel' must be an object {reason} and alone");
        return check_keys(d, v, ckeys, "cancel") ||
                       keep_tmpl(d, json_object_get(v, "reason"),
                                 CAIRN__R_ALWAYS, &c->value, "cancel")
                   ? -1
                   : 0;
    }
    if (!strcmp(kind, "continue_as_new")) {
        static const char *const ckeys[] = {"input", NULL};
        c->kind = CAIRN__CMD_CONTINUE_AS_NEW;
        if (json_object_size(j) != 1 || !json_is_object(v))
            return derr(d, "'continue_as_new' must be an object {input} and "
                           "alone");
        return check_keys(d, v, ckeys, "continue_as_new") ||
                       keep_tmpl(d, json_object_get(v, "input"),
                                 CAIRN__R_ALWAYS, &c->value,
                                 "continue_as_new")
                   ? -1
                   : 0;
    }
    if (!strcmp(kind, "compensate")) {
        c->kind = CAIRN__CMD_COMPENSATE;
        if (json_object_size(j) != 1 ||
            !(json_is_true(v) || (json_is_object(v) && !json_object_size(v))))
            return derr(d, "'compensate' takes true or {} and no other keys");
        return 0;
    }
    /* child */
    static const char *const chkeys[] = {"id",         "workflow_type",
                                         "version",    "workflow_id",
                                         "input",      "parent_close_policy",
                                         NULL};
    const json_t *ver, *pcp;
    c->kind = CAIRN__CMD_CHILD;
    if (json_object_size(j) != 1 || !json_is_object(v))
        return derr(d, "'child' must be an object and alone");
    if (check_keys(d, v, chkeys, "child") ||
        get_name(d, v, "id", NULL, &c->id, "child") ||
        get_name(d, v, "workflow_type", NULL, &c->child_type, "child") ||
        claim_id(d, c->id, s->name, "child") ||
        keep_tmpl(d, json_object_get(v, "input"), CAIRN__R_ALWAYS, &c->value,
                  "child") ||
        keep_tmpl(d, json_object_get(v, "workflow_id"), CAIRN__R_ALWAYS,
                  &c->child_wfid, "child"))
        return -1;
    if ((ver = json_object_get(v, "version"))) {
        if (!json_is_integer(ver) || json_integer_value(ver) < 0 ||
            json_integer_value(ver) > INT_MAX)
            return derr(d, "child '%s': 'version' must be an integer >= 0",
                        c->id);
        c->child_version = (int)json_integer_value(ver);
    }
    pcp = json_object_get(v, "parent_close_policy");
    if (pcp && (!json_is_string(pcp) ||
                (strcmp(json_string_value(pcp), "terminate") &&
                 strcmp(json_string_value(pcp), "request_cancel") &&
                 strcmp(json_string_value(pcp), "abandon"))))
        return derr(d, "child '%s': 'parent_close_policy' must be terminate, "
                       "request_cancel or abandon",
                    c->id);
    if (!(c->parent_close =
              strdup(pcp ? json_string_value(pcp) : "terminate")))
        return derr(d, "out of memory");
    return 0;
}

static int is_terminal_kind(cairn__cmd_kind_t k) {
    return k == CAIRN__CMD_COMPLETE || k == CAIRN__CMD_FAIL ||
           k == CAIRN__CMD_CANCEL || k == CAIRN__CMD_CONTINUE_AS_NEW;
}

/* ---- transitions ---------------------------------------------------------- */

static int has_cmd(const cairn__state_t *s, cairn__cmd_kind_t kind,
                   const char *id, int need_timeout) {
    for (size_t i = 0; i < s->ncmds; i++) {
        const cairn__cmd_t *c = &s->cmds[i];
        const char *cid = c->kind == CAIRN__CMD_ACTIVITY ? c->act->id : c->id;
        if (c->kind != kind)
            continue;
        if (id && strcmp(cid, id))
            continue;
        if (need_timeout && !c->after_ms)
            continue;
        return 1;
    }
    return 0;
}

static int parse_trans(dp_t *d, const json_t *j, cairn__state_t *s,
                       cairn__trans_t *t) {
    static const char *const keys[] = {"event",  "activity", "timer",
                                       "signal", "child",    "when",
                                       "assign", "target",   NULL};
    static const char *const refkeys[] = {"activity", "timer", "signal",
                                          "child"};
    const json_t *ev, *v, *target;
    const char *refkey = NULL;
    unsigned mask = CAIRN__R_ALWAYS;
    cairn__cmd_kind_t need = 0;
    if (!json_is_object(j))
        return derr(d, "a transition must be an object");
    if (check_keys(d, j, keys, "transition"))
        return -1;
    ev = json_object_get(j, "event");
    if (!json_is_string(ev))
        return derr(d, "transition: 'event' is required (a string)");
    for (int k = 1; k < N_EVK; k++)
        if (!strcmp(evk_names[k], json_string_value(ev)))
            t->event = (cairn__evk_t)k;
    switch (t->event) {
    case CAIRN__EVK_ACTIVITY_COMPLETED:
        refkey = "activity", need = CAIRN__CMD_ACTIVITY;
        mask |= CAIRN__R_RESULT;
        break;
    case CAIRN__EVK_ACTIVITY_FAILED:
        refkey = "activity", need = CAIRN__CMD_ACTIVITY;
        mask |= CAIRN__R_ERROR;
        break;
    case CAIRN__EVK_TIMER_FIRED:
        refkey = "timer", need = CAIRN__CMD_TIMER;
        break;
    case CAIRN__EVK_SIGNAL_RECEIVED:
        refkey = "signal";
        mask |= CAIRN__R_PAYLOAD | CAIRN__R_SIGNAL;
        break;
    case CAIRN__EVK_SIGNAL_TIMEOUT:
        refkey = "signal", need = CAIRN__CMD_WAIT_SIGNAL;
        break;
    case CAIRN__EVK_CHILD_COMPLETED:
        refkey = "child", need = CAIRN__CMD_CHILD;
        mask |= CAIRN__R_RESULT;
        break;
    case CAIRN__EVK_CHILD_FAILED:
        refkey = "child", need = CAIRN__CMD_CHILD;
        mask |= CAIRN__R_ERROR;
        break;
    case CAIRN__EVK_COMPENSATION_COMPLETED:
        need = CAIRN__CMD_COMPENSATE;
        break;
    case CAIRN__EVK_COMPENSATION_FAILED:
        need = CAIRN__CMD_COMPENSATE;
        mask |= CAIRN__R_ERROR;
        break;
    case CAIRN__EVK_ALWAYS: break;
    default:
        return derr(d,
                    "unknown event '%s' (expected activity_completed, "
                    "activity_failed, timer_fired, signal_received, "
                    "signal_timeout, child_completed, child_failed, "
                    "compensation_completed, compensation_failed or always)",
                    json_string_value(ev));
    }
    for (size_t i = 0; i < sizeof(refkeys) / sizeof(refkeys[0]); i++)
        if (json_object_get(j, refkeys[i]) &&
            (!refkey || strcmp(refkey, refkeys[i])))
            return derr(d, "key '%s' does not apply to event '%s'",
                        refkeys[i], json_string_value(ev));
    if (refkey && (v = json_object_get(j, refkey))) {
        if (!json_is_string(v) || !json_string_length(v))
            return derr(d, "'%s' must be a non-empty string", refkey);
        if (!(t->ref = strdup(json_string_value(v))))
            return derr(d, "out of memory");
    }
    if ((t->event == CAIRN__EVK_SIGNAL_RECEIVED ||
         t->event == CAIRN__EVK_SIGNAL_TIMEOUT) &&
        !t->ref)
        return derr(d, "event '%s' needs a 'signal' name",
                    json_string_value(ev));
    if (need && !has_cmd(s, need, t->ref, t->event == CAIRN__EVK_SIGNAL_TIMEOUT)) {
        switch (t->event) {
        case CAIRN__EVK_SIGNAL_TIMEOUT:
            return derr(d, "signal_timeout for '%s' needs a wait_signal "
                           "command with timeout_ms in this state",
                        t->ref);
        case CAIRN__EVK_COMPENSATION_COMPLETED:
        case CAIRN__EVK_COMPENSATION_FAILED:
            return derr(d, "'%s' needs a compensate command in this state",
                        json_string_value(ev));
        default:
            if (t->ref)
                return derr(d, "transition on %s '%s', which this state does "
                               "not start",
                            refkey, t->ref);
            return derr(d, "transition on '%s', but this state starts no %s",
                        json_string_value(ev), refkey);
        }
    }
    if ((v = json_object_get(j, "when"))) {
        char msg[400];
        if (!json_is_string(v))
            return derr(d, "'when' must be a string (a guard expression)");
        if (!(t->when = cairn__expr_parse(json_string_value(v), mask, msg,
                                          sizeof(msg))))
            return derr(d, "bad guard: %s", msg);
    }
    if ((v = json_object_get(j, "assign")) &&
        parse_assign(d, v, mask, &t->assign))
        return -1;
    target = json_object_get(j, "target");
    if (!json_is_string(target))
        return derr(d, "transition: 'target' is required (a state name)");
    long ti = cairn__def_state(d->def, json_string_value(target));
    if (ti < 0)
        return derr(d, "transition target '%s' is not a state",
                    json_string_value(target));
    t->target = (size_t)ti;
    return 0;
}

/* ---- states ---------------------------------------------------------------- */

static int parse_state(dp_t *d, const json_t *j, cairn__state_t *s,
                       const cairn__retry_t *dretry) {
    static const char *const keys[] = {"name", "on_enter", "on",
                                       "description", NULL};
    const json_t *cmds = json_object_get(j, "on_enter");
    const json_t *trans = json_object_get(j, "on");
    size_t i;
    json_t *v;
    snprintf(d->where, sizeof(d->where), "state '%s'", s->name);
    if (check_keys(d, j, keys, "state"))
        return -1;
    if (cmds && !json_is_array(cmds))
        return derr(d, "'on_enter' must be an array of commands");
    if (trans && !json_is_array(trans))
        return derr(d, "'on' must be an array of transitions");
    if (cmds && json_array_size(cmds) &&
        !(s->cmds = calloc(json_array_size(cmds), sizeof(*s->cmds))))
        return derr(d, "out of memory");
    json_array_foreach(cmds, i, v) {
        snprintf(d->where, sizeof(d->where), "state '%s': on_enter[%zu]",
                 s->name, i);
        s->ncmds++;
        if (parse_cmd(d, v, s, &s->cmds[i], dretry))
            return -1;
        if (is_terminal_kind(s->cmds[i].kind)) {
            if (i + 1 != json_array_size(cmds))
                return derr(d, "a terminal command (complete, fail, cancel, "
                               "continue_as_new) must be the last command");
            s->terminal = 1;
        }
    }
    snprintf(d->where, sizeof(d->where), "state '%s'", s->name);
    if (s->terminal) {
        for (i = 0; i < s->ncmds; i++)
            if (s->cmds[i].kind != CAIRN__CMD_ASSIGN &&
                !is_terminal_kind(s->cmds[i].kind))
                return derr(d, "a terminal state may only assign before its "
                               "terminal command (on_enter[%zu] starts "
                               "work that could never finish)",
                            i);
        if (trans && json_array_size(trans))
            return derr(d, "a terminal state has no transitions ('on')");
        return 0;
    }
    if (!trans || !json_array_size(trans))
        return derr(d, "state is not terminal and has no transitions (add "
                       "'on', or end on_enter with complete/fail/cancel/"
                       "continue_as_new)");
    if (!(s->trans = calloc(json_array_size(trans), sizeof(*s->trans))))
        return derr(d, "out of memory");
    json_array_foreach(trans, i, v) {
        snprintf(d->where, sizeof(d->where), "state '%s': on[%zu]", s->name,
                 i);
        s->ntrans++;
        if (parse_trans(d, v, s, &s->trans[i]))
            return -1;
    }
    snprintf(d->where, sizeof(d->where), "state '%s'", s->name);
    if (has_cmd(s, CAIRN__CMD_COMPENSATE, NULL, 0)) {
        size_t k;
        for (k = 0; k < s->ntrans; k++)
            if (s->trans[k].event == CAIRN__EVK_COMPENSATION_COMPLETED)
                break;
        if (k == s->ntrans)
            return derr(d, "a state that compensates needs a "
                           "compensation_completed transition");
    }
    for (i = 0; i < s->ncmds; i++) {
        const cairn__cmd_t *c = &s->cmds[i];
        if (c->kind != CAIRN__CMD_WAIT_SIGNAL)
            continue;
        size_t k;
        for (k = 0; k < s->ntrans; k++)
            if (s->trans[k].event == CAIRN__EVK_SIGNAL_RECEIVED &&
                !strcmp(s->trans[k].ref, c->id))
                break;
        if (k == s->ntrans)
            return derr(d, "waits for signal '%s' but has no signal_received "
                           "transition for it",
                        c->id);
    }
    return 0;
}

long cairn__def_state(const cairn_def_t *def, const char *name) {
    for (size_t i = 0; i < def->nstates; i++)
        if (def->states[i].name && !strcmp(def->states[i].name, name))
            return (long)i;
    return -1;
}

const cairn__act_spec_t *cairn__def_activity(const cairn_def_t *def,
                                             const char *id) {
    for (size_t i = 0; i < def->nstates; i++)
        for (size_t k = 0; k < def->states[i].ncmds; k++) {
            const cairn__cmd_t *c = &def->states[i].cmds[k];
            if (c->kind == CAIRN__CMD_ACTIVITY && !strcmp(c->act->id, id))
                return c->act;
        }
    return NULL;
}

const cairn__cmd_t *cairn__def_child(const cairn_def_t *def, const char *id) {
    for (size_t i = 0; i < def->nstates; i++)
        for (size_t k = 0; k < def->states[i].ncmds; k++) {
            const cairn__cmd_t *c = &def->states[i].cmds[k];
            if (c->kind == CAIRN__CMD_CHILD && !strcmp(c->id, id))
                return c;
        }
    return NULL;
}

static int check_graph(dp_t *d) {
    cairn_def_t *def = d->def;
    size_t n = def->nstates, head = 0, tail = 0;
    size_t *queue = malloc(n * sizeof(*queue));
    char *seen = calloc(n, 1);
    int rc = -1, terminal = 0;
    if (!queue || !seen) {
        derr(d, "out of memory");
        goto out;
    }
    d->where[0] = '\0';
    queue[tail++] = def->initial;
    seen[def->initial] = 1;
    if (def->on_cancel >= 0 && !seen[def->on_cancel]) {
        queue[tail++] = (size_t)def->on_cancel;
        seen[def->on_cancel] = 1;
    }
    while (head < tail) {
        const cairn__state_t *s = &def->states[queue[head++]];
        terminal |= s->terminal;
        for (size_t i = 0; i < s->ntrans; i++)
            if (!seen[s->trans[i].target]) {
                seen[s->trans[i].target] = 1;
                queue[tail++] = s->trans[i].target;
            }
    }
    for (size_t i = 0; i < n; i++)
        if (!seen[i]) {
            derr(d, "state '%s' is unreachable from the initial state '%s'",
                 def->states[i].name, def->states[def->initial].name);
            goto out;
        }
    if (!terminal) {
        derr(d, "no terminal state (a state whose on_enter ends with "
                "complete, fail, cancel or continue_as_new)");
        goto out;
    }
    rc = 0;
out:
    free(queue);
    free(seen);
    return rc;
}

cairn_def_t *cairn_def_from_json(const char *json, size_t len, char *errstr,
                                 size_t errstr_size) {
    static const char *const keys[] = {
        "type",     "version", "task_queue", "initial",
        "states",   "on_cancel", "execution_timeout_ms", "retry",
        "description", NULL};
    dp_t dd = {errstr, errstr_size, NULL, NULL, ""}, *d = &dd;
    json_error_t jerr;
    json_t *root = NULL, *states, *v;
    cairn__retry_t dretry = {0};
    cairn_def_t *def = NULL;
    size_t i;
    if (!json) {
        derr(d, "no definition");
        return NULL;
    }
    memset(&jerr, 0, sizeof(jerr));
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (cairn__json_refused_for_memory(json, len, &jerr))
            derr(d, "out of memory");
        else
            derr(d, "invalid JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    if (!(d->ids = json_object()) || !(def = calloc(1, sizeof(*def)))) {
        derr(d, "out of memory");
        goto err;
    }
    d->def = def;
    def->on_cancel = -1;
    if (!json_is_object(root)) {
        derr(d, "a definition must be a JSON object");
        goto err;
    }
    if (check_keys(d, root, keys, "definition") ||
        get_name(d, root, "type", NULL, &def->type, "definition") ||
        get_name(d, root, "task_queue", "default", &def->task_queue,
                 "definition") ||
        get_ms(d, root, "execution_timeout_ms", &def->execution_timeout_ms,
               "definition") ||
        parse_retry(d, json_object_get(root, "retry"), &builtin_retry, &dretry,
                    "definition"))
        goto err;
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        json_integer_value(v) > INT_MAX) {
        derr(d, "definition: 'version' is required (an integer >= 1)");
        goto err;
    }
    def->version = (int)json_integer_value(v);
    states = json_object_get(root, "states");
    if (!json_is_array(states) || !json_array_size(states) ||
        json_array_size(states) > MAX_STATES) {
        derr(d, "definition: 'states' must be an array of 1-%d states",
             MAX_STATES);
        goto err;
    }
    if (!(def->states = calloc(json_array_size(states), sizeof(*def->states)))) {
        derr(d, "out of memory");
        goto err;
    }
    /* First pass: names, so that transitions can point forward. */
    json_array_foreach(states, i, v) {
        char what[32];
        snprintf(what, sizeof(what), "states[%zu]", i);
        if (!json_is_object(v)) {
            derr(d, "%s: a state must be an object", what);
            goto err;
        }
        if (get_name(d, v, "name", NULL, &def->states[i].name, what))
            goto err;
        def->nstates++;
        if (cairn__def_state(def, def->states[i].name) != (long)i) {
            derr(d, "duplicate state '%s'", def->states[i].name);
            goto err;
        }
    }
    v = json_object_get(root, "initial");
    if (!json_is_string(v)) {
        derr(d, "definition: 'initial' is required (a state name)");
        goto err;
    }
    if (cairn__def_state(def, json_string_value(v)) < 0) {
        derr(d, "initial state '%s' is not a state", json_string_value(v));
        goto err;
    }
    def->initial = (size_t)cairn__def_state(def, json_string_value(v));
    if ((v = json_object_get(root, "on_cancel"))) {
        if (!json_is_string(v) ||
            cairn__def_state(def, json_string_value(v)) < 0) {
            derr(d, "on_cancel '%s' is not a state",
                 json_is_string(v) ? json_string_value(v) : "?");
            goto err;
        }
        def->on_cancel = cairn__def_state(def, json_string_value(v));
    }
    json_array_foreach(states, i, v) {
        if (parse_state(d, v, &def->states[i], &dretry))
            goto err;
    }
    if (check_graph(d))
        goto err;
    if (!(def->canonical = cairn__json_dump(root, NULL))) {
        derr(d, "out of memory");
        goto err;
    }
    retry_free(&dretry);
    json_decref(d->ids);
    json_decref(root);
    return def;
err:
    retry_free(&dretry);
    json_decref(d->ids);
    json_decref(root);
    cairn_def_destroy(def);
    return NULL;
}

char *cairn_def_to_json(const cairn_def_t *def) {
    return def ? strdup(def->canonical) : NULL;
}

const char *cairn_def_type(const cairn_def_t *def) { return def->type; }

int cairn_def_version(const cairn_def_t *def) { return def->version; }
