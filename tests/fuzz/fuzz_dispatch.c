/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the uapi dispatch layer (ufd_dispatch_ioctl, and the
 * fault fd's read/write) and, through it, the whole engine.
 *
 * Memory.  The engine reaches caller memory only through a struct
 * ufd_source, so the harness gives it a sandbox: a 1 MiB heap arena
 * presented at the fake, page-aligned address ARENA_BASE.  read/write/pin
 * succeed only for ranges fully inside [ARENA_BASE, ARENA_BASE + 1 MiB),
 * anything else is -EFAULT; pin returns a pointer into the arena.  Random
 * pointers in fuzzed structs can therefore never touch the fuzzer's own
 * memory.  The source keeps a shadow model: a pin count per arena page
 * (pin/unpin must be page aligned, balanced and inside the arena), which
 * after every call must equal what ufd_engine_page_pins() reports, and must
 * be zero once everything is closed.  host_ident() insists on a pointer
 * that pin() returned (inside the arena).
 *
 * Caller.  One struct ufd_caller with that source and a root-like cred
 * (cap_sys_resource; cap_ipc_lock and RLIMIT_MEMLOCK from the input).  Its
 * fd hooks keep a small table of fake fds (lowest free number from 3, like
 * the kernel): make_fd takes a context reference as the shim does,
 * unmake_fd drops it, resolve_fd answers -EBADF / -ENOENT as documented.
 * Closing a fake fd does what the shim does on the last close: access fds
 * ufd_access_destroy(), fault fds ufd_fault_release_fd(), then ufd_ctx_put().
 *
 * Input.  byte 0 configures the run (engine: fresh or the default one;
 * cap_ipc_lock; memlock limit; teardown order).  Then up to MAX_OPS
 * records, each a length byte and that many bytes: a selector, a modifier
 * and the bytes the operation's fields consume, in order (bytes past the
 * record read as zero, so records stay independent under mutation):
 *   - an ioctl from the real command table (ufd_ioctl_at), IOMMU_TEST_CMD
 *     with its ops (accesses on the fake access fds, mock domains, dirty
 *     bits, IOTLB checks, page faults), VFIO type1 calls, a random number;
 *   - DMA by a device through its HWPT (ufd_dma_*), checked against its
 *     own scatter list, which must point into the arena;
 *   - read/write on a fake fault fd; closing a fake fd; closing and
 *     reopening a context (two contexts share the engine, so fds of the
 *     other one resolve to -ENOENT).
 * Fields are biased: IDs small (0..8, IDs calls returned, fd numbers),
 * IOVAs and lengths page multiples, remembered mappings or edge values,
 * pointers mostly into the arena, arrays (ranges, invalidation entries,
 * bitmaps, HWPT data) in a scratch area of the arena.  The modifier chooses
 * where the struct goes (the command slot, across the arena's end, NULL,
 * random), its size field (exact, min_size, min_size - 1, larger with a
 * zero or a nonzero tail) and fault injection: ufd_fail_nth(k) on engine
 * allocations, or a failing k-th access to the memory source; both are
 * disarmed after the call.
 *
 * Checks after every call, any failure abort()s for libFuzzer to report
 * (a call that changed nothing observable, by the digest below, is
 * checked with the next operation that may change something, or at the
 * end of the input: see check_later()):
 *   - ufd_engine_check() == 0, and the source's pin model;
 *   - every paging HWPT's page table passes pgt_check() and maps exactly
 *     the areas of its IOAS, each to the page the caller sees at the
 *     area's address (nothing stale);
 *   - a digest of the observable state (objects, areas, IOVA ranges,
 *     options, HWPT leaves, fault queues, charges, pins) is unchanged by a
 *     call that failed or that only reads ("a failed call leaves the state
 *     unchanged", uiommufd.h), except where the kernel also keeps partial
 *     effects (UNMAP, OPTION SET, MOCK_DOMAIN_REPLACE whose reply cannot be
 *     written; ACCESS_REPLACE_IOAS);
 *   - MD_CHECK_REFS answers agree with the pin model; IOAS_ALLOC returns an
 *     IOAS that exists.
 * At the end of each input every fd and context is closed; then no pin, no
 * source reference, no charge and no pages object may remain, and the
 * engine is freed (LeakSanitizer sees the rest).  Besides the public API
 * the harness reads a few engine internals (engine.h): a context's ID
 * range and object count, a paging HWPT's IOAS and page table (pgt_check),
 * the engine's lists.
 *
 * Cost.  The checks are most of the work per input, so: the digest after
 * one call is reused as the one before the next; the engine's pin counts
 * come from one walk of its pages index (with ufd_engine_page_pins() on
 * the pinned pages and one more page per check); only the arena pages an
 * input wrote or pinned are cleared for the next; and the checking
 * functions are not coverage-instrumented (tests/fuzz/nocov.txt), though
 * still under ASan.
 *
 * Environment: UFD_FUZZ_TRACE=1 prints every call and, on a state change,
 * the digest's input before and after, and checks after every call (for
 * triage of a crash file).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>
#include <linux/vfio.h>
#include "iommufd_test.h"

#include "engine/engine.h"
#include "engine/pgtable.h"
#include "uapi/dispatch.h"
#include "uiommufd.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

#define PAGE 4096ULL
#define ARENA_BASE 0x10000000ULL
#define ARENA_SIZE (1ULL << 20)
#define NPAGES (ARENA_SIZE / PAGE)
/* Where command structs normally go, and the scratch for arrays. */
#define CMD_OFF (ARENA_SIZE - 1024)
#define SCRATCH_OFF (ARENA_SIZE - 4 * PAGE)

#define MAX_OPS 64
#define MAX_FDS 16
#define FD_BASE 3
#define MAX_REMEMBER 8
#define CALL_BUF 512

#define FAKE_UID 4243
#define FAKE_PID 4242

/* ---- failure reporting --------------------------------------------------- */

__attribute__((noreturn, format(printf, 1, 2))) static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_dispatch: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#include "sandbox.h"

/* ---- state of one input -------------------------------------------------- */


struct fake_fd {
	bool used;
	enum ufd_fd_kind kind;
	uint32_t obj_id;
	struct ufd_ctx *ctx;
};

struct mapping {
	uint64_t iova, length, uptr;
};

static struct state {
	const uint8_t *p;
	size_t n;
	struct sandbox sb;
	struct ufd_engine *eng;
	bool own_engine;
	struct ufd_cred cred;
	struct ufd_ctx *ctx[2];
	struct ufd_caller caller;
	struct fake_fd fds[MAX_FDS];
	uint32_t ids[MAX_REMEMBER];   /* IDs calls returned (IOAS, HWPT, ...) */
	unsigned int n_ids;
	uint32_t last_fault_id;
	struct mapping maps[MAX_REMEMBER];
	unsigned int n_maps;
	uint32_t pages_ids[MAX_REMEMBER];
	unsigned int n_pages_ids;
	/*
	 * The state digest, while nothing changed since it was computed
	 * (the digest after one call is the one before the next).
	 */
	bool digest_valid;
	uint64_t digest;
	/* The first call since the last check_all() whose check waits. */
	const char *unchecked;
} S;

static uint8_t *arena; /* allocated once, its dirty pages cleared per input */
/* Arena pages an input may have written: the next one clears only those. */
static uint8_t arena_dirty[NPAGES];
static bool trace; /* UFD_FUZZ_TRACE=1: print every call (triage) */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- input bytes --------------------------------------------------------- */

static uint8_t u8(void)
{
	if (!S.n)
		return 0;
	S.n--;
	return *S.p++;
}

static uint16_t u16(void)
{
	uint16_t lo = u8();

	return lo | (uint16_t)(u8() << 8);
}

static uint32_t u32(void)
{
	uint32_t lo = u16();

	return lo | (uint32_t)u16() << 16;
}

static uint64_t u64(void)
{
	uint64_t lo = u32();

	return lo | (uint64_t)u32() << 32;
}

static void remember(uint32_t *tab, unsigned int *n, uint32_t v)
{
	if (*n < MAX_REMEMBER)
		tab[(*n)++] = v;
	else
		tab[v % MAX_REMEMBER] = v;
}

static void remember_map(uint64_t iova, uint64_t length, uint64_t uptr)
{
	struct mapping m = { iova, length, uptr };

	if (S.n_maps < MAX_REMEMBER)
		S.maps[S.n_maps++] = m;
	else
		S.maps[iova / PAGE % MAX_REMEMBER] = m;
}

/* ---- biased field generators --------------------------------------------- */

static uint32_t gen_id(void)
{
	uint8_t s = u8();

	switch (s & 7) {
	case 0: case 1: case 2: case 3:
		return (s >> 3) % 9;
	case 4:
		return S.n_ids ? S.ids[(s >> 3) % S.n_ids] : 1;
	case 5:
		return FD_BASE + (s >> 3) % MAX_FDS;
	case 6:
		return (s & 8) ? UINT32_MAX - (s >> 4) : 9u + (s >> 4);
	default:
		return u32();
	}
}

/* An fd number for the access ops: mostly one of the table's slots. */
static uint32_t gen_fd(void)
{
	uint8_t s = u8();

	if (s & 3)
		return FD_BASE + (s >> 2) % MAX_FDS;
	return gen_id();
}

static uint64_t gen_iova(void)
{
	uint8_t s = u8(), v = u8();

	switch (s & 7) {
	case 0:
		return 0;
	case 1: case 2:
		return (uint64_t)v * PAGE;
	case 3:
		if (S.n_maps) {
			const struct mapping *m = &S.maps[v % S.n_maps];

			return m->iova + ((s & 0x60) ? 0 : (s >> 3) % 4 * PAGE);
		}
		return (uint64_t)v * PAGE;
	case 4:
		return u64();
	case 5:
		return UINT64_MAX - (uint64_t)v * PAGE -
		       ((s & 8) ? PAGE - 1 : 0);
	case 6:
		return (uint64_t)v * PAGE + u16() % PAGE;
	default:
		if (s & 8) /* inside the mock IOMMU's aperture */
			return MOCK_APERTURE_START + (uint64_t)v * PAGE;
		return 1ULL << (v % 64);
	}
}

/* A dirty-tracking page size: the mock IO page, the CPU page, others. */
static uint64_t gen_page_size(void)
{
	uint8_t s = u8();

	switch (s & 7) {
	case 0: case 1:
		return 2048;
	case 2: case 3:
		return PAGE;
	case 4:
		return 0;
	case 5:
		return 1ULL << ((s >> 3) % 64);
	default:
		return u64();
	}
}

static uint64_t gen_len(void)
{
	uint8_t s = u8(), v = u8();

	switch (s & 7) {
	case 0:
		return (s & 8) ? 0 : PAGE;
	case 1: case 2: case 3:
		return (1 + v % 16) * PAGE;
	case 4:
		return u64();
	case 5:
		return UINT64_MAX - (s >> 3);
	case 6:
		return 1 + u16() % (2 * PAGE);
	default:
		if (S.n_maps && !(s & 8))
			return S.maps[v % S.n_maps].length;
		return 1ULL << (v % 64);
	}
}

static uint64_t gen_uptr(void)
{
	uint8_t s = u8(), v = u8();

	switch (s & 7) {
	case 0:
		return 0;
	case 1: case 2: case 3: case 4:
		return ARENA_BASE + (uint64_t)(v % NPAGES) * PAGE;
	case 5:
		return ARENA_BASE + u32() % ARENA_SIZE;
	case 6:
		return u64();
	default:
		if (s & 8)
			return ARENA_BASE + ARENA_SIZE - (uint64_t)v * 16;
		return ARENA_BASE - PAGE + v;
	}
}

/* An IOVA/uptr/length triple inside a remembered mapping, or generated. */
static struct mapping gen_mapped(void)
{
	struct mapping r;
	uint8_t s = u8();

	if (S.n_maps && (s & 3)) {
		const struct mapping *m = &S.maps[(s >> 2) % S.n_maps];
		uint64_t pages = m->length / PAGE ? m->length / PAGE : 1;
		uint64_t first = u8() % pages, n = 1 + u8() % pages;

		r.iova = m->iova + first * PAGE;
		r.uptr = m->uptr + first * PAGE;
		r.length = n * PAGE;
		if (!(s & 0x80))
			return r;
		/* Sub-page variants. */
		r.iova += s & 0x40 ? 0 : u8();
		r.uptr += s & 0x40 ? 0 : u8();
		r.length -= (s & 0x20) ? 0 : u8() % PAGE;
		return r;
	}
	r.iova = gen_iova();
	r.length = gen_len();
	r.uptr = (s & 4) ? 0 : gen_uptr();
	return r;
}

/* Reserved fields: mostly zero. */
static uint32_t gen_rsvd(void)
{
	uint8_t s = u8();

	return s < 0xf0 ? 0 : (s & 0xf) + 1;
}

static uint32_t gen_flags(uint32_t valid)
{
	uint8_t s = u8();

	return s < 0xe0 ? (s & valid) : u32();
}

/* ---- the caller's fd table ----------------------------------------------- */

static int fake_make_fd(const struct ufd_caller *caller, struct ufd_ctx *ctx,
			enum ufd_fd_kind kind, uint32_t obj_id)
{
	unsigned int i;

	(void)caller;
	for (i = 0; i != MAX_FDS; i++) {
		if (S.fds[i].used)
			continue;
		S.fds[i] = (struct fake_fd){ .used = true, .kind = kind,
					     .obj_id = obj_id, .ctx = ctx };
		ufd_ctx_get(ctx);
		return (int)(FD_BASE + i);
	}
	return -EMFILE;
}

static struct fake_fd *fake_fd_of(int fd)
{
	if (fd < FD_BASE || fd >= FD_BASE + MAX_FDS || !S.fds[fd - FD_BASE].used)
		return NULL;
	return &S.fds[fd - FD_BASE];
}

static void fake_unmake_fd(const struct ufd_caller *caller, int fd)
{
	struct fake_fd *f = fake_fd_of(fd);

	(void)caller;
	if (!f)
		die("unmake_fd(%d): no such fd", fd);
	f->used = false;
	ufd_ctx_put(f->ctx);
}

static int fake_resolve_fd(const struct ufd_caller *caller,
			   struct ufd_ctx *ctx, int fd, enum ufd_fd_kind kind,
			   uint32_t *obj_id)
{
	struct fake_fd *f = fake_fd_of(fd);

	(void)caller;
	if (!f || f->kind != kind)
		return -EBADF;
	if (f->ctx != ctx)
		return -ENOENT;
	*obj_id = f->obj_id;
	return 0;
}

static const struct ufd_caller_ops fake_caller_ops = {
	.make_fd = fake_make_fd,
	.unmake_fd = fake_unmake_fd,
	.resolve_fd = fake_resolve_fd,
};

/* What closing the fd's last copy does in the shim. */
static void fake_close(unsigned int slot)
{
	struct fake_fd *f = &S.fds[slot];

	if (!f->used)
		return;
	f->used = false;
	{
		struct ufd_file file = {
			.kind = f->kind, .ctx = f->ctx, .obj_id = f->obj_id,
		};

		/* The same release as every transport's last close. */
		ufd_file_release(&file, true);
	}
}

/* ---- checks -------------------------------------------------------------- */

/*
 * Every paging HWPT must map exactly the areas of its IOAS: each area's
 * first and last byte translate to the page the caller sees at the area's
 * user address, and the leaves add up to the areas' bytes (nothing stale).
 */
struct domain_walk {
	struct ufd_ctx *ctx;
	uint32_t hwpt_id, ioas_id;
	uint64_t bytes;
	const char *after;
};

static int domain_area(void *arg, const struct ufd_area_info *a)
{
	struct domain_walk *w = arg;
	uint64_t ends[2] = { a->iova, a->iova + a->length - 1 };
	unsigned int i;

	w->bytes += a->length;
	for (i = 0; i != 2; i++) {
		uint64_t uaddr = a->uaddr + (ends[i] - a->iova);
		uint64_t host, want, got;

		if (ufd_hwpt_translate(w->ctx, w->hwpt_id, ends[i], &host,
				       NULL, NULL))
			die("after %s: HWPT %u does not map IOVA 0x%llx of "
			    "IOAS %u", w->after, w->hwpt_id,
			    (unsigned long long)ends[i], w->ioas_id);
		if (sb_offset(uaddr, 1) < 0 ||
		    sb_page_ident(&S.sb.src, uaddr, &want) ||
		    sb_host_ident(&S.sb.src, (void *)(uintptr_t)host, &got) ||
		    host % PAGE != uaddr % PAGE || want != got)
			die("after %s: HWPT %u maps IOVA 0x%llx to host 0x%llx,"
			    " not to the page at 0x%llx", w->after, w->hwpt_id,
			    (unsigned long long)ends[i],
			    (unsigned long long)host,
			    (unsigned long long)uaddr);
	}
	return 0;
}

static void check_domains(struct ufd_ctx *ctx, const char *after)
{
	uint32_t id, next;

	if (!ctx)
		return;
	eng_lock(ctx->eng);
	next = ctx->next_unused;
	eng_unlock(ctx->eng);
	for (id = 1; id < next; id++) {
		struct domain_walk w = { ctx, id, 0, 0, after };
		uint64_t sizes[8], counts[8], mapped = 0;
		unsigned int n = 0, i;
		struct ufd_hwpt *hwpt;

		if (ufd_obj_kind(ctx, id) != UFD_KIND_HWPT_PAGING)
			continue;
		eng_lock(ctx->eng);
		hwpt = hwpt_find(ctx, id);
		if (hwpt && hwpt->ioas)
			w.ioas_id = hwpt->ioas->obj.id;
		/* (ufd_engine_check() ran pgt_check() on its table.) */
		eng_unlock(ctx->eng);
		if (!w.ioas_id)
			die("after %s: paging HWPT %u has no IOAS", after, id);
		if (ufd_ioas_for_each_area(ctx, w.ioas_id, domain_area, &w))
			die("after %s: the IOAS %u of HWPT %u is gone", after,
			    w.ioas_id, id);
		if (ufd_hwpt_page_sizes(ctx, id, sizes, counts, 8, &n) || n > 8)
			die("after %s: ufd_hwpt_page_sizes(%u) failed", after,
			    id);
		for (i = 0; i != n; i++)
			mapped += sizes[i] * counts[i];
		if (mapped != w.bytes)
			die("after %s: HWPT %u maps 0x%llx bytes, its IOAS %u "
			    "0x%llx", after, id, (unsigned long long)mapped,
			    w.ioas_id, (unsigned long long)w.bytes);
	}
}

/*
 * The engine's pin count of every arena page, from one walk of its pages
 * index (the pages objects of the sandbox's address space that overlap the
 * arena, and their pin users there), into @pins.  This is what
 * ufd_engine_page_pins() answers page by page (a page counts once per
 * pages object that has it pinned), at the cost of one walk instead of
 * NPAGES lookups.
 */
static void engine_pins(uint32_t *pins)
{
	const uint64_t first = ARENA_BASE, last = ARENA_BASE + ARENA_SIZE - 1;
	static uint8_t cover[NPAGES];
	struct itree_node *n, *u;
	uint64_t p;

	memset(pins, 0, NPAGES * sizeof(*pins));
	eng_lock(S.eng);
	itree_for_each(n, &S.eng->all_pages, first, last) {
		struct ufd_pages *pages =
			container_of(n, struct ufd_pages, eng_node);
		uint64_t lo, hi; /* page indexes of the overlap, in pages */

		if (pages->src->space_id != S.sb.src.space_id || !pages->npages)
			continue;
		lo = pages->uaddr < first ? (first - pages->uaddr) / PAGE : 0;
		hi = (last - pages->uaddr) / PAGE;
		if (hi > pages->npages - 1)
			hi = pages->npages - 1;
		if (lo > hi)
			continue;
		memset(cover, 0, sizeof(cover));
		itree_for_each(u, &pages->pin_users, lo, hi) {
			uint64_t a = u->start < lo ? lo : u->start;
			uint64_t b = u->last > hi ? hi : u->last;

			for (p = a; p <= b; p++)
				cover[(pages->uaddr + p * PAGE - first) / PAGE] = 1;
		}
		for (p = 0; p != NPAGES; p++)
			pins[p] += cover[p];
	}
	eng_unlock(S.eng);
}

static void check_all(const char *after)
{
	static uint32_t pins[NPAGES];
	static unsigned int spot;
	static char what[160];
	uint64_t p;

	if (S.unchecked) {
		snprintf(what, sizeof(what), "%s (or after the failed %s "
			 "before it; UFD_FUZZ_TRACE=1 checks every call)",
			 after, S.unchecked);
		after = what;
		S.unchecked = NULL;
	}

	if (ufd_engine_check(S.eng))
		die("ufd_engine_check failed after %s", after);
	check_domains(S.ctx[0], after);
	check_domains(S.ctx[1], after);
	engine_pins(pins);
	for (p = 0; p != NPAGES; p++) {
		unsigned int api;

		if (pins[p] != S.sb.pins[p])
			die("after %s: page %llu: engine counts %u pins, "
			    "the source saw %u", after,
			    (unsigned long long)p, pins[p], S.sb.pins[p]);
		/*
		 * The public query agrees: on every pinned page, and on one
		 * more page per check, in turn.
		 */
		if (!pins[p] && p != spot)
			continue;
		if (ufd_engine_page_pins(S.eng, &S.sb.src,
					 ARENA_BASE + p * PAGE, &api))
			die("ufd_engine_page_pins failed");
		if (api != pins[p])
			die("after %s: page %llu: ufd_engine_page_pins says %u"
			    " pins, the pages index %u", after,
			    (unsigned long long)p, api, pins[p]);
	}
	spot = (spot + 1) % NPAGES;
}

/*
 * The check after a call that changed nothing observable (it failed or
 * only reads, and the digest says so) waits for the next check_all(): the
 * next call that changes the state, any other operation, or the end of the
 * input, whichever comes first.  Anything such a call broke is still
 * there to be found then (nothing ran in between that could repair it),
 * at a fifth of the cost: four calls in five fail.  In trace mode every
 * call is checked at once, so a crash file's trace names the call.
 */
static void check_later(const char *after)
{
	if (trace)
		check_all(after);
	else if (!S.unchecked)
		S.unchecked = after;
}

/*
 * MD_CHECK_REFS said @rc for @refs over [uptr, uptr + length).  The answer
 * the model expects: walking the pages in order, -EFAULT at the first one
 * outside the arena, -EIO at the first whose pin count differs, else 0.
 */
static void check_refs_answer(long rc, uint64_t uptr, uint64_t length,
			      uint32_t refs)
{
	long want = 0;
	uint64_t a;

	if (rc != 0 && rc != -EIO)
		return;
	if (uptr % PAGE || length % PAGE || uptr + length < uptr)
		die("MD_CHECK_REFS gave %ld for a misaligned range", rc);
	for (a = uptr; a != uptr + length; a += PAGE) {
		if (sb_offset(a, PAGE) < 0) {
			want = -EFAULT;
			break;
		}
		if (S.sb.pins[(a - ARENA_BASE) / PAGE] != refs) {
			want = -EIO;
			break;
		}
	}
	if (want != rc)
		die("MD_CHECK_REFS(uptr 0x%llx, length 0x%llx, refs %u) "
		    "returned %ld; by the source's pin counts it should be %ld",
		    (unsigned long long)uptr, (unsigned long long)length, refs,
		    rc, want);
}

/*
 * A digest of the state the ABI lets a caller observe: per context the
 * object table (IDs and kinds), each IOAS's areas (with pinned bytes),
 * usable IOVA ranges, alignment and huge-page option, each paging HWPT's
 * leaf counts per IO page size, each fault queue's pending flag, the
 * compat IOAS and RLIMIT mode; the engine's charges; the source's pins.
 * A failed call must leave it unchanged ("a failed call leaves the state
 * unchanged", uiommufd.h), and so must every read-only call.
 */
static FILE *dump; /* trace mode: what goes into the digest, as text */

static uint64_t mix(uint64_t h, uint64_t v)
{
	if (dump)
		fprintf(dump, " %llx", (unsigned long long)v);
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h;
}

static int hash_area(void *arg, const struct ufd_area_info *a)
{
	uint64_t *h = arg;

	*h = mix(*h, a->iova);
	*h = mix(*h, a->length);
	*h = mix(*h, a->uaddr);
	*h = mix(*h, a->flags);
	*h = mix(*h, a->pages_id);
	*h = mix(*h, a->pinned_bytes);
	return 0;
}

static uint64_t ctx_hash(struct ufd_ctx *ctx, uint64_t h)
{
	uint32_t id, next, n, compat = 0;
	uint64_t mode = 0;

	eng_lock(ctx->eng);
	next = ctx->next_unused;
	n = ctx->nr_objs;
	eng_unlock(ctx->eng);
	h = mix(h, n);
	for (id = 1; id < next; id++) {
		enum ufd_obj_kind k = ufd_obj_kind(ctx, id);

		/* Free IDs are not state: failed calls may use and free them. */
		if (k == UFD_KIND_NONE)
			continue;
		if (dump)
			fprintf(dump, "\n  id %u kind %d:", id, k);
		h = mix(h, (uint64_t)id << 8 | k);
		switch (k) {
		case UFD_KIND_IOAS: {
			struct ufd_iova_range r[8];
			uint32_t num = 0, i;
			uint64_t align = 0;
			bool huge = false;

			h = mix(h, ufd_ioas_for_each_area(ctx, id, hash_area,
							  &h));
			h = mix(h, ufd_ioas_iova_ranges(ctx, id, r, 8, &num,
							&align));
			h = mix(h, num);
			h = mix(h, align);
			for (i = 0; i < num && i < 8; i++)
				h = mix(mix(h, r[i].start), r[i].last);
			h = mix(h, ufd_ioas_get_huge_pages(ctx, id, &huge));
			h = mix(h, huge);
			break;
		}
		case UFD_KIND_HWPT_PAGING: {
			uint64_t sizes[8], counts[8];
			unsigned int nr = 0, i;

			h = mix(h, ufd_hwpt_page_sizes(ctx, id, sizes, counts,
						       8, &nr));
			for (i = 0; i < nr && i < 8; i++)
				h = mix(mix(h, sizes[i]), counts[i]);
			break;
		}
		case UFD_KIND_FAULT:
			h = mix(h, ufd_fault_pending(ctx, id));
			break;
		default:
			break;
		}
	}
	h = mix(h, ufd_ctx_get_compat_ioas(ctx, &compat));
	h = mix(h, compat);
	ufd_ctx_get_rlimit_mode(ctx, &mode);
	return mix(h, mode);
}

static uint64_t state_hash(void)
{
	uint64_t h = 0;
	unsigned int i;

	for (i = 0; i != 2; i++) {
		if (dump)
			fprintf(dump, "\nctx%u:", i);
		h = ctx_hash(S.ctx[i], h);
	}
	if (dump)
		fprintf(dump, "\ncharges, pins:");
	h = mix(h, ufd_engine_pinned_bytes_user(S.eng, FAKE_UID));
	h = mix(h, ufd_engine_pinned_bytes_pid(S.eng, FAKE_PID));
	for (i = 0; i != NPAGES; i++)
		if (S.sb.pins[i])
			h = mix(h, (uint64_t)i << 32 | S.sb.pins[i]);
	return h;
}

static uint64_t digest_now(void)
{
	if (!S.digest_valid) {
		S.digest = state_hash();
		S.digest_valid = true;
	}
	return S.digest;
}

/* Anything that may change the state was done. */
static void digest_stale(void)
{
	S.digest_valid = false;
}

/* Trace mode: the digest's input as text, in *text (to be freed). */
static void dump_state(char **text)
{
	size_t len;

	dump = open_memstream(text, &len);
	if (!dump)
		die("open_memstream");
	state_hash();
	fclose(dump);
	dump = NULL;
}

/* ---- fault injection around one call ------------------------------------ */

/* Modifier bits 6-7 == 3: one more byte chooses an engine or source fault. */
static void arm_faults(uint8_t mod)
{
	uint8_t f;

	if ((mod >> 6) != 3)
		return;
	f = u8();
	if (f & 1)
		ufd_fail_nth(1 + (f >> 1) % 24);
	else
		S.sb.fail_countdown = 1 + (f >> 1) % 6;
}

static void disarm_faults(void)
{
	ufd_fail_nth(0);
	S.sb.fail_countdown = 0;
}

/* ---- one ioctl ----------------------------------------------------------- */

struct call {
	unsigned long cmd;
	uint32_t size, min_size; /* of the struct */
	_Alignas(8) uint8_t buf[CALL_BUF];
	uint64_t arg;
	bool at_slot;            /* arg is the command slot: readable after */
	bool int_arg;            /* arg is an integer, not a struct */
	bool readonly;           /* must not change the state, ever */
	/*
	 * May change the state and still fail, as the kernel's handler does:
	 * PARTIAL_EFAULT when the change is made and the reply then cannot
	 * be written, PARTIAL_ANY when some effect comes before any check.
	 */
	enum { PARTIAL_NONE, PARTIAL_EFAULT, PARTIAL_ANY } partial;
	long rc;
};

static void arena_put(uint64_t addr, const void *buf, size_t len)
{
	uint64_t off;

	if (addr < ARENA_BASE || addr >= ARENA_BASE + ARENA_SIZE)
		return;
	off = addr - ARENA_BASE;
	if (len > ARENA_SIZE - off)
		len = ARENA_SIZE - off;
	sb_mark(&S.sb, off, len);
	memcpy(S.sb.mem + off, buf, len);
}

/*
 * Apply the modifier byte @mod to the built struct: size field, tail,
 * placement; arm the faults; call; disarm; check.
 */
static void do_call(struct call *c, int ctxi, uint8_t mod, const char *name)
{
	uint32_t user_size = c->size;
	char *before_text = NULL;
	uint64_t before;
	size_t put;

	if (!c->int_arg) {
		switch ((mod >> 3) & 7) {
		case 4:
			user_size = c->min_size;
			break;
		case 5:
			user_size = c->min_size ? c->min_size - 1 : 0;
			break;
		case 6:
			user_size = c->size + 8 * (1 + u8() % 4);
			break;
		case 7: {
			uint8_t s = u8();

			if (s >= 0xc0) {
				user_size = u32();
			} else {
				user_size = c->size + 1 + s % 32;
				c->buf[user_size - 1] = 1 | u8();
			}
			break;
		}
		default:
			break;
		}
		memcpy(c->buf, &user_size, sizeof(user_size));
		put = user_size < CALL_BUF ? user_size : CALL_BUF;
		if (put < c->size)
			put = c->size;

		switch (mod & 7) {
		case 5:
			c->arg = ARENA_BASE + ARENA_SIZE - 1 - u8() % 64;
			break;
		case 6:
			c->arg = (u8() & 1) ? 0 : u8();
			break;
		case 7:
			c->arg = (u8() & 3) ? ARENA_BASE + u32() % ARENA_SIZE :
					      u64();
			break;
		default:
			c->arg = ARENA_BASE + CMD_OFF;
			c->at_slot = true;
			break;
		}
		arena_put(c->arg, c->buf, put);
	}

	before = digest_now();
	if (trace)
		dump_state(&before_text);
	arm_faults(mod);
	{
		struct ufd_file file = { .kind = UFD_FD_IOMMUFD,
					 .ctx = S.ctx[ctxi] };

		c->rc = ufd_file_ioctl(&file, &S.caller, c->cmd, c->arg);
	}
	disarm_faults();
	digest_stale();
	if (trace)
		fprintf(stderr, "ctx%d %s (op %u) size %u at 0x%llx mod 0x%02x"
			" -> %ld\n", ctxi, name,
			c->cmd == IOMMU_TEST_CMD ?
				((struct iommu_test_cmd *)c->buf)->op : 0,
			user_size, (unsigned long long)c->arg, mod, c->rc);
	if (!c->readonly &&
	    (c->rc >= 0 || c->partial == PARTIAL_ANY ||
	     (c->partial == PARTIAL_EFAULT && c->rc == -EFAULT))) {
		/* It may have changed the state. */
		check_all(name);
	} else if (digest_now() == before) {
		check_later(name);
	} else {
		check_all(name);
		if (trace) {
			char *after_text = NULL;

			dump_state(&after_text);
			fprintf(stderr, "state before:%s\nstate after:%s\n",
				before_text, after_text);
			free(after_text);
		}
		die("%s (test op %u) returned %ld but changed the state%s",
		    name,
		    c->cmd == IOMMU_TEST_CMD ?
			    ((struct iommu_test_cmd *)c->buf)->op : 0,
		    c->rc, c->readonly ? " (a read-only call)" : "");
	}
	free(before_text);
}

/* Read the command back from the slot after a successful call. */
static bool readback(const struct call *c, void *dst, size_t len)
{
	if (!c->at_slot || c->rc < 0)
		return false;
	memcpy(dst, S.sb.mem + CMD_OFF, len);
	return true;
}

/* ---- struct builders ----------------------------------------------------- */

static void build_raw(struct call *c)
{
	uint32_t i;

	for (i = 4; i < c->size; i++)
		c->buf[i] = u8();
}

static uint64_t put_ranges(uint32_t num)
{
	struct iommu_iova_range r[64];
	uint32_t i, n = num < 64 ? num : 64;

	for (i = 0; i != n; i++) {
		uint64_t len = gen_len();

		r[i].start = gen_iova();
		r[i].last = r[i].start + (len ? len - 1 : 0);
		if (u8() == 0xff)
			r[i].last = u64();
	}
	arena_put(ARENA_BASE + SCRATCH_OFF, r, n * sizeof(r[0]));
	return ARENA_BASE + SCRATCH_OFF;
}

static uint32_t gen_count(void)
{
	uint8_t s = u8();

	if (s < 0xf0)
		return s % 6;
	return (s & 1) ? u32() : u16();
}

static void build_iommufd(struct call *c)
{
	switch (_IOC_NR(c->cmd)) {
	case IOMMUFD_CMD_DESTROY: {
		struct iommu_destroy *d = (void *)c->buf;

		d->id = gen_id();
		break;
	}
	case IOMMUFD_CMD_IOAS_ALLOC: {
		struct iommu_ioas_alloc *d = (void *)c->buf;

		d->flags = gen_rsvd();
		d->out_ioas_id = u8();
		break;
	}
	case IOMMUFD_CMD_IOAS_ALLOW_IOVAS: {
		struct iommu_ioas_allow_iovas *d = (void *)c->buf;

		d->ioas_id = gen_id();
		d->num_iovas = gen_count();
		d->__reserved = gen_rsvd();
		d->allowed_iovas = (u8() & 7) ? put_ranges(d->num_iovas) :
						gen_uptr();
		break;
	}
	case IOMMUFD_CMD_IOAS_COPY: {
		struct iommu_ioas_copy *d = (void *)c->buf;

		d->flags = gen_flags(7);
		d->dst_ioas_id = gen_id();
		d->src_ioas_id = gen_id();
		d->length = gen_len();
		d->dst_iova = gen_iova();
		d->src_iova = gen_iova();
		break;
	}
	case IOMMUFD_CMD_IOAS_IOVA_RANGES: {
		struct iommu_ioas_iova_ranges *d = (void *)c->buf;

		d->ioas_id = gen_id();
		d->num_iovas = gen_count();
		d->__reserved = gen_rsvd();
		d->allowed_iovas = (u8() & 3) ? ARENA_BASE + SCRATCH_OFF :
						gen_uptr();
		c->readonly = true;
		break;
	}
	case IOMMUFD_CMD_IOAS_MAP: {
		struct iommu_ioas_map *d = (void *)c->buf;

		d->flags = gen_flags(7);
		d->ioas_id = gen_id();
		d->__reserved = gen_rsvd();
		d->user_va = gen_uptr();
		d->length = gen_len();
		d->iova = gen_iova();
		break;
	}
	case IOMMUFD_CMD_IOAS_UNMAP: {
		struct iommu_ioas_unmap *d = (void *)c->buf;
		uint8_t s = u8();

		c->partial = PARTIAL_EFAULT; /* unmapped, the reply failed */
		d->ioas_id = gen_id();
		if (s < 0x20) {
			d->iova = 0;
			d->length = UINT64_MAX;
		} else {
			d->iova = gen_iova();
			d->length = gen_len();
		}
		break;
	}
	case IOMMUFD_CMD_OPTION: {
		struct iommu_option *d = (void *)c->buf;
		uint8_t s = u8();

		d->option_id = s < 0xf0 ? s % 2 : u32();
		d->op = u8() % 3;
		d->__reserved = gen_rsvd();
		d->object_id = (u8() & 1) ? 0 : gen_id();
		s = u8();
		d->val64 = s < 0xf0 ? s % 3 : u64();
		c->readonly = d->op == IOMMU_OPTION_OP_GET;
		/* Set, then val64 could not be written back (kernel too). */
		c->partial = PARTIAL_EFAULT;
		break;
	}
	case IOMMUFD_CMD_VFIO_IOAS: {
		struct iommu_vfio_ioas *d = (void *)c->buf;

		d->ioas_id = gen_id();
		d->op = u8() % 4;
		d->__reserved = gen_rsvd();
		c->readonly = d->op == IOMMU_VFIO_IOAS_GET;
		break;
	}
	case IOMMUFD_CMD_HWPT_ALLOC: {
		struct iommu_hwpt_alloc *d = (void *)c->buf;

		uint8_t s;

		d->flags = gen_flags(0xf);
		d->dev_id = gen_id();
		d->pt_id = gen_id();
		d->__reserved = gen_rsvd();
		s = u8();
		switch (s & 3) {
		case 0:
			d->data_type = IOMMU_HWPT_DATA_NONE;
			break;
		case 1: case 2: {
			/* The selftest's nested data, in the scratch area. */
			struct iommu_hwpt_selftest sd;

			sd.iotlb = (s & 4) ? IOMMU_TEST_IOTLB_DEFAULT : u32();
			sd.pagetable_type = (s & 8) ? u8() % 3 : 0;
			arena_put(ARENA_BASE + SCRATCH_OFF, &sd, sizeof(sd));
			d->data_type = IOMMU_HWPT_DATA_SELFTEST;
			break;
		}
		default:
			d->data_type = u8() % 5;
			break;
		}
		d->data_len = (s & 0x10) ? u8() % 16 :
			      d->data_type ? (s & 0x20 ? 4 : 8) : 0;
		d->data_uptr = (s & 0x40) ? gen_uptr() :
					    ARENA_BASE + SCRATCH_OFF;
		d->fault_id = (s & 0x80) ? gen_id() : (uint32_t)S.last_fault_id;
		d->__reserved2 = gen_rsvd();
		break;
	}
	case IOMMUFD_CMD_GET_HW_INFO: {
		struct iommu_hw_info *d = (void *)c->buf;

		uint8_t s;

		d->flags = gen_flags(1);
		d->dev_id = gen_id();
		s = u8();
		d->data_len = (s & 1) ? 8 : (s & 2) ? u8() % 64 : u32();
		d->data_uptr = (s & 4) ? ARENA_BASE + SCRATCH_OFF : gen_uptr();
		d->in_data_type = (s & 8) ? IOMMU_HW_INFO_TYPE_SELFTEST :
					    u8() % 5;
		c->readonly = true;
		d->__reserved[0] = (uint8_t)gen_rsvd();
		break;
	}
	case IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING: {
		struct iommu_hwpt_set_dirty_tracking *d = (void *)c->buf;

		d->flags = gen_flags(1);
		d->hwpt_id = gen_id();
		d->__reserved = gen_rsvd();
		break;
	}
	case IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP: {
		struct iommu_hwpt_get_dirty_bitmap *d = (void *)c->buf;

		struct mapping m;

		d->hwpt_id = gen_id();
		d->flags = gen_flags(1);
		d->__reserved = gen_rsvd();
		m = gen_mapped();
		d->iova = m.iova;
		d->length = m.length;
		d->page_size = gen_page_size();
		d->data = (u8() & 3) ? ARENA_BASE + SCRATCH_OFF + u8() % 16 :
				       gen_uptr();
		c->readonly = true; /* dirty bits are not in the digest */
		break;
	}
	case IOMMUFD_CMD_HWPT_INVALIDATE: {
		struct iommu_hwpt_invalidate *d = (void *)c->buf;

		struct iommu_hwpt_invalidate_selftest e[8];
		uint8_t s = u8();
		unsigned int i;

		d->hwpt_id = gen_id();
		d->data_uptr = (s & 1) ? gen_uptr() : ARENA_BASE + SCRATCH_OFF;
		d->data_type = (s & 2) ? u8() % 3 :
			       (s & 4) ?
				IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID :
				IOMMU_HWPT_INVALIDATE_DATA_SELFTEST;
		d->entry_len = (s & 8) ? u16() : (s & 0x10) ? 4 : sizeof(e[0]);
		d->entry_num = gen_count();
		d->__reserved = gen_rsvd();
		for (i = 0; i != ARRAY_SIZE(e); i++) {
			e[i].flags = u8() % 3;
			e[i].iotlb_id = u8() % 5;
		}
		if (!(s & 1))
			arena_put(ARENA_BASE + SCRATCH_OFF, e, sizeof(e));
		break;
	}
	case IOMMUFD_CMD_FAULT_QUEUE_ALLOC: {
		struct iommu_fault_alloc *d = (void *)c->buf;

		d->flags = gen_rsvd();
		break;
	}
	default:
		build_raw(c);
		break;
	}
}

static const uint32_t test_ops[] = {
	IOMMU_TEST_OP_ADD_RESERVED,
	IOMMU_TEST_OP_MD_CHECK_REFS,
	IOMMU_TEST_OP_MD_CHECK_REFS,
	IOMMU_TEST_OP_CREATE_ACCESS,
	IOMMU_TEST_OP_CREATE_ACCESS,
	IOMMU_TEST_OP_CREATE_ACCESS,
	IOMMU_TEST_OP_ACCESS_PAGES,
	IOMMU_TEST_OP_ACCESS_PAGES,
	IOMMU_TEST_OP_ACCESS_PAGES,
	IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
	IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
	IOMMU_TEST_OP_ACCESS_RW,
	IOMMU_TEST_OP_ACCESS_RW,
	IOMMU_TEST_OP_ACCESS_RW,
	IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
	IOMMU_TEST_OP_MOCK_DOMAIN,
	IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
	IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
	IOMMU_TEST_OP_MD_CHECK_MAP,
	IOMMU_TEST_OP_MD_CHECK_IOTLB,
	IOMMU_TEST_OP_DIRTY,
	IOMMU_TEST_OP_TRIGGER_IOPF,
};

static void build_test(struct call *c)
{
	struct iommu_test_cmd *t = (void *)c->buf;
	uint8_t s = u8();

	t->op = s < 0xf0 ? test_ops[s % ARRAY_SIZE(test_ops)] : u8() % 32;
	t->__reserved = gen_rsvd();
	switch (t->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		t->id = gen_id();
		t->add_reserved.start = gen_iova();
		t->add_reserved.length = gen_len();
		break;
	case IOMMU_TEST_OP_MD_CHECK_REFS: {
		struct mapping m;

		t->id = gen_id();
		m = gen_mapped();
		t->check_refs.uptr = m.uptr ? m.uptr : gen_uptr();
		t->check_refs.length = m.length;
		t->check_refs.refs = u8() % 4;
		break;
	}
	case IOMMU_TEST_OP_CREATE_ACCESS:
		t->id = gen_id();
		t->create_access.flags = gen_flags(1) ^ 1;
		break;
	case IOMMU_TEST_OP_ACCESS_PAGES: {
		struct mapping m;

		t->id = gen_fd();
		t->access_pages.flags = gen_flags(1);
		m = gen_mapped();
		t->access_pages.iova = m.iova;
		t->access_pages.uptr = m.uptr;
		t->access_pages.length = m.length;
		break;
	}
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		t->id = gen_fd();
		s = u8();
		t->destroy_access_pages.access_pages_id =
			(S.n_pages_ids && (s & 3)) ?
				S.pages_ids[(s >> 2) % S.n_pages_ids] :
				s % 5;
		break;
	case IOMMU_TEST_OP_ACCESS_RW:
		t->id = gen_fd();
		s = u8();
		if (s & 1) {
			struct mapping m = gen_mapped();

			t->access_rw.iova = m.iova;
			t->access_rw.length = m.length;
		} else {
			t->access_rw.iova = gen_iova();
			t->access_rw.length = gen_len();
		}
		if (s & 2)
			t->access_rw.length = 1 + u16() % (2 * PAGE);
		t->access_rw.uptr = (s & 4) ? ARENA_BASE + SCRATCH_OFF :
					      gen_uptr();
		t->access_rw.flags = gen_flags(MOCK_ACCESS_RW_WRITE |
					       MOCK_ACCESS_RW_SLOW_PATH);
		break;
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		t->id = gen_fd();
		t->access_replace_ioas.ioas_id = gen_id();
		break;
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		t->id = gen_id();
		t->memory_limit.limit = (u8() & 1) ? u8() : u32();
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN:
		t->id = gen_id();
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
		t->id = gen_id();
		t->mock_domain_flags.dev_flags = gen_flags(7);
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		t->id = gen_id();
		t->mock_domain_replace.pt_id = gen_id();
		break;
	case IOMMU_TEST_OP_MD_CHECK_MAP: {
		struct mapping m = gen_mapped();

		t->id = gen_id();
		t->check_map.iova = m.iova;
		t->check_map.length = m.length;
		t->check_map.uptr = m.uptr ? m.uptr : gen_uptr();
		break;
	}
	case IOMMU_TEST_OP_DIRTY: {
		struct mapping m = gen_mapped();
		uint8_t bits[32];
		unsigned int i;

		t->id = gen_id();
		t->dirty.flags = gen_rsvd();
		t->dirty.iova = m.iova;
		t->dirty.length = m.length;
		t->dirty.page_size = gen_page_size();
		s = u8();
		t->dirty.uptr = (s & 3) ? ARENA_BASE + SCRATCH_OFF : gen_uptr();
		for (i = 0; i != sizeof(bits); i++)
			bits[i] = (s & 4) ? 0xff : u8();
		arena_put(ARENA_BASE + SCRATCH_OFF, bits, sizeof(bits));
		break;
	}
	case IOMMU_TEST_OP_MD_CHECK_IOTLB:
		t->id = gen_id();
		s = u8();
		t->check_iotlb.id = s % 5;
		t->check_iotlb.iotlb = (s & 0x80) ? u32() :
				       (s & 0x40) ? 0 : IOMMU_TEST_IOTLB_DEFAULT;
		break;
	case IOMMU_TEST_OP_TRIGGER_IOPF:
		t->id = gen_id();
		t->trigger_iopf.dev_id = gen_id();
		s = u8();
		t->trigger_iopf.pasid = (s & 1) ? u32() : 0;
		t->trigger_iopf.grpid = (s >> 1) % 4;
		t->trigger_iopf.perm = (s >> 3) % 16;
		t->trigger_iopf.addr = gen_iova();
		break;
	default: {
		size_t i;

		t->id = gen_id();
		for (i = offsetof(struct iommu_test_cmd, add_reserved);
		     i < offsetof(struct iommu_test_cmd, last); i++)
			c->buf[i] = (u8() & 1) ? 0 : u8();
		break;
	}
	}
	switch (t->op) {
	case IOMMU_TEST_OP_MD_CHECK_REFS:
	case IOMMU_TEST_OP_MD_CHECK_MAP:
	case IOMMU_TEST_OP_MD_CHECK_IOTLB:
	case IOMMU_TEST_OP_ACCESS_RW:
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
	case IOMMU_TEST_OP_DIRTY:
		c->readonly = true;
		break;
	case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
		/* The access's pins go before the move can fail (kernel too). */
		c->partial = PARTIAL_ANY;
		break;
	case IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
		/* Replaced, then the reply failed (kernel too). */
		c->partial = PARTIAL_EFAULT;
		break;
	default:
		break;
	}
}

/* ---- operations ---------------------------------------------------------- */

static const struct ufd_ioctl_desc *descs[64];
static unsigned int n_descs;

/* The uiommufd extensions (<linux/iommufd_ext.h>). */
static void build_ext(struct call *c)
{
	const uint64_t out = ARENA_BASE + SCRATCH_OFF;

	switch (_IOC_NR(c->cmd)) {
	case UIOMMUFD_CMD_EXT_QUERY: {
		struct uiommufd_ext_query *d = (void *)c->buf;

		d->flags = gen_rsvd();
		d->num_exts = gen_count();
		d->entry_size = (u8() & 3) ? 64 : u8();
		d->exts = (u8() & 7) ? out : gen_uptr();
		break;
	}
	case UIOMMUFD_CMD_PAGE_SIZES: {
		struct uiommufd_page_sizes *d = (void *)c->buf;
		struct mapping m = gen_mapped();

		d->flags = gen_rsvd();
		d->pt_id = gen_id();
		d->num_runs = gen_count();
		d->iova = m.iova;
		d->length = (u8() & 7) ? m.length : u64();
		d->runs = (u8() & 7) ? out : gen_uptr();
		break;
	}
	case UIOMMUFD_CMD_QUERY_ATTACH: {
		struct uiommufd_query_attach *d = (void *)c->buf;

		d->flags = gen_rsvd();
		d->dev_id = gen_id();
		d->ioas_id = gen_id();
		d->num_iovas = gen_count();
		d->__reserved = gen_rsvd();
		d->allowed_iovas = (u8() & 7) ? out : gen_uptr();
		break;
	}
	case UIOMMUFD_CMD_IOAS_SET_MIN_APERTURE: {
		struct uiommufd_ioas_set_min_aperture *d = (void *)c->buf;

		d->flags = gen_flags(1);
		d->ioas_id = gen_id();
		d->__reserved = gen_rsvd();
		d->length = (u8() & 1) ? gen_len() : 1ULL << (u8() % 64);
		d->base = (d->flags & 1) ? gen_iova() : 0;
		d->pgsize_bitmap = (u8() & 3) ? 0 : gen_page_size();
		break;
	}
	case UIOMMUFD_CMD_IOAS_RESERVE:
	case UIOMMUFD_CMD_IOAS_UNRESERVE: {
		struct uiommufd_ioas_reserve *d = (void *)c->buf;
		struct mapping m = gen_mapped();

		d->flags = gen_rsvd();
		d->ioas_id = gen_id();
		d->__reserved = gen_rsvd();
		d->iova = m.iova;
		d->length = m.length;
		if (u8() == 0xff) {
			d->iova = 0;
			d->length = UINT64_MAX;
		}
		break;
	}
	case UIOMMUFD_CMD_IOAS_RESERVATIONS: {
		struct uiommufd_ioas_reservations *d = (void *)c->buf;

		d->flags = gen_rsvd();
		d->ioas_id = gen_id();
		d->num_iovas = gen_count();
		d->iovas = (u8() & 7) ? out : gen_uptr();
		break;
	}
	case UIOMMUFD_CMD_IOAS_MAP_HINT: {
		struct uiommufd_ioas_map_hint *d = (void *)c->buf;
		struct mapping m = gen_mapped();

		d->flags = gen_flags(7);
		d->ioas_id = gen_id();
		d->out_flags = gen_rsvd();
		d->user_va = gen_uptr();
		d->length = gen_len();
		d->iova = m.iova;
		break;
	}
	case UIOMMUFD_CMD_IOAS_COPY_RESV: {
		struct uiommufd_ioas_copy_resv *d = (void *)c->buf;
		struct mapping m = gen_mapped();

		d->flags = gen_flags(7);
		d->dst_ioas_id = gen_id();
		d->src_ioas_id = gen_id();
		d->out_nr_reservations = gen_rsvd();
		d->__reserved = gen_rsvd();
		d->length = m.length;
		d->src_iova = m.iova;
		d->dst_iova = gen_iova();
		break;
	}
	case UIOMMUFD_CMD_IOAS_MAP_GRANULE: {
		struct uiommufd_ioas_map_granule *d = (void *)c->buf;
		struct mapping m = gen_mapped();
		uint64_t g;

		d->flags = gen_flags(7);
		d->ioas_id = gen_id();
		d->__reserved = gen_rsvd();
		d->user_va = m.uptr ? m.uptr : gen_uptr();
		d->length = m.length;
		d->iova = m.iova;
		g = (u8() & 3) ? PAGE << (u8() % 4) : gen_page_size();
		d->granule = g;
		/* Mostly aligned, so the map (and later cuts) happen. */
		if (g && !(g & (g - 1)) && (u8() & 3)) {
			d->user_va &= ~(g - 1);
			d->iova &= ~(g - 1);
			d->length = (d->length + g - 1) & ~(g - 1);
		}
		break;
	}
	default:
		build_raw(c);
		break;
	}
}

static void op_table_ioctl(int ctxi, uint8_t mod,
			   const struct ufd_ioctl_desc *d)
{
	struct call c;

	memset(&c, 0, sizeof(c));
	c.cmd = d->cmd;
	c.size = d->size;
	c.min_size = d->min_size;
	if (c.cmd == IOMMU_TEST_CMD)
		build_test(&c);
	else if (_IOC_TYPE(c.cmd) == UIOMMUFD_EXT_TYPE)
		build_ext(&c);
	else
		build_iommufd(&c);
	do_call(&c, ctxi, mod, d->name);
	if (_IOC_TYPE(c.cmd) == UIOMMUFD_EXT_TYPE)
		return; /* no follow-up for the extensions */

	switch (_IOC_NR(c.cmd)) {
	case IOMMUFD_CMD_IOAS_ALLOC: {
		struct iommu_ioas_alloc a;
		bool enabled;

		if (!readback(&c, &a, sizeof(a)))
			break;
		if (!a.out_ioas_id ||
		    ufd_ioas_get_huge_pages(S.ctx[ctxi], a.out_ioas_id,
					    &enabled))
			die("IOAS_ALLOC succeeded, but IOAS %u does not exist",
			    a.out_ioas_id);
		remember(S.ids, &S.n_ids, a.out_ioas_id);
		break;
	}
	case IOMMUFD_CMD_IOAS_MAP: {
		struct iommu_ioas_map m;
		const struct iommu_ioas_map *in = (const void *)c.buf;

		if (readback(&c, &m, sizeof(m)))
			remember_map(m.iova, in->length, in->user_va);
		break;
	}
	case IOMMUFD_CMD_IOAS_COPY: {
		struct iommu_ioas_copy m;
		const struct iommu_ioas_copy *in = (const void *)c.buf;
		uint64_t uptr = 0;
		unsigned int i;

		if (!readback(&c, &m, sizeof(m)))
			break;
		for (i = 0; i != S.n_maps; i++)
			if (S.maps[i].iova == in->src_iova)
				uptr = S.maps[i].uptr;
		remember_map(m.dst_iova, in->length, uptr);
		break;
	}
	case IOMMUFD_CMD_HWPT_ALLOC: {
		struct iommu_hwpt_alloc h;

		if (readback(&c, &h, sizeof(h)))
			remember(S.ids, &S.n_ids, h.out_hwpt_id);
		break;
	}
	case IOMMUFD_CMD_FAULT_QUEUE_ALLOC: {
		struct iommu_fault_alloc f;

		if (!readback(&c, &f, sizeof(f)))
			break;
		S.last_fault_id = f.out_fault_id;
		remember(S.ids, &S.n_ids, f.out_fault_id);
		break;
	}
	case _IOC_NR(IOMMU_TEST_CMD): {
		const struct iommu_test_cmd *in = (const void *)c.buf;
		struct iommu_test_cmd t;

		if ((in->op == IOMMU_TEST_OP_MOCK_DOMAIN ||
		     in->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) &&
		    readback(&c, &t, sizeof(t))) {
			remember(S.ids, &S.n_ids, t.mock_domain.out_hwpt_id);
			remember(S.ids, &S.n_ids, t.mock_domain.out_idev_id);
			remember(S.ids, &S.n_ids, t.mock_domain.out_stdev_id);
		}

		if (in->op == IOMMU_TEST_OP_MD_CHECK_REFS && c.at_slot &&
		    c.size <= *(const uint32_t *)c.buf)
			check_refs_answer(c.rc, in->check_refs.uptr,
					  in->check_refs.length,
					  in->check_refs.refs);
		if (in->op == IOMMU_TEST_OP_ACCESS_PAGES &&
		    readback(&c, &t, sizeof(t)))
			remember(S.pages_ids, &S.n_pages_ids,
				 t.access_pages.out_access_pages_id);
		break;
	}
	default:
		break;
	}
}

static void op_vfio(int ctxi, uint8_t mod, uint8_t which)
{
	struct call c;

	memset(&c, 0, sizeof(c));
	switch (which % 8) {
	case 0:
		c.cmd = VFIO_GET_API_VERSION;
		c.int_arg = true;
		c.readonly = true;
		break;
	case 1:
		c.cmd = VFIO_CHECK_EXTENSION;
		c.int_arg = true;
		c.readonly = true;
		c.arg = (u8() & 1) ? u8() % 12 : u64();
		break;
	case 2:
		c.cmd = VFIO_SET_IOMMU;
		c.int_arg = true;
		c.arg = (u8() & 1) ? u8() % 8 : u64();
		break;
	case 3: {
		struct vfio_iommu_type1_info *d = (void *)c.buf;

		c.cmd = VFIO_IOMMU_GET_INFO;
		c.size = sizeof(*d);
		c.min_size = offsetofend(struct vfio_iommu_type1_info,
					 iova_pgsizes);
		c.readonly = true;
		d->flags = gen_rsvd();
		break;
	}
	case 4: case 5: {
		struct vfio_iommu_type1_dma_map *d = (void *)c.buf;

		c.cmd = VFIO_IOMMU_MAP_DMA;
		c.size = c.min_size = sizeof(*d);
		d->flags = gen_flags(VFIO_DMA_MAP_FLAG_READ |
				     VFIO_DMA_MAP_FLAG_WRITE |
				     VFIO_DMA_MAP_FLAG_VADDR);
		d->vaddr = gen_uptr();
		d->iova = gen_iova();
		d->size = gen_len();
		break;
	}
	default: {
		struct vfio_iommu_type1_dma_unmap *d = (void *)c.buf;

		c.cmd = VFIO_IOMMU_UNMAP_DMA;
		c.size = c.min_size = sizeof(*d);
		c.partial = PARTIAL_EFAULT; /* unmapped, the reply failed */
		d->flags = gen_flags(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP |
				     VFIO_DMA_UNMAP_FLAG_ALL |
				     VFIO_DMA_UNMAP_FLAG_VADDR);
		if (!(d->flags & VFIO_DMA_UNMAP_FLAG_ALL)) {
			d->iova = gen_iova();
			d->size = gen_len();
		}
		break;
	}
	}
	do_call(&c, ctxi, mod, "VFIO");
	if (c.cmd == VFIO_IOMMU_MAP_DMA && c.rc == 0) {
		const struct vfio_iommu_type1_dma_map *in = (const void *)c.buf;

		remember_map(in->iova, in->size, in->vaddr);
	}
}

static void op_random_cmd(int ctxi, uint8_t mod, uint8_t which)
{
	struct call c;
	uint32_t i;

	memset(&c, 0, sizeof(c));
	switch (which % 4) {
	case 0: case 1:
		c.cmd = _IO(IOMMUFD_TYPE, u8());
		break;
	case 2: {
		unsigned int dir = u8() & 3, nr = IOMMUFD_CMD_BASE + u8() % 40;

		c.cmd = _IOC(dir, IOMMUFD_TYPE, nr, u16() & 0x3fff);
		break;
	}
	default:
		c.cmd = (unsigned long)u64();
		break;
	}
	c.size = 8 + u8() % 120;
	c.min_size = 8;
	for (i = 4; i < c.size; i++)
		c.buf[i] = (u8() & 1) ? 0 : u8();
	do_call(&c, ctxi, mod, "random ioctl");
}

/* read() or write() on a fault queue's fd, as a transport does them. */
static void op_fault_fd(uint8_t mod)
{
	struct iommu_hwpt_page_response r[4];
	struct ufd_ctx *ctx = S.ctx[0];
	uint32_t fault_id = 0;
	unsigned int i;
	uint64_t buf, count, before;
	uint8_t s = u8();
	long rc;

	for (i = 0; i != MAX_FDS; i++) {
		const struct fake_fd *f = &S.fds[(mod + i) % MAX_FDS];

		if (f->used && f->kind == UFD_FD_FAULT) {
			ctx = f->ctx;
			fault_id = f->obj_id;
			break;
		}
	}
	if (i == MAX_FDS || (s & 0x80))
		fault_id = gen_id();
	buf = (s & 1) ? gen_uptr() : ARENA_BASE + SCRATCH_OFF;
	if (s & 2) {
		for (i = 0; i != ARRAY_SIZE(r); i++) {
			r[i].cookie = u8() % 8;
			r[i].code = u8() % 3;
		}
		arena_put(ARENA_BASE + SCRATCH_OFF, r, sizeof(r));
		count = (s & 4) ? u8() : sizeof(r[0]) * (1 + u8() % 4);
	} else {
		count = (s & 4) ? u16() :
				  sizeof(struct iommu_hwpt_pgfault) *
					  (1 + u8() % 4);
	}
	before = digest_now();
	arm_faults(mod);
	{
		struct ufd_file file = { .kind = UFD_FD_FAULT, .ctx = ctx,
					 .obj_id = fault_id };

		if (s & 2)
			rc = ufd_file_write(&file, &S.caller, buf, count,
					    NULL);
		else
			rc = ufd_file_read(&file, &S.caller, buf, count, NULL);
	}
	disarm_faults();
	digest_stale();
	if (trace)
		fprintf(stderr, "fault %u %s count %llu at 0x%llx -> %ld\n",
			fault_id, (s & 2) ? "write" : "read",
			(unsigned long long)count, (unsigned long long)buf, rc);
	if (rc >= 0) {
		check_all("fault fd read/write");
		return;
	}
	if (digest_now() == before) {
		check_later("fault fd read/write");
		return;
	}
	check_all("fault fd read/write");
	die("fault %s returned %ld but changed the state",
	    (s & 2) ? "write" : "read", rc);
}

/*
 * DMA by a device through its HWPT (the engine's DMA path, which reaches
 * pinned pages through host pointers).  The scatter list of the range must
 * lie inside the arena, and it is the model for the copy: a read must
 * return what the arena holds under the segments; a write must change the
 * arena exactly as copying into the segments in order would (IOVA ranges
 * may alias a page), and nothing else.  ufd_dma_map_sg and the copy must
 * agree on whether the range can be reached.
 */
#define DMA_MAX (64 * 1024)
#define DMA_SEGS 32

static int dma_segments(struct ufd_dma *dma, uint64_t iova, size_t len,
			bool write, struct ufd_sg *sg, unsigned int *n)
{
	size_t done = 0;
	unsigned int i;
	int rc;

	rc = ufd_dma_map_sg(dma, iova, len, write, sg, DMA_SEGS, n);
	if (rc)
		return rc;
	ufd_dma_unmap_sg(dma);
	for (i = 0; i != *n; i++) {
		uintptr_t h = (uintptr_t)sg[i].host;

		if (h < (uintptr_t)arena || sg[i].len > ARENA_SIZE ||
		    h - (uintptr_t)arena > ARENA_SIZE - sg[i].len)
			die("DMA segment %u (%p, 0x%zx) is outside the memory "
			    "the source pinned", i, sg[i].host, sg[i].len);
		done += sg[i].len;
	}
	if (done != len)
		die("DMA scatter list covers 0x%zx of 0x%zx bytes", done, len);
	return 0;
}

static void op_dma(int ctxi)
{
	static uint8_t buf[DMA_MAX], want[DMA_MAX], shadow[ARENA_SIZE];
	struct ufd_sg sg[DMA_SEGS];
	struct ufd_dma *dma;
	uint32_t dev = gen_id();
	struct mapping m = gen_mapped();
	uint8_t s = u8();
	bool write = s & 2;
	unsigned int n = 0, i;
	size_t len, off = 0;
	int rc, sg_rc;

	if (s & 1)
		len = m.length && m.length <= DMA_MAX ? m.length : 1;
	else
		len = 1 + u16() % 8192u;
	if (ufd_dma_open(S.ctx[ctxi], dev, &dma))
		return;
	sg_rc = dma_segments(dma, m.iova, len, write, sg, &n);
	if (write) {
		for (i = 0; i != 64; i++)
			buf[i] = u8();
		memcpy(shadow, arena, ARENA_SIZE);
		rc = ufd_dma_write(dma, m.iova, buf, len);
		for (i = 0; !sg_rc && i != n; off += sg[i].len, i++)
			memcpy(shadow + ((uint8_t *)sg[i].host - arena),
			       buf + off, sg[i].len);
		if (!rc && !sg_rc && memcmp(shadow, arena, ARENA_SIZE))
			die("DMA write of 0x%zx bytes at IOVA 0x%llx changed "
			    "other memory than its scatter list", len,
			    (unsigned long long)m.iova);
	} else {
		rc = ufd_dma_read(dma, m.iova, buf, len);
		for (i = 0; !sg_rc && i != n; off += sg[i].len, i++)
			memcpy(want + off, sg[i].host, sg[i].len);
		if (!rc && !sg_rc && memcmp(want, buf, len))
			die("DMA read of 0x%zx bytes at IOVA 0x%llx does not "
			    "match its scatter list", len,
			    (unsigned long long)m.iova);
	}
	if (sg_rc != -E2BIG && !rc != !sg_rc)
		die("DMA %s of 0x%zx bytes at IOVA 0x%llx returned %d, its "
		    "scatter list %d", write ? "write" : "read", len,
		    (unsigned long long)m.iova, rc, sg_rc);
	if (trace)
		fprintf(stderr, "ctx%d DMA dev %u %s IOVA 0x%llx len 0x%zx"
			" -> %d (sg %d, %u segments)\n", ctxi, dev,
			write ? "write" : "read", (unsigned long long)m.iova,
			len, rc, sg_rc, n);
	ufd_dma_close(dma);
	check_all("DMA");
}

static void open_ctx(int i)
{
	if (ufd_ctx_open(S.eng, &S.cred, &S.ctx[i]))
		die("ufd_ctx_open failed");
}

/* ---- libFuzzer entry points ---------------------------------------------- */

/* What a record's selector (mod 32) does. */
enum {
	OP_TABLE, OP_DMA, OP_TEST, OP_VFIO, OP_RANDOM, OP_FAULT_FD,
	OP_CLOSE, OP_REOPEN, OP_MAP,
};

static const uint8_t op_of[32] = {
	OP_TABLE, OP_TABLE, OP_TABLE, OP_TABLE, OP_TABLE, OP_TABLE,    /* 0 */
	OP_TABLE, OP_TABLE, OP_TABLE, OP_TABLE, OP_TABLE, OP_TABLE,    /* 6 */
	OP_TABLE, OP_DMA, OP_TEST, OP_TEST, OP_TEST, OP_TEST,          /* 12 */
	OP_TEST, OP_TEST, OP_TEST, OP_TEST, OP_VFIO, OP_VFIO,          /* 18 */
	OP_VFIO, OP_VFIO, OP_RANDOM, OP_FAULT_FD, OP_CLOSE, OP_CLOSE,  /* 24 */
	OP_REOPEN, OP_MAP,                                             /* 30 */
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct ufd_ioctl_desc *d;
	unsigned int i = 0;

	(void)argc;
	(void)argv;
	arena = aligned_alloc(PAGE, ARENA_SIZE);
	if (!arena)
		die("no memory for the arena");
	memset(arena_dirty, 1, sizeof(arena_dirty));
	while ((d = ufd_ioctl_at(i)) && n_descs < ARRAY_SIZE(descs)) {
		descs[n_descs++] = d;
		i = _IOC_NR(d->cmd) - IOMMUFD_CMD_BASE + 1;
	}
	/* The uiommufd extensions: the same argument machinery. */
	for (i = 0; (d = ufd_ext_ioctl_at(i)) && n_descs < ARRAY_SIZE(descs);
	     i = _IOC_NR(d->cmd) - UIOMMUFD_EXT_CMD_BASE + 1)
		descs[n_descs++] = d;
	if (!n_descs || !ufd_ioctl_lookup(IOMMU_TEST_CMD))
		die("the command table is empty or has no IOMMU_TEST_CMD");
	trace = getenv("UFD_FUZZ_TRACE") != NULL;
	/* Created here, not under an armed ufd_fail_nth. */
	if (!ufd_engine_default())
		die("no default engine");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int nops = 0, i;
	uint8_t cfg;

	memset(&S, 0, sizeof(S));
	S.p = data;
	S.n = size;
	for (i = 0; i != NPAGES; i++) {
		if (!arena_dirty[i])
			continue;
		memset(arena + i * PAGE, 0, PAGE);
		arena_dirty[i] = 0;
	}
	S.sb.mem = arena;
	S.sb.dirty = arena_dirty;
	S.sb.src.ops = &sb_ops;
	S.sb.src.refs = 1;
	S.sb.src.space_id = 0x5a4db0c5;
	S.sb.src.owner_pid = FAKE_PID;

	cfg = u8();
	S.cred.pid = FAKE_PID;
	S.cred.uid = FAKE_UID;
	S.cred.cap_sys_resource = true;
	S.cred.cap_ipc_lock = cfg & 2;
	switch ((cfg >> 2) & 3) {
	case 0:
		S.cred.memlock_limit = UINT64_MAX;
		break;
	case 1:
		S.cred.memlock_limit = 0;
		break;
	case 2:
		S.cred.memlock_limit = (uint64_t)u8() * PAGE;
		break;
	default:
		S.cred.memlock_limit = u64();
		break;
	}
	S.own_engine = !(cfg & 1);
	S.eng = S.own_engine ? ufd_engine_new() : ufd_engine_default();
	if (!S.eng)
		die("no engine");
	S.caller.ops = &fake_caller_ops;
	S.caller.mem = &S.sb.src;
	S.caller.cred = S.cred;
	S.caller.priv = &S;
	open_ctx(0);
	open_ctx(1);

	while (S.n && nops++ < MAX_OPS) {
		/* One record: its length, then selector, modifier, fields. */
		size_t len = u8(), rest;
		const uint8_t *next;
		uint8_t sel, mod;
		int ctxi;

		if (len > S.n)
			len = S.n;
		rest = S.n - len;
		next = S.p + len;
		S.n = len;
		sel = u8();
		mod = u8();
		ctxi = (sel >> 5) == 7;

		switch (op_of[sel % 32]) {
		case OP_TABLE:
			op_table_ioctl(ctxi, mod, descs[u8() % n_descs]);
			break;
		case OP_DMA:
			digest_stale();
			op_dma(ctxi);
			break;
		case OP_TEST:
			op_table_ioctl(ctxi, mod,
				       ufd_ioctl_lookup(IOMMU_TEST_CMD));
			break;
		case OP_VFIO:
			op_vfio(ctxi, mod, u8());
			break;
		case OP_RANDOM:
			op_random_cmd(ctxi, mod, u8());
			break;
		case OP_FAULT_FD:
			op_fault_fd(mod);
			break;
		case OP_CLOSE:
			digest_stale();
			fake_close(mod % MAX_FDS);
			check_all("close fd");
			break;
		case OP_REOPEN:
			digest_stale();
			ufd_ctx_close(S.ctx[mod & 1]);
			S.cred.cap_ipc_lock ^= (mod >> 1) & 1;
			open_ctx(mod & 1);
			check_all("context reopen");
			break;
		default:
			/* The call most others need: MAP, without faults. */
			op_table_ioctl(ctxi, mod & 0x3f,
				       ufd_ioctl_lookup(IOMMU_IOAS_MAP));
			break;
		}
		S.p = next;
		S.n = rest;
	}

	if (S.unchecked)
		check_all("the last operation");
	/* Teardown: fds then contexts, or contexts first (fds keep them). */
	if (cfg & 0x10) {
		for (i = 0; i != 2; i++) {
			ufd_ctx_close(S.ctx[i]);
			S.ctx[i] = NULL;
		}
		for (i = 0; i != MAX_FDS; i++)
			fake_close(i);
	} else {
		for (i = 0; i != MAX_FDS; i++)
			fake_close(i);
		for (i = 0; i != 2; i++) {
			ufd_ctx_close(S.ctx[i]);
			S.ctx[i] = NULL;
		}
	}
	check_all("closing everything");
	for (i = 0; i != NPAGES; i++)
		if (S.sb.pins[i])
			die("page %u still pinned %u times after close", i,
			    S.sb.pins[i]);
	if (S.sb.src.refs != 1)
		die("the source has %u references after close (want 1)",
		    S.sb.src.refs);
	if (ufd_engine_pinned_bytes_user(S.eng, FAKE_UID) ||
	    ufd_engine_pinned_bytes_pid(S.eng, FAKE_PID))
		die("memory still charged after close");
	eng_lock(S.eng);
	if (S.eng->ctx_list || !itree_empty(&S.eng->all_pages))
		die("a context or pages object outlived its close");
	eng_unlock(S.eng);
	ufd_source_put(&S.sb.src);
	if (!S.sb.released)
		die("the source was not released by its last put");
	if (S.own_engine)
		ufd_engine_free(S.eng);
	return 0;
}
