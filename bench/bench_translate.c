/* SPDX-License-Identifier: MIT */
/*
 * (b) Random translation: ufd_dma_read of 8 bytes at random mapped IOVAs,
 * with 1, 64, 1024, 16384 and 65536 mappings of 4 KiB each, in four
 * layouts:
 *
 *   sparse     IOVAs scattered at random over 1 TiB: nearly every mapping
 *              has a leaf table of its own (the worst case for caches)
 *   clustered  every other 4 KiB page of a window, in random order: leaf
 *              tables are shared (256 mappings each)
 *
 * each with a backing page per mapping (the data read is a cache miss too
 * once 4 KiB x N outgrows the caches) or one backing page for all (only
 * the tables grow: the translation's own scaling).
 *
 * The target is a flat cost: a walk is O(levels), whatever the number of
 * mappings.  What is not flat is the memory hierarchy: more mappings touch
 * more table and data cache lines.  So the limit for each size is an ideal
 * walker measured in the same run: a hand-written 4-level radix walk over
 * tables of the same shape (its own copy, same IOVAs, same backing pages,
 * tables in the same kind of memory) plus the 8-byte copy, with no call,
 * lock or check.  engine / ideal shows
 * the engine's own overhead per size; ideal(65536) / ideal(1) shows what
 * the machine charges for the larger footprint.  Engine and ideal are
 * timed in rounds (common.h: paired timing), the same lookups each, each
 * timed run after an untimed one of the same side; engine / ideal is the
 * median of the per-round ratios.
 *
 * Last, DMA in parallel: the same 8-byte reads from 1 and from 2 threads,
 * each with its own DMA port on the device (1024 clustered mappings, one
 * shared page), against the ideal walker run the same way: the aggregate
 * rate shows whether the DMA path's read side scales (1 and 2 threads
 * alternated in rounds, the speed-up the median of the per-round ratios).
 *
 * IOVA intervals are [iova, iova + length).  The parallel part runs
 * threads that share only read-only data and a stop flag.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#define NSIZES 5
#define MAXMAP 65536U
#define SEQ (1U << 18) /* precomputed random lookups, cycled */
#define FLAGS (UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE)
#define SPARSE_BASE (1ULL << 40)
#define CLUSTER_BASE (1ULL << 36)
/* Paired timing (common.h): rounds of one run of each side. */
#define ROUNDS 11
#define RUN_MS 6
#define PAR_ROUNDS 9

static const unsigned int sizes[NSIZES] = { 1, 64, 1024, 16384, 65536 };

/*
 * The ideal walker's own radix tree: 4 levels of 512-entry tables, carved
 * from 2 MiB chunks marked for transparent huge pages, as the engine's
 * tables are (engine/pgtable.c): the two walks then have the same TLB
 * reach, and engine / ideal is the walk's own overhead.
 */
#define IDEAL_CHUNK (2UL << 20)
#define IDEAL_MAX_CHUNKS 256 /* 512 MiB of tables: 131072 */

struct ideal {
	uint64_t *root;
	uint64_t nr_tables;
	char *chunk[IDEAL_MAX_CHUNKS];
	unsigned int nr_chunks;
	size_t used; /* bytes of the last chunk handed out */
};

static uint64_t *ideal_table(struct ideal *t)
{
	uint64_t *p;

	if (!t->nr_chunks || t->used == IDEAL_CHUNK) {
		if (t->nr_chunks == IDEAL_MAX_CHUNKS)
			die("ideal_table: too many tables", -12);
		t->chunk[t->nr_chunks] = map_at_skew(IDEAL_CHUNK, IDEAL_CHUNK,
						     0, 0);
		if (!t->chunk[t->nr_chunks])
			die("mmap", -12);
		(void)madvise(t->chunk[t->nr_chunks], IDEAL_CHUNK,
			      MADV_HUGEPAGE);
		t->nr_chunks++;
		t->used = 0;
	}
	p = (uint64_t *)(void *)(t->chunk[t->nr_chunks - 1] + t->used);
	t->used += PAGE;
	t->nr_tables++;
	return p; /* fresh anonymous memory: zero */
}

static void ideal_map(struct ideal *t, uint64_t iova, uint64_t host)
{
	uint64_t *tab = t->root;
	unsigned int l;

	for (l = 3; l; l--) {
		uint64_t *e = &tab[(iova >> (12 + 9 * l)) & 511];

		if (!*e)
			*e = (uintptr_t)ideal_table(t) | 1;
		tab = (uint64_t *)(uintptr_t)(*e & ~4095ULL);
	}
	tab[(iova >> 12) & 511] = host | 3;
}

static void ideal_free(struct ideal *t)
{
	while (t->nr_chunks)
		unmap_at_skew(t->chunk[--t->nr_chunks], IDEAL_CHUNK);
	t->root = NULL;
	t->used = 0;
}

struct lookup {
	struct bench_env *env;
	struct ideal ideal;
	uint64_t *seq;  /* SEQ IOVAs to read at, random mapped ones */
	uint64_t sink;
};

/*
 * The port and the lookups are held in locals, as the ideal walker holds
 * its root and lookups: an embedder's DMA loop keeps its port in a
 * register, and reloading them through @lk after each (opaque) call would
 * charge the engine for the bench's own loads.
 */
static void engine_body(void *p, uint64_t iters)
{
	struct lookup *lk = p;
	struct ufd_dma *dma = lk->env->dma;
	const uint64_t *seq = lk->seq;
	uint64_t i, v, s = 0;

	for (i = 0; i != iters; i++) {
		CHECK(ufd_dma_read(dma, seq[i & (SEQ - 1)], &v, sizeof(v)));
		s += v;
	}
	lk->sink += s;
}

static void ideal_body(void *p, uint64_t iters)
{
	struct lookup *lk = p;
	uint64_t i, v, s = 0;

	for (i = 0; i != iters; i++) {
		uint64_t iova = lk->seq[i & (SEQ - 1)], e = 0, *t;
		unsigned int l;

		t = lk->ideal.root;
		for (l = 3;; l--) {
			e = t[(iova >> (12 + 9 * l)) & 511];
			if (!l)
				break;
			t = (uint64_t *)(uintptr_t)(e & ~4095ULL);
		}
		memcpy(&v, (char *)(uintptr_t)(e & ~4095ULL) + (iova & 4095),
		       (size_t)opaque(sizeof(v)));
		s += v;
	}
	lk->sink += s;
	escape(&lk->sink);
}

/* A bijection of [0, 2^bits): distinct pseudo-random page numbers. */
static uint64_t scramble(uint64_t x, unsigned int bits)
{
	uint64_t mask = (1ULL << bits) - 1;

	x = (x * 0x9E3779B97F4A7C15ULL) & mask;
	x ^= x >> (bits / 2 + 1);
	x = (x * 0xC2B2AE3D27D4EB4FULL) & mask;
	x ^= x >> (bits / 3 + 1);
	return x;
}

static uint64_t iova_of(bool sparse, unsigned int i, unsigned int n)
{
	unsigned int bits = 1;
	uint64_t x = i;

	if (sparse)
		return SPARSE_BASE + scramble(i, 28) * PAGE; /* 1 TiB */
	/*
	 * Every other page of a 2n-page window, shuffled: a bijection of
	 * [0, 2^bits) restricted to [0, n) by walking its cycles.
	 */
	while ((1U << bits) < n)
		bits++;
	do
		x = scramble(x, bits);
	while (x >= n);
	return CLUSTER_BASE + x * 2 * PAGE;
}

/* ---- parallel DMA ---- */

struct worker {
	struct lookup *lk;
	struct ufd_dma *dma;   /* NULL: the ideal walker */
	int *stop;             /* set by the main thread */
	uint64_t ops;
	uint64_t sink;
	pthread_t th;
};

static void *worker_main(void *p)
{
	struct worker *w = p;
	uint64_t i = 0, v, s = 0;

	while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
		unsigned int k;

		for (k = 0; k != 1024; k++, i++) {
			uint64_t iova = w->lk->seq[i & (SEQ - 1)];

			if (w->dma) {
				CHECK(ufd_dma_read(w->dma, iova, &v,
						   sizeof(v)));
			} else {
				uint64_t e = 0, *t = w->lk->ideal.root;
				unsigned int l;

				for (l = 3;; l--) {
					e = t[(iova >> (12 + 9 * l)) & 511];
					if (!l)
						break;
					t = (uint64_t *)(uintptr_t)(e &
								    ~4095ULL);
				}
				memcpy(&v,
				       (char *)(uintptr_t)(e & ~4095ULL) +
					       (iova & 4095),
				       (size_t)opaque(sizeof(v)));
			}
			s += v;
		}
	}
	w->ops = i;
	w->sink = s;
	return NULL;
}

/* One parallel run: @n threads for 150 ms; a side of bench_rounds whose
 * figure is the aggregate ns per read (ops: the reads of all threads). */
struct par_run {
	struct lookup *lk;
	struct ufd_dma **ports; /* NULL: the ideal walker */
	unsigned int n;
	uint64_t ops;
};

static void parallel_body(void *p, uint64_t iters)
{
	struct par_run *pr = p;
	struct worker w[2];
	int stop = 0;
	unsigned int t;

	(void)iters; /* one run: the window is the count */
	pr->ops = 0;
	for (t = 0; t != pr->n; t++) {
		w[t] = (struct worker){ .lk = pr->lk,
					.dma = pr->ports ? pr->ports[t] : NULL,
					.stop = &stop };
		if (pthread_create(&w[t].th, NULL, worker_main, &w[t]))
			die("pthread_create", -11);
	}
	usleep(150000); /* sleeping: the CPUs are the workers' */
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (t = 0; t != pr->n; t++) {
		pthread_join(w[t].th, NULL);
		pr->ops += w[t].ops;
		pr->lk->sink += w[t].sink;
	}
}

struct layout {
	bool sparse;
	bool shared;   /* one backing page for every mapping */
	const char *name;
};

static const struct layout layouts[] = {
	{ true, false, "sparse IOVAs, page per mapping" },
	{ false, false, "clustered IOVAs, page per mapping" },
	{ true, true, "sparse IOVAs, one shared page" },
	{ false, true, "clustered IOVAs, one shared page" },
};
#define NLAY (sizeof(layouts) / sizeof(layouts[0]))

int main(void)
{
	struct bench_env env;
	struct lookup lk = { 0 };
	double eng_ns[NLAY][NSIZES], ideal_ns[NLAY][NSIZES];
	double ratio[NLAY][NSIZES], ratio_q1[NLAY][NSIZES], ratio_q3[NLAY][NSIZES];
	double heap_per[NLAY][NSIZES], par_eng[2], par_ideal[2];
	double par_eng_up, par_ideal_up, par_q1, par_q3;
	uint64_t st = 0x1234567887654321ULL, tables[NLAY][NSIZES];
	char *backing;
	unsigned int s, i, lay;

	header("(b) random translation: ufd_dma_read of 8 B at random "
	       "mapped IOVAs");
	backing = map_at_skew(MAXMAP * PAGE, PAGE, 0, 0);
	lk.seq = malloc(SEQ * sizeof(*lk.seq));
	if (!backing || !lk.seq)
		die("mmap", -12);
	populate(backing, MAXMAP * PAGE);
	for (i = 0; i != MAXMAP; i++)
		*(uint64_t *)(backing + (uint64_t)i * PAGE) = i;

	env_open(&env, PAGE, false);
	lk.env = &env;
	for (lay = 0; lay != NLAY; lay++) {
		const struct layout *ly = &layouts[lay];

		for (s = 0; s != NSIZES; s++) {
			unsigned int n = sizes[s];
			uint64_t *iovas = malloc(n * sizeof(*iovas));
			uint64_t heap0, v;

			if (!iovas)
				die("malloc", -12);
			heap0 = heap_bytes();
			for (i = 0; i != n; i++) {
				uint64_t iova = iova_of(ly->sparse, i, n);
				uint64_t host = (uintptr_t)backing +
						(ly->shared ? 0 : i * PAGE);

				iovas[i] = iova;
				CHECK(ufd_ioas_map(env.ctx, env.ioas_id,
						   env.src, host, PAGE, &iova,
						   FLAGS));
			}
			heap_per[lay][s] =
				(double)(heap_bytes() - heap0) / (double)n;
			lk.ideal.nr_tables = 0;
			lk.ideal.root = ideal_table(&lk.ideal);
			for (i = 0; i != n; i++)
				ideal_map(&lk.ideal, iovas[i],
					  (uintptr_t)backing +
						  (ly->shared ? 0 : i * PAGE));
			for (i = 0; i != SEQ; i++) {
				uint64_t r = rnd(&st);

				lk.seq[i] = iovas[r % n] + ((r >> 32) & 4088);
			}
			/* The engine reads what the ideal walker reads. */
			CHECK(ufd_dma_read(env.dma, iovas[n - 1], &v,
					   sizeof(v)));
			if (v != (ly->shared ? 0 : n - 1))
				die("ufd_dma_read returned wrong data", -5);
			/* Engine and ideal alternated, the same lookups each
			 * run: the median of the per-round ratios. */
			{
				struct bench_side sd[2] = {
					{ .fn = engine_body, .arg = &lk,
					  .warm = true },
					{ .fn = ideal_body, .arg = &lk,
					  .warm = true },
				};

				bench_rounds(sd, 2, RUN_MS, ROUNDS, true);
				eng_ns[lay][s] = sd[0].med;
				ideal_ns[lay][s] = sd[1].med;
				ratio[lay][s] = bench_round_ratio(
					sd, 0, 1, ROUNDS, &ratio_q1[lay][s],
					&ratio_q3[lay][s]);
			}
			tables[lay][s] = lk.ideal.nr_tables;
			CHECK(ufd_ioas_unmap(env.ctx, env.ioas_id, 0, UINT64_MAX,
					     NULL));
			ideal_free(&lk.ideal);
			free(iovas);
		}
	}

	/* Parallel DMA: 1024 clustered mappings of one shared page. */
	{
		struct ufd_dma *ports[2] = { env.dma, NULL };
		uint64_t *iovas = malloc(1024 * sizeof(*iovas));

		if (!iovas)
			die("malloc", -12);
		CHECK(ufd_dma_open(env.ctx, env.dev_id, &ports[1]));
		lk.ideal.nr_tables = 0;
		lk.ideal.root = ideal_table(&lk.ideal);
		for (i = 0; i != 1024; i++) {
			uint64_t iova = iova_of(false, i, 1024);

			iovas[i] = iova;
			CHECK(ufd_ioas_map(env.ctx, env.ioas_id, env.src,
					   (uintptr_t)backing, PAGE, &iova,
					   FLAGS));
			ideal_map(&lk.ideal, iovas[i], (uintptr_t)backing);
		}
		for (i = 0; i != SEQ; i++) {
			uint64_t r = rnd(&st);

			lk.seq[i] = iovas[r % 1024] + ((r >> 32) & 4088);
		}
		/* 1 and 2 threads of each alternated (e1 e2 i1 i2, then
		 * i2 i1 e2 e1, ...): the speed-ups are per-round ratios. */
		{
			struct par_run pr[4] = {
				{ &lk, ports, 1, 0 }, { &lk, ports, 2, 0 },
				{ &lk, NULL, 1, 0 }, { &lk, NULL, 2, 0 },
			};
			struct bench_side sd[4];

			for (i = 0; i != 4; i++)
				sd[i] = (struct bench_side){
					.fn = parallel_body, .arg = &pr[i],
					.iters = 1, .ops = &pr[i].ops };
			bench_rounds(sd, 4, 0, PAR_ROUNDS, false);
			par_eng[0] = sd[0].med;
			par_eng[1] = sd[1].med;
			par_ideal[0] = sd[2].med;
			par_ideal[1] = sd[3].med;
			par_eng_up = bench_round_ratio(sd, 0, 1, PAR_ROUNDS,
						       &par_q1, &par_q3);
			par_ideal_up = bench_round_ratio(sd, 2, 3, PAR_ROUNDS,
							 NULL, NULL);
		}
		ufd_dma_close(ports[1]);
		CHECK(ufd_ioas_unmap(env.ctx, env.ioas_id, 0, UINT64_MAX,
				     NULL));
		ideal_free(&lk.ideal);
		free(iovas);
	}
	env_close(&env);

	printf("ideal = a bare 4-level walk + 8 B copy over a copy of the "
	       "same tables\n(the limit, measured in this run); heap = "
	       "engine malloc bytes per mapping;\nengine and ideal alternated "
	       "in %u rounds: ns are each side's median,\nengine/ideal the "
	       "median of the per-round ratios (quartiles in brackets)\n",
	       ROUNDS);
	for (lay = 0; lay != NLAY; lay++) {
		printf("\n%s:\n", layouts[lay].name);
		printf("  mappings  tables  heap/map   engine ns  ideal ns  "
		       "engine/ideal\n");
		for (s = 0; s != NSIZES; s++)
			printf("  %8u  %6llu  %8.0f   %9.1f  %8.1f  %8.2fx "
			       "[%.2f-%.2f]\n",
			       sizes[s], (unsigned long long)tables[lay][s],
			       heap_per[lay][s], eng_ns[lay][s],
			       ideal_ns[lay][s], ratio[lay][s],
			       ratio_q1[lay][s], ratio_q3[lay][s]);
		printf("  65536 vs 1: engine %.2fx, ideal walker %.2fx "
		       "(target <= 2x)\n",
		       eng_ns[lay][NSIZES - 1] / eng_ns[lay][0],
		       ideal_ns[lay][NSIZES - 1] / ideal_ns[lay][0]);
	}
	printf("\nparallel DMA, 1024 clustered mappings, aggregate ns per "
	       "8 B read (machine has %ld CPUs):\n",
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("  1 thread: engine %.1f, ideal %.1f;  2 threads: engine %.1f, "
	       "ideal %.1f\n",
	       par_eng[0], par_ideal[0], par_eng[1], par_ideal[1]);
	printf("  speed-up from a second thread (median of %u rounds): engine "
	       "%.2fx [%.2f-%.2f], ideal %.2fx (engine/ideal %.2f)\n",
	       PAR_ROUNDS, par_eng_up, par_q1, par_q3, par_ideal_up,
	       par_eng_up / par_ideal_up);
	printf("  (an ideal speed-up well under 2x means the second CPU was "
	       "busy with\n   other work during the run: then only the "
	       "engine/ideal figure means anything)\n");
	for (lay = 0; lay != NLAY; lay++)
		summary("(b) translate 8B, %s: %.0f/%.0f/%.0f/%.0f/%.0f ns at "
			"1/64/1K/16K/64K maps; 64K vs 1 = %.2fx (ideal %.2fx); "
			"engine/ideal %.1fx..%.1fx",
			layouts[lay].name, eng_ns[lay][0], eng_ns[lay][1],
			eng_ns[lay][2], eng_ns[lay][3], eng_ns[lay][4],
			eng_ns[lay][NSIZES - 1] / eng_ns[lay][0],
			ideal_ns[lay][NSIZES - 1] / ideal_ns[lay][0],
			ratio[lay][0], ratio[lay][NSIZES - 1]);
	summary("(b) parallel DMA read, 2 threads vs 1: engine %.2fx, ideal "
		"walker %.2fx (aggregate rate; engine/ideal %.2f)",
		par_eng_up, par_ideal_up, par_eng_up / par_ideal_up);
	target("dma-read-2-threads-vs-1", par_eng_up, true, 1.8);
	for (lay = 0; lay != NLAY; lay++) {
		double worst = 0;
		char name[64];
		unsigned int sz;

		for (sz = 0; sz != NSIZES; sz++)
			if (ratio[lay][sz] > worst)
				worst = ratio[lay][sz];
		snprintf(name, sizeof(name), "engine-walk-vs-bare-%s-1..64K",
			 layouts[lay].name);
		target(name, worst, false, 1.5);
	}
	escape(&lk.sink);
	free(lk.seq);
	unmap_at_skew(backing, MAXMAP * PAGE);
	return 0;
}
