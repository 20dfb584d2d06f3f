#include "cli/cli.h"
#include "secret/secret.h"

#include <errno.h>
#include <sodium.h>
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

int ab_cli_exit(const struct ab_config *cfg, int rc, struct ab_error *err)
{
    if (!rc)
        return AB_EXIT_OK;
    ab_cli_connect_hint(cfg, err);
    return ab_cli_fail(err);
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

int ab_cli_save_secret(const struct ab_config *cfg, const char *name, const char *secret,
                       const char *what, struct ab_error *err)
{
    char path[PATH_MAX + 32], line[128];
    int rc;

    if ((rc = ab_mkdir_p(cfg->home, 0755, err)))
        return rc;
    if (ab_path_join(path, sizeof(path), cfg->home, name))
        return ab_error_set(err, AB_ETOOBIG, "AGENTBASE_HOME is too long");
    snprintf(line, sizeof(line), "%s\n", secret);
    rc = ab_file_write(path, line, strlen(line), 0600, err);
    sodium_memzero(line, sizeof(line));
    if (!rc)
        printf("%s: in %s\n", what, path);
    return rc;
}

int ab_cli_secret_keyfile(const struct ab_config *cfg, struct ab_error *err)
{
    bool created = false;
    int rc = ab_secret_home_keyfile_ensure(cfg, &created, err);

    if (!rc && created)
        printf("secret key: generated in %s/%s; back it up apart from the database (without it "
               "the stored secrets cannot be decrypted)\n",
               cfg->home, AB_SECRET_HOME_FILE);
    return rc;
}

int ab_cli_secret_ring(const struct ab_config *cfg, struct ab_secret_ring **out,
                       struct ab_error *err)
{
    int rc = ab_cli_secret_keyfile(cfg, err);

    return rc ? rc : ab_secret_ring_open(cfg, out, err);
}
