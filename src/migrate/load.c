/*
 * Loading the migration set: the files compiled into the binary (or a directory's), each
 * paired with its twin by version, checksummed (sha256 of the file's bytes, what the
 * database records and verify compares) and split into statements once, so that a set
 * that loads holds nothing the runner could still refuse.
 */
#include "migrate/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ab_migrate_script_free(struct ab_migration_script *s)
{
    free(s->stmts);
    s->stmts = NULL;
    s->nstmts = 0;
}

int ab_migrate_script_init(struct ab_migration_script *s, const char *file, const char *sql,
                           size_t len, struct ab_error *err)
{
    size_t marklen = strlen(AB_MIGRATE_NO_TX_MARK);
    int rc;

    memset(s, 0, sizeof(*s));
    snprintf(s->file, sizeof(s->file), "%s", file);
    s->sql = sql;
    s->len = len;
    if (memchr(sql, '\0', len))
        return ab_error_set(err, AB_EINVAL, "%s contains a NUL byte", file);
    ab_sha256_hex(sql, len, s->checksum);
    s->no_transaction = len >= marklen && memcmp(sql, AB_MIGRATE_NO_TX_MARK, marklen) == 0 &&
                        (len == marklen || sql[marklen] == '\n' || sql[marklen] == '\r');
    rc = ab_sql_split(sql, len, &s->stmts, &s->nstmts, err);
    if (rc) {
        ab_error_prefix(err, "%s", file);
        return rc;
    }
    if (s->no_transaction && s->nstmts != 1) {
        ab_error_set(err, AB_EINVAL,
                     "%s is marked no-transaction but holds %zu statements (it must hold exactly "
                     "one)",
                     file, s->nstmts);
        ab_migrate_script_free(s);
        return AB_EINVAL;
    }
    return 0;
}

/* Parses "NNNN_name.up.sql"; returns the version, or 0 when the name is not a migration. */
static int parse_file_name(const char *file, char *name, size_t n, bool *up)
{
    const char *p = file, *dot;
    int version = 0, digits = 0;

    for (; isdigit((unsigned char)*p); p++, digits++)
        if (digits < 9)
            version = version * 10 + (*p - '0');
    if (digits < 4 || digits > 9 || *p != '_' || version <= 0)
        return 0;
    dot = strchr(p, '.');
    if (!dot || dot == p + 1)
        return 0;
    for (const char *q = p + 1; q < dot; q++)
        if (!islower((unsigned char)*q) && !isdigit((unsigned char)*q) && *q != '_')
            return 0;
    if (strcmp(dot, ".up.sql") == 0)
        *up = true;
    else if (strcmp(dot, ".down.sql") == 0)
        *up = false;
    else
        return 0;
    if ((size_t)(dot - file) >= n)
        return 0;
    snprintf(name, n, "%.*s", (int)(dot - file), file);
    return version;
}

static int cmp_migration(const void *a, const void *b)
{
    const struct ab_migration *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

/* Adds one file to the set, pairing it with its twin by version. */
static int add_file(struct ab_migration_set *set, size_t *cap, const char *file, const char *sql,
                    size_t len, struct ab_error *err)
{
    struct ab_migration *m = NULL;
    struct ab_migration_script *s;
    char name[200];
    bool up = false;
    int version = parse_file_name(file, name, sizeof(name), &up);

    if (!version)
        return ab_error_set(err, AB_EINVAL,
                            "%s is not a migration file name (NNNN_name.up.sql or "
                            "NNNN_name.down.sql, name in [a-z0-9_])",
                            file);
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].version == version)
            m = &set->items[i];
    if (m && strcmp(m->name, name) != 0)
        return ab_error_set(err, AB_EINVAL, "two migrations have version %d: %s and %s", version,
                            m->name, name);
    if (!m) {
        if (set->count == *cap) {
            size_t ncap = *cap ? *cap * 2 : 32;
            struct ab_migration *p = realloc(set->items, ncap * sizeof(*p));

            if (!p)
                return ab_error_set(err, AB_ENOMEM, "out of memory");
            set->items = p;
            *cap = ncap;
        }
        m = &set->items[set->count++];
        memset(m, 0, sizeof(*m));
        m->version = version;
        snprintf(m->name, sizeof(m->name), "%s", name);
    }
    s = up ? &m->up : &m->down;
    if (s->sql)
        return ab_error_set(err, AB_EINVAL, "%s appears twice", file);
    return ab_migrate_script_init(s, file, sql, len, err);
}

static int load_dir(struct ab_migration_set *set, size_t *cap, const char *dir,
                    struct ab_error *err)
{
    struct {
        char name[256];
        size_t off, len;
    } *files = NULL;
    size_t nfiles = 0, fcap = 0;
    struct dirent *de;
    DIR *d = opendir(dir);
    int rc = 0;

    if (!d)
        return ab_error_set(err, AB_ENOTFOUND, "cannot open migrations directory %s: %s", dir,
                            strerror(errno));
    /* Read every file first: storage may move while it grows. */
    while ((de = readdir(d))) {
        char path[PATH_MAX];
        struct ab_buf content;
        size_t nl = strlen(de->d_name);

        if (nl < 5 || strcmp(de->d_name + nl - 4, ".sql") != 0)
            continue;
        if (nl >= sizeof(files[0].name) || ab_path_join(path, sizeof(path), dir, de->d_name)) {
            rc = ab_error_set(err, AB_ETOOBIG, "file name too long: %s", de->d_name);
            goto out;
        }
        if ((rc = ab_file_read(path, AB_MIGRATE_MAX_FILE_BYTES, &content, err)))
            goto out;
        if (nfiles == fcap) {
            void *p;
            fcap = fcap ? fcap * 2 : 32;
            p = realloc(files, fcap * sizeof(*files));
            if (!p) {
                ab_buf_free(&content);
                rc = ab_error_set(err, AB_ENOMEM, "out of memory");
                goto out;
            }
            files = p;
        }
        snprintf(files[nfiles].name, sizeof(files[nfiles].name), "%s", de->d_name);
        files[nfiles].off = set->storage.len;
        files[nfiles].len = content.len;
        rc = ab_buf_append(&set->storage, content.data, content.len);
        if (!rc)
            rc = ab_buf_append(&set->storage, "", 1);
        ab_buf_free(&content);
        if (rc) {
            rc = ab_error_set(err, rc, "migrations in %s are too large", dir);
            goto out;
        }
        nfiles++;
    }
    for (size_t i = 0; i < nfiles && !rc; i++)
        rc = add_file(set, cap, files[i].name, set->storage.data + files[i].off, files[i].len, err);
out:
    closedir(d);
    free(files);
    return rc;
}

int ab_migrate_load(struct ab_migration_set *set, const char *dir, struct ab_error *err)
{
    static const char prefix[] = "db/migrations/";
    size_t cap = 0;
    int rc = 0;

    memset(set, 0, sizeof(*set));
    ab_buf_init(&set->storage, 256u << 20);
    snprintf(set->source, sizeof(set->source), "%s", dir ? dir : "embedded");
    if (dir) {
        rc = load_dir(set, &cap, dir, err);
    } else {
        for (size_t i = 0; i < ab_embedded_files_count && !rc; i++) {
            const struct ab_embedded_file *f = &ab_embedded_files[i];

            if (strncmp(f->path, prefix, sizeof(prefix) - 1) == 0)
                rc = add_file(set, &cap, f->path + sizeof(prefix) - 1, (const char *)f->data,
                              f->len, err);
        }
    }
    for (size_t i = 0; i < set->count && !rc; i++) {
        const struct ab_migration *m = &set->items[i];

        if (!m->up.sql || !m->down.sql)
            rc = ab_error_set(err, AB_EINVAL, "migration %s has no %s file", m->name,
                              m->up.sql ? "down" : "up");
    }
    if (rc) {
        ab_migrate_set_free(set);
        return rc;
    }
    qsort(set->items, set->count, sizeof(*set->items), cmp_migration);
    return 0;
}

void ab_migrate_set_free(struct ab_migration_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        ab_migrate_script_free(&set->items[i].up);
        ab_migrate_script_free(&set->items[i].down);
    }
    free(set->items);
    ab_buf_free(&set->storage);
    memset(set, 0, sizeof(*set));
}

int ab_migrate_head(const struct ab_migration_set *set)
{
    return set->count ? set->items[set->count - 1].version : 0;
}

const struct ab_migration *ab_migrate_find(const struct ab_migration_set *set, int version)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->items[i].version == version)
            return &set->items[i];
    return NULL;
}
