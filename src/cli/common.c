#include "cli/cli.h"
#include "pg/pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ab_cli_fail(const struct ab_error *err)
{
    ab_error_print(err, stderr);
    return AB_EXIT_FAIL;
}

int ab_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "agentbase %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see agentbase %s --help)\n", cmd);
    return AB_EXIT_USAGE;
}

int ab_cli_connect_hint(const struct ab_config *cfg, struct ab_error *err)
{
    if (err->code == AB_EDB && ab_config_embedded(cfg) && !err->hint[0])
        ab_error_hint(err, "is the embedded cluster running? start it with `agentbase pg start` "
                           "(or `agentbase up`), or set DATABASE_URL");
    return err->code;
}

bool ab_cli_parse_int(const char *s, long max, long *out)
{
    char *end;
    long v;

    if (!s || !*s)
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}
