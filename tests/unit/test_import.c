/* tests/unit/test_import.c: the building blocks of `custseg import` (local): delimiters,
 * date formats, the CSV reader's records and line numbers, and the external sort with a
 * memory limit small enough to force many runs and multi-level merges. */
#include "mpi_support.h"

#include "custseg/import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *write_file(const char *name, const char *text, size_t len) {
  const char *path = cs_test_path(name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  fclose(f);
  return path;
}

static void dialects(void **state) {
  (void)state;
  cs_csv_dialect_t d;
  assert_int_equal(cs_csv_dialect_parse(",", &d), CS_OK);
  assert_int_equal(d.delim, ',');
  assert_int_equal(cs_csv_dialect_parse("tab", &d), CS_OK);
  assert_int_equal(d.delim, '\t');
  assert_int_equal(cs_csv_dialect_parse("Semicolon", &d), CS_OK);
  assert_int_equal(d.delim, ';');
  assert_int_equal(cs_csv_dialect_parse("whitespace", &d), CS_OK);
  assert_true(d.whitespace);
  assert_int_equal(cs_csv_dialect_parse("|", &d), CS_OK);
  assert_int_not_equal(cs_csv_dialect_parse("\"", &d), CS_OK);
  assert_int_not_equal(cs_csv_dialect_parse(",,", &d), CS_OK);
  assert_int_not_equal(cs_csv_dialect_parse("", &d), CS_OK);
}

static void dates(void **state) {
  (void)state;
  cs_date_format_t f;
  double d;
  assert_int_equal(cs_date_format_parse("yyyymmdd", &f), CS_OK);
  assert_int_equal(cs_date_parse(&f, "19700101", &d), 0);
  assert_true(d == 0);
  assert_int_equal(cs_date_parse(&f, "19970101", &d), 0);
  assert_true(d == 9862); /* CDNOW's first day */
  assert_int_equal(cs_date_parse(&f, "19980630", &d), 0);
  assert_true(d == 10407);
  assert_int_equal(cs_date_parse(&f, "20240229", &d), 0); /* leap day */
  assert_true(d == 19782);
  assert_int_not_equal(cs_date_parse(&f, "20230229", &d), 0);
  /* Gregorian leap years: a century year only when divisible by 400 (every fourth year had
   * been taken, accepting 1900-02-29 and 2100-02-29, days that never exist). */
  assert_int_not_equal(cs_date_parse(&f, "19000229", &d), 0);
  assert_int_not_equal(cs_date_parse(&f, "21000229", &d), 0);
  assert_int_equal(cs_date_parse(&f, "20000229", &d), 0);
  assert_true(d == 11016);
  assert_int_not_equal(cs_date_parse(&f, "19971301", &d), 0);
  assert_int_not_equal(cs_date_parse(&f, "1997010", &d), 0);
  assert_int_not_equal(cs_date_parse(&f, "1997111", &d), 0); /* not 1997-11-01: glued fields are full width */
  assert_int_not_equal(cs_date_parse(&f, "199701011", &d), 0);
  assert_int_not_equal(cs_date_parse(&f, "", &d), 0);
  assert_int_equal(cs_date_format_parse("dd/mm/yyyy", &f), CS_OK);
  assert_int_equal(cs_date_parse(&f, "3/1/2024", &d), 0);
  assert_true(d == 19725);
  assert_int_equal(cs_date_parse(&f, "03/01/2024", &d), 0);
  assert_true(d == 19725);
  assert_int_equal(cs_date_format_parse("yyyy-mm-dd HH:MI:SS", &f), CS_OK);
  assert_int_equal(cs_date_parse(&f, "2024-01-03 18:00:00", &d), 0);
  assert_true(fabs(d - 19725.75) < 1e-12);
  assert_int_not_equal(cs_date_parse(&f, "2024-01-03 24:00:00", &d), 0);
  assert_int_equal(cs_date_format_parse("days", &f), CS_OK);
  assert_int_equal(cs_date_parse(&f, "19723.5", &d), 0);
  assert_true(d == 19723.5);
  assert_int_not_equal(cs_date_parse(&f, "nan", &d), 0);
  assert_int_equal(cs_date_format_parse("unix", &f), CS_OK);
  assert_int_equal(cs_date_parse(&f, "86400", &d), 0);
  assert_true(d == 1);
  assert_true(cs_days_from_civil(1600, 3, 1) < 0);
  cs_error_clear();
  assert_int_equal(cs_date_format_parse("yyyy-mm", &f), CS_EUSAGE);
  cs_error_clear();
  assert_int_equal(cs_date_format_parse("yyyymmdddd", &f), CS_EUSAGE);
  cs_error_clear();
}

/* Records, fields and the line each record starts on. */
static void csv_records(void **state) {
  (void)state;
  static const char text[] = "\xEF\xBB\xBF"
                             "id,name,note\r\n"
                             "1, plain ,\"a, b\"\r\n"
                             "\r\n"
                             "2,\"multi\nline\",\"say \"\"hi\"\"\"\n"
                             "3,,\n"
                             "4,last,x"; /* no newline at the end */
  const char *path = write_file("imp_records.csv", text, sizeof text - 1);
  cs_csv_dialect_t d;
  cs_csv_dialect_parse(",", &d);
  cs_csv_t *r;
  cs_csv_record_t rec;
  assert_int_equal(cs_csv_open(path, &d, &r), CS_OK);
  for (int pass = 0; pass < 2; pass++) {
    assert_int_equal(cs_csv_next(r, &rec), 1);
    assert_int_equal(rec.n, 3);
    assert_string_equal(rec.field[0], "id"); /* the byte-order mark is gone */
    assert_int_equal(rec.line, 1);
    assert_int_equal(cs_csv_next(r, &rec), 1);
    assert_string_equal(rec.field[1], "plain"); /* unquoted fields are trimmed */
    assert_string_equal(rec.field[2], "a, b");
    assert_int_equal(rec.line, 2);
    assert_int_equal(cs_csv_next(r, &rec), 1); /* the blank line is skipped */
    assert_string_equal(rec.field[1], "multi\nline");
    assert_string_equal(rec.field[2], "say \"hi\"");
    assert_int_equal(rec.line, 4);
    assert_int_equal(cs_csv_next(r, &rec), 1);
    assert_int_equal(rec.n, 3);
    assert_string_equal(rec.field[1], "");
    assert_string_equal(rec.field[2], "");
    assert_int_equal(rec.line, 6);
    assert_int_equal(cs_csv_next(r, &rec), 1);
    assert_string_equal(rec.field[2], "x");
    assert_int_equal(rec.line, 7);
    assert_int_equal(cs_csv_next(r, &rec), 0);
    assert_int_equal(cs_csv_bytes_read(r), (int64_t)sizeof text - 1);
    assert_int_equal(cs_csv_rewind(r), CS_OK);
  }
  cs_csv_close(r);
}

static void csv_whitespace(void **state) {
  (void)state;
  static const char text[] = " customer_id  date number_of_cds  dollar_value\r\n"
                             " 00001 19970101  1   11.77\r\n"
                             "   \r\n"
                             "00002\t19970112 \t 5   77.00  \r\n"
                             "3 \"two words\" 1 2\n";
  const char *path = write_file("imp_ws.txt", text, sizeof text - 1);
  cs_csv_dialect_t d;
  cs_csv_dialect_parse("whitespace", &d);
  cs_csv_t *r;
  cs_csv_record_t rec;
  assert_int_equal(cs_csv_open(path, &d, &r), CS_OK);
  assert_int_equal(cs_csv_next(r, &rec), 1);
  assert_int_equal(rec.n, 4);
  assert_string_equal(rec.field[3], "dollar_value");
  assert_int_equal(cs_csv_next(r, &rec), 1);
  assert_int_equal(rec.n, 4);
  assert_string_equal(rec.field[0], "00001");
  assert_string_equal(rec.field[3], "11.77");
  assert_int_equal(rec.line, 2);
  assert_int_equal(cs_csv_next(r, &rec), 1);
  assert_int_equal(rec.n, 4);
  assert_string_equal(rec.field[2], "5");
  assert_string_equal(rec.field[3], "77.00");
  assert_int_equal(rec.line, 4);
  assert_int_equal(cs_csv_next(r, &rec), 1);
  assert_int_equal(rec.n, 4);
  assert_string_equal(rec.field[1], "two words");
  assert_int_equal(cs_csv_next(r, &rec), 0);
  cs_csv_close(r);
}

static void csv_malformed(void **state) {
  (void)state;
  static const char stray[] = "a,b\n1,x\"y\n";
  static const char open_quote[] = "a,b\n1,\"abc\n2,3\n";
  cs_csv_dialect_t d;
  cs_csv_dialect_parse(",", &d);
  cs_csv_t *r;
  cs_csv_record_t rec;
  const char *p1 = write_file("imp_stray.csv", stray, sizeof stray - 1);
  assert_int_equal(cs_csv_open(p1, &d, &r), CS_OK);
  assert_int_equal(cs_csv_next(r, &rec), 1);
  cs_error_clear();
  assert_int_equal(cs_csv_next(r, &rec), CS_EDATA);
  assert_non_null(strstr(cs_error_get()->msg, "imp_stray.csv-np1:2: malformed CSV in field 2 (it starts 'x')"));
  cs_error_clear();
  cs_csv_close(r);
  const char *p2 = write_file("imp_open.csv", open_quote, sizeof open_quote - 1);
  assert_int_equal(cs_csv_open(p2, &d, &r), CS_OK);
  assert_int_equal(cs_csv_next(r, &rec), 1);
  assert_int_equal(cs_csv_next(r, &rec), CS_EDATA);
  assert_non_null(strstr(cs_error_get()->msg, ":2: a quoted field is not closed"));
  cs_error_clear();
  cs_csv_close(r);
  assert_int_equal(cs_csv_open(cs_test_path("imp_absent.csv"), &d, &r), CS_ENOENT);
  cs_error_clear();
}

typedef struct rec {
  int64_t key;
  int64_t seq;
} rec_t;

static int cmp_rec(const void *pa, const void *pb) {
  const rec_t *a = pa, *b = pb;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  return (a->seq > b->seq) - (a->seq < b->seq);
}

/* n records through a sorter of `mem` bytes: every record back, in order, twice. */
static void sort_and_check(int64_t n, size_t mem, int64_t expect_runs_min) {
  cs_xsort_t *s;
  const char *dir = getenv("CS_TEST_DIR");
  assert_int_equal(cs_xsort_new(sizeof(rec_t), cmp_rec, mem, dir ? dir : ".", "imp-unit", &s),
                   CS_OK);
  uint64_t x = 88172645463325252ull, sum_in = 0;
  for (int64_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: fixed sequence, many equal keys */
    rec_t r = {(int64_t)(x % 1000), i};
    sum_in += (uint64_t)r.key * 31 + (uint64_t)i;
    assert_int_equal(cs_xsort_add(s, &r), CS_OK);
  }
  assert_int_equal(cs_xsort_finish(s), CS_OK);
  for (int pass = 0; pass < 2; pass++) {
    rec_t prev = {-1, -1}, r;
    int64_t got = 0;
    uint64_t sum_out = 0;
    int rc;
    while ((rc = cs_xsort_next(s, &r)) == 1) {
      assert_true(cmp_rec(&prev, &r) < 0);
      sum_out += (uint64_t)r.key * 31 + (uint64_t)r.seq;
      prev = r;
      got++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got, n);
    assert_true(sum_out == sum_in);
    assert_int_equal(cs_xsort_rewind(s), CS_OK);
  }
  cs_xsort_stats_t st;
  cs_xsort_get_stats(s, &st);
  assert_int_equal(st.records, n);
  assert_true(st.runs >= expect_runs_min);
  if (expect_runs_min > CS_XSORT_FANIN) assert_true(st.merges > 0);
  cs_xsort_free(s);
}

static void xsort_in_memory(void **state) {
  (void)state;
  sort_and_check(0, 1 << 20, 0);
  sort_and_check(1, 1 << 20, 0);
  sort_and_check(10000, 1 << 20, 0);
}

static void xsort_many_runs(void **state) {
  (void)state;
  /* 16-byte records, 1 KiB buffers: 64 records per run, 1563 runs, three merge levels. */
  sort_and_check(100000, 1024, 1500);
  sort_and_check(1000, 1024, 15); /* fewer runs than the fan-in: one heap over all */
  sort_and_check(64 * 17, 1024, 17);
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dialects),       cmocka_unit_test(dates),
      cmocka_unit_test(csv_records),    cmocka_unit_test(csv_whitespace),
      cmocka_unit_test(csv_malformed),  cmocka_unit_test(xsort_in_memory),
      cmocka_unit_test(xsort_many_runs),
  };
  return cs_test_main(argc, argv, tests, sizeof tests / sizeof *tests, __FILE__);
}
