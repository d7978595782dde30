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
 * pinned to a CPU.  IOVA intervals are [iova, iova + length) in the
 * benches, as the engine's map/unmap calls take them.  Single-threaded: no
 * locking.
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
 * ns of "set one 64-bit entry in a 4 KiB table + a 4-level pointer chase
 * over hot tables + memcpy of @copy bytes from the page it reaches + clear
 * the entry": the work a map + DMA + unmap cycle cannot avoid.
 */
double limit_pte_walk_copy_ns(size_t copy);

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
