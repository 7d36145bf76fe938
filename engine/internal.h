/*
 * internal.h — the engine's private types, shared by def.c, expr.c, wf.c,
 * registry.c and step.c. Outside engine/ only the SDK's builder (compiled
 * definitions) and codec (cairn__utf8_seq) include this file.
 *
 * A compiled definition (cairn_def_t) is immutable after cairn_def_from_json()
 * returns; every pointer inside it is owned by it. A workflow (cairn_wf_t) is
 * one jansson document (see wf.c for its shape); encoding it with sorted keys
 * is what makes the state byte-identical across replicas.
 */
#ifndef CAIRN_ENGINE_INTERNAL_H
#define CAIRN_ENGINE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- paths, templates, guards (expr.c) ---------------------------------- */

/* Roots a path may start with; a mask of them says what a context offers. */
enum {
    CAIRN__R_VARS = 1u << 0,    /* $.vars        workflow variables */
    CAIRN__R_INPUT = 1u << 1,   /* $.input       the run's start input */
    CAIRN__R_RESULT = 1u << 2,  /* $.result      completed activity/child */
    CAIRN__R_PAYLOAD = 1u << 3, /* $.payload     received signal */
    CAIRN__R_ERROR = 1u << 4,   /* $.error       {type, message, attempt} */
    CAIRN__R_WFID = 1u << 5,    /* $.workflow_id this workflow's id */
    CAIRN__R_SIGNAL = 1u << 6,  /* $.signal      received signal's name */
};
#define CAIRN__R_ALWAYS (CAIRN__R_VARS | CAIRN__R_INPUT | CAIRN__R_WFID)

/* Values a path can read. Unset roots read as null. Borrowed pointers. */
typedef struct {
    const json_t *vars, *input, *result, *payload, *error, *workflow_id,
        *signal;
    /* When set, $.vars is this document's "vars", looked up at each use:
     * a step may replace the object (copy-on-write, step.c set_var()). */
    const json_t *doc;
} cairn__ctx_t;

/*
 * Checks that src is a well-formed path whose root is in mask. Returns 0, or
 * -1 with the reason in err.
 */
int cairn__path_check(const char *src, unsigned mask, char *err,
                      size_t errsz);
/*
 * Checks a template: any JSON value in which a string starting with "$" is
 * a path ("$$..." is the literal "$..."). 0 or -1 with the reason in err.
 */
int cairn__tmpl_check(const json_t *tmpl, unsigned mask, char *err,
                      size_t errsz);
/*
 * Evaluates a template against ctx. Returns a new reference (a missing path
 * gives null), or NULL on out-of-memory. The caller decrefs.
 */
json_t *cairn__tmpl_eval(const json_t *tmpl, const cairn__ctx_t *ctx);

/* A parsed guard expression; owned by the definition that holds it. */
typedef struct cairn__expr_s cairn__expr_t;

/* Parses a guard. NULL with the reason in err (or "out of memory"). */
cairn__expr_t *cairn__expr_parse(const char *src, unsigned mask, char *err,
                                 size_t errsz);
/* 1 if the guard holds, 0 if not, -1 on out-of-memory. */
int cairn__expr_eval(const cairn__expr_t *e, const cairn__ctx_t *ctx);
void cairn__expr_free(cairn__expr_t *e);
/* JSON truthiness: null, false, 0, "" , [] and {} are false. */
int cairn__truthy(const json_t *v);

/* ---- user JSON (json.c) ------------------------------------------------ */

/*
 * Parses user JSON text (any value, duplicate keys refused). Returns a new
 * reference; or NULL with *oom = 1 if memory ran out; or NULL with the
 * reason in why if the text is not acceptable JSON.
 */
json_t *cairn__json_parse(const char *text, int *oom, char *why,
                          size_t whysz);

/* 1 if text is one syntactically valid JSON value (RFC 8259). */
int cairn__json_syntax_ok(const char *text);
/*
 * 1 if text[0..n) (valid UTF-8 without NUL bytes: the caller checks) is
 * one JSON value that json_loadb(JSON_DECODE_ANY) accepts, without
 * building it: the syntax, paired surrogate escapes, no \u0000, integers
 * within int64, reals within a double. Else 0 with the reason and its
 * offset in why.
 */
int cairn__json_valid(const char *text, size_t n, char *why, size_t whysz);
/*
 * After json_loadb(data, len) failed with jerr (which the caller zeroed
 * before the call): 1 if it failed for lack of memory (the text is valid
 * JSON), 0 if the text is not acceptable.
 */
int cairn__json_refused_for_memory(const char *data, size_t len,
                                   const json_error_t *jerr);
/*
 * Compact JSON with sorted keys (any value) — the engine's one canonical
 * form: the bytes of json_dumpb(v, JSON_COMPACT | JSON_SORT_KEYS |
 * JSON_ENCODE_ANY). Returns malloc'd text (caller frees; length in *lenp if
 * non-NULL), or NULL on out-of-memory (or a value jansson cannot dump).
 */
char *cairn__json_dump(const json_t *v, size_t *lenp);
/*
 * cairn__json_dump() without its fallback to jansson, for tests: the text,
 * or NULL with *unsupported = 1 for a value it leaves to jansson (invalid
 * UTF-8, very deep nesting, a cycle), or NULL with *unsupported = 0 where
 * cairn__json_dump() returns NULL too.
 */
char *cairn__json_dump_fast(const json_t *v, size_t *lenp, int *unsupported);

/*
 * Length of the well-formed UTF-8 sequence at p (n bytes left, p[0] >=
 * 0x80), or 0: no overlong forms, surrogates or code points past U+10FFFF
 * (jansson's rules; the codec checks Avro strings with them too).
 */
size_t cairn__utf8_seq(const unsigned char *p, size_t n);

/* ---- definitions (def.c) ------------------------------------------------ */

typedef enum {
    CAIRN__CMD_ACTIVITY = 1,
    CAIRN__CMD_TIMER,       /* "timer" and "sleep_ms" */
    CAIRN__CMD_WAIT_SIGNAL,
    CAIRN__CMD_ASSIGN,
    CAIRN__CMD_CHILD,
    CAIRN__CMD_COMPENSATE,
    CAIRN__CMD_COMPLETE, /* the four terminal commands */
    CAIRN__CMD_FAIL,
    CAIRN__CMD_CANCEL,
    CAIRN__CMD_CONTINUE_AS_NEW,
} cairn__cmd_kind_t;

typedef enum {
    CAIRN__EVK_ACTIVITY_COMPLETED = 1,
    CAIRN__EVK_ACTIVITY_FAILED,
    CAIRN__EVK_TIMER_FIRED,
    CAIRN__EVK_SIGNAL_RECEIVED,
    CAIRN__EVK_SIGNAL_TIMEOUT,
    CAIRN__EVK_CHILD_COMPLETED,
    CAIRN__EVK_CHILD_FAILED,
    CAIRN__EVK_COMPENSATION_COMPLETED,
    CAIRN__EVK_COMPENSATION_FAILED,
    CAIRN__EVK_ALWAYS,
} cairn__evk_t;

typedef struct {
    int64_t initial_interval_ms;
    double backoff_coefficient;
    int64_t maximum_interval_ms;
    int32_t maximum_attempts; /* 0 = unlimited */
    char **non_retryable;     /* error types never retried */
    size_t n_non_retryable;
} cairn__retry_t;

/* An activity to run, as a command or as another activity's compensation. */
typedef struct cairn__act_spec_s {
    char *id;         /* unique in the definition; no ':' '#' */
    char *name;       /* activity function name */
    char *task_queue; /* defaults to the definition's */
    json_t *input;    /* template, or NULL for no input */
    cairn__retry_t retry;
    int64_t start_to_close_ms;    /* 0 = none */
    int64_t schedule_to_close_ms; /* 0 = none */
    int64_t heartbeat_ms;         /* 0 = none */
    struct cairn__act_spec_s *compensation; /* NULL if none */
} cairn__act_spec_t;

typedef struct {
    cairn__cmd_kind_t kind;
    cairn__act_spec_t *act; /* ACTIVITY */
    char *id;          /* TIMER id, CHILD id, WAIT_SIGNAL signal name */
    int64_t after_ms;  /* TIMER delay / WAIT_SIGNAL timeout (0 = none) */
    json_t *value;     /* ASSIGN object, COMPLETE result, FAIL message,
                          CANCEL reason, CONTINUE_AS_NEW / CHILD input;
                          templates, may be NULL */
    char *error_type;  /* FAIL */
    char *child_type;  /* CHILD */
    int child_version; /* CHILD, 0 = latest at start */
    json_t *child_wfid; /* CHILD workflow id template, NULL = default */
    char *parent_close; /* CHILD: terminate | request_cancel | abandon */
} cairn__cmd_t;

typedef struct {
    cairn__evk_t event;
    char *ref;            /* activity/timer/child id or signal name; NULL=any */
    cairn__expr_t *when;  /* NULL = always */
    json_t *assign;       /* object of templates, or NULL */
    size_t target;        /* index into def->states */
} cairn__trans_t;

typedef struct {
    char *name;
    cairn__cmd_t *cmds;
    size_t ncmds;
    cairn__trans_t *trans;
    size_t ntrans;
    int terminal;
} cairn__state_t;

struct cairn_def_s {
    char *type;
    int version;
    char *task_queue;
    size_t initial;
    long on_cancel; /* state index, -1 if none */
    int64_t execution_timeout_ms;
    cairn__state_t *states;
    size_t nstates;
    char *canonical; /* compact JSON, sorted keys */
};

/* The state index of name, or -1. */
long cairn__def_state(const cairn_def_t *def, const char *name);
/* The activity spec with that id (ACTIVITY commands only), or NULL. */
const cairn__act_spec_t *cairn__def_activity(const cairn_def_t *def,
                                             const char *id);
/* The CHILD command with that id, or NULL. */
const cairn__cmd_t *cairn__def_child(const cairn_def_t *def, const char *id);
/* "activity_completed" etc. */
const char *cairn__evk_name(cairn__evk_t evk);

/* ---- workflow documents (wf.c) ------------------------------------------ */

struct cairn_wf_s {
    json_t *doc; /* owned; shape documented in wf.c */
};

/* Shape-checks a decoded document. 0 or -1 with the reason in err. */
int cairn__wf_check(const json_t *doc, char *err, size_t errsz);
/* Wraps doc (the reference passes to the new wf). NULL on out-of-memory. */
cairn_wf_t *cairn__wf_wrap(json_t *doc);

/* Typed reads of a document member; absent or mistyped reads as 0 / NULL. */
const char *cairn__jstr(const json_t *obj, const char *key);
int64_t cairn__jint(const json_t *obj, const char *key);

#endif
