/*
 * The one validator of request bodies and query values (see fields.h). Every refusal is a
 * 400 whose message says what the field must be and whose param names it; nothing here
 * echoes more of the client's input than the field's name.
 */
#include "api/fields.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ab_api_is_uuid(const char *s)
{
    /* 8-4-4-4-12 hexadecimal digits: dashes at 8, 13, 18 and 23, 36 characters in all */
    if (!s || strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* n digits at s, as a number; -1 when they are not all digits. */
static int digits(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool ab_is_datetime(const char *s, bool date_only)
{
    int mo, d, h, mi, sec;

    if (!s || strlen(s) < 10 || digits(s, 4) < 0 || s[4] != '-' || s[7] != '-')
        return false;
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    if (date_only)
        return s[10] == '\0';
    /* RFC 3339: date "T" time, seconds and an offset required; fractions optional. */
    s += 10;
    if ((*s != 'T' && *s != 't' && *s != ' ') || strlen(s) < 9 || s[3] != ':' || s[6] != ':')
        return false;
    h = digits(s + 1, 2);
    mi = digits(s + 4, 2);
    sec = digits(s + 7, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return false;
    s += 9;
    if (*s == '.') {
        size_t n = strspn(s + 1, "0123456789");

        if (n == 0 || n > 9)
            return false;
        s += 1 + n;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0')
        return true;
    return (*s == '+' || *s == '-') && strlen(s) == 6 && digits(s + 1, 2) >= 0 &&
           digits(s + 1, 2) <= 23 && s[3] == ':' && digits(s + 4, 2) >= 0 && digits(s + 4, 2) <= 59;
}

const char *ab_kind_name(enum ab_kind kind)
{
    switch (kind) {
    case AB_KIND_STRING:
        return "a string";
    case AB_KIND_UUID:
        return "a UUID";
    case AB_KIND_DATETIME:
        return "an RFC 3339 date-time (2026-01-31T12:00:00Z)";
    case AB_KIND_DATE:
        return "a date (2026-01-31)";
    case AB_KIND_INTEGER:
        return "an integer";
    case AB_KIND_NUMBER:
        return "a number";
    case AB_KIND_BOOLEAN:
        return "true or false";
    case AB_KIND_OBJECT:
        return "an object";
    case AB_KIND_ARRAY:
        return "an array";
    case AB_KIND_ANY:
        break;
    }
    return "JSON";
}

const struct ab_field *ab_fields_find(const struct ab_field *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* True when the comma-separated list holds s. */
static bool choice_ok(const char *list, const char *s)
{
    size_t n = strlen(s);

    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");

        if (len == n && memcmp(p, s, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* Characters (code points) of a valid UTF-8 string. */
static long utf8_length(const char *s)
{
    long n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* A string value of kind (STRING, UUID, DATETIME, DATE); NULL when it fits. */
static const char *string_wrong(enum ab_kind kind, const char *s)
{
    switch (kind) {
    case AB_KIND_UUID:
        return ab_api_is_uuid(s) ? NULL : ab_kind_name(kind);
    case AB_KIND_DATETIME:
    case AB_KIND_DATE:
        return ab_is_datetime(s, kind == AB_KIND_DATE) ? NULL : ab_kind_name(kind);
    default:
        return NULL;
    }
}

/* v as one element or value of kind; NULL when it fits, else the kind's name. */
static const char *kind_wrong(enum ab_kind kind, const json_t *v)
{
    switch (kind) {
    case AB_KIND_ANY:
        return NULL;
    case AB_KIND_STRING:
    case AB_KIND_UUID:
    case AB_KIND_DATETIME:
    case AB_KIND_DATE:
        return json_is_string(v) ? string_wrong(kind, json_string_value(v)) : ab_kind_name(kind);
    case AB_KIND_INTEGER:
        return json_is_integer(v) ? NULL : ab_kind_name(kind);
    case AB_KIND_NUMBER:
        return json_is_number(v) ? NULL : ab_kind_name(kind);
    case AB_KIND_BOOLEAN:
        return json_is_boolean(v) ? NULL : ab_kind_name(kind);
    case AB_KIND_OBJECT:
        return json_is_object(v) ? NULL : ab_kind_name(kind);
    case AB_KIND_ARRAY:
        return json_is_array(v) ? NULL : ab_kind_name(kind);
    }
    return ab_kind_name(kind);
}

/* "an integer" -> "integer", for "an array of integer". */
static const char *without_article(const char *s)
{
    return strncmp(s, "an ", 3) == 0 ? s + 3 : strncmp(s, "a ", 2) == 0 ? s + 2 : s;
}

/* 0 when v fits f, else 1 with the answer set. */
static int value_check(struct ab_req *req, const struct ab_field *f, const json_t *v)
{
    const char *wrong = kind_wrong(f->kind, v);
    size_t i;
    json_t *item;

    if (wrong)
        return ab_http_error_at(req, 400, "invalid_field", f->name, "field '%s' must be %s",
                                f->name, wrong) +
               1;
    if (f->kind == AB_KIND_INTEGER || f->kind == AB_KIND_NUMBER) {
        double x = json_number_value(v);

        if ((f->has_min && (f->min_exclusive ? x <= f->min : x < f->min)) ||
            (f->has_max && (f->max_exclusive ? x >= f->max : x > f->max)))
            return ab_http_error_at(req, 400, "invalid_field", f->name,
                                    "field '%s' is out of range (%s%g to %g%s)", f->name,
                                    f->min_exclusive ? "above " : "",
                                    f->has_min ? f->min : -HUGE_VAL, f->has_max ? f->max : HUGE_VAL,
                                    f->max_exclusive ? ", exclusive" : "") +
                   1;
    }
    if (json_is_string(v)) {
        long len = utf8_length(json_string_value(v));

        if (f->choices && !choice_ok(f->choices, json_string_value(v)))
            return ab_http_error_at(req, 400, "invalid_field", f->name,
                                    "field '%s' must be one of %s", f->name, f->choices) +
                   1;
        if ((f->min_len && len < f->min_len) || (f->max_len && len > f->max_len))
            return ab_http_error_at(req, 400, "invalid_field", f->name,
                                    "field '%s' must be %ld to %ld characters long", f->name,
                                    f->min_len, f->max_len ? f->max_len : 1L << 30) +
                   1;
    }
    if (json_is_array(v)) {
        if ((f->min_len && (long)json_array_size(v) < f->min_len) ||
            (f->max_len && (long)json_array_size(v) > f->max_len))
            return ab_http_error_at(req, 400, "invalid_field", f->name,
                                    "field '%s' must have %ld to %ld elements", f->name, f->min_len,
                                    f->max_len ? f->max_len : 1L << 30) +
                   1;
        json_array_foreach(v, i, item)
        {
            if (f->item_max_len && json_is_string(item) &&
                utf8_length(json_string_value(item)) > f->item_max_len)
                return ab_http_error_at(req, 400, "invalid_field", f->name,
                                        "field '%s': element %zu is longer than %ld characters",
                                        f->name, i, f->item_max_len) +
                       1;
            if ((wrong = kind_wrong(f->items, item)) != NULL)
                return ab_http_error_at(req, 400, "invalid_field", f->name,
                                        "field '%s' must be an array of %s (element %zu is not)",
                                        f->name, without_article(wrong), i) +
                       1;
        }
    }
    return 0;
}

int ab_fields_check(struct ab_req *req, json_t *doc, const struct ab_field *fields, size_t n,
                    unsigned flags, const char *what)
{
    const char *name;
    json_t *v;
    void *tmp;

    json_object_foreach_safe(doc, tmp, name, v)
    {
        const struct ab_field *f = ab_fields_find(fields, n, name);

        /* One answer for unknown and read-only fields, so hidden columns stay unnamed. */
        if (!f)
            return ab_http_error_at(req, 400, "unknown_field", name,
                                    "field '%s' cannot be set here (unknown or read-only for %s)",
                                    name, what) +
                   1;
        if (json_is_null(v) && (flags & AB_CHECK_DROP_NULL)) {
            json_object_del(doc, name);
            continue;
        }
        if (json_is_null(v) && !f->nullable)
            return ab_http_error_at(req, 400, "invalid_field", name, "field '%s' may not be null",
                                    name) +
                   1;
        if (!json_is_null(v) && value_check(req, f, v))
            return 1;
    }
    for (size_t i = 0; (flags & AB_CHECK_CREATE) && i < n; i++)
        if (fields[i].required && !json_object_get(doc, fields[i].name))
            return ab_http_error_at(req, 400, "missing_field", fields[i].name,
                                    "field '%s' is required", fields[i].name) +
                   1;
    if ((flags & AB_CHECK_NONEMPTY) && json_object_size(doc) == 0)
        return ab_http_error(req, 400, "invalid_request", "no fields given") + 1;
    return 0;
}

const char *ab_fields_check_text(const struct ab_field *f, const char *text)
{
    char *end;

    switch (f->kind) {
    case AB_KIND_INTEGER:
        errno = 0;
        (void)strtoll(text, &end, 10);
        return *text && !*end && errno == 0 ? NULL : ab_kind_name(f->kind);
    case AB_KIND_NUMBER: {
        double x = strtod(text, &end);

        return *text && !*end && isfinite(x) ? NULL : ab_kind_name(f->kind);
    }
    case AB_KIND_BOOLEAN:
        return strcmp(text, "true") == 0 || strcmp(text, "false") == 0 ? NULL
                                                                       : ab_kind_name(f->kind);
    case AB_KIND_STRING:
        return f->choices && !choice_ok(f->choices, text) ? "one of the field's values" : NULL;
    default:
        return string_wrong(f->kind, text);
    }
}
