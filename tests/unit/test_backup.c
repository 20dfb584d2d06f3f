/* backup: restore targets and the schedule that maintain follows. */
#include "backup/backup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* 2026-03-14 15:09:26 UTC */
#define T0 1773500966L

static void test_time_without_a_zone_is_utc(void **state)
{
    struct ab_error err;
    time_t t;
    long usec;

    (void)state;
    assert_int_equal(ab_backup_parse_time("2026-03-14 15:09:26", &t, &usec, &err), 0);
    assert_int_equal(t, T0);
    assert_int_equal(usec, 0);
    assert_int_equal(ab_backup_parse_time("2026-03-14T15:09", &t, &usec, &err), 0);
    assert_int_equal(t, T0 - 26);
}

static void test_time_with_a_zone_and_fraction(void **state)
{
    struct ab_error err;
    time_t t;
    long usec;

    (void)state;
    assert_int_equal(ab_backup_parse_time("2026-03-14T16:09:26.5+01:00", &t, &usec, &err), 0);
    assert_int_equal(t, T0);
    assert_int_equal(usec, 500000);
    /* what PostgreSQL prints for clock_timestamp() */
    assert_int_equal(ab_backup_parse_time("2026-03-14 15:09:26.123456+00", &t, &usec, &err), 0);
    assert_int_equal(t, T0);
    assert_int_equal(usec, 123456);
    assert_int_equal(ab_backup_parse_time("2026-03-14 10:09:26-0500", &t, &usec, &err), 0);
    assert_int_equal(t, T0);
    assert_int_equal(ab_backup_parse_time("2026-03-14T15:09:26Z", &t, &usec, &err), 0);
    assert_int_equal(t, T0);
}

static void test_time_refuses_what_is_not_one(void **state)
{
    static const char *const bad[] = {"yesterday",
                                      "2026-02-30 12:00",
                                      "2026-03-14",
                                      "2026-03-14 25:00",
                                      "2026-03-14 15:09:26 ",
                                      "2026-03-14 15:09:26+1",
                                      "2026-03-14 15:09:26.",
                                      "1969-12-31 23:59:59"};
    struct ab_error err;
    time_t t;
    long usec;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ab_backup_parse_time(bad[i], &t, &usec, &err), AB_EINVAL);
        assert_non_null(strstr(err.message, "is not a point in time"));
    }
}

static struct ab_backup_set set(const char *type, time_t stop)
{
    struct ab_backup_set s = {.stop = stop};

    snprintf(s.type, sizeof(s.type), "%s", type);
    return s;
}

static void test_schedule_takes_the_strongest_backup_due(void **state)
{
    struct ab_backup b = {.schedule = {.full = 7 * 86400, .diff = 0, .incr = 86400}};
    struct ab_backup_set sets[2] = {set("full", T0), set("incr", T0 + 86400)};
    struct ab_backup_info info = {.sets = sets, .n = 0};
    char type[8];

    (void)state;
    ab_backup_due(&b, &info, T0, type);
    assert_string_equal(type, "full"); /* none yet */
    info.n = 1;
    ab_backup_due(&b, &info, T0 + 3600, type);
    assert_string_equal(type, ""); /* fresh */
    ab_backup_due(&b, &info, T0 + 86400, type);
    assert_string_equal(type, "incr");
    info.n = 2;
    ab_backup_due(&b, &info, T0 + 86400 + 60, type);
    assert_string_equal(type, ""); /* the incremental counts for incr */
    ab_backup_due(&b, &info, T0 + 7 * 86400, type);
    assert_string_equal(type, "full"); /* but not for full */
    b.schedule.full = 0;
    ab_backup_due(&b, &info, T0 + 70 * 86400, type);
    assert_string_equal(type, ""); /* off */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_without_a_zone_is_utc),
        cmocka_unit_test(test_time_with_a_zone_and_fraction),
        cmocka_unit_test(test_time_refuses_what_is_not_one),
        cmocka_unit_test(test_schedule_takes_the_strongest_backup_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
