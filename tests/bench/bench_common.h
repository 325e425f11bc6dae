/*
 * bench_common.h: helpers shared by p11bench.c and floor.c.
 *
 * Latency is recorded per operation with clock_gettime(CLOCK_MONOTONIC) into
 * a log-linear histogram (128 sub-buckets per power of two, so a reported
 * percentile is within 0.8% of the true sample).  A histogram has a fixed
 * size, so threads and forked processes can each fill their own in shared
 * memory and the parent merges them without collecting every sample.
 *
 * Everything here is static: each benchmark program is one translation unit.
 */
#ifndef GOP11_BENCH_COMMON_H
#define GOP11_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_FN static __attribute__((unused))

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Values up to 2^42 ns (about 73 minutes) fit; larger ones are clamped. */
#define HIST_BUCKETS (HIST_SUB + 36 * HIST_SUB)

struct hist {
	uint64_t n;
	uint64_t b[HIST_BUCKETS];
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	unsigned idx = HIST_SUB + shift * HIST_SUB +
		       (unsigned)((v >> shift) - HIST_SUB);
	if (idx >= HIST_BUCKETS)
		idx = HIST_BUCKETS - 1;
	return idx;
}

/* Midpoint of the bucket, in ns. */
static inline double hist_value(unsigned idx)
{
	if (idx < HIST_SUB)
		return (double)idx;
	unsigned shift = (idx - HIST_SUB) / HIST_SUB;
	uint64_t sub = HIST_SUB + (idx - HIST_SUB) % HIST_SUB;
	return (double)(sub << shift) + (double)(1ull << shift) / 2.0;
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
}

BENCH_FN void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->n += src->n;
}

/* Percentile q in [0,1], in microseconds; -1 when empty. */
BENCH_FN double hist_pct_us(const struct hist *h, double q)
{
	if (h->n == 0)
		return -1;
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hist_value(i) / 1000.0;
	}
	return hist_value(HIST_BUCKETS - 1) / 1000.0;
}

/* One result row: target,op,threads,procs,ops_per_s,p50_us,p99_us,errors,
 * first_error_rv,ctxsw_per_op (the host's context switches per operation
 * in the measured window; empty when not measured, ctxsw < 0). */
BENCH_FN void print_row(FILE *out, const char *target, const char *op,
		      int threads, int procs, double ops_per_s,
		      const struct hist *h, uint64_t errors, const char *first_err,
		      double ctxsw)
{
	char p50[32] = "", p99[32] = "", cs[32] = "";
	if (h && h->n > 0) {
		snprintf(p50, sizeof p50, "%.2f", hist_pct_us(h, 0.50));
		snprintf(p99, sizeof p99, "%.2f", hist_pct_us(h, 0.99));
	}
	if (ctxsw >= 0)
		snprintf(cs, sizeof cs, "%.2f", ctxsw);
	fprintf(out, "%s,%s,%d,%d,%.1f,%s,%s,%llu,%s,%s\n", target, op, threads,
		procs, ops_per_s, p50, p99, (unsigned long long)errors,
		first_err ? first_err : "", cs);
	fflush(out);
}

BENCH_FN const char CSV_HEADER[] =
	"target,op,threads,procs,ops_per_s,p50_us,p99_us,errors,first_error_rv,ctxsw_per_op";

/* Parses "1,2,4,8" into out[]; returns the count, or -1 on a bad list. */
BENCH_FN int parse_int_list(const char *s, int *out, int max)
{
	int n = 0;
	while (*s) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno || end == s || v <= 0 || v > 100000 || n >= max)
			return -1;
		out[n++] = (int)v;
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return -1;
		s = end;
	}
	return n;
}

BENCH_FN void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

#endif
