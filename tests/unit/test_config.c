/* tests/unit/test_config.c: flags, INI config files, precedence and errors (local). */
#include "mpi_support.h"

#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *write_ini(const char *name, const char *text) {
  const char *path = cs_test_path(name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

static int parse(cs_opts_t *o, const char *cmd, int argc, const char **argv) {
  return cs_opts_parse(o, cmd, argc, (char **)argv);
}

static void defaults_and_flags(void **state) {
  (void)state;
  cs_opts_t o;
  const char *argv[] = {"--customers", "5000", "--output=x.h5", "--seed", "1e3", "--verbose"};
  assert_int_equal(parse(&o, "generate", 6, argv), CS_OK);
  assert_int_equal(cs_opt_int(&o, "customers"), 5000);
  assert_int_equal(cs_opt_int(&o, "segments"), 6); /* default */
  assert_int_equal(cs_opt_int(&o, "seed"), 1000);
  assert_string_equal(cs_opt_str(&o, "output"), "x.h5");
  assert_true(cs_opt_bool(&o, "verbose"));
  assert_null(cs_opt_str(&o, "summary"));
  cs_opts_free(&o);
}

static void config_sections_and_precedence(void **state) {
  (void)state;
  const char *ini = write_ini("cfg_ok.ini",
                              "; shared by several commands\n"
                              "[generate]\n"
                              "segments = 4\n"
                              "[custseg]\n"
                              "segments = 9\n"
                              "customers = 777\n"
                              "features = age,income   ; only for inspect: ignored here\n"
                              "[inspect]\n"
                              "chunk-rows = 5\n");
  cs_opts_t o;
  const char *argv[] = {"--config", ini, "--customers", "888"};
  assert_int_equal(parse(&o, "generate", 4, argv), CS_OK);
  assert_int_equal(cs_opt_int(&o, "segments"), 4);    /* command section beats general */
  assert_int_equal(cs_opt_int(&o, "customers"), 888); /* flag beats file */
  assert_int_equal(cs_opt_int(&o, "chunk-rows"), 1048576); /* [inspect] not applied */
  cs_opts_free(&o);
  const char *argv2[] = {"store.h5"}; /* the bare FILE means --input */
  assert_int_equal(parse(&o, "inspect", 1, argv2), CS_OK);
  assert_string_equal(cs_opt_str(&o, "input"), "store.h5");
  cs_opts_free(&o);
  const char *argv3[] = {"--config", ini};
  assert_int_equal(parse(&o, "inspect", 2, argv3), CS_OK);
  assert_int_equal(cs_opt_int(&o, "chunk-rows"), 5);
  assert_string_equal(cs_opt_str(&o, "features"), "age,income");
  cs_opts_free(&o);
}

static void expect_error(const char *cmd, int argc, const char **argv, int code,
                         const char *needle) {
  cs_opts_t o;
  int st = parse(&o, cmd, argc, argv);
  if (st != code || !strstr(cs_error_get()->msg, needle))
    fail_msg("status %d, message '%s' (wanted %d and '%s')", st, cs_error_get()->msg, code,
             needle);
  cs_opts_free(&o);
  cs_error_clear();
}

static void errors_name_the_problem(void **state) {
  (void)state;
  /* command, config file's text, the error's text */
  static const char *const bad[][3] = {
      {"generate", "[custseg]\nseed = 3\ncustomerz = 10\n", "line 3: unknown key 'customerz'"},
      {"generate", "[segmnet]\nk = 3\n", "line 1: unknown section [segmnet]; the sections are [custseg], [generate], [inspect], [segment], [churn-train], [churn-score]"},
      /* without a key after it (it had been read without a word) */
      {"segment", "seed = 3\n[segment]\nk = 3\n[segmnet]\n", "line 4: unknown section [segmnet]"},
      {"generate", "customers = many\n", "value 'many' for customers is not a non-negative integer"},
      {"generate", "[generate]\nfeatures = age\n", "'features' in [generate] does not apply"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char name[32];
    snprintf(name, sizeof name, "cfg_bad%zu.ini", i);
    const char *args[] = {"--config", write_ini(name, bad[i][1])};
    expect_error(bad[i][0], 2, args, CS_ECONFIG, bad[i][2]);
  }
  /* an empty --config is named as the other empty file names are (it had been read first:
   * "cannot open config ''") */
  const char *a2c[] = {"--config", ""};
  expect_error("segment", 2, a2c, CS_EUSAGE, "--config is empty: give a file name");
  const char *a5[] = {"--config", "/nonexistent.ini"};
  expect_error("generate", 2, a5, CS_ECONFIG, "cannot open config '/nonexistent.ini'");
  const char *a6[] = {"--segmentz", "3"};
  expect_error("generate", 2, a6, CS_EUSAGE, "unknown option '--segmentz'");
  const char *a7[] = {"--customers"};
  expect_error("generate", 1, a7, CS_EUSAGE, "needs a value");
  const char *a8[] = {"--missing-rate", "0.1x"};
  expect_error("generate", 2, a8, CS_EUSAGE, "is not a number");
  const char *a9[] = {"--features", "age"};
  expect_error("generate", 2, a9, CS_EUSAGE, "inapplicable option '--features'");
  const char *a10[] = {"--verbose", "maybe"}; /* a bool flag's value must be a bool word */
  /* ... and the error names the flag and its values (it had said only "unexpected argument") */
  expect_error("generate", 2, a10, CS_EUSAGE,
               "unexpected argument 'maybe' after --verbose, which takes no value or one of "
               "yes/no, true/false, on/off, 1/0");
  {
    cs_opts_t o;
    const char *b[] = {"--verbose", "no", "--quiet"}; /* a following bool word is the value */
    assert_int_equal(parse(&o, "generate", 3, b), CS_OK);
    assert_int_equal(cs_opt_bool(&o, "verbose"), 0);
    assert_int_equal(cs_opt_bool(&o, "quiet"), 1);
    cs_opts_free(&o);
  }
  const char *a11[] = {"--seed", "-3"};
  expect_error("generate", 2, a11, CS_EUSAGE, "not a non-negative integer");
  const char *a11b[] = {"--segments", "0"}; /* a lower bound above 0 is named */
  expect_error("generate", 2, a11b, CS_EUSAGE, "value '0' for segments is not an integer in 1..64");
  const char *a11c[] = {"--segments", "65"};
  expect_error("generate", 2, a11c, CS_EUSAGE, "value '65' for segments is not an integer in 1..64");
  const char *a12[] = {"a.h5", "--input", "b.h5"};
  expect_error("inspect", 3, a12, CS_EUSAGE, "input store is given 2 times");
  const char *a12b[] = {""}; /* `custseg inspect "$STORE"` with STORE unset: it had said
                              * "--input is empty", an option not given */
  expect_error("inspect", 1, a12b, CS_EUSAGE,
               "the store's file name is empty: custseg inspect FILE");
  const char *a13[] = {"--config", "a.ini", "--config", "b.ini"}; /* before either is read */
  expect_error("generate", 4, a13, CS_EUSAGE, "--config given 2 times");
}

/* Lines inih misreads are errors with their own number, and the first error in the file is the
 * one reported (each of these had been read silently, or given another line's number). */
static void lines_inih_misreads(void **state) {
  (void)state;
  static const struct {
    const char *name, *text, *needle;
  } cases[] = {
      {"cfg_sec_text.ini", "[generate] customers = 50\n",
       "line 1 has text after the section's ']'"},
      {"cfg_cr.ini", "[generate]\rcustomers = 50\rseed = 3\r",
       "line 1 holds a carriage return (CR) that does not end the line"},
      {"cfg_syntax_first.ini", "[generate]\ngarbage line\nbogus = 1\n",
       "line 2: expected 'key = value' or [section]"},
      {"cfg_empty_sec.ini", "[generate]\n[]\nbogus = 1\n", "line 2: a section with no name"},
      {"cfg_key_first.ini", "[generate]\nbogus = 1\ngarbage\n", "line 2: unknown key 'bogus'"},
      {"cfg_general_late.ini", "[generate]\nseed = 4\n[custseg]\nseed = 0x\n",
       "line 4: value '0x' for seed is not"},
      {"cfg_bom_sec.ini", "\xEF\xBB\xBF[generate] seed = 5\n",
       "line 1 has text after the section's ']'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *argv[] = {"--config", write_ini(cases[i].name, cases[i].text)};
    expect_error("generate", 2, argv, CS_ECONFIG, cases[i].needle);
  }
  /* A NUL byte (fputs would stop at it). */
  static const char nul[] = "[generate]\ncustomers = 50\0junk\n";
  const char *path = cs_test_path("cfg_nul.ini");
  FILE *f = fopen(path, "w");
  fwrite(nul, 1, sizeof nul - 1, f);
  fclose(f);
  const char *argv[] = {"--config", path};
  expect_error("generate", 2, argv, CS_ECONFIG, "line 2 holds a NUL byte");
  /* A line of 199 characters, the most inih takes, with CRLF: its CR is no 200th character. */
  char long_line[260] = "[generate]\r\nseed = ";
  while (strlen(long_line) < 12 + 199) strcat(long_line, "1");
  strcat(long_line, "\r\n");
  const char *c199 = write_ini("cfg_199crlf.ini", long_line);
  const char *c[] = {"--config", c199};
  cs_opts_t o199; /* (the value itself is out of range: any error but the line's length) */
  if (parse(&o199, "generate", 2, c) != CS_OK && strstr(cs_error_get()->msg, "longer than"))
    fail_msg("a 199-character CRLF line: %s", cs_error_get()->msg);
  cs_opts_free(&o199);
  cs_error_clear();
  /* CRLF line ends and a comment after a section are fine. */
  const char *ok = write_ini("cfg_crlf.ini", "[generate] ; ours\r\ncustomers = 50\r\n");
  const char *b[] = {"--config", ok};
  cs_opts_t o;
  assert_int_equal(parse(&o, "generate", 2, b), CS_OK);
  assert_int_equal(cs_opt_int(&o, "customers"), 50);
  cs_opts_free(&o);
}

/* The options hash a checkpoint must match to be resumed (checkpoint.c): one configuration
 * written differently, or run with other threads, paths or summary, hashes alike (-0 as 0);
 * another seed does not. */
static void checkpoint_config_hash(void **state) {
  (void)state;
  static const char *const argv[][13] = {
      {"--input", "a.h5", "--output", "o.h5", "--k", "4", "--tol", "0", NULL},
      {"--input", "b/a.h5", "--output", "p.h5", "--k", "4", "--tol", "-0", "--threads", "3",
       "--summary", "s.json", NULL},
      {"--input", "a.h5", "--output", "o.h5", "--k", "4", "--tol", "0", "--seed", "4", NULL},
  };
  char h[3][17];
  for (int i = 0; i < 3; i++) {
    cs_opts_t o;
    int argc = 0;
    while (argv[i][argc]) argc++;
    assert_int_equal(parse(&o, "segment", argc, (const char **)argv[i]), CS_OK);
    cs_ckpt_config_hash(&o, h[i]);
    cs_opts_free(&o);
  }
  assert_string_equal(h[0], h[1]);
  assert_string_not_equal(h[0], h[2]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(defaults_and_flags),
    cmocka_unit_test(config_sections_and_precedence),
    cmocka_unit_test(errors_name_the_problem),
    cmocka_unit_test(lines_inih_misreads),
    cmocka_unit_test(checkpoint_config_hash),
};
CS_TEST_MAIN(tests)
