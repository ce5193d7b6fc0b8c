/* txn/rfm.c: the RFM summary per customer from its sorted transactions.
 *
 * A purchase is a purchase day (floor(time)) when same-day merging is on, its amount the sum
 * of that day's rows (the papers' and lifetimes' convention); otherwise every row is one.
 * The first purchase starts the customer's clock and its amount is not part of monetary. */
#include "custseg/txn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs_rfm_free(cs_rfm_t *r) {
  cs_free(r->x);
  cs_free(r->recency);
  cs_free(r->age);
  cs_free(r->monetary);
  cs_free(r->holdout);
  cs_free(r->ipt_mean);
  cs_free(r->ipt_sd);
  memset(r, 0, sizeof *r);
}

static void summarize(const double *time, const double *amount, int64_t n,
                      const cs_rfm_opts_t *o, cs_rfm_t *r, int64_t i) {
  r->x[i] = -1;
  r->recency[i] = r->age[i] = r->holdout[i] = 0;
  r->monetary[i] = r->ipt_mean[i] = r->ipt_sd[i] = NAN;
  int64_t first = 0, last = 0, x = -1, hold = 0;
  double spend = 0, gap2 = 0;
  for (int64_t k = 0; k < n;) {
    int64_t day = (int64_t)floor(time[k]);
    double amt = amount[k++];
    if (o->merge_same_day)
      while (k < n && (int64_t)floor(time[k]) == day) amt += amount[k++];
    if (day <= o->cal_end) {
      if (x < 0) {
        first = last = day;
      } else {
        spend += amt;
        gap2 += (double)(day - last) * (double)(day - last);
        last = day;
      }
      x++;
    } else if (day <= o->holdout_end) {
      hold++;
    }
  }
  r->holdout[i] = hold;
  if (x < 0) return;
  r->x[i] = x;
  r->recency[i] = last - first;
  r->age[i] = o->cal_end - first;
  r->monetary[i] = x ? spend / (double)x : 0.0;
  if (x > 0) {
    double mean = (double)(last - first) / (double)x;
    r->ipt_mean[i] = mean;
    r->ipt_sd[i] = sqrt(fmax(gap2 / (double)x - mean * mean, 0.0));
  }
}

int cs_rfm_compute(const cs_txn_t *t, const cs_rfm_opts_t *o, cs_rfm_t *r) {
  int64_t n = t->n_cust, m = n ? n : 1;
  memset(r, 0, sizeof *r);
  r->n = n;
  r->x = cs_alloc(cs_bytes(m, sizeof *r->x), "RFM");
  r->recency = cs_alloc(cs_bytes(m, sizeof *r->recency), "RFM");
  r->age = cs_alloc(cs_bytes(m, sizeof *r->age), "RFM");
  r->monetary = cs_alloc(cs_bytes(m, sizeof *r->monetary), "RFM");
  r->holdout = cs_alloc(cs_bytes(m, sizeof *r->holdout), "RFM");
  r->ipt_mean = cs_alloc(cs_bytes(m, sizeof *r->ipt_mean), "RFM");
  r->ipt_sd = cs_alloc(cs_bytes(m, sizeof *r->ipt_sd), "RFM");
  if (!(r->x && r->recency && r->age && r->monetary && r->holdout && r->ipt_mean && r->ipt_sd)) {
    cs_rfm_free(r);
    return CS_ENOMEM;
  }
#pragma omp parallel for schedule(dynamic, 4096)
  for (int64_t i = 0; i < n; i++)
    summarize(t->time + t->start[i], t->amount + t->start[i], t->start[i + 1] - t->start[i], o,
              r, i);
  return CS_OK;
}
