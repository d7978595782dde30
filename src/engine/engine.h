/* SPDX-License-Identifier: MIT */
/*
 * Engine internals.  The object model follows iommufd:
 *
 *   ufd_engine    process- (or daemon-) wide: every pages object (for pin
 *                 counting across contexts), memory accounting per user and
 *                 per process, the one engine lock.
 *   ufd_ctx       one open of /dev/iommu: a table of objects with 32-bit
 *                 IDs (never 0, the lowest free one is reused).
 *   ufd_ioas      an IO address space: areas (IOVA -> pages), allowed and
 *                 reserved IOVA ranges, the accesses that use it.
 *   ufd_area      one mapping; points into a pages object.
 *   ufd_pages     a range of a memory source's address space, pinned on
 *                 demand and shared by every area that maps it (COPY), so
 *                 memory is pinned and accounted once.
 *   ufd_access    an in-process user of an IOAS (the emulated device side).
 *
 * Intervals are [start, last] with last inclusive everywhere; "end" names
 * an exclusive bound.  Page indexes of a pages object count from its
 * page-aligned start.
 *
 * Locking: one recursive lock per engine (eng->lock, taken with
 * eng_lock()) guards everything below it.  Public entry points take it;
 * internal functions (iopt_*, pages_*, obj_*) expect it held.  It is
 * recursive because an access's unmap callback, run from inside unmap,
 * calls back into the engine.
 *
 * The DMA path (dma.c) does not take eng->lock: a walk runs inside a read
 * section, counted in the calling thread's own reader record (or, for
 * map_sg, in its port), so DMA from separate threads shares no written
 * cache line.  Whatever changes or takes away what a DMA walk sees (IO
 * page table entries, the pins behind them, which HWPT a device is
 * attached to, whether it tracks dirty pages) happens with eng->lock held
 * AND inside dma_write_begin/end (nestable): it raises eng->dma_writer,
 * which keeps new walks out, waits until no thread or port has a walk of
 * this engine in progress, and (when what a port walks changes, not only
 * the entries: dma_write_begin_entries) empties the ports' walk caches,
 * so an unmap returns only after every DMA that could still see the old
 * mapping has finished.  A map only adds (pgt_map publishes atomically
 * and fails having published nothing; the pages are pinned first): it
 * needs the lock only.  Order: eng->lock, then the write section.
 * Dirty bits are set and cleared atomically.
 */
#ifndef UFD_ENGINE_H
#define UFD_ENGINE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/itree.h"
#include "engine/pgtable.h"
#include "uiommufd.h"

#define UFD_PAGE_SIZE 4096ULL
#define UFD_PAGE_SHIFT 12
/* Largest alignment automatic IOVA allocation asks for (a PMD). */
#define UFD_HPAGE_SIZE (2ULL << 20)

#define UFD_ULONG_MAX UINT64_MAX

#define ALIGN_DOWN_U64(x, a) ((x) & ~((uint64_t)(a) - 1))

/* ---- IO windows ---- */

#include "engine/io_window.h"

/* ---- allocation with fault injection ---- */

void *ufd_zalloc(size_t size);
/* For allocators other than these (aligned tables): should this fail? */
bool ufd_inject_fail(void);
void *ufd_calloc(size_t n, size_t size);
void *ufd_realloc_array(void *p, size_t n, size_t size);
/*
 * Test hooks: make the Nth allocation from now fail (0: never); count
 * allocations (exact for one thread; allocations of several threads at
 * once may be missed).  Hidden: not exported from libuiommufd.so (not in
 * src/libuiommufd.map); the static and sanitizer builds the tests and
 * fuzzers link carry them, and so do the preload library and the daemon,
 * which emulate the kernel's fail-nth with them.
 */
void ufd_fail_nth(unsigned long nth);
unsigned long ufd_alloc_count(void);
/*
 * The calling thread's own countdown (the kernel's per-task fail-nth):
 * the Nth allocation this thread makes from now fails (0: never); what is
 * left of it (0 once it fired, or if never armed).
 */
void ufd_fail_nth_thread(unsigned long nth);
unsigned long ufd_fail_nth_thread_left(void);

/* Freed objects of one size kept for reuse (alloc.c); the owner's lock. */
struct ufd_objcache {
	void *head;
	unsigned int n;
};
#define UFD_OBJCACHE_MAX 16
/* ufd_zalloc(@size), from the cache when it has one. */
void *ufd_cache_zalloc(struct ufd_objcache *c, size_t size);
/* free(), or onto the cache (@p came from malloc, of @size bytes). */
void ufd_cache_free(struct ufd_objcache *c, void *p, size_t size);
void ufd_cache_drain(struct ufd_objcache *c, size_t size);

/* ---- objects ---- */

enum ufd_obj_type {
	UFD_OBJ_NONE = 0,
	UFD_OBJ_IOAS,
	UFD_OBJ_ACCESS,
	UFD_OBJ_DEVICE,
	UFD_OBJ_HWPT_PAGING,
	UFD_OBJ_HWPT_NESTED,
	UFD_OBJ_FAULT,
	UFD_OBJ_SELFTEST,
	UFD_OBJ_VIOMMU,
	UFD_OBJ_VDEVICE,
	UFD_OBJ_VEVENTQ,
	UFD_OBJ_HW_QUEUE,
	UFD_OBJ_PASID_SET, /* pasid_set.c */
	UFD_OBJ_MEM_REG,   /* registered memory (mem_register.c) */
	UFD_OBJ_ANY,
	UFD_OBJ_NR,
};

struct ufd_obj {
	uint32_t id;
	enum ufd_obj_type type;
	unsigned int users;  /* other objects or owners that hold this one */
	bool visible;        /* finalized: lookups find it */
	bool internal;       /* not destroyable by IOMMU_DESTROY */
	/*
	 * Finalized inside a ufd_publish_begin/end window: found only by
	 * lookups of the thread that made it (its call), until end().
	 */
	bool pending;
	pthread_t pending_owner;
};

struct ufd_ctx;

struct ufd_obj_ops {
	void (*destroy)(struct ufd_ctx *ctx, struct ufd_obj *obj);
	/* Optional: IOMMU_DESTROY refuses (-EBUSY) while it says so. */
	bool (*busy)(struct ufd_obj *obj);
};

struct ufd_engine {
	pthread_mutex_t lock;       /* eng_lock(): recursive */
	uintptr_t lock_owner;       /* &ufd_thread_tag of the holder, or 0 */
	unsigned int lock_depth;    /* the holder's */
	/* Read by every DMA: a line of its own, not the lock's. */
	char pad_dma0[64];
	/* 1 inside a write section: DMA walks wait (futex word; dma.c) */
	unsigned int dma_writer;
	unsigned int dma_gen;         /* write sections begun; under lock */
	uintptr_t dma_writer_tag;     /* the last one's thread (eng_lock) */
	char pad_dma1[64];
	unsigned int dma_write_depth; /* under lock */
	struct ufd_dma *dma_ports;    /* every open DMA port; under lock */
	/* Areas, pages objects and pin users freed, for the next map. */
	struct ufd_objcache area_cache, pages_cache, pin_cache;
	struct itree all_pages;   /* every pages object, by source address */
	struct itree reg_pages;   /* registrations' pages objects (reg_node) */
	uint32_t next_pages_id;
	struct ufd_charge {
		uint64_t key;     /* uid or pid */
		uint64_t pages;
	} *user_charge, *pid_charge;
	size_t n_user_charge, n_pid_charge;
	size_t temp_memory_limit; /* SET_TEMP_MEMORY_LIMIT; batching only */
	unsigned int nr_ctx;
	struct ufd_ctx *ctx_list; /* every open context */
	/* PASID sets (pasid_set.c): the system-wide capacity and use */
	uint32_t pasid_capacity, pasids_used;
	bool pasid_capacity_set; /* else UFD_PASID_CAPACITY_DEFAULT */
};

enum ufd_account_mode {
	UFD_ACCOUNT_NONE = 0, /* CAP_IPC_LOCK */
	UFD_ACCOUNT_USER,
	UFD_ACCOUNT_MM,
};

struct ufd_ctx {
	struct ufd_engine *eng;
	unsigned int refs;
	struct ufd_obj **objs;   /* indexed by id; slot 0 unused */
	uint32_t nr_slots;       /* capacity of objs */
	uint32_t next_unused;    /* every id >= this is free */
	uint32_t *free_ids;      /* min-heap of freed ids < next_unused */
	uint32_t nr_free, cap_free;
	uint32_t nr_objs;
	enum ufd_account_mode account_mode; /* RLIMIT_MODE: USER or MM */
	uint32_t compat_ioas_id;            /* IOMMU_VFIO_IOAS; 0: none */
	struct ufd_cred cred;               /* of the opener */
	struct ufd_ctx *next, *prev;        /* eng->ctx_list */
};

int obj_alloc(struct ufd_ctx *ctx, struct ufd_obj *obj,
	      enum ufd_obj_type type);
void obj_finalize(struct ufd_ctx *ctx, struct ufd_obj *obj);
/* Undo obj_alloc of an object never finalized; does not free it. */
void obj_abort(struct ufd_ctx *ctx, struct ufd_obj *obj);
/* Find a visible object of @type (UFD_OBJ_ANY: any). -ENOENT otherwise. */
struct ufd_obj *obj_find(struct ufd_ctx *ctx, uint32_t id,
			 enum ufd_obj_type type);
/* Per-type destroy ops (ioas.c, access.c). */
void ioas_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void access_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void pasid_set_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
int pasid_set_check(struct ufd_engine *eng); /* for ufd_engine_check */
/* Remove from the table and free through the type's destroy op. */
void obj_destroy(struct ufd_ctx *ctx, struct ufd_obj *obj);
/*
 * The same, but the ID stays taken (lookups: -ENOENT) until the context
 * closes: what the kernel calls a tombstone.
 */
void obj_destroy_tombstone(struct ufd_ctx *ctx, struct ufd_obj *obj);

/*
 * The engine lock is recursive: a plain mutex with its owner (the address
 * of a thread-local byte, so no call to find out who we are) and a depth,
 * which costs half what a PTHREAD_MUTEX_RECURSIVE one does.  Only the
 * owner writes owner to itself, so a thread that reads itself there holds
 * the lock; the depth is the owner's.
 */
extern __thread char ufd_thread_tag
#if defined(__has_attribute)
#if __has_attribute(tls_model)
	__attribute__((tls_model("initial-exec")))
#endif
#endif
	;

static inline void eng_lock(struct ufd_engine *eng)
{
	uintptr_t self = (uintptr_t)&ufd_thread_tag;

	if (__atomic_load_n(&eng->lock_owner, __ATOMIC_RELAXED) == self) {
		eng->lock_depth++;
		return;
	}
	pthread_mutex_lock(&eng->lock);
	__atomic_store_n(&eng->lock_owner, self, __ATOMIC_RELAXED);
	eng->lock_depth = 1;
}

static inline void eng_unlock(struct ufd_engine *eng)
{
	if (--eng->lock_depth)
		return;
	__atomic_store_n(&eng->lock_owner, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&eng->lock);
}

/*
 * With eng->lock held: keep DMA walks out while mappings change (dma.c).
 * begin returns once no walk is in progress on any port of @eng.  The
 * _entries form is for a change to entries of the page tables the ports
 * walk and to the pins behind them (unmap, a harvest's dirty bits): the
 * ports keep their caches (a table's root stays its root while it lives).
 * Anything else (attach, replace, detach, destroy, the dirty tracking
 * switch, a domain leaving an IOAS) takes the plain form, which empties
 * them.
 */
void dma_write_begin(struct ufd_engine *eng);
void dma_write_begin_entries(struct ufd_engine *eng);
void dma_write_end(struct ufd_engine *eng);
/* For tests: does the calling thread DMA through @dma the fast way? */
bool dma_fast_for(const struct ufd_dma *dma);

/* ---- IO windows (io_window.c) ---- */

/* DMA into the window holding fake host address @host (the piece lies in
 * one leaf).  No engine lock held.  -EFAULT if there is none. */
int io_window_rw(uint64_t host, void *buf, size_t len, bool write);

/* ---- pages ---- */

struct ufd_pages {
	struct ufd_engine *eng;
	struct ufd_source *src;
	uint32_t id;             /* for inspection only */
	unsigned int refs;       /* areas (and copies in flight) */
	uint64_t uaddr;          /* page aligned */
	uint64_t npages;
	bool writable;
	enum ufd_account_mode account_mode;
	uid_t uid;               /* charged to, per user */
	pid_t pid;               /* charged to, per process */
	uint64_t memlock_limit;  /* pages */
	struct itree pin_users;  /* struct pages_pin_user, page indexes */
	uint64_t npinned;        /* pages covered by pin_users */
	uint64_t host_base;      /* where the engine reaches page 0 (pinned) */
	bool host_known;
	struct itree_node eng_node; /* in eng->all_pages, source addresses */
	bool registered;         /* a live registration's (mem_register.c) */
	struct itree_node reg_node; /* then in eng->reg_pages, as eng_node */
};

struct pages_pin_user {
	struct itree_node node; /* [first, last] page index */
	bool writable;
};

int pages_alloc(struct ufd_engine *eng, struct ufd_source *src,
		uint64_t uaddr, uint64_t length, bool writable,
		const struct ufd_cred *cred, enum ufd_account_mode mode,
		struct ufd_pages **out);
void pages_get(struct ufd_pages *pages);
/* pages_alloc(), or a reference to a registration's pages that cover the
 * range for this user (mem_register.c). */
/* IOAS_MAP's flag rules (ioas.c): 0, -EOPNOTSUPP, -EINVAL. */
int ioas_check_map_flags(unsigned int flags);
/*
 * What every map starts with (ioas.c): IOAS @ioas_id of @ctx into *@ioas,
 * and the pages of [@uaddr, @uaddr + @length) of @src, charged to @cred,
 * as the one element *@elm (a pages reference the caller puts if the map
 * fails).  0, -ENOENT, or pages_for_map()'s -errno with nothing held.
 * eng->lock held.
 */
struct iopt_map_elm;
struct ufd_ioas;
int ioas_map_elm(struct ufd_ctx *ctx, uint32_t ioas_id,
		 struct ufd_source *src, uint64_t uaddr, uint64_t length,
		 bool writable, const struct ufd_cred *cred,
		 struct ufd_ioas **ioas, struct iopt_map_elm *elm);
/* IOAS_COPY's argument rules (ioas.c): 0, -EOPNOTSUPP, -EOVERFLOW, -EINVAL. */
int ioas_copy_check(unsigned int flags, uint64_t length, uint64_t src_iova,
		    uint64_t dst_iova);
int pages_for_map(struct ufd_engine *eng, struct ufd_source *src,
		  uint64_t uaddr, uint64_t length, bool writable,
		  const struct ufd_cred *cred, enum ufd_account_mode mode,
		  struct ufd_pages **out);
void mem_reg_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
bool mem_reg_busy(struct ufd_obj *obj);
void pages_put(struct ufd_pages *pages);
/* Pin page indexes [first, last] for one more user; -EFAULT, -ENOMEM. */
int pages_pin(struct ufd_pages *pages, uint64_t first, uint64_t last,
	      bool writable, struct pages_pin_user **out);
void pages_unpin(struct ufd_pages *pages, struct pages_pin_user *user);
/*
 * Split pin user @user at page index @last: it keeps [first, last], @rhs
 * (allocated by the caller, not yet in the tree) takes the rest.  The
 * coverage, so what is pinned and charged, does not change; cannot fail.
 */
void pages_pin_user_split(struct ufd_pages *pages,
			  struct pages_pin_user *user, uint64_t last,
			  struct pages_pin_user *rhs);
/* Is page @index pinned by anyone? */
bool pages_index_pinned(struct ufd_pages *pages, uint64_t index);
/* Copy between byte offset @start of the pages object and @buf. */
int pages_rw(struct ufd_pages *pages, uint64_t start_byte, void *buf,
	     size_t length, bool write);

/* ---- IO page table (the IOAS's address space) ---- */

struct ufd_area {
	struct itree_node node;  /* IOVA [start, last] */
	struct ufd_pages *pages;
	uint64_t start_byte;     /* offset in pages of the first IOVA byte */
	unsigned int prot;       /* UFD_MAP_READ | UFD_MAP_WRITE */
	unsigned int num_accesses; /* access pins intersecting this area */
	struct pages_pin_user *domain_pin; /* while the IOAS has domains */
	bool prevent_access;     /* being unmapped */
	unsigned int num_locked; /* pins that refuse unmap (HW queues) */
	/* Unmap granularity (UIOMMUFD_IOAS_MAP_GRANULE, a power of two,
	 * dividing IOVA and length): unmap may cut the area at any multiple
	 * of it; 0: only whole (plain maps, as the kernel). */
	uint64_t granule;
	/* Runs of two or more adjacent areas (io_pagetable.c): in_run if
	 * this area is in one; in its first area (run_head), the run, [its
	 * IOVA, the run's last IOVA], in iopt->runs. */
	struct itree_node run;
	bool in_run, run_head;
};

struct iopt_reserved {
	struct itree_node node;
	const void *owner;       /* NULL: ADD_RESERVED, lives with the IOAS */
};

struct iopt_allowed {
	struct itree_node node;
};

struct ufd_access;

/*
 * A domain: one IO page table that mirrors an IOAS, with the geometry of
 * the devices it serves (the mock IOMMU's, or an embedder's device).
 */
struct ufd_domain {
	struct ufd_pgtable pgt;
	uint64_t aperture_start, aperture_last;
	uint64_t pgsize_bitmap;
	bool dirty_ops;      /* can track dirty bits */
	bool dirty_tracking; /* tracking is on */
};

struct io_pagetable {
	struct ufd_engine *eng;
	struct itree areas;
	struct itree runs;  /* maximal runs of 2+ adjacent areas (ufd_area.run) */
	struct itree allowed;
	struct itree reserved;
	uint64_t iova_alignment;
	bool disable_large_pages;
	struct ufd_access **accesses; /* attached accesses */
	unsigned int nr_accesses, cap_accesses;
	struct ufd_domain **domains;  /* page tables mirroring this IOAS */
	unsigned int nr_domains, cap_domains;
	/* uiommufd extensions (ext_iopt.c): user reservations
	 * (struct iopt_user_resv) and the minimum aperture */
	struct itree user_resv;
	struct iopt_min_aperture {
		uint64_t length;  /* 0: no requirement */
		uint64_t base;
		bool fixed_base;
		uint64_t pgsize_bitmap;
	} min_ap;
};

/* ---- extensions (ext_iopt.c) ---- */

struct iopt_user_resv {
	struct itree_node node;
};

/* The extensions' invariants (iopt_check): 0 or -EUCLEAN, printed. */
int iopt_check_ext(const struct io_pagetable *iopt);
/*
 * Would the IOAS still have its minimum aperture's window with the
 * reservations of @extra (may be NULL) added?  0, or -ENOSPC and
 * *missing (may be NULL) the window.  iopt_reserve() keeps it so.
 */
int iopt_check_min_window(const struct io_pagetable *iopt,
			  const struct itree *extra,
			  struct ufd_iova_range *missing);
/* May a domain of @pgsize_bitmap mirror the IOAS?  0, or -ERANGE. */
int iopt_check_min_pgsizes(const struct io_pagetable *iopt,
			   uint64_t pgsize_bitmap);

static inline uint64_t area_iova(const struct ufd_area *a)
{
	return a->node.start;
}

static inline uint64_t area_last_iova(const struct ufd_area *a)
{
	return a->node.last;
}

static inline uint64_t area_length(const struct ufd_area *a)
{
	return a->node.last - a->node.start + 1;
}

static inline uint64_t area_start_byte(const struct ufd_area *a,
				       uint64_t iova)
{
	return a->start_byte + (iova - area_iova(a));
}

static inline uint64_t area_index(const struct ufd_area *a, uint64_t iova)
{
	return area_start_byte(a, iova) >> UFD_PAGE_SHIFT;
}

static inline struct ufd_area *area_first(struct io_pagetable *iopt,
					  uint64_t start, uint64_t last)
{
	struct itree_node *n = itree_iter_first(&iopt->areas, start, last);

	return n ? container_of(n, struct ufd_area, node) : NULL;
}

static inline struct ufd_area *area_next(struct ufd_area *a, uint64_t start,
					 uint64_t last)
{
	struct itree_node *n = itree_iter_next(&a->node, start, last);

	return n ? container_of(n, struct ufd_area, node) : NULL;
}

/*
 * Walk the areas covering [iova, last] without holes.  After the loop,
 * contig_done() tells whether the whole range was covered.
 */
struct iopt_contig_iter {
	uint64_t cur_iova;
	uint64_t last_iova;
	struct ufd_area *area;
};

/*
 * How much of [iova, last] the areas cover without a hole from @iova on,
 * in bytes (0: none; 0 also when the run covers the whole 2^64, as it
 * wraps), found from the run that holds @iova (O(log runs)), or the area
 * if it has no neighbour: 0 if that is all of it, 1 if a hole follows.
 */
int iopt_contig_span(const struct io_pagetable *iopt, uint64_t iova,
		     uint64_t last, uint64_t *covered);

struct ufd_area *iopt_contig_first(struct iopt_contig_iter *it,
				   struct io_pagetable *iopt, uint64_t iova,
				   uint64_t last);
struct ufd_area *iopt_contig_next(struct iopt_contig_iter *it);
static inline bool iopt_contig_done(const struct iopt_contig_iter *it)
{
	return it->area && it->last_iova <= area_last_iova(it->area);
}

#define iopt_for_each_contig_area(it, a, iopt, iova, last)             \
	for ((a) = iopt_contig_first((it), (iopt), (iova), (last)); (a); \
	     (a) = iopt_contig_next(it))

void iopt_init(struct io_pagetable *iopt, struct ufd_engine *eng);
void iopt_destroy(struct io_pagetable *iopt);

/* One element of a map: a piece of a pages object. */
struct iopt_map_elm {
	struct ufd_pages *pages; /* reference held by the element */
	uint64_t start_byte;
	uint64_t length;
};

int iopt_map_pages(struct io_pagetable *iopt, struct iopt_map_elm *elms,
		   unsigned int nelms, uint64_t length, uint64_t *iova,
		   unsigned int prot, bool alloc_iova);
/* The same for one element, with unmap granularity @granule (0: none;
 * else the IOVA, allocated or not, is a multiple of it). */
int iopt_map_pages_granule(struct io_pagetable *iopt,
			   struct iopt_map_elm *elm, uint64_t *iova,
			   unsigned int prot, bool alloc_iova,
			   uint64_t granule);
int iopt_get_pages(struct io_pagetable *iopt, uint64_t iova, uint64_t length,
		   struct iopt_map_elm **elms, unsigned int *nelms);
void iopt_put_elms(struct iopt_map_elm *elms, unsigned int nelms);
int iopt_unmap(struct io_pagetable *iopt, uint64_t start, uint64_t last,
	       uint64_t *unmapped);
int iopt_cut(struct io_pagetable *iopt, const uint64_t *iovas, unsigned int n);
int iopt_reserve(struct io_pagetable *iopt, uint64_t start, uint64_t last,
		 const void *owner);
void iopt_remove_reserved(struct io_pagetable *iopt, const void *owner);
int iopt_set_allow(struct io_pagetable *iopt,
		   const struct ufd_iova_range *ranges, uint32_t num);
int iopt_disable_large_pages(struct io_pagetable *iopt);
void iopt_enable_large_pages(struct io_pagetable *iopt);
int iopt_add_access(struct io_pagetable *iopt, struct ufd_access *access);
void iopt_remove_access(struct io_pagetable *iopt, struct ufd_access *access);
int iopt_add_domain(struct io_pagetable *iopt, struct ufd_domain *dom);
void iopt_remove_domain(struct io_pagetable *iopt, struct ufd_domain *dom);
int iopt_check(struct io_pagetable *iopt);
/*
 * Map every area of @src that domains map again, with the protection the
 * source gives now (host_direct: a revoked file source's IOPTEs become
 * INDIRECT, so DMA through them faults).  dma_write held.  The first
 * error; an area whose IOPTEs could not be made again stays unmapped.
 */
int iopt_reprot_source(struct io_pagetable *iopt, struct ufd_source *src);
/* Host address of the first byte of @area (pages pinned). */
uint64_t area_host(const struct ufd_area *area);

/* ---- file sources (source_file.c) ---- */

bool source_is_file(const struct ufd_source *src);
/* (file, offset) as a page identity, for sources without frame numbers. */
uint64_t ufd_file_ident(uint64_t dev, uint64_t ino, uint64_t off);
/*
 * Does a page of offsets [off, off + npages pages) of file source @src,
 * pinned now, have identity @ident?  Then *found_off is its offset.
 */
bool file_source_find_ident(struct ufd_source *src, uint64_t off,
			    uint64_t npages, uint64_t ident,
			    uint64_t *found_off);

/* ---- IOAS ---- */

struct ufd_hwpt;

struct ufd_ioas {
	struct ufd_obj obj;
	struct io_pagetable iopt;
	struct ufd_hwpt *hwpts;   /* paging HWPTs mirroring it */
};

/* ---- devices and HW page tables ---- */

struct ufd_fault;

/*
 * A HWPT: paging (a domain mirroring an IOAS) or nested (a user-owned
 * stage 1 above a NEST_PARENT paging HWPT; ioas is the parent's).
 */
struct ufd_hwpt {
	struct ufd_obj obj;       /* UFD_OBJ_HWPT_PAGING or _NESTED */
	struct ufd_ioas *ioas;    /* paging: holds a user of it */
	struct ufd_domain domain; /* paging only */
	bool auto_domain;         /* made by attach; dies with its last user */
	bool nest_parent;
	bool pasid_compat;        /* UFD_HWPT_PASID: may serve PASIDs */
	struct ufd_hwpt *ioas_next;
	struct ufd_hwpt *parent;  /* nested: holds a user of it */
	struct ufd_fault *fault;  /* IOPF queue, holds a user of it */
	const struct ufd_nested_ops *nested_ops;
	void *nested_priv;
	struct ufd_stage1 *s1;    /* nested: a stage-1 table the engine walks */
	struct ufd_viommu *viommu; /* nested on a vIOMMU: holds a user of it */
};

/* stage1.c: the x86-64 format stage 1 of a nested HWPT. */
struct ufd_stage1;
int stage1_alloc(uint64_t root_gpa, unsigned int addr_width,
		 struct ufd_stage1 **out);
void stage1_free(struct ufd_stage1 *s1);
void stage1_invalidate(struct ufd_stage1 *s1, uint64_t addr,
		       uint64_t npages);
int stage1_translate(struct ufd_stage1 *s1, const struct ufd_pgtable *s2,
		     uint64_t iova, bool write, uint64_t *gpa,
		     uint64_t *leaf_size);
void stage1_stats(struct ufd_stage1 *s1, uint64_t *hits, uint64_t *misses);

struct ufd_fault_group {
	struct ufd_fault_group *next;
	uint32_t cookie;
	uint32_t nr;
	struct ufd_pgfault *recs;
};

struct ufd_fault {
	struct ufd_obj obj;                 /* UFD_OBJ_FAULT */
	struct ufd_fault_group *deliver;    /* queued, oldest first */
	struct ufd_fault_group **deliver_tail;
	struct ufd_fault_group *responses;  /* delivered, awaiting answers */
	void (*notify)(void *arg, bool pending);
	void *notify_arg;
};

struct ufd_device {
	struct ufd_obj obj;       /* UFD_OBJ_DEVICE, internal */
	struct ufd_device_info info; /* reserved and hw_info owned */
	struct ufd_hwpt *hwpt;    /* attached to, or NULL */
	struct ufd_fault_group *partial; /* requests awaiting LAST_PAGE */
	unsigned int dma_ports;   /* open ufd_dma handles */
	struct ufd_obj *owner;    /* a stdev handle, or NULL */
	void *driver_data;        /* info.driver_data_size bytes, or NULL */
	struct ufd_vdevice *vdev; /* its virtual device, or NULL */
	struct ufd_pasid_attach *pasids; /* engine/pasid.c; unordered */
	uint32_t nr_pasids, cap_pasids;
};

/* engine/pasid.c: one PASID of a device and the HWPT it is attached to. */
struct ufd_pasid_attach {
	uint32_t pasid;
	struct ufd_hwpt *hwpt;    /* holds a user of it */
};
/* May @hwpt take @dev's RID, given the PASIDs attached?  -EINVAL if not. */
int pasid_rid_compat(const struct ufd_device *dev,
		     const struct ufd_hwpt *hwpt);
/* Is @pasid one of @dev's PASIDs?  The HWPT attached there, or NULL. */
bool pasid_valid(const struct ufd_device *dev, uint32_t pasid);
struct ufd_hwpt *pasid_hwpt_of(struct ufd_device *dev, uint32_t pasid);
/* Detach every PASID of a device going away. */
void pasid_detach_all(struct ufd_ctx *ctx, struct ufd_device *dev);
/* The HWPT a fault of @dev for @f's PASID goes to (PASID, else RID). */
struct ufd_hwpt *pasid_fault_hwpt(struct ufd_device *dev,
				  const struct ufd_pgfault *f);
/* device.c, for pasid.c: a domain's own check of a device; drop a hold. */
int hwpt_domain_accepts(const struct ufd_hwpt *hwpt,
			const struct ufd_device *dev);
void hwpt_put_device(struct ufd_ctx *ctx, struct ufd_hwpt *hwpt);

struct ufd_hwpt *hwpt_find(struct ufd_ctx *ctx, uint32_t id);
struct ufd_device *device_find(struct ufd_ctx *ctx, uint32_t id);
void hwpt_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void device_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void mock_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void nested_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void fault_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
struct ufd_hwpt *hwpt_find_any(struct ufd_ctx *ctx, uint32_t id);
struct ufd_fault *fault_find(struct ufd_ctx *ctx, uint32_t id);
void fault_free_partial(struct ufd_device *dev);

struct ufd_ioas *ioas_find(struct ufd_ctx *ctx, uint32_t id);

/* ---- vIOMMUs (viommu.c) ---- */

struct ufd_vdevice;
struct ufd_veventq;
struct ufd_hw_queue;

struct ufd_viommu {
	struct ufd_obj obj;       /* UFD_OBJ_VIOMMU */
	struct ufd_hwpt *hwpt;    /* the nesting parent: holds a user */
	uint32_t type;
	uint32_t iommu;           /* which IOMMU: the devices' hw_info_type */
	const struct ufd_viommu_ops *ops;
	void *priv;
	uint64_t mmap_offset, mmap_length; /* length 0: not mappable */
	struct ufd_vdevice *vdevs;
	struct ufd_veventq *veventqs;
	struct ufd_hw_queue *hw_queues;
};

struct ufd_viommu *viommu_find(struct ufd_ctx *ctx, uint32_t id);
void viommu_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void vdevice_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void veventq_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
void hw_queue_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj);
/* @dev goes: its virtual device goes too, its ID a tombstone. */
void vdevice_device_gone(struct ufd_ctx *ctx, struct ufd_device *dev);
/* May @dev attach to nested @hwpt?  -ENOENT: no vdevice on its vIOMMU. */
int viommu_attach_check(const struct ufd_hwpt *hwpt,
			const struct ufd_device *dev);
/* A nested HWPT on a vIOMMU (device.c). */
int nested_alloc_on(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t pt_id,
		    bool on_viommu, uint32_t fault_id, unsigned int flags,
		    const struct ufd_nested_ops *ops, void *priv,
		    uint32_t *out_hwpt_id);

/* ---- access ---- */

struct ufd_access {
	struct ufd_obj obj;
	struct ufd_ctx *ctx;
	struct ufd_ioas *ioas;    /* NULL when detached */
	const struct ufd_access_ops *ops;
	void *priv;
	uint64_t iova_alignment;  /* PAGE_SIZE when it pins */
	/* pins of this access: [iova, last] each, for unmap and checks */
	struct itree pins;
};

void access_notify_unmap(struct io_pagetable *iopt, uint64_t iova,
			 uint64_t length);
/* Does any access pin of the IOAS meet [start, last]? */
bool access_pins_meet(struct io_pagetable *iopt, uint64_t start,
		      uint64_t last);
/*
 * Area @left was just cut in two, @right taking its upper part: the pin
 * parts on @left that lie in @right's range now point at @right (no pin
 * straddles the cut; the caller checked).  Cannot fail.
 */
void access_area_split(struct io_pagetable *iopt, struct ufd_area *left,
		       struct ufd_area *right);

#endif
