/* secret: sealing and opening stored secrets, and the key ring's text form and sources. */
#include "secret/secret.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Two keys of 32 bytes: "0123456789abcdef0123456789abcdef" and 32 times "k". */
#define KEY_A "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define KEY_B "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="

static const struct ab_secret_place here = {"0190a1b2-0000-7000-8000-00000000000a",
                                            "0190a1b2-0000-7000-8000-0000000000aa",
                                            "mcp_server_configs.secrets"};

static struct ab_secret_ring *ring_of(const char *text)
{
    struct ab_secret_ring *ring = NULL;
    struct ab_error err;

    if (ab_secret_ring_parse(text, "AGENTBASE_SECRET_KEY", &ring, &err) != 0)
        fail_msg("%s", err.message);
    return ring;
}

static void seal(struct ab_secret_ring *ring, const struct ab_secret_place *at, const char *plain,
                 struct ab_secret_box *box)
{
    struct ab_error err;

    if (ab_secret_seal(ring, at, plain, strlen(plain), box, &err) != 0)
        fail_msg("%s", err.message);
}

/* Opens box and expects code (0: the plaintext want). */
static void expect_open(struct ab_secret_ring *ring, const struct ab_secret_place *at,
                        const struct ab_secret_box *box, int code, const char *want)
{
    struct ab_error err;
    struct ab_buf plain;
    int rc = ab_secret_open(ring, at, box, &plain, &err);

    assert_int_equal(rc, code);
    if (code == 0)
        assert_string_equal(ab_buf_str(&plain), want);
    else
        assert_string_equal(err.message, want);
    ab_secret_wipe(&plain);
}

static void expect_parse_error(const char *text, int code, const char *message)
{
    struct ab_secret_ring *ring = NULL;
    struct ab_error err;

    assert_int_equal(ab_secret_ring_parse(text, "AGENTBASE_SECRET_KEY", &ring, &err), code);
    assert_null(ring);
    assert_string_equal(err.message, message);
}

/* ---- sealing and opening ----------------------------------------------------------------- */

static void test_a_sealed_secret_opens_in_its_place(void **state)
{
    struct ab_secret_ring *ring = ring_of("k1:" KEY_A);
    struct ab_secret_box box;

    (void)state;
    seal(ring, &here, "ghp_0123456789abcdefghij", &box);
    assert_string_equal(box.key_id, "k1");
    assert_int_equal(box.len, strlen("ghp_0123456789abcdefghij") + AB_SECRET_TAG_BYTES);
    assert_null(memmem(box.ciphertext, box.len, "ghp_", 4));
    expect_open(ring, &here, &box, 0, "ghp_0123456789abcdefghij");
    ab_secret_box_free(&box);
    ab_secret_ring_free(ring);
}

static void test_every_seal_takes_a_fresh_nonce(void **state)
{
    struct ab_secret_ring *ring = ring_of("k1:" KEY_A);
    struct ab_secret_box one, two;

    (void)state;
    seal(ring, &here, "same", &one);
    seal(ring, &here, "same", &two);
    assert_memory_not_equal(one.nonce, two.nonce, AB_SECRET_NONCE_BYTES);
    assert_memory_not_equal(one.ciphertext, two.ciphertext, one.len);
    ab_secret_box_free(&one);
    ab_secret_box_free(&two);
    ab_secret_ring_free(ring);
}

static void test_a_ring_without_the_key_id_says_which_key_it_lacks(void **state)
{
    struct ab_secret_ring *sealer = ring_of("k1:" KEY_A), *other = ring_of("k2:" KEY_A);
    struct ab_secret_box box;

    (void)state;
    seal(sealer, &here, "secret", &box);
    expect_open(other, &here, &box, AB_ENOTFOUND,
                "the secret was sealed with key k1, which the key ring (AGENTBASE_SECRET_KEY) "
                "does not hold");
    ab_secret_box_free(&box);
    ab_secret_ring_free(sealer);
    ab_secret_ring_free(other);
}

static void test_another_key_under_the_same_id_opens_nothing(void **state)
{
    struct ab_secret_ring *sealer = ring_of("k1:" KEY_A), *impostor = ring_of("k1:" KEY_B);
    struct ab_secret_box box;

    (void)state;
    seal(sealer, &here, "secret", &box);
    expect_open(impostor, &here, &box, AB_EINVAL,
                "the secret does not open with key k1: the key differs from the one that sealed "
                "it, or the ciphertext was changed or moved");
    ab_secret_box_free(&box);
    ab_secret_ring_free(sealer);
    ab_secret_ring_free(impostor);
}

static void test_a_changed_ciphertext_or_nonce_does_not_open(void **state)
{
    static const char refused[] = "the secret does not open with key k1: the key differs from "
                                  "the one that sealed it, or the ciphertext was changed or moved";
    struct ab_secret_ring *ring = ring_of("k1:" KEY_A);
    struct ab_secret_box box;

    (void)state;
    seal(ring, &here, "secret", &box);
    for (size_t i = 0; i < box.len; i++) {
        box.ciphertext[i] ^= 0x01;
        expect_open(ring, &here, &box, AB_EINVAL, refused);
        box.ciphertext[i] ^= 0x01;
    }
    box.nonce[0] ^= 0x80;
    expect_open(ring, &here, &box, AB_EINVAL, refused);
    box.nonce[0] ^= 0x80;
    box.len--; /* a truncated tag */
    expect_open(ring, &here, &box, AB_EINVAL, refused);
    box.len++;
    expect_open(ring, &here, &box, 0, "secret");
    ab_secret_box_free(&box);
    ab_secret_ring_free(ring);
}

static void test_a_secret_moved_to_another_row_tenant_or_column_does_not_open(void **state)
{
    static const char refused[] = "the secret does not open with key k1: the key differs from "
                                  "the one that sealed it, or the ciphertext was changed or moved";
    struct ab_secret_place other_row = here, other_tenant = here, other_column = here;
    struct ab_secret_ring *ring = ring_of("k1:" KEY_A);
    struct ab_secret_box box;

    (void)state;
    other_row.row_id = "0190a1b2-0000-7000-8000-0000000000ab";
    other_tenant.tenant_id = "0190a1b2-0000-7000-8000-00000000000b";
    other_column.purpose = "ai_provider_keys.api_key";
    seal(ring, &here, "secret", &box);
    expect_open(ring, &other_row, &box, AB_EINVAL, refused);
    expect_open(ring, &other_tenant, &box, AB_EINVAL, refused);
    expect_open(ring, &other_column, &box, AB_EINVAL, refused);
    ab_secret_box_free(&box);
    ab_secret_ring_free(ring);
}

static void test_a_too_short_value_is_not_a_ciphertext(void **state)
{
    struct ab_secret_ring *ring = ring_of("k1:" KEY_A);
    unsigned char bytes[8] = {0};
    struct ab_secret_box box = {.ciphertext = bytes, .len = sizeof(bytes), .key_id = "k1"};

    (void)state;
    expect_open(ring, &here, &box, AB_EINVAL, "a stored secret of 8 bytes cannot be a ciphertext");
    ab_secret_ring_free(ring);
}

static void test_the_first_key_seals_and_every_key_opens(void **state)
{
    struct ab_secret_ring *old = ring_of("k1:" KEY_A), *both = ring_of("k2:" KEY_B ",k1:" KEY_A);
    struct ab_secret_box before, after;

    (void)state;
    seal(old, &here, "sealed by k1", &before);
    seal(both, &here, "sealed by k2", &after);
    assert_string_equal(after.key_id, "k2");
    expect_open(both, &here, &before, 0, "sealed by k1");
    expect_open(both, &here, &after, 0, "sealed by k2");
    ab_secret_box_free(&before);
    ab_secret_box_free(&after);
    ab_secret_ring_free(old);
    ab_secret_ring_free(both);
}

/* ---- the ring's text form ------------------------------------------------------------------ */

static void test_entries_split_on_commas_and_lines_and_comments_are_skipped(void **state)
{
    struct ab_secret_ring *ring =
        ring_of("# keys\n\n  k2:" KEY_B " , k1:" KEY_A "\r\n# old.one:x,y\nold.one:" KEY_A "\n");
    char id[AB_SECRET_ID_MAX + 1];

    (void)state;
    assert_int_equal(ab_secret_ring_count(ring), 3);
    ab_secret_ring_id(ring, 0, id);
    assert_string_equal(id, "k2");
    ab_secret_ring_id(ring, 2, id);
    assert_string_equal(id, "old.one");
    ab_secret_ring_id(ring, 3, id);
    assert_string_equal(id, "");
    assert_true(ab_secret_ring_has(ring, "k1"));
    assert_false(ab_secret_ring_has(ring, "k3"));
    assert_null(ab_secret_ring_file(ring));
    ab_secret_ring_free(ring);
}

static void test_ring_errors_name_the_entry_and_never_the_key(void **state)
{
    (void)state;
    expect_parse_error("", AB_EINVAL, "AGENTBASE_SECRET_KEY holds no key");
    expect_parse_error(" , \n# only a comment\n", AB_EINVAL, "AGENTBASE_SECRET_KEY holds no key");
    expect_parse_error("k1:" KEY_A ",k2" KEY_B, AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 2 is not <key id>:<base64 key>");
    expect_parse_error(":" KEY_A, AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 1: a key id is 1 to 64 letters, digits, '.', "
                       "'_' or '-'");
    expect_parse_error("key one:" KEY_A, AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 1: a key id is 1 to 64 letters, digits, '.', "
                       "'_' or '-'");
    expect_parse_error("k1:" KEY_A ",k1:" KEY_B, AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 2: key id k1 appears twice");
    expect_parse_error("k1:c2hvcnQ=", AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 1 (key k1): a key is 32 bytes in base64");
    expect_parse_error("k1:" KEY_A "AAAA", AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 1 (key k1): a key is 32 bytes in base64");
    expect_parse_error("k1:not*base64", AB_EINVAL,
                       "AGENTBASE_SECRET_KEY: entry 1 (key k1): a key is 32 bytes in base64");
}

static void test_a_ring_holds_at_most_sixteen_keys(void **state)
{
    struct ab_buf text;

    (void)state;
    ab_buf_init(&text, 8192);
    for (int i = 0; i < AB_SECRET_MAX_KEYS + 1; i++)
        assert_int_equal(ab_buf_printf(&text, "k%d:%s,", i, KEY_A), 0);
    expect_parse_error(text.data, AB_ETOOBIG, "AGENTBASE_SECRET_KEY: more than 16 keys");
    ab_buf_free(&text);
}

static void test_a_formatted_ring_parses_back_to_the_same_keys(void **state)
{
    struct ab_secret_ring *ring = ring_of("k2:" KEY_B ",k1:" KEY_A), *again;
    struct ab_secret_box box;
    struct ab_buf text;
    struct ab_error err;

    (void)state;
    ab_buf_init(&text, 8192);
    assert_int_equal(ab_secret_ring_format(ring, false, &text), 0);
    assert_string_equal(text.data, "k2:" KEY_B ",k1:" KEY_A);
    assert_int_equal(ab_secret_ring_parse(text.data, "again", &again, &err), 0);
    seal(again, &here, "round trip", &box);
    expect_open(ring, &here, &box, 0, "round trip");
    ab_buf_reset(&text);
    assert_int_equal(ab_secret_ring_format(ring, true, &text), 0);
    assert_non_null(strstr(text.data, "\nk2:" KEY_B "\nk1:" KEY_A "\n"));
    assert_int_equal(text.data[0], '#');
    ab_secret_box_free(&box);
    ab_secret_wipe(&text);
    ab_secret_ring_free(again);
    ab_secret_ring_free(ring);
}

static void test_an_added_key_is_current_and_retiring_keeps_only_it(void **state)
{
    struct ab_secret_ring *ring = ring_of("k1:" KEY_A);
    char id[AB_SECRET_ID_MAX + 1];
    struct ab_secret_box old, fresh;
    struct ab_error err;

    (void)state;
    seal(ring, &here, "old", &old);
    assert_int_equal(ab_secret_ring_add(ring, "k1", &err), AB_ECONFLICT);
    assert_string_equal(err.message, "the key ring already holds a key k1");
    assert_int_equal(ab_secret_ring_add(ring, "bad id", &err), AB_EINVAL);
    assert_int_equal(ab_secret_ring_add(ring, NULL, &err), 0);
    ab_secret_ring_id(ring, 0, id);
    assert_int_equal(strlen(id), strlen("k20250314-5f3a9c"));
    assert_int_equal(id[0], 'k');
    seal(ring, &here, "new", &fresh);
    assert_string_equal(fresh.key_id, id);
    expect_open(ring, &here, &old, 0, "old");
    ab_secret_ring_retire(ring);
    assert_int_equal(ab_secret_ring_count(ring), 1);
    expect_open(ring, &here, &fresh, 0, "new");
    expect_open(ring, &here, &old, AB_ENOTFOUND,
                "the secret was sealed with key k1, which the key ring (AGENTBASE_SECRET_KEY) "
                "does not hold");
    ab_secret_box_free(&old);
    ab_secret_box_free(&fresh);
    ab_secret_ring_free(ring);
}

/* ---- where the ring comes from ---------------------------------------------------------- */

static void config_in(struct ab_config *cfg, const char *home)
{
    struct ab_error err;

    memset(cfg, 0, sizeof(*cfg));
    assert_int_equal(ab_config_set_home(cfg, home, &err), 0);
}

static void test_with_database_url_and_no_key_there_is_no_ring(void **state)
{
    struct ab_secret_ring *ring = NULL;
    struct ab_config cfg;
    struct ab_error err;
    bool created = true;

    (void)state;
    config_in(&cfg, "/nonexistent/agentbase-home");
    snprintf(cfg.database_url, sizeof(cfg.database_url), "postgresql://db.internal/agentbase");
    assert_int_equal(ab_secret_ring_open(&cfg, &ring, &err), AB_EINVAL);
    assert_null(ring);
    assert_string_equal(err.message,
                        "no secret key: DATABASE_URL is set, and neither AGENTBASE_SECRET_KEY nor "
                        "AGENTBASE_SECRET_KEY_FILE names the key ring that encrypts stored "
                        "secrets");
    assert_non_null(strstr(err.hint, "agentbase secrets new-key"));
    /* and nothing is generated for it */
    assert_int_equal(ab_secret_home_keyfile_ensure(&cfg, &created, &err), 0);
    assert_false(created);
}

static void test_the_variable_wins_over_the_file_and_the_home(void **state)
{
    struct ab_secret_ring *ring = NULL;
    struct ab_config cfg;
    struct ab_error err;

    (void)state;
    config_in(&cfg, "/nonexistent/agentbase-home");
    snprintf(cfg.secret_key, sizeof(cfg.secret_key), "env:%s", KEY_A);
    snprintf(cfg.secret_key_file, sizeof(cfg.secret_key_file), "/nonexistent/keys");
    assert_int_equal(ab_secret_ring_open(&cfg, &ring, &err), 0);
    assert_string_equal(ab_secret_ring_source(ring), "AGENTBASE_SECRET_KEY");
    assert_true(ab_secret_ring_has(ring, "env"));
    ab_secret_ring_free(ring);
}

static void test_the_embedded_cluster_generates_a_private_key_file_once(void **state)
{
    char home[] = "/tmp/abtest-secret.XXXXXX", path[PATH_MAX];
    struct ab_secret_ring *ring = NULL, *again = NULL;
    char first[AB_SECRET_ID_MAX + 1], second[AB_SECRET_ID_MAX + 1];
    struct ab_config cfg;
    struct ab_error err;
    struct stat st;
    bool created = false;

    (void)state;
    assert_non_null(mkdtemp(home));
    config_in(&cfg, home);
    snprintf(path, sizeof(path), "%s/secret-keys", home);
    assert_int_equal(ab_secret_home_keyfile_ensure(&cfg, &created, &err), 0);
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ab_secret_ring_open(&cfg, &ring, &err), 0);
    assert_string_equal(ab_secret_ring_file(ring), path);
    assert_int_equal(ab_secret_ring_count(ring), 1);
    ab_secret_ring_id(ring, 0, first);
    assert_int_equal(ab_secret_home_keyfile_ensure(&cfg, &created, &err), 0);
    assert_false(created); /* never replaced */
    assert_int_equal(ab_secret_ring_open(&cfg, &again, &err), 0);
    ab_secret_ring_id(again, 0, second);
    assert_string_equal(first, second);
    ab_secret_ring_free(ring);
    ab_secret_ring_free(again);
    unlink(path);
    rmdir(home);
}

static void test_a_ring_from_a_file_follows_the_file(void **state)
{
    char dir[] = "/tmp/abtest-secret.XXXXXX", path[PATH_MAX];
    struct ab_secret_ring *server = NULL, *rotator = NULL;
    struct ab_secret_box before, after, broken;
    struct ab_config cfg;
    struct ab_error err;
    char id[AB_SECRET_ID_MAX + 1], want[PATH_MAX + 128];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/keys", dir);
    assert_int_equal(ab_file_write(path, "k1:" KEY_A "\n", strlen("k1:" KEY_A "\n"), 0600, &err),
                     0);
    config_in(&cfg, dir);
    snprintf(cfg.secret_key_file, sizeof(cfg.secret_key_file), "%s", path);
    assert_int_equal(ab_secret_ring_open(&cfg, &server, &err), 0);
    assert_int_equal(ab_secret_ring_open(&cfg, &rotator, &err), 0);
    seal(server, &here, "before", &before);
    /* another process adds a key and saves: the server seals with it from then on */
    assert_int_equal(ab_secret_ring_add(rotator, "k2", &err), 0);
    assert_int_equal(ab_secret_ring_save(rotator, &err), 0);
    seal(server, &here, "after", &after);
    assert_string_equal(after.key_id, "k2");
    expect_open(server, &here, &before, 0, "before");
    /* then retires k1: the server no longer opens what k1 sealed */
    ab_secret_ring_retire(rotator);
    assert_int_equal(ab_secret_ring_save(rotator, &err), 0);
    expect_open(server, &here, &after, 0, "after");
    snprintf(want, sizeof(want),
             "the secret was sealed with key k1, which the key ring (%s) does not hold", path);
    expect_open(server, &here, &before, AB_ENOTFOUND, want);
    ab_secret_ring_id(server, 0, id);
    assert_string_equal(id, "k2");
    assert_int_equal(ab_secret_ring_count(server), 1);
    /* a file that no longer parses leaves the ring as it was, and says why */
    assert_int_equal(ab_file_write(path, "garbage\n", 8, 0600, &err), 0);
    assert_int_equal(ab_secret_seal(server, &here, "x", 1, &broken, &err), AB_EIO);
    snprintf(want, sizeof(want), "%s: entry 1 is not <key id>:<base64 key>", path);
    assert_string_equal(err.message, want);
    assert_int_equal(ab_secret_ring_count(server), 1);
    assert_null(broken.ciphertext);
    ab_secret_box_free(&before);
    ab_secret_box_free(&after);
    ab_secret_ring_free(server);
    ab_secret_ring_free(rotator);
    unlink(path);
    rmdir(dir);
}

/* ---- hints -------------------------------------------------------------------------------- */

static void test_the_hint_is_the_last_four_characters_of_a_long_secret_only(void **state)
{
    char out[17];

    (void)state;
    ab_secret_last4("ghp_0123456789x9Qz", 18, out);
    assert_string_equal(out, "x9Qz");
    ab_secret_last4("short-12345", 11, out); /* 11 characters: too short to show any */
    assert_string_equal(out, "");
    ab_secret_last4("123456789012", 12, out);
    assert_string_equal(out, "9012");
    /* characters, not bytes: 12 characters, the last four of them two bytes each */
    ab_secret_last4("abcdefgh\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 16, out);
    assert_string_equal(out, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_sealed_secret_opens_in_its_place),
        cmocka_unit_test(test_every_seal_takes_a_fresh_nonce),
        cmocka_unit_test(test_a_ring_without_the_key_id_says_which_key_it_lacks),
        cmocka_unit_test(test_another_key_under_the_same_id_opens_nothing),
        cmocka_unit_test(test_a_changed_ciphertext_or_nonce_does_not_open),
        cmocka_unit_test(test_a_secret_moved_to_another_row_tenant_or_column_does_not_open),
        cmocka_unit_test(test_a_too_short_value_is_not_a_ciphertext),
        cmocka_unit_test(test_the_first_key_seals_and_every_key_opens),
        cmocka_unit_test(test_entries_split_on_commas_and_lines_and_comments_are_skipped),
        cmocka_unit_test(test_ring_errors_name_the_entry_and_never_the_key),
        cmocka_unit_test(test_a_ring_holds_at_most_sixteen_keys),
        cmocka_unit_test(test_a_formatted_ring_parses_back_to_the_same_keys),
        cmocka_unit_test(test_an_added_key_is_current_and_retiring_keeps_only_it),
        cmocka_unit_test(test_with_database_url_and_no_key_there_is_no_ring),
        cmocka_unit_test(test_the_variable_wins_over_the_file_and_the_home),
        cmocka_unit_test(test_the_embedded_cluster_generates_a_private_key_file_once),
        cmocka_unit_test(test_a_ring_from_a_file_follows_the_file),
        cmocka_unit_test(test_the_hint_is_the_last_four_characters_of_a_long_secret_only),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
