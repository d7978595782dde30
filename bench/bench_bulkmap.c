/* SPDX-License-Identifier: MIT */
/*
 * (c) Bulk map of 1 GiB of pre-populated memory into an IOAS whose
 * attached device allows 4 KiB | 2 MiB | 1 GiB IO pages: ufd_ioas_map
 * (which pins the memory and fills the domain) against mlock() + munlock()
 * of the same memory, the limit, measured in the same run.
 *
 * Cases:
 *   4 KiB backing, the buffer 4 KiB off a 2 MiB boundary: only 4 KiB
 *     leaves fit (the worst case: 262144 entries, 512 leaf tables)
 *   4 KiB backing, the buffer 1 GiB aligned: the engine's "physical"
 *     address is its own virtual address, so alignment alone decides the
 *     leaf size (one 1 GiB leaf here), whatever backs the memory
 *   2 MiB backing (hugetlbfs pages when /proc/sys/vm/nr_hugepages can be
 *     raised, which the bench does as root and restores; else THP through
 *     MADV_HUGEPAGE, and it says which), the buffer 2 MiB off a 1 GiB
 *     boundary: 512 leaves of 2 MiB
 *
 * For each: map time, unmap time, mlock+munlock time, the ratio, the leaf
 * sizes in use (ufd_hwpt_page_sizes), and memory: growth of the engine's
 * malloc heap and of RSS per GiB mapped, next to the tables the leaves
 * need (the engine does not report its table count: computed).  Also the
 * local source's pin on its own: madvise(MADV_POPULATE_WRITE) of 1 GiB.
 *
 * IOVA intervals are [iova, iova + length).  Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define LEN GiB
#define RUNS 5
#define IOVA_4K (64 * GiB)
#define IOVA_1G (64 * GiB)
#define IOVA_2M (64 * GiB + 2 * MiB)
#define FLAGS (UFD_MAP_FIXED_IOVA | UFD_MAP_READ | UFD_MAP_WRITE)
#define NR_HUGE_PATH "/proc/sys/vm/nr_hugepages"

static long added_huge;      /* pages this bench added to the pool */
static char saved_text[32]; /* the value to restore, for the signal path */

/* Take back what we added, keeping what others changed meanwhile. */
static void restore_hugepages(void)
{
	long now;

	if (!added_huge)
		return;
	now = read_long_file(NR_HUGE_PATH);
	if (now >= 0)
		write_long_file(NR_HUGE_PATH,
				now > added_huge ? now - added_huge : 0);
	added_huge = 0;
}

/* Interrupted while the pool is raised: put it back, then die. */
static void restore_on_signal(int sig)
{
	int fd = open(NR_HUGE_PATH, O_WRONLY);

	if (fd >= 0) {
		if (write(fd, saved_text, strlen(saved_text)) < 0) {
			/* nothing more to do */
		}
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

struct result {
	const char *name;
	double map_ms, unmap_ms, lock_ms, pin_ms;
	uint64_t sizes[6], counts[6];
	unsigned int nsizes;
	double heap_per_gib, rss_per_gib;
	uint64_t need_tables;
};

/*
 * The tables a mapping of [iova, iova + LEN) with leaves of one size needs
 * in a 4-level table (leaf tables up to the root): computed, since the
 * engine does not report its table count.
 */
static uint64_t tables_needed(const struct result *r, uint64_t iova)
{
	uint64_t last = iova + LEN - 1, leaf = PAGE, best = 0, t = 0;
	unsigned int k, l, lvl = 0;

	for (k = 0; k != r->nsizes && k != 6; k++)
		if (r->counts[k] > best) {
			best = r->counts[k];
			leaf = r->sizes[k];
		}
	while ((PAGE << (9 * lvl)) < leaf)
		lvl++;
	for (l = lvl; l != 4; l++) {
		unsigned int shift = 12 + 9 * (l + 1);

		t += (last >> shift) - (iova >> shift) + 1;
	}
	return t;
}

/*
 * The kernel activates a page on the LRU the second time it is touched
 * (GUP with FOLL_TOUCH), and munlock puts pages back on the inactive list:
 * the first pin after munlock costs about twice a later one.  Every timed
 * call below starts with the pages active (one untimed populate after the
 * munlock), so map, pin and mlock see the same state.
 */
static void settle(char *buf)
{
	if (madvise(buf, LEN, MADV_POPULATE_WRITE))
		die("madvise(MADV_POPULATE_WRITE)", -errno);
}

static void run_case(struct bench_env *env, struct result *r, char *buf,
		     uint64_t iova0)
{
	double map[RUNS], unmap[RUNS], lock[RUNS], pin[RUNS];
	unsigned int k;

	for (k = 0; k != RUNS + 1; k++) {
		uint64_t iova = iova0, t0, heap0 = 0, rss0 = 0;
		unsigned int n;

		settle(buf);
		if (k == 1) {
			heap0 = heap_bytes();
			rss0 = rss_bytes();
		}
		t0 = now_ns();
		CHECK(ufd_ioas_map(env->ctx, env->ioas_id, env->src,
				   (uintptr_t)buf, LEN, &iova, FLAGS));
		if (k)
			map[k - 1] = (double)(now_ns() - t0) / 1e6;
		if (k == 1) {
			r->heap_per_gib =
				(double)(heap_bytes() - heap0) * GiB / LEN;
			r->rss_per_gib =
				(double)(rss_bytes() - rss0) * GiB / LEN;
			CHECK(ufd_hwpt_page_sizes(env->ctx, env->hwpt_id,
						  r->sizes, r->counts, 6, &n));
			r->nsizes = n;
		}
		t0 = now_ns();
		CHECK(ufd_ioas_unmap(env->ctx, env->ioas_id, iova0, LEN,
				     NULL));
		if (k)
			unmap[k - 1] = (double)(now_ns() - t0) / 1e6;

		t0 = now_ns();
		settle(buf);
		if (k)
			pin[k - 1] = (double)(now_ns() - t0) / 1e6;

		t0 = now_ns();
		if (mlock(buf, LEN) || munlock(buf, LEN))
			die("mlock/munlock", -errno);
		if (k)
			lock[k - 1] = (double)(now_ns() - t0) / 1e6;
	}
	r->map_ms = median(map, RUNS);
	r->unmap_ms = median(unmap, RUNS);
	r->lock_ms = median(lock, RUNS);
	r->pin_ms = median(pin, RUNS);
	r->need_tables = tables_needed(r, iova0);
}

static void leaves_str(const struct result *r, char *out, size_t len)
{
	unsigned int k;
	size_t used = 0;

	out[0] = 0;
	for (k = 0; k != r->nsizes && k != 6; k++) {
		uint64_t s = r->sizes[k];

		used += (size_t)snprintf(out + used, len - used, "%s%llu x %s",
					 k ? ", " : "",
					 (unsigned long long)r->counts[k],
					 s == GiB	 ? "1G" :
					 s == 2 * MiB ? "2M" :
					 s == PAGE	 ? "4K" :
							   "?");
		if (used >= len)
			break;
	}
}

/* 1 GiB of 2 MiB pages: hugetlbfs if it can be had, else THP. */
static char *huge_buffer(const char **how)
{
	long have = meminfo_kb("HugePages_Free");
	long want = (long)(LEN / (2 * MiB));
	char *p;

	if (have < want) {
		long nr = read_long_file(NR_HUGE_PATH);

		if (nr >= 0) {
			snprintf(saved_text, sizeof(saved_text), "%ld\n", nr);
			signal(SIGINT, restore_on_signal);
			signal(SIGTERM, restore_on_signal);
			signal(SIGHUP, restore_on_signal);
			if (!write_long_file(NR_HUGE_PATH, nr + want - have)) {
				added_huge = want - have;
				atexit(restore_hugepages);
			}
		}
		have = meminfo_kb("HugePages_Free");
	}
	if (have >= want) {
		p = map_at_skew(LEN, GiB, 2 * MiB, MAP_HUGETLB | MAP_POPULATE);
		if (p) {
			*how = "hugetlbfs 2 MiB pages (MAP_HUGETLB)";
			return p;
		}
	}
	restore_hugepages();
	p = map_at_skew(LEN, GiB, 2 * MiB, 0);
	if (!p)
		return NULL;
	madvise(p, LEN, MADV_HUGEPAGE);
	populate(p, LEN);
	*how = "THP (MADV_HUGEPAGE)";
	return p;
}

int main(void)
{
	struct result res[3] = { { .name = "4 KiB backing, 4K-aligned VA" },
				 { .name = "4 KiB backing, 1G-aligned VA" },
				 { .name = "2 MiB backing, 2M-aligned VA" } };
	struct bench_env env;
	const char *how = "?";
	uint64_t thp = 0;
	char *buf;
	unsigned int i;
	char leaves[128];

	header("(c) bulk map of 1 GiB (pin + fill) vs mlock+munlock");
	printf("limits (this run): memcpy %.1f GB/s, page fault %.0f ns\n",
	       limit_memcpy_gbps(64 * MiB), limit_page_fault_ns());
	env_open(&env, PAGE | 2 * MiB | GiB, false);

	buf = map_at_skew(LEN, 2 * MiB, 4 * KiB, 0);
	if (!buf)
		die("mmap 1 GiB", -ENOMEM);
	madvise(buf, LEN, MADV_NOHUGEPAGE);
	populate(buf, LEN);
	run_case(&env, &res[0], buf, IOVA_4K);
	unmap_at_skew(buf, LEN);

	buf = map_at_skew(LEN, GiB, 0, 0);
	if (!buf)
		die("mmap 1 GiB", -ENOMEM);
	madvise(buf, LEN, MADV_NOHUGEPAGE);
	populate(buf, LEN);
	run_case(&env, &res[1], buf, IOVA_1G);
	unmap_at_skew(buf, LEN);

	buf = huge_buffer(&how);
	if (!buf)
		die("mmap 1 GiB of 2 MiB pages", -ENOMEM);
	thp = thp_bytes();
	run_case(&env, &res[2], buf, IOVA_2M);
	unmap_at_skew(buf, LEN);
	restore_hugepages();
	env_close(&env);

	printf("2 MiB backing: %s", how);
	if (!strncmp(how, "THP", 3))
		printf(", %llu MiB of it THP", (unsigned long long)(thp / MiB));
	printf("\n\n%-30s %8s %8s %10s %7s %10s\n", "1 GiB, ms, medians of 5",
	       "map", "unmap", "mlock+unl", "map/ml", "pin alone");
	for (i = 0; i != 3; i++)
		printf("%-30s %8.3f %8.3f %10.3f %6.2fx %10.3f\n", res[i].name,
		       res[i].map_ms, res[i].unmap_ms, res[i].lock_ms,
		       res[i].map_ms / res[i].lock_ms, res[i].pin_ms);
	printf("(pin alone: madvise(MADV_POPULATE_WRITE) of the 1 GiB, what "
	       "the local source's pin does)\n");
	printf("\nleaves and memory per GiB mapped:\n");
	for (i = 0; i != 3; i++) {
		leaves_str(&res[i], leaves, sizeof(leaves));
		printf("  %-30s leaves %-14s tables ~%llu (%llu KiB); "
		       "heap +%.0f KiB, RSS +%.0f KiB\n",
		       res[i].name, leaves,
		       (unsigned long long)res[i].need_tables,
		       (unsigned long long)res[i].need_tables * 4,
		       res[i].heap_per_gib / KiB, res[i].rss_per_gib / KiB);
	}
	leaves_str(&res[2], leaves, sizeof(leaves));
	summary("(c) map 1 GiB, 4K leaves: %.3g ms = %.2fx mlock+munlock "
		"(%.3g ms; target <=1.5x); unmap %.3g ms; heap +%.0f KiB/GiB",
		res[0].map_ms, res[0].map_ms / res[0].lock_ms, res[0].lock_ms,
		res[0].unmap_ms, res[0].heap_per_gib / KiB);
	summary("(c) map 1 GiB, 4K backing 1G-aligned: %.3g ms = %.2fx "
		"mlock+munlock (%.3g ms)",
		res[1].map_ms, res[1].map_ms / res[1].lock_ms, res[1].lock_ms);
	summary("(c) map 1 GiB, %s: %.3g ms = %.2fx mlock+munlock (%.3g ms); "
		"leaves %s",
		how, res[2].map_ms, res[2].map_ms / res[2].lock_ms,
		res[2].lock_ms, leaves);
	return 0;
}
