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
 * limit runs hot: the ratios are conservative.  The harvests and the
 * memcpy are timed in rounds (common.h: paired timing): each round one
 * harvest (after its marking and, untimed, a harvest of the same marking
 * before it, as when harvests followed one another) and a short run (0.5
 * ms) of hot copies; the ratio is the median of the per-round ratios.  A
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
/* Paired timing (common.h): rounds of one run of each side; the hot
 * memcpy's runs are calibrated to HOT_RUN_MS. */
#define ROUNDS 15
#define HOT_RUN_MS 0.5

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

/* One harvest configuration: what a side of bench_rounds needs. */
struct hv {
	struct bench_env *env;
	const struct ranges *r;
	struct bitmap *bm;
	const uint8_t *mk;
	uint64_t expect;
	bool callback;
	/* marking: ns per marked page, per run (prep) */
	double mark_ns[BENCH_MAX_ROUNDS + 1];
	unsigned int nmark;
	/* the cold limit: a bitmap written before the same marking */
	uint8_t *cs, *cd;
	unsigned int k;
};

/* Before each harvest: mark, clear the bitmap, a fresh time slice. */
static void harvest_prep(void *p)
{
	struct hv *h = p;
	double m = mark(h->env, h->bm->base, h->mk, h->bm->nbits, h->expect);

	if (h->nmark <= BENCH_MAX_ROUNDS)
		h->mark_ns[h->nmark++] = m;
	memset(h->bm->bits, 0, (h->bm->nbits + 7) / 8);
	/* Marking 1 GiB takes milliseconds: start the timed part on a
	 * fresh time slice, not at the end of one (the machine is
	 * shared). */
	sched_yield();
}

/* The timed part: the harvest of every area (one iteration). */
static void harvest_body(void *p, uint64_t iters)
{
	struct hv *h = p;
	struct bitmap *bm = h->bm;
	unsigned int a;

	(void)iters; /* always 1: each harvest needs its marking */
	for (a = 0; a != h->r->n; a++) {
		uint64_t first = (h->r->iova[a] - bm->base) / PAGE;

		if (h->callback)
			CHECK(ufd_hwpt_read_dirty(h->env->ctx, h->env->hwpt_id,
						  h->r->iova[a], h->r->len[a],
						  PAGE, false, set_bits, bm));
		else
			CHECK(ufd_hwpt_read_dirty_bitmap(
				h->env->ctx, h->env->hwpt_id, h->r->iova[a],
				h->r->len[a], PAGE, false,
				bm->bits + first / 8));
	}
}

/* After each harvest: exactly the marked pages, as marked. */
static void harvest_check(void *p)
{
	struct hv *h = p;

	if (count_bits(h->bm) != h->expect ||
	    memcmp(h->bm->bits, h->mk, (h->bm->nbits + 7) / 8))
		die("harvest reported a wrong bitmap", -5);
}

/* The cold limit's state: its source written, then the same marking. */
static void cold_prep(void *p)
{
	struct hv *h = p;

	memset(h->cs, (int)h->k++, (h->bm->nbits + 7) / 8);
	mark(h->env, h->bm->base, h->mk, h->bm->nbits, h->expect);
	sched_yield();
}

static void cold_body(void *p, uint64_t iters)
{
	struct hv *h = p;

	(void)iters;
	memcpy(h->cd, h->cs, (h->bm->nbits + 7) / 8);
	__asm__ volatile("" : : "r"(h->cd) : "memory");
}

struct hv_result {
	double ns;       /* harvest, median ns */
	double lim_ns;   /* the hot memcpy of the bitmap, median ns */
	double ratio;    /* median of the per-round harvest / memcpy */
	double q1, q3;   /* its quartiles */
	double mark_ns;  /* median ns per marked page */
	double cold_ns;  /* the cold memcpy (if asked), median ns */
	double cold_ratio; /* median of the per-round harvest / cold */
	double cold_hot;   /* median of the per-round cold / hot memcpy */
};

/*
 * Harvest @r (areas) into @bm, re-marking before each, alternated in
 * ROUNDS rounds with the hot memcpy limit @hot (a memcpy_hot_open of the
 * bitmap's size) and, if @cold, with a memcpy of a bitmap written before
 * the same marking (the limit in the harvest's cache state).  Each
 * harvest is checked: the bitmap holds exactly the @expect marked pages,
 * and is the mark bitmap.  @callback: through ufd_hwpt_read_dirty.
 */
static void harvest(struct bench_env *env, const struct ranges *r,
		    struct bitmap *bm, const uint8_t *mk, uint64_t expect,
		    bool callback, void *hot, bool cold, struct hv_result *out)
{
	struct hv h = { .env = env, .r = r, .bm = bm, .mk = mk,
			.expect = expect, .callback = callback };
	struct bench_side sd[3] = {
		{ .fn = harvest_body, .arg = &h, .prep = harvest_prep,
		  .post = harvest_check, .iters = 1, .warm = true },
		{ .fn = memcpy_hot_body, .arg = hot, .prep = memcpy_hot_warm },
		{ .fn = cold_body, .arg = &h, .prep = cold_prep, .iters = 1,
		  .warm = true },
	};
	size_t n = (bm->nbits + 7) / 8;

	if (cold) {
		h.cs = malloc(n);
		h.cd = malloc(n);
		if (!h.cs || !h.cd)
			die("malloc", -12);
		memset(h.cd, 0, n);
	}
	bench_rounds(sd, cold ? 3 : 2, HOT_RUN_MS, ROUNDS, false);
	out->ns = sd[0].med;
	out->lim_ns = sd[1].med;
	out->ratio = bench_round_ratio(sd, 0, 1, ROUNDS, &out->q1, &out->q3);
	/* The warm-up's marking is not counted. */
	out->mark_ns = h.nmark > 1 ? median(h.mark_ns + 1, h.nmark - 1) : 0;
	out->cold_ns = cold ? sd[2].med : 0;
	out->cold_ratio =
		cold ? bench_round_ratio(sd, 0, 2, ROUNDS, NULL, NULL) : 0;
	out->cold_hot =
		cold ? bench_round_ratio(sd, 2, 1, ROUNDS, NULL, NULL) : 0;
	free(h.cs);
	free(h.cd);
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
	struct hv_result d[3], sp[2], cb;
	double lim_d, lim_s, lv[3];
	double goal[3] = { 2, 2, 4 };
	void *hot_d, *hot_s;
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

	/* The limits: hot memcpys of bitmaps of the same sizes, each timed
	 * in rounds with the harvests it is the limit of. */
	hot_d = memcpy_hot_open(bm_d.nbits / 8);
	hot_s = memcpy_hot_open(bm_s.nbits / 8);

	for (i = 0; i != 3; i++) {
		uint8_t *mk = mark_bitmap(&bm_d, &dense, dense_pct[i],
					  &cnt_d[i]);

		harvest(&env, &dense, &bm_d, mk, cnt_d[i], false, hot_d, true,
			&d[i]);
		if (dense_pct[i] == 1)
			harvest(&env, &dense, &bm_d, mk, cnt_d[i], true, hot_d,
				false, &cb);
		free(mk);
	}
	for (i = 0; i != 2; i++) {
		uint8_t *mk = mark_bitmap(&bm_s, &sparse, sparse_pct[i],
					  &cnt_s[i]);

		harvest(&env, &sparse, &bm_s, mk, cnt_s[i], false, hot_s,
			false, &sp[i]);
		free(mk);
	}
	memcpy_hot_close(hot_d);
	memcpy_hot_close(hot_s);
	/* For the lines that are not per-round ratios: the medians. */
	for (i = 0; i != 3; i++)
		lv[i] = d[i].lim_ns;
	lim_d = median(lv, 3);
	lv[0] = sp[0].lim_ns;
	lv[1] = sp[1].lim_ns;
	lim_s = median(lv, 2);
	/* One call over the whole 64 GiB span, holes and all. */
	span_rc = ufd_hwpt_read_dirty(env.ctx, env.hwpt_id, SPARSE_BASE,
				      SPARSE_SPAN, PAGE, false, set_bits,
				      &bm_s);
	env_close(&env);

	printf("limits (this run, timed in rounds with each harvest): memcpy "
	       "of a %llu KiB bitmap %.0f ns, of a %llu KiB bitmap %.0f ns "
	       "(medians)\n",
	       (unsigned long long)(bm_d.nbits / 8 / KiB), lim_d,
	       (unsigned long long)(bm_s.nbits / 8 / KiB), lim_s);
	printf("x memcpy: the median of %u per-round ratios to the hot memcpy "
	       "timed next to it\n(quartiles in brackets)\n",
	       ROUNDS);
	printf("\n%-40s %8s %20s %12s %10s\n", "harvest (median)", "us",
	       "x memcpy", "ns/mapped pg", "mark ns/pg");
	for (i = 0; i != 3; i++)
		printf("dense 1 GiB at 4 KiB, %3u%% dirty %-7s %8.1f %7.2fx "
		       "[%.2f-%.2f] %12.2f %10.1f\n",
		       dense_pct[i], "", d[i].ns / 1e3, d[i].ratio, d[i].q1,
		       d[i].q3, d[i].ns / (double)(DENSE_LEN / PAGE),
		       d[i].mark_ns);
	for (i = 0; i != 2; i++)
		printf("sparse 64 GiB span, 32 MiB mapped, %3u%% %8.1f %7.3fx "
		       "[%.3f-%.3f] %10.2f %10.1f\n",
		       sparse_pct[i], sp[i].ns / 1e3, sp[i].ratio, sp[i].q1,
		       sp[i].q3,
		       sp[i].ns / (double)(NCHUNK * SPARSE_CHUNK / PAGE),
		       sp[i].mark_ns);
	printf("dense 1 GiB, 1%% dirty, callback form %-3s %8.1f %7.2fx "
	       "[%.2f-%.2f]\n",
	       "", cb.ns / 1e3, cb.ratio, cb.q1, cb.q3);
	for (i = 0; i != 3; i++)
		printf("  %3u%%: memcpy of the bitmap after the same marking "
		       "(cache as the harvest finds it) %.0f ns = %.2fx the "
		       "hot one: harvest %.2fx it\n",
		       dense_pct[i], d[i].cold_ns, d[i].cold_hot,
		       d[i].cold_ratio);
	printf("\nsparse (%llu areas, one call each) vs dense, same %% dirty: "
	       "0%% %.3fx, 100%% %.3fx (mapped ratio %.3f)\n",
	       (unsigned long long)NCHUNK, sp[0].ns / d[0].ns,
	       sp[1].ns / d[2].ns,
	       (double)(NCHUNK * SPARSE_CHUNK) / (double)DENSE_LEN);
	printf("dense 0%%: %.1fx a read of every leaf entry (memcpy of its "
	       "2 MiB of leaf tables)\n",
	       d[0].ns / lim_s);
	printf("one read_dirty call over the whole 64 GiB span: %s\n",
	       span_rc ? "refused (holes), -EINVAL" : "accepted");
	printf("memory for the dense 1 GiB at 4 KiB leaves: engine heap "
	       "+%.0f KiB, RSS +%.0f KiB (per GiB)\n",
	       heap_gib / KiB, rss_gib / KiB);

	summary("(e) dirty harvest 1 GiB @4K: 0%% %.1f us = %.2fx, 1%% %.1f us "
		"= %.2fx, 100%% %.1f us = %.2fx memcpy of the %llu KiB bitmap "
		"(%.1f us; per-round ratios, medians)",
		d[0].ns / 1e3, d[0].ratio, d[1].ns / 1e3, d[1].ratio,
		d[2].ns / 1e3, d[2].ratio,
		(unsigned long long)(bm_d.nbits / 8 / KiB), lim_d / 1e3);
	summary("(e) dirty harvest 64 GiB span, 32 MiB mapped: 0%% %.1f us = "
		"%.3fx, 100%% %.1f us = %.3fx memcpy of the %llu KiB bitmap "
		"(%.0f us); whole-span call %s",
		sp[0].ns / 1e3, sp[0].ratio, sp[1].ns / 1e3, sp[1].ratio,
		(unsigned long long)(bm_s.nbits / 8 / KiB), lim_s / 1e3,
		span_rc ? "-EINVAL" : "ok");
	for (i = 0; i != 3; i++) {
		char name[48];

		snprintf(name, sizeof(name), "dirty-harvest-1GiB-%u%%",
			 dense_pct[i]);
		target(name, d[i].ratio, false, goal[i]);
	}
	free(bm_d.bits);
	free(bm_s.bits);
	unmap_at_skew(buf, DENSE_BUF);
	unmap_at_skew(chunk, SPARSE_CHUNK);
	return 0;
}
