/* cli/option_files.c: the files a command's options name (docs/cli.md): which options read
 * and which write, one file for two roles refused when the options are parsed, and the files
 * read checked (present, readable, regular, and a results file of the right kind) when the
 * command starts. */
#include "cli.h"

#include "custseg/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The options naming files a command reads, and those naming files it writes. */
static const char *const read_opts[] = {"config", "input", "segment-results", "churn-results",
                                        "clv-results", "roi-results", "timings", "model",
                                        "init-centroids", "resume", "previous", "customers-csv",
                                        "transactions-csv", "schema"};
static const char *const write_opts[] = {"output", "summary", "roi-csv", "roi-markdown",
                                         "personas-csv", "checkpoint"};

/* p as an absolute path with its directory resolved (the file itself need not exist), in
 * out; the path unchanged when the directory cannot be resolved. */
static void canonical(const char *p, char *out, size_t len) {
  char dir[4096], res[4096];
  const char *slash = strrchr(p, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == p)
    snprintf(dir, sizeof dir, "/");
  else
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
  if (realpath(dir, res))
    snprintf(out, len, "%s/%s", strcmp(res, "/") ? res : "", slash ? slash + 1 : p);
  else
    snprintf(out, len, "%s", p);
}

int cs_same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  char ca[8192], cb[8192];
  canonical(a, ca, sizeof ca);
  canonical(b, cb, sizeof cb);
  return strcmp(ca, cb) == 0;
}

void cs_file_ident(const char *path, char *out, size_t len) {
  struct stat sb;
  out[0] = '\0';
  if (stat(path, &sb) == 0)
    snprintf(out, len, "size %lld, modified %lld.%09ld", (long long)sb.st_size,
             (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
}

int cs_opts_read_file(const cs_opts_t *o, int i, const char **name, char *file, size_t len) {
  if (i < 0 || i >= (int)(sizeof read_opts / sizeof *read_opts)) return -1;
  *name = read_opts[i];
  const char *v = cs_opt_str(o, read_opts[i]);
  if (!v || !*v) return 0;
  /* --init-centroids FILE:DATASET, unless the whole value names a file */
  const char *colon = strrchr(v, ':');
  const int cut = !strcmp(read_opts[i], "init-centroids") && colon && access(v, F_OK);
  snprintf(file, len, "%.*s", cut ? (int)(colon - v) : (int)strlen(v), v);
  return 1;
}

/* No file is written twice, and none the command reads is written (it would be truncated
 * before it is read). A checkpoint may be the one --resume continues. */
int cs__opts_check_roles(const cs_opts_t *o) {
  const int nw = (int)(sizeof write_opts / sizeof *write_opts);
  const int nr = (int)(sizeof read_opts / sizeof *read_opts);
  for (int w = 0; w < nw; w++) {
    const char *out = cs_opt_str(o, write_opts[w]);
    if (!out || !*out) continue;
    for (int v = 0; v < nw + nr; v++) {
      const int is_read = v >= nw;
      const char *name = is_read ? read_opts[v - nw] : write_opts[v];
      if (!is_read && v <= w) continue;
      if (is_read && !strcmp(name, "resume") && !strcmp(write_opts[w], "checkpoint")) continue;
      const char *other = cs_opt_str(o, name);
      char file[4096];
      if (is_read ? cs_opts_read_file(o, v - nw, &name, file, sizeof file) != 1
                  : (!other || !*other || snprintf(file, sizeof file, "%s", other) < 0))
        continue;
      if (cs_same_file(out, file))
        return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "--%s '%s' is the same file as --%s "
                            "'%s': %s", write_opts[w], out, name, other,
                            is_read ? "it would be overwritten before it is read"
                                    : "one output would replace the other");
    }
  }
  return CS_OK;
}

/* Results, models and checkpoints are HDF5 or JSON files opened by name, on every rank: a
 * FIFO or a directory would block or fail deep in HDF5, so they are refused here. (The store
 * is checked when it is opened; import checks its CSV files: a transactions file may be a
 * pipe; the config and schema files are read once.) */
int cs_opts_check_file(const cs_opts_t *o, const char *name, const char *file) {
  struct stat st;
  int status = CS_OK;
  /* Missing or unreadable: said here, with the option's name (the open deep in a stage
   * could only name the path). */
  if (stat(file, &st) != 0 || access(file, R_OK) != 0)
    status = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "cannot open --%s '%s': %s", name, file,
                          strerror(errno));
  else if (!S_ISREG(st.st_mode))
    status = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "--%s '%s' is not a regular file", name,
                          file);
  if (status != CS_OK) cs_opts_blame_config(o);
  return status;
}

int cs_opts_check_files(const cs_opts_t *o) {
  static const char *const own_check[] = {"config", "input", "customers-csv", "transactions-csv",
                                          "schema"};
  const char *name;
  char file[4096];
  for (int i = 0;; i++) {
    const int given = cs_opts_read_file(o, i, &name, file, sizeof file);
    if (given < 0) break;
    int skip = !given;
    for (size_t k = 0; k < sizeof own_check / sizeof *own_check; k++) skip |= !strcmp(name, own_check[k]);
    if (skip) continue;
    const int status = cs_opts_check_file(o, name, file);
    if (status != CS_OK) return status;
  }
  return CS_OK;
}

/* What a results file given to an option holds (its kind), and the command that writes it. */
static const struct {
  const char *option, *object, *writer;
} kinds[] = {{"segment-results", "/segments/labels", "custseg segment"},
             {"previous", "/segments/centroids", "custseg segment"},
             {"churn-results", "/churn/score", "custseg churn train or churn score"},
             {"model", "/churn/model", "custseg churn train"},
             {"clv-results", "/clv/value", "custseg clv"},
             {"roi-results", "/roi/table", "custseg roi"}};

int cs_opts_check_inputs(cs_ctx_t *ctx, const cs_opts_t *o) {
  int status = cs_par_agree(ctx, cs_opts_check_files(o));
  for (size_t i = 0; status == CS_OK && i < sizeof kinds / sizeof *kinds; i++) {
    const char *file = cs_opt_str(o, kinds[i].option);
    int has = 0;
    if (!file || !*file) continue;
    status = cs_io_object_exists(ctx, file, kinds[i].object, &has);
    if (status != CS_OK) { /* not HDF5, or damaged: named by its option */
      char prefix[64];
      snprintf(prefix, sizeof prefix, "--%s: ", kinds[i].option);
      cs_error_rewrite(prefix, 0, "");
    } else if (!has) {
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "--%s '%s' is not a results file of "
                            "%s (it has no %s)", kinds[i].option, file, kinds[i].writer,
                            kinds[i].object);
    }
    if (status != CS_OK) cs_opts_blame_config(o);
  }
  return status;
}
