/*
 * The catalog: what each resource's columns are, read from PostgreSQL at start-up, as the
 * field lists (fields.h) that the validator, the list filters and the OpenAPI document use.
 *
 * A column's kind follows its type (uuid, timestamptz, integer, numeric, boolean, jsonb,
 * arrays); its range, length and allowed values follow its one-column CHECK constraints
 * of the shapes our migrations write (col >= n, col > n, col <= n, length(btrim(col))
 * between a and b, col IN (...), jsonb_typeof(col) = 'object'). A create must carry the
 * NOT NULL columns without a default, except those the database fills itself: the tenant,
 * the parent in the path, the owner column (owner_fill) and the descriptor's `filled`.
 */
#include "api/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char columns_sql[] =
    "SELECT coalesce(json_agg(json_build_object("
    "   'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), "
    "   'typname', t.typname, 'category', t.typcategory, 'elem', e.typname, "
    "   'notnull', a.attnotnull, 'default', a.atthasdef, "
    "   'precision', CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 "
    "                THEN ((a.atttypmod - 4) >> 16) & 65535 END, "
    "   'scale', CASE WHEN t.typname = 'numeric' AND a.atttypmod > 0 "
    "            THEN (a.atttypmod - 4) & 65535 END, "
    "   'varchar', CASE WHEN t.typname = 'varchar' AND a.atttypmod > 0 "
    "              THEN a.atttypmod - 4 END, "
    "   'checks', (SELECT json_agg(pg_get_constraintdef(c.oid)) FROM pg_constraint c "
    "     WHERE c.conrelid = a.attrelid AND c.contype = 'c' AND c.conkey = ARRAY[a.attnum])) "
    "   ORDER BY a.attnum), '[]')::text, "
    "  (SELECT owned_by FROM agentbase.role_access WHERE table_name = $1) "
    "  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "  LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
    " WHERE a.attrelid = to_regclass('agentbase.' || $1) AND a.attnum > 0 AND NOT a.attisdropped";

/* The kind of a type by its name and category. */
static enum ab_kind kind_of_type(const char *typname, const char *category)
{
    if (!typname)
        return AB_KIND_ANY;
    if (strcmp(typname, "uuid") == 0)
        return AB_KIND_UUID;
    if (strcmp(typname, "timestamptz") == 0 || strcmp(typname, "timestamp") == 0)
        return AB_KIND_DATETIME;
    if (strcmp(typname, "date") == 0)
        return AB_KIND_DATE;
    if (strcmp(typname, "int2") == 0 || strcmp(typname, "int4") == 0 ||
        strcmp(typname, "int8") == 0)
        return AB_KIND_INTEGER;
    if (strcmp(typname, "bool") == 0)
        return AB_KIND_BOOLEAN;
    if (strcmp(typname, "json") == 0 || strcmp(typname, "jsonb") == 0)
        return AB_KIND_ANY;
    if (strcmp(typname, "vector") == 0) /* pgvector's or agentbase_vector's: [1, 2, 3] */
        return AB_KIND_ARRAY;
    if (category && category[0] == 'N')
        return AB_KIND_NUMBER;
    if (category && category[0] == 'A')
        return AB_KIND_ARRAY;
    return AB_KIND_STRING;
}

/* The number after `after` in def (skipping "(" and a "::type" cast); false when none. */
static bool number_after(const char *def, const char *after, double *out)
{
    const char *p = strstr(def, after);
    char *end;

    if (!p)
        return false;
    p += strlen(after);
    while (*p == '(' || *p == ' ')
        p++;
    *out = strtod(p, &end);
    return end != p;
}

/* "'a'::text, 'b'::text" -> "a,b" into out; false when a value holds a comma or a quote. */
static bool literals(const char *s, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (const char *p = strchr(s, '\''); p; p = strchr(p + 1, '\'')) {
        const char *end = strchr(p + 1, '\'');
        size_t len;

        if (!end)
            return false;
        len = (size_t)(end - p - 1);
        if (end[1] == '\'' || memchr(p + 1, ',', len) || used + len + 2 > n)
            return false;
        used += (size_t)snprintf(out + used, n - used, "%s%.*s", used ? "," : "", (int)len, p + 1);
        p = end;
    }
    return used > 0;
}

/*
 * Reads what one CHECK definition of column col says about its values into f; choices
 * go to text (the caller keeps it). Shapes it does not know are left to the database.
 */
static void read_check(struct ab_field *f, const char *col, const char *def, char **text)
{
    char pat[160], buf[2048];
    double x;

    if (strstr(def, " = ANY (ARRAY[") && !strstr(def, " AND ") && literals(def, buf, sizeof(buf))) {
        free(*text);
        *text = strdup(buf);
        f->choices = *text;
        return;
    }
    if (strstr(def, "jsonb_typeof(")) {
        if (strstr(def, "= 'object'"))
            f->kind = AB_KIND_OBJECT;
        else if (strstr(def, "= 'array'"))
            f->kind = AB_KIND_ARRAY;
        return;
    }
    if (f->kind == AB_KIND_STRING) {
        snprintf(pat, sizeof(pat), "length(btrim(%s)) >= ", col);
        if (number_after(def, pat, &x) && x > 0)
            f->min_len = (long)x;
        snprintf(pat, sizeof(pat), "length(btrim(%s)) <= ", col);
        if (number_after(def, pat, &x) && x > 0)
            f->max_len = (long)x;
        snprintf(pat, sizeof(pat), "length(%s) <= ", col);
        if (number_after(def, pat, &x) && x > 0)
            f->max_len = (long)x;
        return;
    }
    if (f->kind != AB_KIND_INTEGER && f->kind != AB_KIND_NUMBER)
        return;
    snprintf(pat, sizeof(pat), "(%s >= ", col);
    if (number_after(def, pat, &x) && (!f->has_min || x > f->min)) {
        f->has_min = true;
        f->min = x;
        f->min_exclusive = false;
    }
    snprintf(pat, sizeof(pat), "(%s > ", col);
    if (number_after(def, pat, &x) && (!f->has_min || x >= f->min)) {
        f->has_min = true;
        f->min = x;
        f->min_exclusive = true;
    }
    snprintf(pat, sizeof(pat), "(%s <= ", col);
    if (number_after(def, pat, &x) && (!f->has_max || x < f->max)) {
        f->has_max = true;
        f->max = x;
        f->max_exclusive = false;
    }
    snprintf(pat, sizeof(pat), "(%s < ", col);
    if (number_after(def, pat, &x) && (!f->has_max || x <= f->max)) {
        f->has_max = true;
        f->max = x;
        f->max_exclusive = true;
    }
}

/* The range an integer type holds, and a numeric(p,s)'s (|x| < 10^(p-s)). */
static void type_range(struct ab_field *f, const json_t *c)
{
    const char *typname = json_string_value(json_object_get(c, "typname"));
    double lim = 0;

    if (strcmp(typname, "int2") == 0)
        lim = 32767;
    else if (strcmp(typname, "int4") == 0)
        lim = 2147483647.0;
    else if (strcmp(typname, "int8") == 0)
        lim = 9007199254740991.0; /* what every JSON client holds exactly */
    if (lim > 0) {
        f->has_min = f->has_max = true;
        f->min = -lim - (strcmp(typname, "int8") == 0 ? 0 : 1);
        f->max = lim;
    } else if (json_is_integer(json_object_get(c, "precision"))) {
        long p = (long)json_integer_value(json_object_get(c, "precision"));
        long s = (long)json_integer_value(json_object_get(c, "scale"));

        f->has_min = f->has_max = f->min_exclusive = f->max_exclusive = true;
        f->max = pow(10, (double)(p - s));
        f->min = -f->max;
    }
    if (json_is_integer(json_object_get(c, "varchar")))
        f->max_len = (long)json_integer_value(json_object_get(c, "varchar"));
}

/* True when the comma-separated list holds name. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list ? list : ""; *p;) {
        size_t len = strcspn(p, ",");

        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* One column's field from its catalog entry c. */
static void read_column(struct ab_field *f, const json_t *c, char **choices)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const json_t *checks = json_object_get(c, "checks");
    size_t i;
    json_t *def;

    memset(f, 0, sizeof(*f));
    f->name = name;
    /* the type without its modifier: a cast to numeric(3,2) or varchar(n) would round or cut */
    f->sql_type = json_string_value(json_object_get(c, "typname"));
    f->kind = kind_of_type(json_string_value(json_object_get(c, "typname")),
                           json_string_value(json_object_get(c, "category")));
    if (f->kind == AB_KIND_ARRAY) {
        f->items = kind_of_type(json_string_value(json_object_get(c, "elem")), NULL);
        if (f->items == AB_KIND_STRING &&
            strcmp(json_string_value(json_object_get(c, "elem")), "text") != 0)
            f->items = AB_KIND_ANY; /* an array of some other type: the database checks */
        if (strcmp(f->sql_type, "vector") == 0)
            f->items = AB_KIND_NUMBER;
    }
    f->nullable = !json_is_true(json_object_get(c, "notnull"));
    type_range(f, c);
    json_array_foreach(checks, i, def)
    {
        read_check(f, name, json_string_value(def), choices);
    }
}

/* The writable fields of a list: copies of the columns, required where the create needs them. */
static int writable(struct ab_resource_schema *s, const struct ab_resource *r, const char *list,
                    bool is_create, const char *owner, const json_t *cols, struct ab_field **out,
                    size_t *n)
{
    *n = 0;
    *out = calloc(s->nall + 1, sizeof(**out)); /* a list may name hidden columns too */
    if (!*out)
        return AB_ENOMEM;
    for (size_t i = 0; i < s->nall; i++) {
        const struct ab_field *f = &s->all[i];
        const json_t *c = json_array_get(cols, i);

        if (!listed(list, f->name))
            continue;
        (*out)[*n] = *f;
        (*out)[*n].required =
            is_create && !f->nullable && !json_is_true(json_object_get(c, "default")) &&
            !(owner && strcmp(owner, f->name) == 0) && !listed(r->filled, f->name) &&
            !(r->parent_column && strcmp(r->parent_column, f->name) == 0);
        (*n)++;
    }
    return 0;
}

int ab_api_catalog_load(const struct ab_resource *r, PGconn *conn, struct ab_resource_schema *s,
                        struct ab_error *err)
{
    const char *params[1] = {r->table};
    json_error_t jerr;
    const char *owner;
    PGresult *res;
    size_t i, k = 0;
    json_t *c;
    int rc;

    memset(s, 0, sizeof(*s));
    if ((rc = ab_pg_query(conn, columns_sql, 1, params, &res, err)))
        return rc;
    s->catalog = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    owner = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
    s->owner = owner ? strdup(owner) : NULL;
    PQclear(res);
    if (!json_is_array(s->catalog))
        return ab_error_set(err, AB_ENOMEM, "cannot read the catalog of %s", r->table);
    s->nall = json_array_size(s->catalog);
    s->all = calloc(s->nall + 1, sizeof(*s->all));
    s->choices = calloc(s->nall + 1, sizeof(*s->choices));
    s->columns = calloc(s->nall + 1, sizeof(*s->columns));
    if (!s->all || !s->choices || !s->columns)
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    json_array_foreach(s->catalog, i, c)
    {
        read_column(&s->all[i], c, &s->choices[i]);
        if (!listed(r->hidden, s->all[i].name))
            s->columns[k++] = s->all[i];
    }
    s->ncolumns = k;
    if (writable(s, r, r->create, true, s->owner, s->catalog, &s->create, &s->ncreate) ||
        writable(s, r, r->update, false, NULL, s->catalog, &s->update, &s->nupdate) ||
        writable(s, r, r->filters, false, NULL, s->catalog, &s->filters, &s->nfilters))
        return ab_error_set(err, AB_ENOMEM, "out of memory");
    return 0;
}

void ab_api_catalog_free(struct ab_resource_schema *s)
{
    for (size_t i = 0; s->choices && i < s->nall; i++)
        free(s->choices[i]);
    free(s->choices);
    free(s->all);
    free(s->columns);
    free(s->create);
    free(s->update);
    free(s->filters);
    free(s->owner);
    json_decref(s->catalog);
    memset(s, 0, sizeof(*s));
}

const struct ab_field *ab_api_column(const struct ab_resource_schema *s, const char *name)
{
    return s ? ab_fields_find(s->all, s->nall, name) : NULL;
}
