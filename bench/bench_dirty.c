/* SPDX-License-Identifier: MIT */
/*
 * (e) Dirty harvest: ufd_hwpt_read_dirty_bitmap into a bitmap (one bit
 * per 4 KiB page), each as a ratio to the limit measured in the same run:
 * a memcpy of a bitmap of the same size (what copying the result out
 * costs at least).  The callback form (ufd_hwpt_read_dirty, one call per
 * run of dirty pages) is timed too, at 1 %.
 *
 *   dense   1 GiB mapped at 4 KiB leaves (one 64 MiB buffer mapped 16
 *           times back to back), 0 %, 1 % and 100 % of the pages dirty
 *   sparse  a 64 GiB IOVA span in which 16 chunks of 2 MiB are mapped
 *           (one 2 MiB buffer mapped at every 4 GiB), 0 % and 100 %
 *
 * The pages are marked with ufd_hwpt_mark_dirty (untimed; its cost per
 * page is printed) and the bitmap is cleared before each harvest.  The
 * marking walks the page table of the whole range, so the harvest that
 * follows finds its bitmaps out of the L1/L2 caches, while the memcpy
 * limit runs hot: the ratios are conservative.  A
 * harvest range must be mapped without holes (-EINVAL otherwise, like the
 * kernel, whose 6.12 walk stops at the first hole and drops the error), so
 * the sparse span is harvested area by area (the areas come from
 * ufd_ioas_for_each_area); the one-call result over the whole span is
 * printed too.  Harvest cost should follow what is mapped, not the span:
 * the sparse 64 GiB (32 MiB mapped) against the dense 1 GiB shows it.
 *
 * IOVA intervals are [iova, iova + length).  Single-threaded.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define DENSE_BASE (1ULL << 32)
#define DENSE_LEN GiB
#define DENSE_BUF (64 * MiB)
#define SPARSE_BASE (1ULL << 40)
#define SPARSE_SPAN (64 * GiB)
#define SPARSE_CHUNK (2 * MiB)
#define SPARSE_STRIDE (4 * GiB)
#define NCHUNK (SPARSE_SPAN / SPARSE_STRIDE)
#define FLAGS (UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE)
#define RUNS 7

struct bitmap {
	uint64_t base;
	uint8_t *bits;
	uint64_t nbits;
};

/* The harvest callback: set the bits of [iova, iova + length). */
static void set_bits(void *arg, uint64_t iova, uint64_t length)
{
	struct bitmap *bm = arg;
	uint64_t first = (iova - bm->base) / PAGE;
	uint64_t n = length / PAGE, i;

	for (i = first; i != first + n; i++)
		bm->bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

static uint64_t count_bits(const struct bitmap *bm)
{
	uint64_t i, n = 0;

	for (i = 0; i != (bm->nbits + 7) / 8; i++)
		n += (uint64_t)__builtin_popcount(bm->bits[i]);
	return n;
}

struct ranges {
	uint64_t iova[64], len[64];
	unsigned int n;
};

static int collect_area(void *arg, const struct ufd_area_info *info)
{
	struct ranges *r = arg;

	if (r->n == 64)
		return 1;
	r->iova[r->n] = info->iova;
	r->len[r->n] = info->length;
	r->n++;
	return 0;
}

/* Mark the pages whose bit is set in @mark; returns ns per marked page. */
static double mark(struct bench_env *env, uint64_t base, const uint8_t *mk,
		   uint64_t nbits, uint64_t expect)
{
	uint64_t marked, t0 = now_ns();

	CHECK(ufd_hwpt_mark_dirty(env->ctx, env->hwpt_id, base, PAGE, mk,
				  nbits, &marked));
	if (marked != expect)
		die("ufd_hwpt_mark_dirty marked a wrong count", -5);
	return expect ? (double)(now_ns() - t0) / (double)expect : 0;
}

/*
 * Harvest @r (areas) into @bm RUNS times, re-marking before each; median
 * ns.  Checks that the bitmap holds exactly the @expect marked pages and
 * that it is the mark bitmap.  @callback: through ufd_hwpt_read_dirty.
 */
static double harvest(struct bench_env *env, const struct ranges *r,
		      struct bitmap *bm, const uint8_t *mk, uint64_t expect,
		      double *mark_ns, bool callback, double *cold_ns)
{
	double v[RUNS], m[RUNS];
	unsigned int k, a;

	/* The limit in the harvest's cache state: a memcpy of a bitmap
	 * written before the same marking. */
	if (cold_ns) {
		size_t n = (bm->nbits + 7) / 8;
		uint8_t *cs = malloc(n), *cd = malloc(n);

		if (!cs || !cd)
			die("malloc", -12);
		memset(cd, 0, n);
		for (k = 0; k != RUNS; k++) {
			uint64_t t0;

			memset(cs, (int)k, n);
			mark(env, bm->base, mk, bm->nbits, expect);
			sched_yield();
			t0 = now_ns();
			memcpy(cd, cs, n);
			__asm__ volatile("" : : "r"(cd) : "memory");
			v[k] = (double)(now_ns() - t0);
		}
		*cold_ns = median(v, RUNS);
		free(cs);
		free(cd);
	}

	for (k = 0; k != RUNS + 1; k++) {
		uint64_t t0;

		m[k ? k - 1 : 0] = mark(env, bm->base, mk, bm->nbits, expect);
		memset(bm->bits, 0, (bm->nbits + 7) / 8);
		/* Marking 1 GiB takes milliseconds: start the timed part on
		 * a fresh time slice, not at the end of one (the machine is
		 * shared). */
		sched_yield();
		t0 = now_ns();
		for (a = 0; a != r->n; a++) {
			uint64_t first = (r->iova[a] - bm->base) / PAGE;

			if (callback)
				CHECK(ufd_hwpt_read_dirty(env->ctx,
							  env->hwpt_id,
							  r->iova[a], r->len[a],
							  PAGE, false, set_bits,
							  bm));
			else
				CHECK(ufd_hwpt_read_dirty_bitmap(
					env->ctx, env->hwpt_id, r->iova[a],
					r->len[a], PAGE, false,
					bm->bits + first / 8));
		}
		if (k)
			v[k - 1] = (double)(now_ns() - t0);
		if (count_bits(bm) != expect ||
		    memcmp(bm->bits, mk, (bm->nbits + 7) / 8))
			die("harvest reported a wrong bitmap", -5);
	}
	*mark_ns = median(m, RUNS);
	return median(v, RUNS);
}

/* A mark bitmap of @nbits with every page selected by @pct (0, 1, 100)
 * inside the mapped ranges; *count gets the number set. */
static uint8_t *mark_bitmap(const struct bitmap *bm, const struct ranges *r,
			    unsigned int pct, uint64_t *count)
{
	uint8_t *mk = calloc((bm->nbits + 7) / 8, 1);
	uint64_t st = 7, n = 0;
	unsigned int a;

	if (!mk)
		die("calloc", -12);
	for (a = 0; a != r->n; a++) {
		uint64_t first = (r->iova[a] - bm->base) / PAGE, i;

		for (i = first; i != first + r->len[a] / PAGE; i++) {
			if (pct == 100 || (pct && rnd(&st) % 100 < pct)) {
				mk[i / 8] |= (uint8_t)(1u << (i % 8));
				n++;
			}
		}
	}
	*count = n;
	return mk;
}

int main(void)
{
	static const unsigned int dense_pct[3] = { 0, 1, 100 };
	static const unsigned int sparse_pct[2] = { 0, 100 };
	struct bench_env env;
	struct ranges dense = { 0 }, sparse = { 0 }, whole = { 0 };
	struct bitmap bm_d, bm_s;
	double lim_d, lim_s, d_ns[3], s_ns[2], mk_ns[3], smk_ns[2], cb_ns = 0;
	double cold[3];
	double goal[3] = { 2, 2, 4 };
	uint64_t cnt_d[3], cnt_s[2], heap0, rss0;
	double heap_gib, rss_gib;
	char *buf, *chunk;
	int span_rc;
	unsigned int i;

	header("(e) dirty harvest into a bitmap vs memcpy of the bitmap");
	buf = map_at_skew(DENSE_BUF, 2 * MiB, 0, 0);
	chunk = map_at_skew(SPARSE_CHUNK, 2 * MiB, 0, 0);
	if (!buf || !chunk)
		die("mmap", -12);
	populate(buf, DENSE_BUF);
	populate(chunk, SPARSE_CHUNK);

	env_open(&env, PAGE, true);
	heap0 = heap_bytes();
	rss0 = rss_bytes();
	for (i = 0; i != DENSE_LEN / DENSE_BUF; i++) {
		uint64_t iova = DENSE_BASE + i * DENSE_BUF;

		CHECK(ufd_ioas_map(env.ctx, env.ioas_id, env.src,
				   (uintptr_t)buf, DENSE_BUF, &iova, FLAGS));
	}
	heap_gib = (double)(heap_bytes() - heap0);
	rss_gib = (double)(rss_bytes() - rss0);
	for (i = 0; i != NCHUNK; i++) {
		uint64_t iova = SPARSE_BASE + i * SPARSE_STRIDE;

		CHECK(ufd_ioas_map(env.ctx, env.ioas_id, env.src,
				   (uintptr_t)chunk, SPARSE_CHUNK, &iova,
				   FLAGS));
	}
	CHECK(ufd_hwpt_set_dirty_tracking(env.ctx, env.hwpt_id, true));

	/* The dense range is contiguous: one call covers it. */
	dense.iova[0] = DENSE_BASE;
	dense.len[0] = DENSE_LEN;
	dense.n = 1;
	/* The sparse one: its areas, as a program would find them. */
	CHECK(ufd_ioas_for_each_area(env.ctx, env.ioas_id, collect_area,
				     &whole));
	for (i = 0; i != whole.n; i++)
		if (whole.iova[i] >= SPARSE_BASE) {
			sparse.iova[sparse.n] = whole.iova[i];
			sparse.len[sparse.n++] = whole.len[i];
		}
	if (sparse.n != NCHUNK)
		die("ufd_ioas_for_each_area missed areas", -5);

	bm_d.base = DENSE_BASE;
	bm_d.nbits = DENSE_LEN / PAGE;
	bm_d.bits = malloc(bm_d.nbits / 8);
	bm_s.base = SPARSE_BASE;
	bm_s.nbits = SPARSE_SPAN / PAGE;
	bm_s.bits = malloc(bm_s.nbits / 8);
	if (!bm_d.bits || !bm_s.bits)
		die("malloc", -12);

	lim_d = limit_memcpy_ns(bm_d.nbits / 8);
	lim_s = limit_memcpy_ns(bm_s.nbits / 8);

	for (i = 0; i != 3; i++) {
		uint8_t *mk = mark_bitmap(&bm_d, &dense, dense_pct[i],
					  &cnt_d[i]);

		d_ns[i] = harvest(&env, &dense, &bm_d, mk, cnt_d[i], &mk_ns[i],
				  false, &cold[i]);
		if (dense_pct[i] == 1) {
			double m;

			cb_ns = harvest(&env, &dense, &bm_d, mk, cnt_d[i], &m,
					true, NULL);
		}
		free(mk);
	}
	for (i = 0; i != 2; i++) {
		uint8_t *mk = mark_bitmap(&bm_s, &sparse, sparse_pct[i],
					  &cnt_s[i]);

		s_ns[i] = harvest(&env, &sparse, &bm_s, mk, cnt_s[i],
				  &smk_ns[i], false, NULL);
		free(mk);
	}
	/* One call over the whole 64 GiB span, holes and all. */
	span_rc = ufd_hwpt_read_dirty(env.ctx, env.hwpt_id, SPARSE_BASE,
				      SPARSE_SPAN, PAGE, false, set_bits,
				      &bm_s);
	env_close(&env);

	printf("limits (this run): memcpy of a %llu KiB bitmap %.0f ns, of a "
	       "%llu KiB bitmap %.0f ns\n",
	       (unsigned long long)(bm_d.nbits / 8 / KiB), lim_d,
	       (unsigned long long)(bm_s.nbits / 8 / KiB), lim_s);
	printf("\n%-40s %10s %9s %12s %10s\n", "harvest (median of 7)",
	       "us", "x memcpy", "ns/mapped pg", "mark ns/pg");
	for (i = 0; i != 3; i++)
		printf("dense 1 GiB at 4 KiB, %3u%% dirty %-9s %10.1f %8.1fx "
		       "%12.2f %10.1f\n",
		       dense_pct[i], "", d_ns[i] / 1e3, d_ns[i] / lim_d,
		       d_ns[i] / (double)(DENSE_LEN / PAGE), mk_ns[i]);
	for (i = 0; i != 2; i++)
		printf("sparse 64 GiB span, 32 MiB mapped, %3u%%  %10.1f "
		       "%8.3fx %12.2f %10.1f\n",
		       sparse_pct[i], s_ns[i] / 1e3, s_ns[i] / lim_s,
		       s_ns[i] / (double)(NCHUNK * SPARSE_CHUNK / PAGE),
		       smk_ns[i]);
	printf("dense 1 GiB, 1%% dirty, callback form %-5s %10.1f %8.1fx\n",
	       "", cb_ns / 1e3, cb_ns / lim_d);
	for (i = 0; i != 3; i++)
		printf("  %3u%%: memcpy of the bitmap after the same marking "
		       "(cache as the harvest finds it) %.0f ns: harvest "
		       "%.2fx it\n",
		       dense_pct[i], cold[i], d_ns[i] / cold[i]);
	printf("\nsparse (%llu areas, one call each) vs dense, same %% dirty: "
	       "0%% %.3fx, 100%% %.3fx (mapped ratio %.3f)\n",
	       (unsigned long long)NCHUNK, s_ns[0] / d_ns[0], s_ns[1] / d_ns[2],
	       (double)(NCHUNK * SPARSE_CHUNK) / (double)DENSE_LEN);
	printf("dense 0%%: %.1fx a read of every leaf entry (memcpy of its "
	       "2 MiB of leaf tables)\n",
	       d_ns[0] / lim_s);
	printf("one read_dirty call over the whole 64 GiB span: %s\n",
	       span_rc ? "refused (holes), -EINVAL" : "accepted");
	printf("memory for the dense 1 GiB at 4 KiB leaves: engine heap "
	       "+%.0f KiB, RSS +%.0f KiB (per GiB)\n",
	       heap_gib / KiB, rss_gib / KiB);

	summary("(e) dirty harvest 1 GiB @4K: 0%% %.0f us = %.1fx, 1%% %.0f us "
		"= %.1fx, 100%% %.0f us = %.1fx memcpy of the %llu KiB bitmap "
		"(%.1f us)",
		d_ns[0] / 1e3, d_ns[0] / lim_d, d_ns[1] / 1e3, d_ns[1] / lim_d,
		d_ns[2] / 1e3, d_ns[2] / lim_d,
		(unsigned long long)(bm_d.nbits / 8 / KiB), lim_d / 1e3);
	summary("(e) dirty harvest 64 GiB span, 32 MiB mapped: 0%% %.1f us = "
		"%.3fx, 100%% %.1f us = %.3fx memcpy of the %llu KiB bitmap "
		"(%.0f us); whole-span call %s",
		s_ns[0] / 1e3, s_ns[0] / lim_s, s_ns[1] / 1e3, s_ns[1] / lim_s,
		(unsigned long long)(bm_s.nbits / 8 / KiB), lim_s / 1e3,
		span_rc ? "-EINVAL" : "ok");
	for (i = 0; i != 3; i++) {
		char name[48];

		snprintf(name, sizeof(name), "dirty-harvest-1GiB-%u%%",
			 dense_pct[i]);
		target(name, d_ns[i] / lim_d, false, goal[i]);
	}
	free(bm_d.bits);
	free(bm_s.bits);
	unmap_at_skew(buf, DENSE_BUF);
	unmap_at_skew(chunk, SPARSE_CHUNK);
	return 0;
}
