/* SPDX-License-Identifier: MIT */
/*
 * The DMA path: a device's reads and writes through the IO page table of
 * the HWPT it is attached to.  This is the hot path for embedders (device
 * emulators): it takes no engine lock, enters a read section, walks the
 * radix table (O(levels)), and copies to or from the host addresses the
 * leaves hold.  Everything that changes or takes away what a walk sees
 * runs in a write section (see engine.h; a map, which only adds, does
 * not), so a DMA either completes before an unmap or faults (-EFAULT):
 * pages are never unpinned under a DMA.
 *
 * Read sections.  Each thread that does DMA has a reader record of its
 * own (struct dma_reader, one cache line, found through a thread-local
 * pointer; the records are one process-wide list that only grows, and a
 * record given up at thread exit is reused by the next new thread).  Only
 * its thread writes a record's seq (odd: in a section; it moves on by one
 * when a section begins and by one when it ends, so it also counts the
 * sections done) and eng (the engine of that section); the engine has one
 * flag, eng->dma_writer.  A reader moves seq, then looks; a writer raises
 * the flag, then looks at every record (and port, below).  For each side to
 * see the other, a store must be ordered before a load on both.  A reader
 * does that in one of two ways, chosen per thread:
 *
 *   fenced  seq is moved with an atomic add (a full barrier), then the
 *           reader looks at the flag; the writer's own barrier does the
 *           rest.
 *   fast    (record->fast is the port's engine) seq is moved with a plain
 *           add to memory (x86-64; a load and a release store elsewhere), and
 *           the reader looks at record->fast again instead of the flag.
 *           The writer first changes that word in every record fast for
 *           its engine (paused: engine | 1; or NULL: made fenced), then
 *           makes every other thread of the process run a full barrier
 *           (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED), then looks
 *           at the records.  A section whose store came before its
 *           thread's barrier is seen by the writer; one whose load came
 *           after sees the change and takes the slow way.  At the end the
 *           writer resumes what it paused.  A fast DMA touches only its
 *           thread's own line (two plain adds to seq) and no locked
 *           instruction.
 *
 * A record is fast only while that pays: a thread makes itself fast for
 * an engine (atomic exchange, then a look at the flag: a writer that
 * began meanwhile has either seen it or makes it undo) once it has done
 * DMA_PROMOTE sections through that engine with no write section of it
 * in between (but one of its own: a writer never waits for its own
 * thread); a writer that finds a record fast for its engine (not its
 * own thread's: a thread's own accesses are ordered for it) issues the
 * membarrier, and makes the record fenced instead of pausing it if its
 * thread did fewer than DMA_PROMOTE sections since the last write section
 * that looked.  So a thread that does a lot of DMA between changes reads
 * through its own line only, and a change costs a membarrier only while
 * some other thread does.  The invariant that keeps a writer from
 * skipping a fast section: record->fast == E implies record->eng == E (a
 * thread clears fast before it moves eng; writers move fast only between
 * E and E | 1, or to NULL, with compare-and-swap).  Without membarrier
 * (an old kernel, a filter) every thread stays fenced.
 *
 * A fenced reader that finds the flag up leaves its section and sleeps on
 * the flag (futex; set to 2 so the writer knows to wake it).  A writer
 * waits for a section it saw in progress (seq odd) to end (seq moved on,
 * a release store: no section ends with a locked instruction): a fenced
 * reader that leaves while it sees the
 * flag up wakes it (futex, best effort); a fast one does not (that would
 * cost every fast DMA a look), and a fast section is a walk and a copy,
 * so the writer spins a little, then sleeps in bounded, growing steps.
 * The flag keeps new
 * readers out, so an unmap does not starve behind a stream of DMA.  What
 * orders memory is the atomics (a writer's acquire load of the moved seq
 * pairs with the reader's release store; a reader's load of the lowered flag,
 * or of the resumed record, with the writer's release).  A section of
 * another engine does not hold a writer up (the writer skips a record
 * whose eng is not its engine).
 *
 * A port also counts sections itself (port->shared, atomic, fenced): the
 * ones map_sg holds (they may end on another thread, in unmap_sg or
 * close) and those of a thread that could not get a record (out of
 * memory).  Writers wait for those too.
 *
 * Each port caches what its walks start from (the table's root, its
 * levels and reach, whether writes are tracked dirty), filled by a walk
 * inside a section and emptied (an empty root) by every write section
 * that changes any of those (attach, detach, the tracking switch,
 * destroy), when no walk is in progress, so a walk never starts from a
 * cache older than what it walks.  A section that changes only entries
 * of the tables (unmap, a harvest: dma_write_begin_entries) keeps the
 * caches: a table's root is its root for the table's life, and the
 * entries are read afresh by every walk.  The common access (one leaf,
 * host-direct memory, no stage 1, no dirty tracking for a write) is
 * walked inline from the
 * cache with constant shifts, and copied inline when small: in
 * ufd_dma_read/write themselves for 4 levels of 4 KiB (dma->root4, the
 * usual IOMMU format), one call down for the other geometries; anything
 * else takes the general walk (dma_walk) in the same section.
 *
 * A write marks its leaf dirty in the domain's dirty bitmap
 * (pgt_dirty_write: atomic; when the leaf is dirty already, one lookup and
 * a load) when the domain tracks dirty pages.  An IOPTE into an IO window
 * (a device's BAR, io_window.c) is served by the window's rw op, outside
 * the read section: such an access may complete after an unmap that raced
 * it returned (it reaches the device, which stays valid, as a posted
 * peer-to-peer write would).  map_sg cannot hand out MMIO: -EFAULT.  A
 * port opened for a PASID walks the HWPT attached at that PASID, looked up
 * in the read section (engine/pasid.c changes it in a write section).
 *
 * One change does not wait for walks: a superpage split in place (a
 * granule unmap, io_pagetable.c) publishes a fully built table in place
 * of a leaf with one atomic store while walks go on; a walk reads each
 * entry once and sees the old leaf or the new table, the same
 * translation.  Only the removal of the cut part that follows runs in a
 * write section.
 *
 * Intervals here are [iova, iova + len).
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"

#define CACHE_LINE 64

/* Sections without a write section in between that make a thread fast. */
#define DMA_PROMOTE 1024u
/* The same in steps of a record's seq (two per section). */
#define DMA_PROMOTE_SEQ (2 * DMA_PROMOTE)

#ifndef SYS_membarrier
#define SYS_membarrier __NR_membarrier
#endif
/* From <linux/membarrier.h>, which older systems lack. */
#define UFD_MEMBARRIER_CMD_GLOBAL (1 << 0)
#define UFD_MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define UFD_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)

struct dma_reader {
	/* written by its thread only */
	/* odd: in a section; two per section done (futex word) */
	_Alignas(CACHE_LINE) unsigned int seq;
	/*
	 * The engine whose sections are fast: NULL (none), E, or E | 1
	 * (paused by E's writer).  See above for who moves it.
	 */
	uintptr_t fast;
	struct ufd_engine *eng; /* of the current (or last) section */
	/* its thread's own count towards promotion */
	struct ufd_engine *win_eng;
	unsigned int win_gen, win_count;
	unsigned int snap;      /* seq when a writer last looked (fast) */
	unsigned int used;      /* claimed by a live thread */
	struct dma_reader *next; /* readers list; never unlinked */
};

struct ufd_dma {
	/* sections counted by the port itself (futex word); its own line */
	_Alignas(CACHE_LINE) unsigned int shared;
	/* the walk's cache (see above): read per DMA, written rarely */
	_Alignas(CACHE_LINE) const uint64_t *root; /* empty_root: refill */
	const uint64_t *root4;   /* root for 4 levels of 4 KiB, else empty */
	uint64_t last_iova;
	struct ufd_engine *eng;
	unsigned int walk;       /* levels if the granule is 4 KiB, else 0 */
	unsigned int top_shift;  /* shift of the root level's entries */
	unsigned int gran_shift; /* the granule's */
	bool track;              /* writes mark dirty (general walk) */
	struct ufd_ctx *ctx;
	struct ufd_device *dev;
	struct ufd_dma *next, *prev; /* eng->dma_ports; eng->lock */
	uint32_t pasid; /* UFD_NO_PASID: the RID's */
	bool in_sg; /* a read section is held for map_sg */
};

/* What an emptied cache walks: every entry invalid. */
static const uint64_t empty_root[PGT_ENTRIES];

/* ---- reader records ---- */

static struct dma_reader *readers;  /* the list's head */
static pthread_once_t readers_once = PTHREAD_ONCE_INIT;
static pthread_key_t readers_key;
static bool readers_key_ok;
/* membarrier: 0 not tried yet, 1 registered, -1 unavailable */
static int mb_state;

#if defined(__has_attribute)
#if __has_attribute(tls_model)
#define TLS_IE __attribute__((tls_model("initial-exec")))
#endif
#endif
#ifndef TLS_IE
#define TLS_IE
#endif

/*
 * A thread without a record of its own points here: never fast, never
 * listed (its seq is scribbled on by such threads' first DMA: unread).
 */
static struct dma_reader no_reader;

/* The calling thread's record. */
static __thread struct dma_reader *self_reader TLS_IE = &no_reader;

static void reader_release(void *p)
{
	struct dma_reader *r = p;

	if (self_reader == r)
		self_reader = &no_reader;
	__atomic_store_n(&r->fast, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
}

/*
 * The child of fork() has one thread: the other records are nobody's,
 * and membarrier registration is asked for again.
 */
static void readers_atfork_child(void)
{
	struct dma_reader *r;

	for (r = readers; r; r = r->next) {
		if (r == self_reader)
			continue;
		r->seq = 0;
		r->fast = 0;
		r->used = 0;
	}
	mb_state = 0;
}

static void readers_init(void)
{
	readers_key_ok = !pthread_key_create(&readers_key, reader_release);
	pthread_atfork(NULL, NULL, readers_atfork_child);
}

/* The calling thread's record, made on its first DMA; NULL: no memory. */
static struct dma_reader *reader_get(void)
{
	struct dma_reader *r = self_reader;

	if (r != &no_reader)
		return r;
	pthread_once(&readers_once, readers_init);
	if (!readers_key_ok)
		return NULL;
	for (r = __atomic_load_n(&readers, __ATOMIC_ACQUIRE); r; r = r->next) {
		unsigned int zero = 0;

		if (!__atomic_load_n(&r->used, __ATOMIC_RELAXED) &&
		    __atomic_compare_exchange_n(&r->used, &zero, 1, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			break;
	}
	if (!r) {
		/* Not ufd_zalloc: a DMA never fails for want of a record
		 * (it uses the port's count), so no failure to inject. */
		if (posix_memalign((void **)&r, CACHE_LINE, sizeof(*r)))
			return NULL;
		memset(r, 0, sizeof(*r));
		r->used = 1;
		r->next = __atomic_load_n(&readers, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(&readers, &r->next, r,
						    true, __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED))
			;
	}
	if (pthread_setspecific(readers_key, r)) {
		__atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
		return NULL;
	}
	self_reader = r;
	return r;
}

static bool membarrier_ready(void)
{
	int s = __atomic_load_n(&mb_state, __ATOMIC_ACQUIRE);

	if (!s) {
		s = syscall(SYS_membarrier,
			    UFD_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0,
			    0) ?
			    -1 :
			    1;
		__atomic_store_n(&mb_state, s, __ATOMIC_RELEASE);
	}
	return s > 0;
}

/* Every other running thread of the process runs a full barrier. */
static void membarrier_all(void)
{
	if (!syscall(SYS_membarrier, UFD_MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0,
		     0))
		return;
	/* Registration lost (it should not be): ask again, then the slow
	 * global command; a fast record exists only if one worked once. */
	if (!syscall(SYS_membarrier,
		     UFD_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) &&
	    !syscall(SYS_membarrier, UFD_MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0,
		     0))
		return;
	if (!syscall(SYS_membarrier, UFD_MEMBARRIER_CMD_GLOBAL, 0, 0))
		return;
	fprintf(stderr, "uiommufd: membarrier failed; DMA cannot be fenced\n");
	abort();
}

/* ---- sections ---- */

static void futex_wait(unsigned int *word, unsigned int val)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* futex_wait for at most @ns nanoseconds. */
static void futex_wait_for(unsigned int *word, unsigned int val, long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000,
			       .tv_nsec = ns % 1000000000 };

	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake(unsigned int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* One read section: on the thread's record (with its mode), or on the
 * port's count (r == NULL). */
struct dma_sect {
	struct dma_reader *r;
	bool fast;
};

/* Sleep until the writer of @eng lowers its flag. */
static void writer_wait(struct ufd_engine *eng)
{
	/* 2: a reader sleeps on the flag, the writer must wake it. */
	for (;;) {
		unsigned int v = __atomic_load_n(&eng->dma_writer,
						 __ATOMIC_ACQUIRE);

		if (!v)
			return;
		if (v == 1 &&
		    !__atomic_compare_exchange_n(&eng->dma_writer, &v, 2, false,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_ACQUIRE))
			continue;
		futex_wait(&eng->dma_writer, 2);
	}
}

static __attribute__((noinline)) void reader_wake(struct dma_reader *r)
{
	futex_wake(&r->seq);
}

#if defined(__SANITIZE_THREAD__)
#define UFD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UFD_TSAN 1
#endif
#endif

/*
 * Move the record's seq on by one, as a release store: a section begins
 * or ends.  Only the record's thread writes it, so no locked instruction
 * is needed: on x86-64 one plain add to memory (a store, which x86 orders
 * after every earlier access of the thread); elsewhere, and under
 * ThreadSanitizer (which must see the release), a load and a release
 * store.
 */
static inline __attribute__((always_inline)) void
reader_step(struct dma_reader *r)
{
#if defined(__x86_64__) && !defined(UFD_TSAN)
	/* The fences keep the compiler's accesses on their side (a
	 * "memory" clobber instead costs the fast path register moves). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__asm__ __volatile__("addl $1, %0" : "+m"(r->seq));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#else
	__atomic_store_n(&r->seq,
			 __atomic_load_n(&r->seq, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELEASE);
#endif
}

/*
 * Leave a section: a release store (the writer's acquire load that sees
 * 0 pairs with it).  A fenced section then wakes a writer whose flag it
 * sees; no barrier orders that look, so a writer may miss the wake and
 * sleep one of its bounded steps (see dma_write_begin).  A fast one does
 * not look at all.
 */
static void reader_leave(struct ufd_engine *eng, struct dma_reader *r,
			 bool fast)
{
	reader_step(r);
	if (!fast && __atomic_load_n(&eng->dma_writer, __ATOMIC_RELAXED))
		reader_wake(r);
}

static void shared_begin(struct ufd_dma *dma)
{
	struct ufd_engine *eng = dma->eng;

	for (;;) {
		__atomic_fetch_add(&dma->shared, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&eng->dma_writer, __ATOMIC_SEQ_CST))
			return;
		/* A change is under way: step back and let it finish. */
		if (__atomic_sub_fetch(&dma->shared, 1, __ATOMIC_RELEASE) == 0)
			futex_wake(&dma->shared);
		writer_wait(eng);
	}
}

static void shared_end(struct ufd_dma *dma)
{
	if (__atomic_sub_fetch(&dma->shared, 1, __ATOMIC_RELEASE) == 0 &&
	    __atomic_load_n(&dma->eng->dma_writer, __ATOMIC_SEQ_CST))
		futex_wake(&dma->shared);
}

/*
 * In a fenced section of @eng that saw no writer: count it towards
 * being made fast (see above).
 */
static void reader_count(struct ufd_engine *eng, struct dma_reader *r)
{
	unsigned int n = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
	unsigned int gen = __atomic_load_n(&eng->dma_gen, __ATOMIC_RELAXED);
	uintptr_t e = (uintptr_t)eng;

	if (r->win_eng != eng) {
		r->win_eng = eng;
		r->win_gen = gen;
		r->win_count = n;
		return;
	}
	if (r->win_gen != gen) {
		/* One write section since the last look, by this thread
		 * itself, does not count: it never waits for its own
		 * thread's sections, fast or not. */
		bool own = gen - r->win_gen == 1 &&
			   __atomic_load_n(&eng->dma_writer_tag,
					   __ATOMIC_RELAXED) ==
				   (uintptr_t)&ufd_thread_tag;

		r->win_gen = gen;
		if (!own) {
			r->win_count = n;
			return;
		}
	}
	if (n - r->win_count < DMA_PROMOTE_SEQ ||
	    __atomic_load_n(&r->fast, __ATOMIC_RELAXED) ||
	    !membarrier_ready())
		return;
	r->win_count = n;
	__atomic_store_n(&r->snap, n, __ATOMIC_RELAXED);
	/* Either a writer that begins sees it (and pauses or demotes), or
	 * the look at the flag after it sees the writer: undo then (unless
	 * the writer paused it: it resumes it). */
	(void)__atomic_exchange_n(&r->fast, e, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&eng->dma_writer, __ATOMIC_SEQ_CST))
		__atomic_compare_exchange_n(&r->fast, &e, 0, false,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
}

static void sect_begin(struct ufd_dma *dma, struct dma_sect *sc)
{
	struct ufd_engine *eng = dma->eng;
	struct dma_reader *r = reader_get();

	if (!r) {
		shared_begin(dma);
		sc->r = NULL;
		return;
	}
	if (__atomic_load_n(&r->eng, __ATOMIC_RELAXED) != eng) {
		/* Fast for the engine of r->eng only: clear, then move. */
		__atomic_store_n(&r->fast, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&r->eng, eng, __ATOMIC_RELEASE);
	}
	for (;;) {
		if (__atomic_load_n(&r->fast, __ATOMIC_RELAXED) ==
		    (uintptr_t)eng) {
			reader_step(r);
			/* The record as read after the store decides. */
			if (__atomic_load_n(&r->fast, __ATOMIC_ACQUIRE) ==
			    (uintptr_t)eng) {
				sc->r = r;
				sc->fast = true;
				return;
			}
			/* A writer came: a full barrier, then fenced. */
			__atomic_fetch_add(&r->seq, 0, __ATOMIC_SEQ_CST);
		} else {
			__atomic_fetch_add(&r->seq, 1, __ATOMIC_SEQ_CST);
		}
		if (!__atomic_load_n(&eng->dma_writer, __ATOMIC_SEQ_CST)) {
			reader_count(eng, r);
			sc->r = r;
			sc->fast = false;
			return;
		}
		/* A change is under way: step back and let it finish. */
		reader_leave(eng, r, false);
		writer_wait(eng);
	}
}

static void sect_end(struct ufd_dma *dma, const struct dma_sect *sc)
{
	if (sc->r)
		reader_leave(dma->eng, sc->r, sc->fast);
	else
		shared_end(dma);
}

/* ---- write sections ---- */

/* Every port of @eng walks from its page table's root again (the next
 * walk fills the cache).  No walk is in progress (a write section). */
static void ports_empty(struct ufd_engine *eng)
{
	struct ufd_dma *p;

	for (p = eng->dma_ports; p; p = p->next) {
		__atomic_store_n(&p->root, empty_root, __ATOMIC_RELAXED);
		__atomic_store_n(&p->root4, empty_root, __ATOMIC_RELAXED);
	}
}

/*
 * @empty_caches: the change is to what a port walks (which HWPT, its
 * geometry, whether it tracks dirty pages), not only to entries of the
 * tables it walks: the ports' caches go too.  A nested section can ask
 * for that inside one that did not.
 */
static void write_begin(struct ufd_engine *eng, bool empty_caches)
{
	struct dma_reader *self = self_reader, *r;
	uintptr_t e = (uintptr_t)eng;
	bool barrier = false;
	struct ufd_dma *p;

	if (eng->dma_write_depth++) {
		if (empty_caches)
			ports_empty(eng);
		return;
	}
	__atomic_store_n(&eng->dma_writer, 1, __ATOMIC_SEQ_CST);
	/* Fenced readers start counting again (under eng->lock). */
	__atomic_store_n(&eng->dma_writer_tag, (uintptr_t)&ufd_thread_tag,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&eng->dma_gen, eng->dma_gen + 1, __ATOMIC_RELAXED);
	for (r = __atomic_load_n(&readers, __ATOMIC_ACQUIRE); r; r = r->next) {
		uintptr_t f = e;
		unsigned int s;

		if (r == self ||
		    __atomic_load_n(&r->fast, __ATOMIC_SEQ_CST) != e)
			continue;
		barrier = true;
		s = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
		/* Little DMA since the last look: not worth a barrier per
		 * write section.  Before the barrier (see above). */
		__atomic_compare_exchange_n(
			&r->fast, &f,
			s - __atomic_load_n(&r->snap, __ATOMIC_RELAXED) <
					DMA_PROMOTE_SEQ ?
				0 :
				e | 1,
			false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
		__atomic_store_n(&r->snap, s, __ATOMIC_RELAXED);
	}
	if (barrier)
		membarrier_all();
	for (r = __atomic_load_n(&readers, __ATOMIC_ACQUIRE); r; r = r->next) {
		unsigned int spins = 0, seq;
		long ns = 10000;

		if (r == self)
			continue;
		/*
		 * Wait for the section seen in progress (odd seq) to end:
		 * the load that sees seq move pairs with its release (a
		 * section that begins after this writer's flag and barrier
		 * sees the writer and steps back).  A fenced section wakes
		 * the writer when it ends (best effort); a fast one does
		 * not (it would cost every fast DMA a look), and lasts a
		 * walk and a copy: spin a little, then sleep in growing
		 * steps (10 us to 1 ms).
		 */
		seq = __atomic_load_n(&r->seq, __ATOMIC_SEQ_CST);
		while ((seq & 1) &&
		       __atomic_load_n(&r->eng, __ATOMIC_ACQUIRE) == eng &&
		       __atomic_load_n(&r->seq, __ATOMIC_SEQ_CST) == seq) {
			if (++spins < 256) {
				cpu_relax();
				continue;
			}
			futex_wait_for(&r->seq, seq, ns);
			if (ns < 1000000)
				ns *= 2;
		}
	}
	for (p = eng->dma_ports; p; p = p->next) {
		unsigned int n;

		while ((n = __atomic_load_n(&p->shared, __ATOMIC_SEQ_CST)))
			futex_wait(&p->shared, n);
	}
	/* No walk is in progress: the next one fills the cache. */
	if (empty_caches)
		ports_empty(eng);
}

void dma_write_begin(struct ufd_engine *eng)
{
	write_begin(eng, true);
}

void dma_write_begin_entries(struct ufd_engine *eng)
{
	write_begin(eng, false);
}

void dma_write_end(struct ufd_engine *eng)
{
	uintptr_t e = (uintptr_t)eng;
	struct dma_reader *r;

	if (--eng->dma_write_depth)
		return;
	/* Resume what begin paused (release: the changes are seen by a
	 * section that sees it resumed). */
	for (r = __atomic_load_n(&readers, __ATOMIC_ACQUIRE); r; r = r->next) {
		uintptr_t f = e | 1;

		if (__atomic_load_n(&r->fast, __ATOMIC_RELAXED) == f)
			__atomic_compare_exchange_n(&r->fast, &f, e, false,
						    __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
	}
	/* A wake only if a reader went to sleep (a system call saved on
	 * every section nobody waited for). */
	if (__atomic_exchange_n(&eng->dma_writer, 0, __ATOMIC_RELEASE) == 2)
		futex_wake(&eng->dma_writer);
}

bool dma_fast_for(const struct ufd_dma *dma)
{
	return __atomic_load_n(&self_reader->fast, __ATOMIC_RELAXED) ==
	       (uintptr_t)dma->eng;
}

/* ---- ports ---- */

int ufd_dma_open(struct ufd_ctx *ctx, uint32_t dev_id, struct ufd_dma **out)
{
	return ufd_dma_open_pasid(ctx, dev_id, UFD_NO_PASID, out);
}

int ufd_dma_open_pasid(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t pasid,
		       struct ufd_dma **out)
{
	struct ufd_device *dev;
	struct ufd_dma *dma;
	int rc = 0;

	if (ufd_inject_fail() ||
	    posix_memalign((void **)&dma, CACHE_LINE, sizeof(*dma)))
		return -ENOMEM;
	memset(dma, 0, sizeof(*dma));
	dma->ctx = ctx;
	dma->eng = ctx->eng;
	dma->root = empty_root;
	dma->root4 = empty_root;
	dma->pasid = pasid;
	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (!dev)
		rc = -ENOENT;
	else if (pasid != UFD_NO_PASID && !pasid_valid(dev, pasid))
		rc = -EINVAL;
	if (!rc) {
		/* The device, and the handle that owns it, stay while open. */
		dev->dma_ports++;
		dev->obj.users++;
		if (dev->owner)
			dev->owner->users++;
		dma->dev = dev;
		/* From now on write sections wait for its walks. */
		dma->next = ctx->eng->dma_ports;
		if (dma->next)
			dma->next->prev = dma;
		ctx->eng->dma_ports = dma;
	}
	eng_unlock(ctx->eng);
	if (rc) {
		free(dma);
		return rc;
	}
	ufd_ctx_get(ctx);
	*out = dma;
	return 0;
}

void ufd_dma_close(struct ufd_dma *dma)
{
	struct ufd_ctx *ctx;

	if (!dma)
		return;
	ctx = dma->ctx;
	if (dma->in_sg)
		ufd_dma_unmap_sg(dma);
	eng_lock(ctx->eng);
	if (dma->prev)
		dma->prev->next = dma->next;
	else
		ctx->eng->dma_ports = dma->next;
	if (dma->next)
		dma->next->prev = dma->prev;
	dma->dev->dma_ports--;
	dma->dev->obj.users--;
	if (dma->dev->owner)
		dma->dev->owner->users--;
	eng_unlock(ctx->eng);
	free(dma);
	ufd_ctx_put(ctx);
}

/* ---- walks ---- */

/*
 * The page tables DMA goes through, in a read section: the domain
 * (stage 2) and, for a nested HWPT, its stage 1.  Or -errno.  A port
 * without stage 1 keeps what its walks start from (the cache).
 */
static int dma_tables(struct ufd_dma *dma, const struct ufd_pgtable **pgt,
		      struct ufd_stage1 **s1, bool *track)
{
	struct ufd_hwpt *hwpt = dma->pasid == UFD_NO_PASID ?
					dma->dev->hwpt :
					pasid_hwpt_of(dma->dev, dma->pasid);
	const struct ufd_pgtable *p;

	if (!hwpt)
		return -ENODEV;
	*s1 = NULL;
	if (hwpt->obj.type == UFD_OBJ_HWPT_NESTED) {
		if (!hwpt->s1)
			return -EOPNOTSUPP;
		*s1 = hwpt->s1;
		hwpt = hwpt->parent;
	}
	p = &hwpt->domain.pgt;
	*pgt = p;
	*track = hwpt->domain.dirty_tracking;
	if (!*s1 && __atomic_load_n(&dma->root, __ATOMIC_RELAXED) == empty_root) {
		/* Threads sharing the port store the same values. */
		__atomic_store_n(&dma->last_iova, p->last_iova,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&dma->walk,
				 p->granule_shift == 12 ? p->levels : 0,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&dma->top_shift,
				 p->granule_shift +
					 PGT_LEVEL_BITS * (p->levels - 1),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&dma->gran_shift, p->granule_shift,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&dma->track, *track, __ATOMIC_RELAXED);
		__atomic_store_n(&dma->root4,
				 p->granule_shift == 12 && p->levels == 4 ?
					 (const uint64_t *)p->root :
					 empty_root,
				 __ATOMIC_RELEASE);
		__atomic_store_n(&dma->root, p->root, __ATOMIC_RELEASE);
	}
	return 0;
}

/*
 * Walk [iova, iova + len) and call @fn on each host piece (at most one
 * leaf of each stage at a time).  Checks permission; sets dirty bits for
 * writes when tracking.  In the read section @sc.
 */
static int dma_walk(struct ufd_dma *dma, struct dma_sect *sc, uint64_t iova,
		    size_t len, bool write,
		    void (*fn)(void *arg, void *host, size_t n, size_t off),
		    void *arg, char *iobuf)
{
	const struct ufd_pgtable *pgt;
	uint64_t need = write ? PGT_WRITE : PGT_READ;
	struct ufd_stage1 *s1;
	size_t done = 0;
	bool track;
	int rc;

	rc = dma_tables(dma, &pgt, &s1, &track);
	if (rc)
		return rc;
	while (done < len) {
		uint64_t cur = iova + done, size, pte, host;
		uint64_t s1_left = UINT64_MAX;
		unsigned int level;
		uint64_t *e;
		size_t n;

		if (s1) {
			uint64_t gpa, s1_size;

			if (stage1_translate(s1, pgt, cur, write, &gpa,
					     &s1_size))
				return -EFAULT;
			s1_left = s1_size - (cur & (s1_size - 1));
			cur = gpa;
		}
		/* One read of the leaf: a superpage split in place
		 * (pgt_split_commit) may turn the entry into a table. */
		e = pgt_leaf_pte(pgt, cur, &level, &pte);
		if (!e)
			return -EFAULT;
		if (!(pte & need))
			return -EFAULT;
		/* Memory the engine reaches only through its source: no DMA,
		 * unless it is an IO window (below). */
		if ((pte & PGT_INDIRECT) && !iobuf)
			return -EFAULT;
		size = pgt_level_size(pgt, level);
		host = (pte & ~((1ULL << pgt->granule_shift) - 1)) +
		       (cur & (size - 1));
		n = size - (cur & (size - 1));
		if (n > s1_left)
			n = s1_left;
		if (n > len - done)
			n = len - done;
		if (write && track)
			pgt_dirty_write(pgt, cur, level);
		if (pte & PGT_INDIRECT) {
			/*
			 * A device's MMIO (peer-to-peer).  Its handler may wait
			 * for that device's worker, whose own DMA needs a read
			 * section while an unmap waits in a write section: so
			 * the access runs outside the read section (the window
			 * is held by reference), and the walk starts again
			 * after it.
			 */
			sect_end(dma, sc);
			rc = io_window_rw(host, iobuf + done, n, write);
			sect_begin(dma, sc);
			if (rc)
				return rc;
			rc = dma_tables(dma, &pgt, &s1, &track);
			if (rc)
				return rc;
			done += n;
			continue;
		}
		fn(arg, (void *)(uintptr_t)host, n, done);
		done += n;
	}
	return 0;
}

static void copy_out(void *arg, void *host, size_t n, size_t off)
{
	memcpy((char *)arg + off, host, n);
}

static void copy_in(void *arg, void *host, size_t n, size_t off)
{
	memcpy(host, (const char *)arg + off, n);
}

/*
 * The inline walk, from the port's cache: for [iova, iova + len) inside
 * one leaf of host-direct memory that allows the direction (and for a
 * write, no dirty tracking), set host and go on; else goto @slow.  In a
 * read section.  A table entry (valid, not a leaf: low bits 01) is
 * followed; anything else ends the walk where it is met, and must be a
 * valid leaf.  Each entry is read once (a split in place may turn a leaf
 * into a table under the walk).  With 4 KiB granules every shift is a
 * constant; 4 levels (a 40- to 48-bit aperture) are tried first.
 */
#define DMA_LEAF(sh, slow)                                                   \
	do {                                                                 \
		uint64_t size_ = 1ULL << (sh), off_ = iova & (size_ - 1);    \
		uint64_t want_ = PGT_VALID | PGT_LEAF | need;                \
		/* The flags wanted set turned to 0: one test for all. */    \
		uint64_t x_ = pte ^ want_;                                   \
                                                                             \
		if (__builtin_expect(len > size_ - off_ ||                   \
					     (x_ & (want_ | PGT_INDIRECT)),  \
				     0))                                     \
			goto slow;                                           \
		/* Aligned to its size: below are the leaf's flags. */       \
		host = (void *)(uintptr_t)((x_ & ~(size_ - 1)) + off_);      \
	} while (0)

#define DMA_STEP(sh, slow, leaf) DMA_STEP_M(sh, slow, leaf, PGT_ENTRIES - 1)
/* @mask: the index bits (all of iova >> sh at the root: it is below
 * PGT_ENTRIES once iova <= last_iova). */
#define DMA_STEP_M(sh, slow, leaf, mask)                                     \
	do {                                                                 \
		pte = __atomic_load_n(&t[(iova >> (sh)) & (mask)],           \
				      __ATOMIC_ACQUIRE);                      \
		if (__builtin_expect(((pte - 1) & 3) != 0, 0)) {             \
			DMA_LEAF(sh, slow);                                  \
			goto leaf;                                           \
		}                                                            \
		/* A table entry is the table's address | PGT_VALID. */     \
		t = (const uint64_t *)(uintptr_t)(pte - 1);                  \
	} while (0)

#define DMA_WALK(slow, leaf)                                                 \
	do {                                                                 \
		const uint64_t *t =                                          \
			__atomic_load_n(&dma->root, __ATOMIC_ACQUIRE);       \
		unsigned int shift_;                                         \
		uint64_t pte;                                                \
                                                                             \
		if (iova > dma->last_iova || (write && dma->track))          \
			goto slow;                                           \
		if (__builtin_expect(dma->walk == 4, 1))                     \
			goto walk4;                                          \
		switch (dma->walk) {                                         \
		case 6:                                                      \
			DMA_STEP(57, slow, leaf);                            \
			/* fall through */                                   \
		case 5:                                                      \
			DMA_STEP(48, slow, leaf);                            \
			/* fall through */                                   \
		case 4:                                                      \
		walk4:                                                       \
			DMA_STEP(39, slow, leaf);                            \
			/* fall through */                                   \
		case 3:                                                      \
			DMA_STEP(30, slow, leaf);                            \
			/* fall through */                                   \
		case 2:                                                      \
			DMA_STEP(21, slow, leaf);                            \
			/* fall through */                                   \
		case 1:                                                      \
			pte = __atomic_load_n(                               \
				&t[(iova >> 12) & (PGT_ENTRIES - 1)],         \
				__ATOMIC_ACQUIRE);                           \
			DMA_LEAF(12, slow);                                  \
			goto leaf;                                           \
		default:                                                     \
			break;                                               \
		}                                                            \
		for (shift_ = dma->top_shift;; shift_ -= PGT_LEVEL_BITS) {   \
			pte = __atomic_load_n(                               \
				&t[(iova >> shift_) & (PGT_ENTRIES - 1)],     \
				__ATOMIC_ACQUIRE);                           \
			if (((pte - 1) & 3) != 0) {                          \
				DMA_LEAF(shift_, slow);                      \
				goto leaf;                                   \
			}                                                    \
			if (shift_ == dma->gran_shift)                       \
				goto slow;                                   \
			t = (const uint64_t *)(uintptr_t)(pte - 1);          \
		}                                                            \
	} while (0)

/*
 * DMA_WALK for the one geometry inlined in ufd_dma_read/write: 4 levels
 * of 4 KiB (apertures of 40 to 48 bits, the IOMMUs' usual format), from
 * dma->root4, which is empty for any other (DMA_WALK has them all).  With
 * 4 levels last_iova < 2^48: the root index needs no mask.
 */
#define DMA_WALK4(slow, leaf)                                                \
	do {                                                                 \
		const uint64_t *t =                                          \
			__atomic_load_n(&dma->root4, __ATOMIC_ACQUIRE);      \
		uint64_t pte;                                                \
                                                                             \
		if (iova > dma->last_iova || (write && dma->track))          \
			goto slow;                                           \
		DMA_STEP_M(39, slow, leaf, ~0ULL);                           \
		DMA_STEP(30, slow, leaf);                                    \
		DMA_STEP(21, slow, leaf);                                    \
		pte = __atomic_load_n(&t[(iova >> 12) & (PGT_ENTRIES - 1)],   \
				      __ATOMIC_ACQUIRE);                      \
		DMA_LEAF(12, slow);                                          \
		goto leaf;                                                   \
	} while (0)

/* memcpy, with the small copies (descriptors, doorbells) inline. */
static inline __attribute__((always_inline)) void
dma_copy(void *dst, const void *src, size_t len)
{
	char *d = dst;
	const char *s = src;

	if (__builtin_expect(len - 8 <= 8, 1)) {
		uint64_t a, b;

		memcpy(&a, s, 8);
		memcpy(&b, s + len - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + len - 8, &b, 8);
	} else if (len > 16) {
		memcpy(d, s, len);
	} else if (len >= 4) {
		uint32_t a, b;

		memcpy(&a, s, 4);
		memcpy(&b, s + len - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + len - 4, &b, 4);
	} else if (len) {
		char a = s[0], b = s[len / 2], c = s[len - 1];

		d[0] = a;
		d[len / 2] = b;
		d[len - 1] = c;
	}
}

static inline __attribute__((always_inline)) void
dma_copy_dir(void *host, void *buf, size_t len, bool write)
{
	if (write)
		dma_copy(host, buf, len);
	else
		dma_copy(buf, host, len);
}

/*
 * The rest of a read or write, in section @sc (of a non-empty access that
 * does not wrap): the port's cache filled if a change emptied it, the
 * inline walk from it (skipped if @after_inline and the cache holds the
 * geometry dma_rw walked already: that walk failed), else the general
 * walk; the copy; the section ended.
 */
static inline __attribute__((always_inline)) int
dma_rw_in_section(struct ufd_dma *dma, struct dma_sect *sc, uint64_t iova,
		  void *buf, size_t len, bool write, bool after_inline)
{
	uint64_t need = write ? PGT_WRITE : PGT_READ;
	void *host;
	int rc = 0;

	if (__atomic_load_n(&dma->root, __ATOMIC_RELAXED) == empty_root) {
		const struct ufd_pgtable *pgt;
		struct ufd_stage1 *s1;
		bool track;

		/* Fill the cache (after a change), then walk it inline. */
		(void)dma_tables(dma, &pgt, &s1, &track);
	} else if (after_inline &&
		   __atomic_load_n(&dma->root4, __ATOMIC_RELAXED) !=
			   empty_root) {
		goto walk;
	}
	/* (After dma_rw: another geometry; an empty root fails at once.) */
	DMA_WALK(walk, copy);
walk:
	rc = dma_walk(dma, sc, iova, len, write, write ? copy_in : copy_out,
		      buf, buf);
	goto out;
copy:
	dma_copy_dir(host, buf, len, write);
out:
	sect_end(dma, sc);
	return rc;
}

/* The general case, in a section begun here. */
static __attribute__((noinline)) int
dma_rw_slow(struct ufd_dma *dma, uint64_t iova, void *buf, size_t len,
	    bool write)
{
	struct dma_sect sc;

	if (!len)
		return 0;
	if (iova + len - 1 < iova)
		return -EFAULT;
	/* A fault part way leaves what came before it written, like DMA. */
	sect_begin(dma, &sc);
	return dma_rw_in_section(dma, &sc, iova, buf, len, write, false);
}

/* The inline section found its record not fast (any more): leave it
 * (it touched nothing), then the general case. */
static __attribute__((noinline)) int
dma_rw_retry(struct ufd_dma *dma, uint64_t iova, void *buf, size_t len,
	     bool write)
{
	struct dma_reader *r = self_reader;

	if (r != &no_reader)
		reader_step(r);
	return dma_rw_slow(dma, iova, buf, len, write);
}

/* In the inline section, not the common case: the general walk there. */
static __attribute__((noinline)) int
dma_rw_walk(struct ufd_dma *dma, uint64_t iova, void *buf, size_t len,
	    bool write)
{
	struct dma_sect sc = { .r = self_reader, .fast = true };

	if (!len || iova + len - 1 < iova) {
		sect_end(dma, &sc);
		return len ? -EFAULT : 0;
	}
	return dma_rw_in_section(dma, &sc, iova, buf, len, write, true);
}

/* The inline section's copy when it is not small: a call, kept out of
 * the small case's way. */
static __attribute__((noinline)) int
dma_rw_copy(struct ufd_dma *dma, void *host, void *buf, size_t len,
	    bool write)
{
	struct dma_reader *r = self_reader;

	if (write)
		memcpy(host, buf, len);
	else
		memcpy(buf, host, len);
	reader_leave(dma->eng, r, true);
	return 0;
}

/*
 * A read or write.  The common case of a thread fast for the port's
 * engine is inline: a plain add to its record's seq, the record read
 * back, the walk from the port's cache, the copy, a plain add again
 * (the record stays in a register: the function still needs no frame,
 * and its slow exits, tail calls, read it again).  Anything else is
 * dma_rw_slow's.
 */
static inline __attribute__((always_inline)) int
dma_rw(struct ufd_dma *dma, uint64_t iova, void *buf, size_t len, bool write)
{
	struct dma_reader *r = self_reader;
	uint64_t need = write ? PGT_WRITE : PGT_READ;
	void *host;

	reader_step(r);
	/* dma->eng is read here, after the store: compared from memory,
	 * it takes no register across the walk. */
	if (__builtin_expect(__atomic_load_n(&r->fast, __ATOMIC_ACQUIRE) !=
				     (uintptr_t)dma->eng,
			     0))
		return dma_rw_retry(dma, iova, buf, len, write);
	DMA_WALK4(walk, copy);
walk:
	return dma_rw_walk(dma, iova, buf, len, write);
copy:
	/* 8 to 16 bytes first (descriptors), then the long copy's call. */
	if (__builtin_expect(len - 8 > 8, 0)) {
		if (len > 16)
			return dma_rw_copy(dma, host, buf, len, write);
	}
	dma_copy_dir(host, buf, len, write);
	reader_step(r);
	return 0;
}

int ufd_dma_read(struct ufd_dma *dma, uint64_t iova, void *buf, size_t len)
{
	return dma_rw(dma, iova, buf, len, false);
}

int ufd_dma_write(struct ufd_dma *dma, uint64_t iova, const void *buf,
		  size_t len)
{
	return dma_rw(dma, iova, (void *)buf, len, true);
}

struct sg_fill {
	struct ufd_sg *sg;
	unsigned int max, n;
	bool overflow;
};

static void sg_add(void *arg, void *host, size_t n, size_t off)
{
	struct sg_fill *f = arg;

	if (f->n && (char *)f->sg[f->n - 1].host + f->sg[f->n - 1].len ==
			    (char *)host) {
		f->sg[f->n - 1].len += n;
		return;
	}
	if (f->n == f->max) {
		f->overflow = true;
		return;
	}
	f->sg[f->n].host = host;
	f->sg[f->n].len = n;
	f->n++;
}

int ufd_dma_map_sg(struct ufd_dma *dma, uint64_t iova, size_t len,
		   bool write, struct ufd_sg *sg, unsigned int max,
		   unsigned int *nsg)
{
	struct sg_fill f = { .sg = sg, .max = max };
	/* The port's own count: unmap_sg may run on another thread. */
	struct dma_sect sc = { .r = NULL };
	int rc;

	if (dma->in_sg)
		return -EBUSY;
	if (!len || iova + len - 1 < iova)
		return -EFAULT;
	shared_begin(dma);
	rc = dma_walk(dma, &sc, iova, len, write, sg_add, &f, NULL);
	if (!rc && f.overflow)
		rc = -E2BIG;
	if (rc) {
		shared_end(dma);
		return rc;
	}
	dma->in_sg = true;
	*nsg = f.n;
	return 0;
}

void ufd_dma_unmap_sg(struct ufd_dma *dma)
{
	if (!dma->in_sg)
		return;
	dma->in_sg = false;
	shared_end(dma);
}
