/*
 * err.c — lookup tables generated from CAIRN_ERRORS.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *msg;
    int retriable;
} errtab[] = {
#define CAIRN_ERR_ROW(name, msg, retriable) {#name, msg, retriable},
    CAIRN_ERRORS(CAIRN_ERR_ROW)
#undef CAIRN_ERR_ROW
};

const char *cairn_err2str(cairn_err_t err) {
    if ((unsigned)err >= CAIRN_ERR__COUNT)
        return "unknown error";
    return errtab[err].msg;
}

const char *cairn_err2name(cairn_err_t err) {
    if ((unsigned)err >= CAIRN_ERR__COUNT)
        return "UNKNOWN";
    return errtab[err].name;
}

int cairn_err_is_retriable(cairn_err_t err) {
    if ((unsigned)err >= CAIRN_ERR__COUNT)
        return 0;
    return errtab[err].retriable;
}

cairn_err_t cairn__seterr(char *errstr, size_t errstr_size, cairn_err_t err,
                          const char *fmt, ...) {
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
