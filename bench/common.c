/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the benchmarks (see common.h): timing with medians,
 * paired timing in rounds (a subject and its limit alternated, the median
 * of the per-round ratios), the limits measured in the same run, engine
 * setup, memory figures.
 *
 * Intervals are [start, start + length).  Single-threaded, no locking.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, unsigned int n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_RUNS 31

double bench_ns_iters(bench_fn fn, void *arg, uint64_t iters,
		      unsigned int runs)
{
	double v[MAX_RUNS];
	unsigned int r;

	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	if (!iters)
		iters = 1;
	for (r = 0; r != runs; r++) {
		uint64_t t0 = now_ns();

		fn(arg, iters);
		v[r] = (double)(now_ns() - t0) / (double)iters;
	}
	return median(v, runs);
}

/* Warm-up and calibration in one: grow the count until a run is long
 * enough, then scale it to @run_ms.  @prep (may be NULL) before each run,
 * @post after it, untimed. */
static uint64_t calibrate(bench_fn fn, void *arg, void (*prep)(void *),
			  void (*post)(void *), double run_ms)
{
	double run_ns = run_ms * 1e6;
	uint64_t iters = 1, t;

	for (;;) {
		uint64_t t0;

		if (prep)
			prep(arg);
		t0 = now_ns();
		fn(arg, iters);
		t = now_ns() - t0;
		if (post)
			post(arg);
		if (t >= run_ns / 4 || iters >= (1ULL << 40))
			break;
		iters *= t < run_ns / 256 ? 16 : 2;
	}
	if (!t)
		t = 1;
	iters = (uint64_t)((double)iters * run_ns / (double)t);
	return iters ? iters : 1;
}

double bench_ns(bench_fn fn, void *arg, double run_ms, unsigned int runs)
{
	return bench_ns_iters(fn, arg, calibrate(fn, arg, NULL, NULL, run_ms),
			      runs);
}

/* ---- paired timing ---- */

double quartiles(double *v, unsigned int n, double *q1, double *q3)
{
	double m = median(v, n); /* sorts */

	/* The medians of the lower and the upper half (the middle value,
	 * if any, in neither). */
	if (q1)
		*q1 = n < 2 ? m : median(v, n / 2);
	if (q3)
		*q3 = n < 2 ? m : median(v + (n + 1) / 2, n / 2);
	return m;
}

/* One timed run of @s: prep, the body, post; ns per iteration (op). */
static double side_run(struct bench_side *s)
{
	uint64_t t0, t;

	if (s->prep)
		s->prep(s->arg);
	t0 = now_ns();
	s->fn(s->arg, s->iters);
	t = now_ns() - t0;
	if (s->post)
		s->post(s->arg);
	if (s->ops)
		return *s->ops ? (double)t / (double)*s->ops : 0;
	return (double)t / (double)s->iters;
}

void bench_rounds(struct bench_side *s, unsigned int n, double run_ms,
		  unsigned int rounds, bool same_iters)
{
	double inv = 0;
	unsigned int r, k, cal = 0;
	bool calibrated[16] = { false };

	if (rounds > BENCH_MAX_ROUNDS)
		rounds = BENCH_MAX_ROUNDS;
	if (n > 16)
		die("bench_rounds: too many sides", -22);
	/* Warm-ups: calibrations, or one untimed run of a fixed count. */
	for (k = 0; k != n; k++) {
		if (s[k].iters) {
			(void)side_run(&s[k]);
			continue;
		}
		s[k].iters = calibrate(s[k].fn, s[k].arg, s[k].prep, s[k].post,
				       run_ms);
		calibrated[k] = true;
		inv += 1.0 / (double)s[k].iters;
		cal++;
	}
	if (same_iters && cal > 1) {
		uint64_t it = (uint64_t)((double)cal / inv);

		for (k = 0; k != n; k++)
			if (calibrated[k])
				s[k].iters = it ? it : 1;
	}
	for (r = 0; r != rounds; r++)
		for (k = 0; k != n; k++) {
			unsigned int i = r % 2 ? n - 1 - k : k;

			if (s[i].warm)
				(void)side_run(&s[i]);
			s[i].ns[r] = side_run(&s[i]);
		}
	for (k = 0; k != n; k++) {
		double v[BENCH_MAX_ROUNDS];

		memcpy(v, s[k].ns, rounds * sizeof(*v));
		s[k].med = median(v, rounds);
	}
	/* BENCH_ROUNDS_LOG=1: each round's figures on stderr, a line per
	 * call, the sides of a round separated by '/'. */
	if (getenv("BENCH_ROUNDS_LOG")) {
		for (r = 0; r != rounds; r++)
			for (k = 0; k != n; k++)
				fprintf(stderr, "%.1f%s", s[k].ns[r],
					k + 1 != n ? "/" :
					r + 1 != rounds ? " " : "\n");
	}
	/* A calibrated count is this call's: the side can be timed again. */
	for (k = 0; k != n; k++)
		if (calibrated[k])
			s[k].iters = 0;
}

double bench_round_ratio(const struct bench_side *s, unsigned int a,
			 unsigned int b, unsigned int rounds, double *q1,
			 double *q3)
{
	double v[BENCH_MAX_ROUNDS];
	unsigned int r;

	if (rounds > BENCH_MAX_ROUNDS)
		rounds = BENCH_MAX_ROUNDS;
	for (r = 0; r != rounds; r++)
		v[r] = s[b].ns[r] > 0 ? s[a].ns[r] / s[b].ns[r] : 0;
	return quartiles(v, rounds, q1, q3);
}

double bench_ratio(bench_fn fa, void *aa, bench_fn fb, void *ab,
		   double run_ms, unsigned int rounds, double *a_ns,
		   double *b_ns)
{
	struct bench_side s[2] = { { .fn = fa, .arg = aa },
				   { .fn = fb, .arg = ab } };

	if (rounds > BENCH_MAX_ROUNDS)
		rounds = BENCH_MAX_ROUNDS;
	bench_rounds(s, 2, run_ms, rounds, true);
	if (a_ns)
		*a_ns = s[0].med;
	if (b_ns)
		*b_ns = s[1].med;
	return bench_round_ratio(s, 0, 1, rounds, NULL, NULL);
}

/* ---- limits ---- */

double limit_memcpy_gbps(size_t bytes)
{
	char *src = malloc(bytes), *dst = malloc(bytes);
	double v[7];
	unsigned int r;

	if (!src || !dst)
		die("malloc", -ENOMEM);
	memset(src, 1, bytes);
	memset(dst, 2, bytes);
	for (r = 0; r != 8; r++) {
		uint64_t t0 = now_ns();

		memcpy(dst, src, bytes);
		escape(dst);
		if (r) /* the first run is the warm-up */
			v[r - 1] = (double)bytes / (double)(now_ns() - t0);
	}
	free(src);
	free(dst);
	return median(v, 7);
}

struct memcpy_arg {
	char *src, *dst;
	size_t n;
};

void memcpy_hot_body(void *p, uint64_t iters)
{
	struct memcpy_arg *a = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		memcpy(a->dst, a->src, (size_t)opaque(a->n));
		escape(a->dst);
	}
}

void memcpy_hot_warm(void *p)
{
	memcpy_hot_body(p, 1);
}

void *memcpy_hot_open(size_t bytes)
{
	struct memcpy_arg *a = malloc(sizeof(*a));

	if (!a)
		die("malloc", -ENOMEM);
	a->src = malloc(bytes);
	a->dst = malloc(bytes);
	a->n = bytes;
	if (!a->src || !a->dst)
		die("malloc", -ENOMEM);
	memset(a->src, 1, bytes);
	memset(a->dst, 2, bytes);
	return a;
}

void memcpy_hot_close(void *p)
{
	struct memcpy_arg *a = p;

	free(a->src);
	free(a->dst);
	free(a);
}

double limit_memcpy_ns(size_t bytes)
{
	void *a = memcpy_hot_open(bytes);
	double ns = bench_ns(memcpy_hot_body, a, 20, 7);

	memcpy_hot_close(a);
	return ns;
}

double limit_page_fault_ns(void)
{
	const size_t len = 32 * MiB;
	double v[5];
	unsigned int r;

	for (r = 0; r != 6; r++) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t t0;
		size_t off;

		if (p == MAP_FAILED)
			die("mmap", -errno);
		madvise(p, len, MADV_NOHUGEPAGE);
		t0 = now_ns();
		for (off = 0; off < len; off += PAGE)
			p[off] = 1;
		escape(p);
		if (r)
			v[r - 1] = (double)(now_ns() - t0) / (double)(len / PAGE);
		munmap(p, len);
	}
	return median(v, 5);
}

static void getppid_body(void *arg, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++)
		escape((void *)(uintptr_t)getppid());
}

double limit_syscall_ns(void)
{
	return bench_ns(getppid_body, NULL, 20, 7);
}

static void clock_body(void *arg, uint64_t iters)
{
	uint64_t i, s = 0;

	for (i = 0; i != iters; i++)
		s += now_ns();
	escape((void *)(uintptr_t)s);
}

double limit_clock_ns(void)
{
	return bench_ns(clock_body, NULL, 10, 7);
}

#define RTT_TRIPS 20000u

/* The two words on lines of their own: one written by each thread. */
struct rtt {
	_Alignas(64) uint32_t ping;
	_Alignas(64) uint32_t pong;
};

static inline void rtt_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *rtt_peer(void *p)
{
	struct rtt *r = p;
	uint32_t i;

	for (i = 1; i <= RTT_TRIPS; i++) {
		while (__atomic_load_n(&r->ping, __ATOMIC_ACQUIRE) != i)
			rtt_pause();
		__atomic_store_n(&r->pong, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

double limit_line_round_trip_ns(void)
{
	double v[5];
	unsigned int k;

	for (k = 0; k != 5; k++) {
		struct rtt r = { 0, 0 };
		pthread_t t;
		uint64_t t0;
		uint32_t i;

		if (pthread_create(&t, NULL, rtt_peer, &r))
			die("pthread_create", -errno);
		t0 = now_ns();
		for (i = 1; i <= RTT_TRIPS; i++) {
			__atomic_store_n(&r.ping, i, __ATOMIC_RELEASE);
			while (__atomic_load_n(&r.pong, __ATOMIC_ACQUIRE) != i)
				rtt_pause();
		}
		v[k] = (double)(now_ns() - t0) / RTT_TRIPS;
		pthread_join(t, NULL);
	}
	return median(v, 5);
}

/*
 * Four 4 KiB tables chained root -> ... -> leaf table, and a data page:
 * the least a software IOMMU touches for one map + DMA + unmap.
 */
struct walk_arg {
	uint64_t *t[4]; /* t[3] is the root, t[0] the leaf table */
	char *page;
	char dst[4096];
	uint64_t iova;
	size_t copy;
};

void pte_walk_copy_body(void *p, uint64_t iters)
{
	struct walk_arg *a = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		uint64_t iova = opaque(a->iova), e, *t;
		unsigned int l;

		/* The PTE write of the map. */
		a->t[0][(iova >> 12) & 511] = (uintptr_t)a->page | 3;
		__asm__ volatile("" ::: "memory");
		/* The DMA's walk, from the root down. */
		t = a->t[3];
		for (l = 3; l; l--) {
			e = t[(iova >> (12 + 9 * l)) & 511];
			t = (uint64_t *)(uintptr_t)(e & ~4095ULL);
		}
		e = t[(iova >> 12) & 511];
		memcpy(a->dst, (char *)(uintptr_t)(e & ~4095ULL) +
				       (iova & 4095), (size_t)opaque(a->copy));
		escape(a->dst);
		/* The PTE clear of the unmap. */
		a->t[0][(iova >> 12) & 511] = 0;
		__asm__ volatile("" ::: "memory");
	}
}

void *pte_walk_copy_open(size_t copy)
{
	struct walk_arg *a = aligned_alloc(64, sizeof(*a));
	unsigned int l;

	if (!a)
		die("malloc", -ENOMEM);
	memset(a, 0, sizeof(*a));
	a->iova = 1ULL << 32;
	a->copy = copy;
	a->page = aligned_alloc(PAGE, PAGE);
	for (l = 0; l != 4; l++) {
		a->t[l] = aligned_alloc(PAGE, PAGE);
		if (!a->t[l] || !a->page)
			die("malloc", -ENOMEM);
		memset(a->t[l], 0, PAGE);
	}
	memset(a->page, 7, PAGE);
	for (l = 3; l; l--)
		a->t[l][(a->iova >> (12 + 9 * l)) & 511] =
			(uintptr_t)a->t[l - 1] | 1;
	return a;
}

void pte_walk_copy_close(void *p)
{
	struct walk_arg *a = p;
	unsigned int l;

	for (l = 0; l != 4; l++)
		free(a->t[l]);
	free(a->page);
	free(a);
}

double limit_pte_walk_copy_ns(size_t copy)
{
	void *a = pte_walk_copy_open(copy);
	double ns = bench_ns(pte_walk_copy_body, a, 20, 7);

	pte_walk_copy_close(a);
	return ns;
}

/* ---- memory ---- */

void *map_at_skew(size_t len, size_t align, size_t skew, int flags)
{
	size_t res_len = len + align + skew;
	char *res, *addr, *p;

	res = mmap(NULL, res_len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return NULL;
	addr = (char *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1)) +
	       skew;
	p = mmap(addr, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | flags, -1, 0);
	if (p == MAP_FAILED) {
		munmap(res, res_len);
		return NULL;
	}
	/* Give back the reservation around it. */
	if (addr > res)
		munmap(res, (size_t)(addr - res));
	if (addr + len < res + res_len)
		munmap(addr + len, (size_t)(res + res_len - (addr + len)));
	return p;
}

void unmap_at_skew(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

void populate(void *p, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += PAGE)
		((volatile char *)p)[off] = 1;
}

static uint64_t status_kb(const char *path, const char *field)
{
	size_t flen = strlen(field);
	char line[256];
	uint64_t v = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			v = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

uint64_t rss_bytes(void)
{
	return status_kb("/proc/self/status", "VmRSS") * 1024;
}

uint64_t thp_bytes(void)
{
	return status_kb("/proc/self/smaps_rollup", "AnonHugePages") * 1024;
}

long meminfo_kb(const char *field)
{
	uint64_t v = status_kb("/proc/meminfo", field);

	return (long)v;
}

uint64_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

long read_long_file(const char *path)
{
	FILE *f = fopen(path, "r");
	long v;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int write_long_file(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -errno;
	rc = fprintf(f, "%ld\n", v) < 0 ? -EIO : 0;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

/* ---- engine setup ---- */

void bench_cred(struct ufd_cred *cred)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	/* A bench measures speed, not accounting: no cap on what it pins. */
	setrlimit(RLIMIT_MEMLOCK, &rl);
	ufd_cred_self(cred);
	cred->memlock_limit = UINT64_MAX;
}

void env_open(struct bench_env *env, uint64_t pgsize_bitmap, bool dirty)
{
	struct ufd_device_info info = {
		.aperture_start = 0,
		.aperture_last = (1ULL << 48) - 1,
		.pgsize_bitmap = pgsize_bitmap,
		.dirty_tracking = dirty,
	};
	struct ufd_cred cred;
	uint32_t pt;

	memset(env, 0, sizeof(*env));
	bench_cred(&cred);
	env->eng = ufd_engine_new();
	env->src = ufd_source_local();
	if (!env->eng || !env->src)
		die("ufd_engine_new/ufd_source_local", -ENOMEM);
	CHECK(ufd_ctx_open(env->eng, &cred, &env->ctx));
	CHECK(ufd_ioas_alloc(env->ctx, &env->ioas_id));
	CHECK(ufd_device_bind(env->ctx, &info, &env->dev_id));
	pt = env->ioas_id;
	if (dirty)
		CHECK(ufd_hwpt_alloc_paging(env->ctx, env->dev_id,
					    env->ioas_id,
					    UFD_HWPT_DIRTY_TRACKING, &pt));
	CHECK(ufd_device_attach(env->ctx, env->dev_id, &pt));
	env->hwpt_id = pt;
	CHECK(ufd_dma_open(env->ctx, env->dev_id, &env->dma));
}

void env_close(struct bench_env *env)
{
	ufd_dma_close(env->dma);
	CHECK(ufd_device_unbind(env->ctx, env->dev_id));
	/* An explicit HWPT outlives its devices; an automatic one is gone. */
	if (ufd_obj_kind(env->ctx, env->hwpt_id) == UFD_KIND_HWPT_PAGING)
		CHECK(ufd_destroy(env->ctx, env->hwpt_id));
	ufd_ctx_close(env->ctx);
	ufd_source_put(env->src);
	ufd_engine_free(env->eng);
	memset(env, 0, sizeof(*env));
}

void die(const char *what, int rc)
{
	fflush(stdout);
	fprintf(stderr, "BROKEN: %s: %s (%d)\n", what, strerror(-rc), rc);
	exit(1);
}

/* ---- output ---- */

void header(const char *title)
{
	printf("\n== %s ==\n", title);
	fflush(stdout);
}

void summary(const char *fmt, ...)
{
	va_list ap;

	fputs("= ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void target(const char *name, double value, bool at_least, double goal)
{
	bool met = at_least ? value >= goal : value <= goal;

	summary("target %s: %.2fx (goal %s %.2gx) %s", name, value,
		at_least ? ">=" : "<=", goal, met ? "met" : "missed");
}

uint64_t rnd(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}
