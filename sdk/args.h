/*
 * args.h — the command-line conventions shared by Cairn's programs.
 *
 * Every program accepts `-X name=value` (any property of docs/CONFIGURATION.md)
 * and `--config FILE`, plus long options that are shorthands for properties
 * (`--bootstrap-servers H:P` = `-X bootstrap.servers=H:P`). Configuration is
 * loaded defaults < file (--config FILE, else CAIRN_CONFIG) < environment <
 * flags.
 */
#ifndef CAIRN_ARGS_H
#define CAIRN_ARGS_H

#include "conf.h"

/*
 * Consumes the configuration flags from argv (in place: what remains is
 * compacted to argv[1..*argcp-1]) after loading CAIRN_CONFIG and the
 * environment. Returns 0, or -1 with a message in errstr.
 */
int cairn_args_conf(cairn_conf_t *conf, int *argcp, char **argv, char *errstr,
                    size_t errstr_size);

#endif
