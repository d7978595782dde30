/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the benchmarks: timing, medians, the limits every
 * figure is divided by, engine setup, memory figures and the summary lines.
 *
 * Model: every figure a bench prints is a time (or a size) measured in this
 * run, next to a limit measured in the same run on the same machine (memcpy
 * bandwidth, a page fault, a PTE write plus a walk, a plain syscall), and
 * the ratio of the two.  Nothing here fails on a threshold: a bench exits
 * non-zero only when something is broken (an engine call fails, a check of
 * the results disagrees).
 *
 * Timing: CLOCK_MONOTONIC; each figure is the median of several runs after
 * a warm-up run that also calibrates the iteration count.  Nothing is
 * pinned to a CPU.
 *
 * Paired timing (bench_rounds, bench_ratio): where a figure is a ratio of
 * two things timed in the same process (a subject and its limit), the two
 * are not timed one after the other (all runs of one, then all runs of
 * the other), which puts any drift of the machine between them into the
 * ratio.  They are timed in rounds instead: a round runs each side once,
 * in the array's order on even rounds and in the reverse order on odd
 * ones (A B, B A, A B, ...: sides next to each other in the array are
 * timed next to each other, neither always first), the ratio is taken per
 * round, and the figure is the median of those ratios (the median of each
 * side's own times is kept for printing).  What each side runs, on what
 * data and in what cache state does not change; only when it runs: an
 * untimed prep before each run sets up what the side had before each run
 * when timed alone, and a side whose state at the start of a run matters
 * (caches, TLB) is warmed by an untimed run of itself first (warm), so a
 * timed run starts where a run of the same side left off, as before, not
 * where the other side did.
 *
 * IOVA intervals are [iova, iova + length) in the benches, as the engine's
 * map/unmap calls take them.  Single-threaded: no locking (a side's body
 * may start threads of its own, and joins them before it returns).
 */
#ifndef UFD_BENCH_COMMON_H
#define UFD_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uiommufd.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define PAGE 4096ULL

/* Keep the compiler from dropping work whose result is unused. */
static inline void escape(const void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

/* An opaque copy of @v: the compiler cannot constant-fold through it. */
static inline uint64_t opaque(uint64_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

uint64_t now_ns(void);
double median(double *v, unsigned int n);

/* A timed body: run @iters iterations of the operation. */
typedef void (*bench_fn)(void *arg, uint64_t iters);

/*
 * ns per iteration of @fn: a warm-up that calibrates the count so that one
 * run lasts about @run_ms, then the median of @runs runs.
 */
double bench_ns(bench_fn fn, void *arg, double run_ms, unsigned int runs);
/* As bench_ns, with a fixed count (bodies whose state limits the count). */
double bench_ns_iters(bench_fn fn, void *arg, uint64_t iters,
		      unsigned int runs);

/* ---- paired timing (see the head comment) ---- */

#define BENCH_MAX_ROUNDS 31

struct bench_side {
	bench_fn fn;
	void *arg;
	/* Untimed, before each run (the warm-up too), and after it; NULL:
	 * none.  prep sets up the state the side is measured in (what was
	 * before each of its runs when it was timed alone); post checks. */
	void (*prep)(void *arg);
	void (*post)(void *arg);
	/* Each timed run right after an untimed one of the same side (prep,
	 * body, post): the side starts in the state a run of itself leaves,
	 * as when its runs followed one another, not in the other side's. */
	bool warm;
	/* Iterations per run; 0: calibrated by bench_rounds to run_ms. */
	uint64_t iters;
	/* If set, fn leaves here how many operations a run did, and a
	 * round's figure is ns per operation instead of per iteration. */
	const uint64_t *ops;
	/* out: ns per iteration (operation) in each round, their median */
	double ns[BENCH_MAX_ROUNDS];
	double med;
};

/*
 * Time the @n sides in @rounds rounds (at most BENCH_MAX_ROUNDS): first a
 * warm-up of each (the calibration of those with iters 0, to runs of about
 * @run_ms), then rounds 0, 1, ... with the sides in order on even rounds
 * and in reverse on odd ones.  @same_iters: every calibrated side runs the
 * same count (the harmonic mean of their calibrated counts: the pair of
 * runs lasts about 2 x @run_ms), so bodies that step through the same
 * input from its start see the same input.
 */
void bench_rounds(struct bench_side *s, unsigned int n, double run_ms,
		  unsigned int rounds, bool same_iters);
/*
 * Median over the rounds of s[a].ns[r] / s[b].ns[r].  @q1, @q3 (may be
 * NULL): the lower and upper quartiles of those ratios, for the spread.
 */
double bench_round_ratio(const struct bench_side *s, unsigned int a,
			 unsigned int b, unsigned int rounds, double *q1,
			 double *q3);
/* The median, lower and upper quartiles of @v[0..n) (sorted in place). */
double quartiles(double *v, unsigned int n, double *q1, double *q3);
/*
 * The common case: A (@fa on @aa) against B (@fb on @ab), the same count
 * each, @rounds rounds of runs of about @run_ms: the median of the
 * per-round ratios A / B.  *a_ns, *b_ns (may be NULL): the median ns per
 * iteration of each.
 */
double bench_ratio(bench_fn fa, void *aa, bench_fn fb, void *ab,
		   double run_ms, unsigned int rounds, double *a_ns,
		   double *b_ns);

/* ---- limits measured in this run ---- */

/* memcpy bandwidth, bytes per ns (= GB/s), over a buffer of @bytes. */
double limit_memcpy_gbps(size_t bytes);
/* ns per memcpy of @bytes, hot (median). */
double limit_memcpy_ns(size_t bytes);
/* ns per first-touch page fault of anonymous 4 KiB memory. */
double limit_page_fault_ns(void);
/* ns per getppid() syscall. */
double limit_syscall_ns(void);
/* ns per clock_gettime(CLOCK_MONOTONIC): subtracted from per-phase times. */
double limit_clock_ns(void);
/*
 * ns per round trip of one cache line between two threads that spin on it
 * (each writes, the other sees): what a ring call between two processes
 * pays at least twice.  On this VM it is about 100 ns or about 430 ns,
 * from one run to the next, as the host places the two vCPUs (the median
 * of 5 runs of 20,000 round trips).
 */
double limit_line_round_trip_ns(void);
/*
 * ns of "set one 64-bit entry in a 4 KiB table + a 4-level pointer chase
 * over hot tables + memcpy of @copy bytes from the page it reaches + clear
 * the entry": the work a map + DMA + unmap cycle cannot avoid.
 */
double limit_pte_walk_copy_ns(size_t copy);
/* The same limit as a side of bench_rounds: its argument (exits on
 * failure), its body, and the argument freed. */
void *pte_walk_copy_open(size_t copy);
void pte_walk_copy_body(void *arg, uint64_t iters);
void pte_walk_copy_close(void *arg);
/* limit_memcpy_ns as a side: argument, body, the prep that keeps it hot
 * (one untimed copy, the state a copy has in a loop of copies), close. */
void *memcpy_hot_open(size_t bytes);
void memcpy_hot_body(void *arg, uint64_t iters);
void memcpy_hot_warm(void *arg);
void memcpy_hot_close(void *arg);

/* ---- memory ---- */

/* mmap @len bytes of anonymous memory at an address whose offset from a
 * multiple of @align is @skew (so alignment is controlled exactly).
 * @flags: extra mmap flags (MAP_HUGETLB, MAP_POPULATE).  NULL on failure. */
void *map_at_skew(size_t len, size_t align, size_t skew, int flags);
void unmap_at_skew(void *p, size_t len);
/* Touch every 4 KiB page for writing. */
void populate(void *p, size_t len);
/* VmRSS of this process, bytes. */
uint64_t rss_bytes(void);
/* Bytes of the malloc heap in use (mallinfo2 uordblks + hblkhd). */
uint64_t heap_bytes(void);
/* AnonHugePages of this process, bytes (THP in use). */
uint64_t thp_bytes(void);
/* Read / write one integer from a /proc or /sys file; -1 on failure. */
long read_long_file(const char *path);
int write_long_file(const char *path, long v);
/* A field of /proc/meminfo, in kB; -1 if absent. */
long meminfo_kb(const char *field);

/* ---- engine setup ---- */

/* Credentials of this process, with no RLIMIT_MEMLOCK cap on what a bench
 * pins (raised if the process may, else lifted in the cred only). */
void bench_cred(struct ufd_cred *cred);

struct bench_env {
	struct ufd_engine *eng;
	struct ufd_ctx *ctx;
	struct ufd_source *src;
	uint32_t ioas_id;
	uint32_t dev_id;
	uint32_t hwpt_id;
	struct ufd_dma *dma;
};

/*
 * A new engine, context, IOAS, and a device bound with @pgsize_bitmap and
 * the aperture [0, 2^48 - 1], attached to the IOAS (a paging HWPT with
 * UFD_HWPT_DIRTY_TRACKING when @dirty), and a DMA port on it.  Exits on
 * failure.
 */
void env_open(struct bench_env *env, uint64_t pgsize_bitmap, bool dirty);
void env_close(struct bench_env *env);

/* Exit with a message: something is broken (not slow). */
void die(const char *what, int rc) __attribute__((noreturn));
#define CHECK(call)                                       \
	do {                                              \
		int rc_ = (call);                         \
		if (rc_ < 0)                              \
			die(#call, rc_);                  \
	} while (0)

/* ---- output ---- */

void header(const char *title);
/* A summary line: collected by `make -C bench run` at the end. */
void summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * One of issue 10's targets as a summary line, which `make bench` also
 * prints in its final block:
 *   "= target NAME: VALUE (goal <= GOAL) met|missed"
 * @at_least: the goal is a floor (>=) rather than a ceiling (<=).
 */
void target(const char *name, double value, bool at_least, double goal);
/* Deterministic pseudo-random numbers (xorshift64*). */
uint64_t rnd(uint64_t *state);

#endif
