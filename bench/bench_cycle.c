/* SPDX-License-Identifier: MIT */
/*
 * (a) The map + DMA + unmap cycle, in-process through the engine API.
 *
 * A device with 4 KiB IO pages and a 2^48 aperture is attached to an IOAS
 * (so the domain exists and a map pins and fills it).  One cycle:
 * ufd_ioas_map of one 4 KiB page at a fixed IOVA, ufd_dma_read (or write)
 * of 512 bytes there through a DMA port, ufd_ioas_unmap.  The limit is the
 * work such a cycle cannot avoid, measured in the same run: one 64-bit
 * entry written into a 4 KiB table, a 4-level walk over hot tables, a
 * 512-byte memcpy and the entry cleared again.
 *
 * Also: the cycle with a resident neighbour mapping (the intermediate
 * tables then stay allocated), each phase alone (timestamps inside the
 * cycle, clock cost subtracted), the DMA alone on a mapping that stays,
 * and the costs of the pieces the engine's cycle is made of (the pin's
 * madvise, table allocation, the locks), so a reader sees where time goes.
 * The limit, the trusted and the validating cycles and the madvise are
 * timed in rounds (common.h: paired timing): the targets are medians of
 * per-round ratios.
 *
 * IOVA intervals are [iova, iova + length).  Single-threaded.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define COPY 512
#define IOVA (1ULL << 32)
#define FLAGS (UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE)
/* Paired timing (common.h): rounds of one run of each side. */
#define ROUNDS 9

struct cycle {
	struct bench_env *env;
	struct ufd_source *src; /* what the map pins through */
	char *page;        /* the 4 KiB mapped each cycle */
	char buf[COPY];
	bool write;
	double clock_ns;   /* cost of one now_ns(), subtracted per phase */
	double ph[3];      /* per-phase ns sums: map, dma, unmap */
	uint64_t ph_n;
};

static void do_map(struct cycle *c)
{
	uint64_t iova = IOVA;

	CHECK(ufd_ioas_map(c->env->ctx, c->env->ioas_id, c->src,
			   (uintptr_t)c->page, PAGE, &iova, FLAGS));
}

static void do_dma(struct cycle *c)
{
	if (c->write)
		CHECK(ufd_dma_write(c->env->dma, IOVA, c->buf, COPY));
	else
		CHECK(ufd_dma_read(c->env->dma, IOVA, c->buf, COPY));
	escape(c->buf);
}

static void do_unmap(struct cycle *c)
{
	CHECK(ufd_ioas_unmap(c->env->ctx, c->env->ioas_id, IOVA, PAGE, NULL));
}

static void cycle_body(void *p, uint64_t iters)
{
	struct cycle *c = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		do_map(c);
		do_dma(c);
		do_unmap(c);
	}
}

static void phase_body(void *p, uint64_t iters)
{
	struct cycle *c = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		uint64_t t0 = now_ns(), t1, t2, t3;

		do_map(c);
		t1 = now_ns();
		do_dma(c);
		t2 = now_ns();
		do_unmap(c);
		t3 = now_ns();
		c->ph[0] += (double)(t1 - t0) - c->clock_ns;
		c->ph[1] += (double)(t2 - t1) - c->clock_ns;
		c->ph[2] += (double)(t3 - t2) - c->clock_ns;
	}
	c->ph_n += iters;
}

static void dma_body(void *p, uint64_t iters)
{
	struct cycle *c = p;
	uint64_t i;

	for (i = 0; i != iters; i++)
		do_dma(c);
}

/* Medians of the three phases over several runs. */
static void phases(struct cycle *c, double out[3])
{
	double v[3][7];
	unsigned int r, k;

	phase_body(c, 2000); /* warm-up */
	for (r = 0; r != 7; r++) {
		memset(c->ph, 0, sizeof(c->ph));
		c->ph_n = 0;
		phase_body(c, 20000);
		for (k = 0; k != 3; k++)
			v[k][r] = c->ph[k] / (double)c->ph_n;
	}
	for (k = 0; k != 3; k++)
		out[k] = median(v[k], 7);
}

/* ---- the pieces ---- */

static void madvise_body(void *p, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++)
		if (madvise(p, PAGE, MADV_POPULATE_WRITE))
			die("madvise(MADV_POPULATE_WRITE)", -1);
}

/* What a cycle does to the three tables below the root when nothing else
 * keeps them: allocate and zero on map, scan for emptiness and free on
 * unmap (engine/pgtable.c table_alloc, table_empty, table_free). */
static void tables_body(void *arg, uint64_t iters)
{
	uint64_t i;
	unsigned int k, j;

	for (i = 0; i != iters; i++) {
		uint64_t *t[3];

		for (k = 0; k != 3; k++) {
			t[k] = aligned_alloc(PAGE, PAGE);
			if (!t[k])
				die("aligned_alloc", -12);
			memset(t[k], 0, PAGE);
			escape(t[k]);
		}
		for (k = 0; k != 3; k++) {
			for (j = 0; j != 512; j++)
				if (((volatile uint64_t *)t[k])[j] & 1)
					break;
			free(t[k]);
		}
	}
}

static pthread_mutex_t rmutex;
static pthread_rwlock_t rwl;

static void mutex_body(void *arg, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++) {
		pthread_mutex_lock(&rmutex);
		pthread_mutex_unlock(&rmutex);
	}
}

static void rwlock_body(void *arg, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++) {
		pthread_rwlock_rdlock(&rwl);
		pthread_rwlock_unlock(&rwl);
	}
}

int main(void)
{
	struct bench_env env;
	struct cycle *c = calloc(1, sizeof(*c));
	double lim, clk, sys, rd, wr, nb, dma_rd, dma_wr;
	double ph[3], ph_nb[3], madv, tabs, mtx, rwn, tr, ph_tr[3];
	double tr_lim, tr_lim_q1, tr_lim_q3, val_tr, val_tr_q1, val_tr_q3;
	struct ufd_source *trusted;
	struct cycle *ctr;
	pthread_mutexattr_t ma;
	pthread_rwlockattr_t ra;
	char *keep;
	uint64_t iova;

	header("(a) map + DMA + unmap cycle, engine API");
	if (!c)
		die("calloc", -12);
	c->page = aligned_alloc(PAGE, PAGE);
	keep = aligned_alloc(PAGE, PAGE);
	if (!c->page || !keep)
		die("malloc", -12);
	memset(c->page, 5, PAGE);
	memset(keep, 6, PAGE);

	clk = limit_clock_ns();
	sys = limit_syscall_ns();

	env_open(&env, PAGE, false);
	c->env = &env;
	c->src = env.src;
	c->clock_ns = clk;

	c->write = true;
	wr = bench_ns(cycle_body, c, 40, 7);
	c->write = false;
	phases(c, ph);

	/* A neighbour mapping keeps the three tables below the root. */
	iova = IOVA + PAGE;
	CHECK(ufd_ioas_map(env.ctx, env.ioas_id, env.src, (uintptr_t)keep,
			   PAGE, &iova, FLAGS));
	nb = bench_ns(cycle_body, c, 40, 7);
	phases(c, ph_nb);

	/* The DMA alone, on a mapping that stays. */
	do_map(c);
	c->write = false;
	dma_rd = bench_ns(dma_body, c, 20, 7);
	c->write = true;
	dma_wr = bench_ns(dma_body, c, 20, 7);
	do_unmap(c);
	CHECK(ufd_ioas_unmap(env.ctx, env.ioas_id, IOVA + PAGE, PAGE, NULL));

	/*
	 * The targets' figures, timed in rounds (common.h): the limit, the
	 * cycle through the trusted local source (the embedder vouches, no
	 * pin syscall), through the validating one, and the validating
	 * source's pin alone (madvise).  Each round's ratios, then medians.
	 */
	trusted = ufd_source_local_trusted();
	ctr = malloc(sizeof(*ctr));
	if (!trusted || !ctr)
		die("ufd_source_local_trusted", -12);
	c->write = false;
	*ctr = *c;
	ctr->src = trusted;
	{
		void *walk = pte_walk_copy_open(COPY);
		struct bench_side sd[4] = {
			{ .fn = pte_walk_copy_body, .arg = walk },
			{ .fn = cycle_body, .arg = ctr },
			{ .fn = cycle_body, .arg = c },
			{ .fn = madvise_body, .arg = c->page },
		};
		double v[BENCH_MAX_ROUNDS];
		unsigned int r;

		bench_rounds(sd, 4, 30, ROUNDS, false);
		lim = sd[0].med;
		tr = sd[1].med;
		rd = sd[2].med;
		madv = sd[3].med;
		tr_lim = bench_round_ratio(sd, 1, 0, ROUNDS, &tr_lim_q1,
					   &tr_lim_q3);
		for (r = 0; r != ROUNDS; r++)
			v[r] = sd[2].ns[r] / (sd[1].ns[r] + sd[3].ns[r]);
		val_tr = quartiles(v, ROUNDS, &val_tr_q1, &val_tr_q3);
		pte_walk_copy_close(walk);
	}
	phases(ctr, ph_tr);
	free(ctr);
	ufd_source_put(trusted);
	env_close(&env);
	printf("limits (this run): clock_gettime %.1f ns, getppid() %.1f ns\n"
	       "  PTE write + 4-level hot walk + %d B memcpy + PTE clear: "
	       "%.1f ns\n  (median of %u rounds timed with the cycles)\n",
	       clk, sys, COPY, lim, ROUNDS);

	/* The pieces. */
	tabs = bench_ns(tables_body, NULL, 20, 7);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&rmutex, &ma);
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(
		&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&rwl, &ra);
	mtx = bench_ns(mutex_body, NULL, 10, 7);
	rwn = bench_ns(rwlock_body, NULL, 10, 7);

	printf("\ncycle (map 4 KiB, DMA %d B, unmap), ns/cycle, x limit:\n",
	       COPY);
	printf("  DMA read                          %8.0f ns  %6.1fx\n", rd,
	       rd / lim);
	printf("  DMA write                         %8.0f ns  %6.1fx\n", wr,
	       wr / lim);
	printf("  read, resident neighbour mapping  %8.0f ns  %6.1fx"
	       "  (intermediate tables stay)\n",
	       nb, nb / lim);
	printf("  read, trusted local source        %8.0f ns  %6.1fx"
	       "  (pin makes no system call)\n",
	       tr, tr / lim);
	printf("    map %.0f ns, DMA %.0f ns, unmap %.0f ns\n", ph_tr[0],
	       ph_tr[1], ph_tr[2]);
	printf("  per-round ratios (median [quartiles] of %u): trusted / limit "
	       "%.1fx [%.1f-%.1f],\n    validating / (trusted + madvise) "
	       "%.2fx [%.2f-%.2f]\n",
	       ROUNDS, tr_lim, tr_lim_q1, tr_lim_q3, val_tr, val_tr_q1,
	       val_tr_q3);
	printf("\nwhere the time goes (inside the read cycle; clock cost "
	       "subtracted):\n");
	printf("                     alone   with neighbour\n");
	printf("  ufd_ioas_map    %8.0f ns  %8.0f ns\n", ph[0], ph_nb[0]);
	printf("  ufd_dma_read    %8.0f ns  %8.0f ns\n", ph[1], ph_nb[1]);
	printf("  ufd_ioas_unmap  %8.0f ns  %8.0f ns\n", ph[2], ph_nb[2]);
	printf("  sum             %8.0f ns  %8.0f ns\n", ph[0] + ph[1] + ph[2],
	       ph_nb[0] + ph_nb[1] + ph_nb[2]);
	printf("\nDMA alone, mapping resident (steady state), %d B:\n", COPY);
	printf("  ufd_dma_read  %6.1f ns  %5.2fx limit\n", dma_rd,
	       dma_rd / lim);
	printf("  ufd_dma_write %6.1f ns  %5.2fx limit\n", dma_wr,
	       dma_wr / lim);
	printf("\npieces of the cycle, measured alone (this run):\n");
	printf("  madvise(MADV_POPULATE_WRITE, 4 KiB), the local source's "
	       "pin:  %6.0f ns\n",
	       madv);
	printf("  3 tables the old way (aligned_alloc, zero, scan 512, free; "
	       "not the pool): %6.0f ns\n",
	       tabs);
	printf("  recursive mutex lock+unlock (engine lock):               "
	       " %6.1f ns\n",
	       mtx);
	printf("  rwlock rdlock+unlock (dma_lock, per DMA):                "
	       " %6.1f ns\n",
	       rwn);

	summary("(a) map+DMA+unmap 4K/512B, engine: %.0f ns/cycle = %.1fx "
		"limit %.0f ns (target <300 ns); map %.0f, dma %.0f, unmap "
		"%.0f ns",
		rd, rd / lim, lim, ph[0], ph[1], ph[2]);
	summary("(a) same, trusted local source (no pin syscall): %.0f "
		"ns/cycle = %.1fx limit",
		tr, tr_lim);
	summary("(a) same, neighbour keeps tables: %.0f ns/cycle = %.1fx; "
		"steady DMA read 512B %.0f ns = %.2fx",
		nb, nb / lim, dma_rd, dma_rd / lim);
	target("map-dma-unmap-4K-trusted-vs-limit", tr_lim, false, 20);
	target("map-dma-unmap-4K-validating-vs-trusted+madvise", val_tr, false,
	       1.5);
	free(keep);
	free(c->page);
	free(c);
	return 0;
}
