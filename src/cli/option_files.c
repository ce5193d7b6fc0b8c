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

int cs_opt_names_file(const char *name) {
  for (size_t i = 0; i < sizeof read_opts / sizeof *read_opts; i++)
    if (!strcmp(name, read_opts[i])) return 1;
  for (size_t i = 0; i < sizeof write_opts / sizeof *write_opts; i++)
    if (!strcmp(name, write_opts[i])) return 1;
  return 0;
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

int cs_is_companion(const char *file, const char *output) {
  /* The working files io/out.c and io/claim.c make beside an output NAME: ".NAME.lock",
   * ".NAME.tmp-...", ".NAME.rsv-...", ".NAME.bak-..." and ".NAME.probe-...". */
  static const char *const kinds[] = {"lock", "tmp-", "rsv-", "bak-", "probe-"};
  char cf[8192], co[8192];
  canonical(file, cf, sizeof cf);
  canonical(output, co, sizeof co);
  const char *bf = strrchr(cf, '/'), *bo = strrchr(co, '/');
  bf = bf ? bf + 1 : cf;
  bo = bo ? bo + 1 : co;
  const size_t lo = strlen(bo);
  if ((size_t)(bf - cf) != (size_t)(bo - co) || strncmp(cf, co, (size_t)(bf - cf)) ||
      bf[0] != '.' || strncmp(bf + 1, bo, lo) || bf[1 + lo] != '.')
    return 0;
  /* the lock exactly; the others with the "PID" or "PID-TOKEN" end io/out.c gives them */
  const char *rest = bf + 2 + lo;
  if (!strcmp(rest, "lock")) return 1;
  for (size_t k = 1; k < sizeof kinds / sizeof *kinds; k++) {
    const char *end = rest + strlen(kinds[k]);
    if (!strncmp(rest, kinds[k], strlen(kinds[k])) && *end >= '0' && *end <= '9' &&
        end[strspn(end, "0123456789-")] == '\0')
      return 1;
  }
  return 0;
}

/* A file the options name (option "input", ...), or one the command derives from them
 * (option NULL, role its description): the default checkpoint. */
typedef struct {
  const char *option, *value;
  char file[4096];
  int is_read;
} named_file_t;
enum { N_WRITE = sizeof write_opts / sizeof *write_opts, N_READ = sizeof read_opts / sizeof *read_opts };

static int named_files(const cs_opts_t *o, named_file_t *f) {
  int n = 0;
  for (int w = 0; w < N_WRITE; w++) {
    const char *v = cs_opt_str(o, write_opts[w]);
    if (!v || !*v) continue;
    f[n] = (named_file_t){.option = write_opts[w], .value = v};
    snprintf(f[n++].file, sizeof f->file, "%s", v);
  }
  for (int r = 0; r < N_READ; r++) {
    f[n] = (named_file_t){.is_read = 1, .value = cs_opt_str(o, read_opts[r])};
    if (cs_opts_read_file(o, r, &f[n].option, f[n].file, sizeof f->file) == 1) n++;
  }
  return n;
}

static const char *role_of(const named_file_t *f, const char *derived, char *buf, size_t len) {
  if (f->option) snprintf(buf, len, "--%s", f->option);
  else snprintf(buf, len, "the %s", derived);
  return buf;
}

/* Refuses output a when it is b's file (a checkpoint may be what --resume continues), and any
 * a that is the working file of output b. */
static int clash(const named_file_t *a, const named_file_t *b, int same, const char *derived) {
  char ra[512], rb[512];
  const int ckpt = !a->option || !strcmp(a->option, "checkpoint");
  if (same && !a->is_read && !(ckpt && b->option && !strcmp(b->option, "resume")) &&
      cs_same_file(a->file, b->file))
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__, "%s '%s' is the same file as %s '%s': %s",
                        role_of(a, derived, ra, sizeof ra), a->value,
                        role_of(b, derived, rb, sizeof rb), b->value,
                        b->is_read ? "it would be overwritten before it is read"
                                   : "one output would replace the other");
  if (!b->is_read && cs_is_companion(a->file, b->file))
    return cs_error_set(CS_EUSAGE, __FILE__, __LINE__,
                        "%s '%s' is a working file of %s '%s' (its lock, temporary or backup "
                        "file), which custseg creates and deletes: choose another name",
                        role_of(a, derived, ra, sizeof ra), a->value,
                        role_of(b, derived, rb, sizeof rb), b->value);
  return CS_OK;
}

/* No file is written twice, none the command reads is written (it would be truncated before
 * it is read), and none is an output's working file. */
int cs__opts_check_roles(const cs_opts_t *o) {
  named_file_t f[N_WRITE + N_READ];
  const int n = named_files(o, f);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      /* each pair of outputs compared once */
      const int status = j == i ? CS_OK : clash(&f[i], &f[j], f[j].is_read || j > i, NULL);
      if (status != CS_OK) return status;
    }
  return CS_OK;
}

int cs_opts_check_derived(const cs_opts_t *o, const char *file, const char *role) {
  named_file_t f[N_WRITE + N_READ + 1];
  const int n = named_files(o, f);
  f[n] = (named_file_t){.value = file};
  snprintf(f[n].file, sizeof f->file, "%s", file);
  for (int j = 0; j < n; j++) {
    int status = clash(&f[n], &f[j], 1, role);
    if (status == CS_OK) status = clash(&f[j], &f[n], 0, role);
    if (status != CS_OK) return status;
  }
  return CS_OK;
}

/* Results, models and checkpoints are HDF5 or JSON files opened by name, on every rank: a
 * FIFO or a directory would block or fail deep in HDF5, so they are refused here. (The store
 * is checked when it is opened; import checks its CSV files: a transactions file may be a
 * pipe; the config file is read once.) */
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
  /* (--schema is checked here: opened as it was, a FIFO had blocked import forever, deaf to
   * SIGTERM.) */
  static const char *const own_check[] = {"config", "input", "customers-csv", "transactions-csv"};
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
      cs_error_rewrite(prefix, NULL, "");
    } else if (!has) {
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__, "--%s '%s' is not a results file of "
                            "%s (it has no %s)", kinds[i].option, file, kinds[i].writer,
                            kinds[i].object);
    }
    if (status != CS_OK) cs_opts_blame_config(o);
  }
  return status;
}
