/* core: bounded buffers, errors, files. */
#include "core/core.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void test_buffer_grows_up_to_its_maximum_and_no_further(void **state)
{
    struct ab_buf b;

    (void)state;
    ab_buf_init(&b, 10);
    assert_int_equal(ab_buf_puts(&b, "12345"), 0);
    assert_int_equal(ab_buf_printf(&b, "%d", 6789), 0);
    assert_string_equal(ab_buf_str(&b), "123456789");
    assert_int_equal(ab_buf_puts(&b, "ab"), AB_ETOOBIG);
    assert_string_equal(ab_buf_str(&b), "123456789"); /* a refused append changes nothing */
    assert_int_equal(ab_buf_puts(&b, "a"), 0);
    assert_int_equal(b.len, 10);
    ab_buf_free(&b);
}

static void test_empty_buffer_reads_as_empty_string(void **state)
{
    struct ab_buf b;

    (void)state;
    ab_buf_init(&b, 100);
    assert_string_equal(ab_buf_str(&b), "");
    ab_buf_free(&b);
}

static void test_error_prefix_keeps_message(void **state)
{
    struct ab_error err;

    (void)state;
    assert_int_equal(ab_error_set(&err, AB_EIO, "disk %s", "full"), AB_EIO);
    ab_error_prefix(&err, "writing %s", "x");
    assert_string_equal(err.message, "writing x: disk full");
    assert_int_equal(err.code, AB_EIO);
}

static void test_file_write_then_read_round_trips_with_mode(void **state)
{
    char dir[] = "/tmp/abunit.XXXXXX", path[256];
    struct ab_error err;
    struct ab_buf b;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sub/dir/f", dir);
    *strrchr(path, '/') = '\0';
    assert_int_equal(ab_mkdir_p(path, 0700, &err), 0);
    strcat(path, "/f");
    assert_int_equal(ab_file_write(path, "secret\n", 7, 0600, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ab_file_read(path, 100, &b, &err), 0);
    assert_string_equal(b.data, "secret\n");
    ab_buf_free(&b);
    assert_int_equal(ab_file_read(path, 3, &b, &err), AB_ETOOBIG);
    unlink(path);
    assert_int_equal(ab_file_read(path, 100, &b, &err), AB_ENOTFOUND);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

static void test_config_rejects_bad_workers(void **state)
{
    struct ab_config cfg;
    struct ab_error err;

    (void)state;
    setenv("AGENTBASE_WORKERS", "0", 1);
    assert_int_equal(ab_config_load(&cfg, &err), AB_EINVAL);
    assert_string_equal(err.message, "AGENTBASE_WORKERS must be a number from 1 to 1024, not '0'");
    setenv("AGENTBASE_WORKERS", "4", 1);
    setenv("AGENTBASE_HOME", "rel/./home/", 1);
    assert_int_equal(ab_config_load(&cfg, &err), 0);
    assert_int_equal(cfg.workers, 4);
    assert_true(cfg.home[0] == '/');
    assert_non_null(strstr(cfg.home, "/rel/home"));
    assert_int_equal(cfg.home[strlen(cfg.home) - 1], 'e');
    unsetenv("AGENTBASE_WORKERS");
    unsetenv("AGENTBASE_HOME");
}

static void test_duration_formats_for_people(void **state)
{
    char s[32];

    (void)state;
    ab_format_duration(850, s, sizeof(s));
    assert_string_equal(s, "850 ms");
    ab_format_duration(2400, s, sizeof(s));
    assert_string_equal(s, "2.4 s");
    ab_format_duration(185000, s, sizeof(s));
    assert_string_equal(s, "3 min 5 s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_grows_up_to_its_maximum_and_no_further),
        cmocka_unit_test(test_empty_buffer_reads_as_empty_string),
        cmocka_unit_test(test_error_prefix_keeps_message),
        cmocka_unit_test(test_file_write_then_read_round_trips_with_mode),
        cmocka_unit_test(test_config_rejects_bad_workers),
        cmocka_unit_test(test_duration_formats_for_people),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
