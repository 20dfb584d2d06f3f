/*
 * fields: what a request body may carry, and the one validator every endpoint uses.
 *
 * A body is described by a list of struct ab_field: its name, JSON kind, whether it is
 * required, may be null, its range or length and its allowed values. Resources get their
 * lists from the catalog at start-up (catalog.c: the column types, NOT NULL, defaults and
 * CHECK constraints); business operations (accounting, keys, login, passwords) declare
 * theirs as static tables. The OpenAPI document is rendered from the same lists, so the
 * contract and the checks cannot disagree.
 */
#ifndef AB_API_FIELDS_H
#define AB_API_FIELDS_H

#include "http/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum ab_kind {
    AB_KIND_ANY = 0, /* any JSON value */
    AB_KIND_STRING,
    AB_KIND_UUID,     /* a string in the UUID's textual form */
    AB_KIND_DATETIME, /* an RFC 3339 date-time */
    AB_KIND_DATE,     /* YYYY-MM-DD */
    AB_KIND_INTEGER,
    AB_KIND_NUMBER,
    AB_KIND_BOOLEAN,
    AB_KIND_OBJECT,
    AB_KIND_ARRAY, /* of `items` */
};

struct ab_field {
    const char *name;
    enum ab_kind kind;
    enum ab_kind items; /* AB_KIND_ARRAY: the kind of each element (ANY: any JSON) */
    bool required;      /* a create must carry it */
    bool nullable;      /* null is a value (clears the field); else null is refused */
    bool has_min, has_max;
    bool min_exclusive, max_exclusive;
    double min, max;       /* INTEGER, NUMBER: the value's range */
    long min_len, max_len; /* STRING: characters; ARRAY: elements (0: no bound) */
    long item_max_len;     /* ARRAY of strings: each element's characters (0: no bound) */
    const char *choices;   /* comma-separated values a string must be one of, or NULL */
    const char *sql_type;  /* the column's type name (int4, timestamptz), for casts; or NULL */
    const char *doc;       /* a sentence for the OpenAPI document, or NULL */
    /* OBJECT, ARRAY of OBJECT: the members of the object (each element), for the document
     * of an answer; NULL: any members. The validator does not look inside. */
    const struct ab_field *sub;
    size_t nsub;
};

/* How ab_fields_check treats a body. */
enum {
    AB_CHECK_CREATE = 1 << 0,    /* required fields must be present */
    AB_CHECK_NONEMPTY = 1 << 1,  /* at least one field (an update) */
    AB_CHECK_DROP_NULL = 1 << 2, /* a null counts as absent and is removed from doc */
};

/*
 * Checks doc (an object) against fields: every member must be one of them and of its kind,
 * range, length and values; with AB_CHECK_CREATE every required field present. `what`
 * names the object in messages ("agents", "a reservation"). 0, or 1 with the 400 answer
 * set, whose param names the field.
 */
int ab_fields_check(struct ab_req *req, json_t *doc, const struct ab_field *fields, size_t n,
                    unsigned flags, const char *what);
/* The field called name, or NULL. */
const struct ab_field *ab_fields_find(const struct ab_field *fields, size_t n, const char *name);
/*
 * Checks one text value (a query parameter) as a value of f's kind, without its range;
 * NULL when fine, else what it must be ("an integer", "a UUID", ...).
 */
const char *ab_fields_check_text(const struct ab_field *f, const char *text);
/* "a string", "an integer" ...: the kind as a message says it. */
const char *ab_kind_name(enum ab_kind kind);
/* True when s is a UUID in its textual form (any case). */
bool ab_api_is_uuid(const char *s);
/* True when s is an RFC 3339 date-time (or, with date_only, a date). */
bool ab_is_datetime(const char *s, bool date_only);

#endif
