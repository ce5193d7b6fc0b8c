/* io/store.c: opening and validating the customer store (schema v1); its rows are read in
 * store_read.c. */
#include "h5util.h"
#include "store_cache.h"
#include "store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_col(const void *a, const void *b) {
  return strcmp(((const cs_column_t *)a)->name, ((const cs_column_t *)b)->name);
}

/* ---- listing ------------------------------------------------------------------------------- */
typedef struct list_ctx {
  cs_column_t *cols;
  int n, cap;
  int failed;
  char broken[CS_NAME_MAX + 80]; /* the first link that leads nowhere, described */
  char long_name[80];            /* the start of the first name too long to keep */
} list_ctx_t;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  list_ctx_t *lc = data;
  hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
  if (obj < 0) {
    /* A soft or external link whose target is gone: a column the writer meant to be there,
     * which must not silently drop out of the features. */
    if (!lc->broken[0]) {
      char target[4200] = "";
      if (info->type == H5L_TYPE_SOFT || info->type == H5L_TYPE_EXTERNAL) {
        char val[4200] = "";
        const char *file = NULL, *obj_path = NULL;
        unsigned flags = 0;
        if (H5Lget_val(g, name, val, sizeof val, H5P_DEFAULT) >= 0) {
          if (info->type == H5L_TYPE_SOFT)
            snprintf(target, sizeof target, "a link to %.200s", val);
          else if (H5Lunpack_elink_val(val, info->u.val_size, &flags, &file, &obj_path) >= 0)
            snprintf(target, sizeof target, "an external link to %.200s:%.200s", file, obj_path);
        }
      }
      snprintf(lc->broken, sizeof lc->broken, "%.*s is %s, which cannot be opened",
               CS_NAME_MAX, name, target[0] ? target : "an object");
    }
    return 0;
  }
  int is_dset = H5Iget_type(obj) == H5I_DATASET;
  H5Oclose(obj);
  if (!is_dset) return 0;
  if (lc->n == lc->cap) {
    int cap = lc->cap ? 2 * lc->cap : 32;
    cs_column_t *c = realloc(lc->cols, (size_t)cap * sizeof *c);
    if (!c) {
      lc->failed = 1;
      return -1;
    }
    lc->cols = c;
    lc->cap = cap;
  }
  cs_column_t *c = &lc->cols[lc->n++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  if (strlen(name) >= sizeof c->name) { /* rejected by the caller */
    if (!lc->long_name[0]) snprintf(lc->long_name, sizeof lc->long_name, "%.40s", name);
    c->name[0] = '\0';
  }
  return 0;
}

/* Read a string-array attribute `categories` (variable or fixed length strings). */
static int read_categories(const char *path, hid_t dset, cs_column_t *col) {
  int status = CS_OK;
  hid_t attr = -1, type = -1, space = -1, mtype = -1;
  char **vbuf = NULL;
  char *fbuf = NULL;
  htri_t has = H5Aexists(dset, "categories");
  if (has <= 0) return CS_OK;
  attr = H5Aopen(dset, "categories", H5P_DEFAULT);
  CS_H5(attr, "%s: cannot open attribute /customers/%s@categories", path, col->name);
  type = H5Aget_type(attr);
  space = H5Aget_space(attr);
  CS_H5(type, "%s: /customers/%s@categories: bad type", path, col->name);
  CS_H5(space, "%s: /customers/%s@categories: bad space", path, col->name);
  CS_CHECK(H5Tget_class(type) == H5T_STRING && H5Sget_simple_extent_ndims(space) == 1, CS_EFORMAT,
           "%s: /customers/%s@categories must be a 1-D array of strings", path, col->name);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  CS_CHECK(n > 0 && n < 1000000, CS_EFORMAT, "%s: /customers/%s@categories has %lld levels",
           path, col->name, (long long)n);
  col->categories = calloc((size_t)n, sizeof *col->categories);
  if (!col->categories) CS_FAIL(CS_ENOMEM, "out of memory reading categories");
  if (H5Tis_variable_str(type) > 0) {
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5Tget_cset(type));
    vbuf = calloc((size_t)n, sizeof *vbuf);
    if (!vbuf) CS_FAIL(CS_ENOMEM, "out of memory reading categories");
    CS_H5(H5Aread(attr, mtype, vbuf), "%s: cannot read /customers/%s@categories", path, col->name);
    for (hssize_t i = 0; i < n; i++) col->categories[i] = strdup(vbuf[i] ? vbuf[i] : "");
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, vbuf);
  } else {
    size_t len = H5Tget_size(type);
    mtype = H5Tcopy(type);
    fbuf = calloc((size_t)n, len + 1);
    if (!fbuf) CS_FAIL(CS_ENOMEM, "out of memory reading categories");
    CS_H5(H5Aread(attr, mtype, fbuf), "%s: cannot read /customers/%s@categories", path, col->name);
    /* Space-padded strings (Fortran, MATLAB, SAS) end at their last non-blank, as the type
     * says; null-padded ones at their first NUL. */
    const int spacepad = H5Tget_strpad(type) == H5T_STR_SPACEPAD;
    for (hssize_t i = 0; i < n; i++) {
      size_t l = strnlen(fbuf + i * len, len);
      while (spacepad && l > 0 && fbuf[i * len + l - 1] == ' ') l--;
      col->categories[i] = strndup(fbuf + i * len, l);
    }
  }
  col->n_categories = (int)n;
  for (int i = 0; i < col->n_categories; i++) {
    if (!col->categories[i]) CS_FAIL(CS_ENOMEM, "out of memory reading categories");
    /* Levels become JSON, CSV and HTML text, which must be UTF-8. */
    int bad = cs_utf8_bad(col->categories[i]);
    CS_CHECK(bad < 0, CS_EFORMAT, "%s: /customers/%s@categories: level %d is not UTF-8 text "
             "(byte %d is 0x%02x)", path, col->name, i, bad + 1,
             bad < 0 ? 0 : (unsigned char)col->categories[i][bad]);
  }
fail:
  free(vbuf);
  free(fbuf);
  CS_H5_CLOSE(H5Tclose, mtype);
  CS_H5_CLOSE(H5Sclose, space);
  CS_H5_CLOSE(H5Tclose, type);
  CS_H5_CLOSE(H5Aclose, attr);
  return status;
}


/* A dataset whose values live in external raw files (h5py's `external=`): each must be
 * readable, resolved as HDF5 resolves it here (cs__h5_open_dataset: next to the store), or the read had
 * failed later with exit 3 and no word of the file. Local. */
static int check_external(const char *path, hid_t d, const char *gname, const char *name) {
  int status = CS_OK;
  hid_t dcpl = H5Dget_create_plist(d);
  CS_H5(dcpl, "%s: /%s/%s: no creation properties", path, gname, name);
  const int n = H5Pget_external_count(dcpl);
  for (int i = 0; i < n && status == CS_OK; i++) {
    char file[1024] = "", where[2048];
    off_t off;
    hsize_t size;
    if (H5Pget_external(dcpl, (unsigned)i, sizeof file, file, &off, &size) < 0) continue;
    file[sizeof file - 1] = '\0'; /* HDF5 copies with strncpy */
    /* HDF5's rule: the environment's prefix first, else ours (${ORIGIN}: the store's
     * directory); "." or none: the working directory. */
    const char *pre = getenv("HDF5_EXTFILE_PREFIX"), *slash = strrchr(path, '/');
    if (!pre || !*pre) pre = "${ORIGIN}";
    char dir[1024];
    if (!strncmp(pre, "${ORIGIN}", 9))
      snprintf(dir, sizeof dir, "%.*s%s", slash ? (int)(slash - path) : 1, slash ? path : ".",
               pre + 9);
    else
      snprintf(dir, sizeof dir, "%s", pre);
    if (file[0] == '/' || !strcmp(dir, "."))
      snprintf(where, sizeof where, "%s", file);
    else
      snprintf(where, sizeof where, "%s/%s", dir, file);
    if (access(where, R_OK) != 0)
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                            "%s: /%s/%s keeps its values in the external file '%s', which cannot "
                            "be read as '%s' (%s; relative names are taken next to the store, "
                            "or under HDF5_EXTFILE_PREFIX when set)",
                            path, gname, name, file, where, strerror(errno));
  }
  H5Pclose(dcpl);
fail:
  return status;
}

static int describe_column(const char *path, hid_t group, const char *gname, cs_column_t *col) {
  int status = CS_OK;
  hid_t d = -1, type = -1, space = -1;
  d = cs__h5_open_dataset(group, col->name);
  CS_H5(d, "%s: cannot open dataset /%s/%s", path, gname, col->name);
  CS_TRY(check_external(path, d, gname, col->name));
  type = H5Dget_type(d);
  space = H5Dget_space(d);
  CS_H5(type, "%s: /%s/%s: cannot read its type", path, gname, col->name);
  CS_H5(space, "%s: /%s/%s: cannot read its shape", path, gname, col->name);
  col->dtype = cs__h5_dtype_of(type, col->type_desc, sizeof col->type_desc);
  int nd = H5Sget_simple_extent_ndims(space);
  hsize_t dims[H5S_MAX_RANK];
  CS_CHECK(nd == 1, CS_EFORMAT, "%s: /%s/%s has %d dimensions (every column must be 1-D)", path,
           gname, col->name, nd);
  H5Sget_simple_extent_dims(space, dims, NULL);
  col->length = (int64_t)dims[0];
  if (col->dtype != CS_DT_NONE && !cs_dtype_is_float(col->dtype) && !strcmp(gname, "customers"))
    CS_TRY(read_categories(path, d, col));
  else if (cs_dtype_is_float(col->dtype) && !strcmp(gname, "customers") &&
           H5Aexists(d, "categories") > 0) /* codes written as floats (pandas, h5py) */
    cs_log_warn("%s: /customers/%s is %s with a 'categories' attribute: read as numbers, not "
                "as categories (a categorical column holds integer codes; store it as int8, "
                "int16 or int32)", path, col->name, col->type_desc);
fail:
  CS_H5_CLOSE(H5Sclose, space);
  CS_H5_CLOSE(H5Tclose, type);
  CS_H5_CLOSE(H5Dclose, d);
  return status;
}

/* ---- open ----------------------------------------------------------------------------------- */
/* Rank 0 checks that the path exists, is HDF5 and is not being written before everyone opens
 * it through MPI-IO, whose own errors are far less readable and which takes no file lock. */
static int precheck(cs_ctx_t *ctx, const char *path) {
  int status = CS_OK;
  if (ctx->rank == 0) {
    struct stat st;
    if (stat(path, &st) != 0)
      /* a bad path is the user's input (exit 2); a failing disk or file system is not */
      status = cs_error_set(errno == ENOENT || errno == ENOTDIR || errno == ELOOP ||
                                    errno == ENAMETOOLONG || errno == EACCES
                                ? CS_ENOENT
                                : CS_EIO,
                            __FILE__, __LINE__,
                            "cannot open input '%s': %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
      status = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "input '%s' is not a regular file",
                            path);
    else if (access(path, R_OK) != 0) /* not a format problem (it had been reported as one) */
      status = cs_error_set(CS_ENOENT, __FILE__, __LINE__, "cannot open input '%s': %s", path,
                            strerror(errno));
    else if (H5Fis_hdf5(path) <= 0)
      status = cs_error_set(CS_EFORMAT, __FILE__, __LINE__,
                            "input '%s' is not an HDF5 file (expected a customer store, see "
                            "docs/format.md)", path);
    else
      status = cs__h5_check_closed(path);
  }
  return cs_par_agree(ctx, status);
}

/* The datasets of a group as columns, in name order, each described (type, length,
 * categories). *cols is set even on failure (the caller frees it). */
static int list_columns(const char *path, hid_t group, const char *gname, cs_column_t **cols,
                        int *n) {
  int status = CS_OK;
  list_ctx_t lc = {0};
  hsize_t idx = 0;
  herr_t e = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &lc);
  *cols = lc.cols;
  *n = lc.n;
  CS_H5(e, "%s: cannot list /%s", path, gname);
  CS_CHECK(!lc.failed, CS_ENOMEM, "out of memory listing /%s", gname);
  CS_CHECK(!lc.broken[0], CS_EFORMAT, "%s: /%s/%s", path, gname, lc.broken);
  qsort(*cols, (size_t)*n, sizeof **cols, cmp_col);
  for (int i = 0; i < *n; i++) {
    CS_CHECK((*cols)[i].name[0], CS_EFORMAT, "%s: the dataset name /%s/%s... is longer than %d "
             "characters", path, gname, lc.long_name, CS_NAME_MAX - 1);
    CS_TRY(describe_column(path, group, gname, &(*cols)[i]));
  }
fail:
  return status;
}

/* /transactions (optional): a group of 1-D columns of one length M, with integer
 * customer_id and numeric time and amount, indexed by /customers/txn_offset (N+1, integer).
 * Their contents (sorted, offsets consistent, ids matching) are checked where they are read
 * (src/txn). */
static int open_transactions(const char *path, cs_store_t *s) {
  int status = CS_OK;
  store_impl_t *im = s->impl;
  const cs_column_t *off = cs_store_column(s, "txn_offset");
  s->txn_rows = -1;
  if (H5Lexists(im->file, "transactions", H5P_DEFAULT) <= 0) {
    CS_CHECK(!off, CS_EFORMAT, "%s: /customers/txn_offset is present but /transactions is not",
             path);
    return CS_OK;
  }
  H5O_info_t info;
  CS_H5(H5Oget_info_by_name(im->file, "transactions", &info, H5P_DEFAULT),
        "%s: cannot inspect /transactions", path);
  CS_CHECK(info.type == H5O_TYPE_GROUP, CS_EFORMAT, "%s: /transactions must be a group", path);
  CS_CHECK(off, CS_EFORMAT, "%s: /transactions is present but /customers/txn_offset (N+1 "
           "row offsets) is not", path);
  CS_CHECK(off->dtype != CS_DT_NONE && !cs_dtype_is_float(off->dtype), CS_EFORMAT,
           "%s: /customers/txn_offset must be integer, found %s", path, off->type_desc);
  im->tgroup = H5Gopen2(im->file, "transactions", H5P_DEFAULT);
  CS_H5(im->tgroup, "%s: cannot open /transactions", path);
  CS_TRY(list_columns(path, im->tgroup, "transactions", &s->txn_columns, &s->n_txn_columns));
  static const char *const need[] = {"customer_id", "time", "amount"};
  for (int k = 0; k < 3; k++) {
    const cs_column_t *c = cs_store_txn_column(s, need[k]);
    CS_CHECK(c, CS_EFORMAT, "%s: /transactions/%s is missing (customer_id, time and amount are "
             "required)", path, need[k]);
    CS_CHECK(c->dtype != CS_DT_NONE && (k > 0 || !cs_dtype_is_float(c->dtype)), CS_EFORMAT,
             "%s: /transactions/%s must be %s, found %s", path, need[k],
             k ? "numeric" : "integer", c->type_desc);
  }
  s->txn_rows = cs_store_txn_column(s, "customer_id")->length;
  for (int i = 0; i < s->n_txn_columns; i++)
    CS_CHECK(s->txn_columns[i].length == s->txn_rows, CS_EFORMAT,
             "%s: /transactions/%s has %lld rows but /transactions/customer_id has %lld", path,
             s->txn_columns[i].name, (long long)s->txn_columns[i].length,
             (long long)s->txn_rows);
fail:
  return status;
}

static int open_local(cs_ctx_t *ctx, const char *path, cs_store_t *s) {
  int status = CS_OK;
  store_impl_t *im = s->impl;
  hid_t fapl = -1, attr = -1;
  fapl = cs__h5_fapl(ctx);
  CS_H5(fapl, "cannot set up MPI-IO access for '%s'", path);
  im->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (im->file < 0) { /* the file itself (truncated, damaged: exit 2) or the MPI-IO layer (3)? */
    hid_t plain = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (plain >= 0) H5Fclose(plain);
    CS_CHECK(plain >= 0, CS_EFORMAT, "%s: a damaged or truncated HDF5 file (HDF5 cannot open "
             "it; copied or written completely?)", path);
  }
  CS_H5(im->file, "cannot open '%s' as HDF5 through MPI-IO", path);
  CS_CHECK(H5Lexists(im->file, "customers", H5P_DEFAULT) > 0, CS_EFORMAT,
           "%s: no group /customers (not a custseg customer store, see docs/format.md)", path);
  im->group = H5Gopen2(im->file, "customers", H5P_DEFAULT);
  CS_CHECK(im->group >= 0, CS_EFORMAT, "%s: cannot open /customers as a group (not a group, or "
           "its header unreadable: a damaged file or a read error; see docs/format.md)", path);

  CS_CHECK(H5Aexists(im->group, "schema_version") > 0, CS_EFORMAT,
           "%s: /customers has no attribute schema_version (set it to %d, see docs/format.md)",
           path, CS_SCHEMA_VERSION);
  attr = H5Aopen(im->group, "schema_version", H5P_DEFAULT);
  int64_t version = -1;
  CS_H5(attr, "%s: cannot open /customers@schema_version", path);
  {
    hid_t at = H5Aget_type(attr);
    H5T_class_t cls = H5Tget_class(at);
    H5Tclose(at);
    CS_CHECK(cls == H5T_INTEGER, CS_EFORMAT, "%s: /customers@schema_version must be an integer",
             path);
    hid_t as = H5Aget_space(attr); /* one value: an array would be read past `version` */
    hssize_t npts = as >= 0 ? H5Sget_simple_extent_npoints(as) : -1;
    if (as >= 0) H5Sclose(as);
    CS_CHECK(npts == 1, CS_EFORMAT,
             "%s: /customers@schema_version must be one integer, found %lld values", path,
             (long long)npts);
  }
  {
    /* An unsigned value beyond int64 is read as it is, not clipped (it was named as 2^63 - 1) */
    hid_t at = H5Aget_type(attr);
    const int is_unsigned = at >= 0 && H5Tget_sign(at) == H5T_SGN_NONE;
    if (at >= 0) H5Tclose(at);
    if (is_unsigned) {
      uint64_t u = 0;
      CS_H5(H5Aread(attr, H5T_NATIVE_UINT64, &u), "%s: cannot read /customers@schema_version",
            path);
      CS_CHECK(u == CS_SCHEMA_VERSION, CS_EFORMAT,
               "%s: /customers@schema_version is %llu; this build reads version %d", path,
               (unsigned long long)u, CS_SCHEMA_VERSION);
      version = (int64_t)u;
    } else {
      CS_H5(H5Aread(attr, H5T_NATIVE_INT64, &version),
            "%s: cannot read /customers@schema_version", path);
    }
  }
  CS_CHECK(version == CS_SCHEMA_VERSION, CS_EFORMAT,
           "%s: /customers@schema_version is %lld; this build reads version %d", path,
           (long long)version, CS_SCHEMA_VERSION);
  s->schema_version = (int)version;

  CS_TRY(list_columns(path, im->group, "customers", &s->columns, &s->n_columns));

  const cs_column_t *id = cs_store_column(s, "customer_id");
  CS_CHECK(id, CS_EFORMAT, "%s: /customers/customer_id is missing (it is required)", path);
  CS_CHECK(id->dtype != CS_DT_NONE && !cs_dtype_is_float(id->dtype), CS_EFORMAT,
           "%s: /customers/customer_id must be integer, found %s", path, id->type_desc);
  s->n = id->length;
  /* customer_id itself the odd one out: every other column agrees on another length. */
  int64_t other = -1;
  int agree = 0;
  for (int i = 0; i < s->n_columns; i++) {
    const cs_column_t *c = &s->columns[i];
    if (c == id) continue;
    int64_t len = strcmp(c->name, "txn_offset") == 0 ? c->length - 1 : c->length;
    agree = other < 0 || len == other ? agree + 1 : -s->n_columns;
    other = len;
  }
  CS_CHECK(!(agree >= 2 && other != s->n), CS_EFORMAT,
           "%s: /customers/customer_id has %lld rows but every other column of /customers has "
           "%lld", path, (long long)s->n, (long long)other);
  for (int i = 0; i < s->n_columns; i++) {
    const cs_column_t *c = &s->columns[i];
    int64_t want = strcmp(c->name, "txn_offset") == 0 ? s->n + 1 : s->n;
    CS_CHECK(c->length == want, CS_EFORMAT,
             "%s: /customers/%s has %lld rows but /customers/customer_id has %lld%s", path,
             c->name, (long long)c->length, (long long)s->n,
             want != s->n ? " (txn_offset needs N+1)" : "");
  }
  CS_TRY(open_transactions(path, s));
  im->dsets = malloc((size_t)(s->n_columns ? s->n_columns : 1) * sizeof *im->dsets);
  im->tdsets = malloc((size_t)(s->n_txn_columns ? s->n_txn_columns : 1) * sizeof *im->tdsets);
  CS_CHECK(im->dsets && im->tdsets, CS_ENOMEM, "out of memory");
  for (int i = 0; i < s->n_columns; i++) im->dsets[i] = -1;
  for (int i = 0; i < s->n_txn_columns; i++) im->tdsets[i] = -1;
fail:
  CS_H5_CLOSE(H5Aclose, attr);
  CS_H5_CLOSE(H5Pclose, fapl);
  return status;
}

int cs_store_open(cs_ctx_t *ctx, const char *path, cs_store_t **out) {
  int status = CS_OK;
  cs_store_t *s = NULL;
  *out = NULL;
  cs__h5_quiet();
  CS_TRY(precheck(ctx, path));
  s = calloc(1, sizeof *s);
  store_impl_t *im = calloc(1, sizeof *im);
  if (!s || !im) {
    free(im);
    status = cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  } else {
    s->impl = im;
    im->ctx = ctx;
    im->file = im->group = im->tgroup = im->sfile = -1;
    im->fd = -1;
    snprintf(s->path, sizeof s->path, "%s", path);
    cs__file_ident_t before;
    int got = cs__file_ident(path, &before) == 0;
    /* The rows are read from a descriptor opened before the MPI-IO open and checked to be
     * the same file after it (rows.c). */
    int rows = cs__rows_open(path, &im->fd);
    status = open_local(ctx, path, s); /* collective: on every rank, whatever rows says */
    if (status == CS_OK && rows == CS_OK) rows = cs__rows_check(path, im->fd);
    if (status == CS_OK) status = rows;
    im->ident.valid = got && cs__file_ident(path, &im->ident) == 0 &&
                      cs__file_ident_same(&before, &im->ident);
  }
  CS_TRY(cs_par_agree(ctx, status));
  *out = s;
  return CS_OK;
fail:
  cs_store_close(s);
  return status;
}

void cs_store_close(cs_store_t *s) {
  if (!s) return;
  store_impl_t *im = s->impl;
  if (im) {
    for (int i = 0; im->dsets && i < s->n_columns; i++) CS_H5_CLOSE(H5Dclose, im->dsets[i]);
    free(im->dsets);
    for (int i = 0; im->tdsets && i < s->n_txn_columns; i++) CS_H5_CLOSE(H5Dclose, im->tdsets[i]);
    free(im->tdsets);
    CS_H5_CLOSE(H5Gclose, im->tgroup);
    CS_H5_CLOSE(H5Gclose, im->group);
    CS_H5_CLOSE(H5Fclose, im->file);
    CS_H5_CLOSE(H5Fclose, im->sfile);
    if (im->fd >= 0) close(im->fd);
    free(im);
  }
  for (int i = 0; i < s->n_columns; i++) {
    for (int j = 0; j < s->columns[i].n_categories; j++) free(s->columns[i].categories[j]);
    free(s->columns[i].categories);
    free(s->columns[i].local);
  }
  free(s->columns);
  free(s->txn_columns);
  free(s);
}

static const cs_column_t *find_column(const cs_column_t *cols, int n, const char *name) {
  cs_column_t key;
  snprintf(key.name, sizeof key.name, "%s", name);
  return n ? bsearch(&key, cols, (size_t)n, sizeof *cols, cmp_col) : NULL;
}

const cs_column_t *cs_store_column(const cs_store_t *s, const char *name) {
  return find_column(s->columns, s->n_columns, name);
}

const cs_column_t *cs_store_txn_column(const cs_store_t *s, const char *name) {
  return find_column(s->txn_columns, s->n_txn_columns, name);
}

/* ---- reading ------------------------------------------------------------------------------- */
int cs_store_add_computed(cs_store_t *s, const char *name, int64_t offset, int64_t count,
                          const double *values, const char *const *categories,
                          int n_categories) {
  store_impl_t *im = s->impl;
  if (cs_store_column(s, name))
    return cs_error_set(CS_EDATA, __FILE__, __LINE__,
                        "%s: /customers/%s exists; the computed feature of that name would hide "
                        "it", s->path, name);
  if (strlen(name) >= CS_NAME_MAX)
    return cs_error_set(CS_EINTERNAL, __FILE__, __LINE__, "computed column name too long");
  cs_column_t *cols = realloc(s->columns, (size_t)(s->n_columns + 1) * sizeof *cols);
  hid_t *ds = realloc(im->dsets, (size_t)(s->n_columns + 1) * sizeof *ds);
  double *v = malloc((size_t)(count ? count : 1) * sizeof *v);
  if (cols) s->columns = cols;
  if (ds) im->dsets = ds;
  if (!cols || !ds || !v) {
    free(v);
    return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  if (count) memcpy(v, values, (size_t)count * sizeof *v); /* 0: a schema-only column */
  /* Positions change with the new name: close the lazily opened datasets. */
  for (int i = 0; i < s->n_columns; i++) {
    CS_H5_CLOSE(H5Dclose, im->dsets[i]);
    im->dsets[i] = -1;
  }
  cs_column_t *c = &s->columns[s->n_columns++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->dtype = n_categories > 0 ? CS_DT_I64 : CS_DT_F64;
  snprintf(c->type_desc, sizeof c->type_desc, "%s (computed)",
           n_categories > 0 ? "int64" : "float64");
  if (n_categories > 0) {
    c->categories = calloc((size_t)n_categories, sizeof *c->categories);
    for (int k = 0; c->categories && k < n_categories; k++) {
      c->categories[k] = strdup(categories[k]);
      if (c->categories[k]) c->n_categories = k + 1;
    }
    if (c->n_categories != n_categories)
      return cs_error_set(CS_ENOMEM, __FILE__, __LINE__, "out of memory");
  }
  c->length = s->n;
  c->local = v;
  c->local_offset = offset;
  c->local_count = count;
  im->dsets[s->n_columns - 1] = -1;
  qsort(s->columns, (size_t)s->n_columns, sizeof *s->columns, cmp_col);
  return CS_OK;
}
