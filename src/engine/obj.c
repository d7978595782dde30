/* SPDX-License-Identifier: MIT */
/*
 * Engines, contexts and the object table.
 *
 * A context's objects live in an array indexed by ID.  IDs are 32-bit and
 * never 0; a new object gets the lowest free ID, as the kernel's xarray
 * allocation does: freed IDs wait in a min-heap, and IDs at or above
 * next_unused have never been handed out.  An object is allocated (ID
 * taken, invisible), then finalized (lookups find it) or aborted.
 * `users` counts what holds an object (an access holds its IOAS); destroy
 * is refused with -EBUSY while users is non-zero, and never fails
 * otherwise.  Closing a context destroys every object, holders first.
 *
 * Locking: everything here runs under eng->lock.
 */
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h"

static const struct ufd_obj_ops obj_ops[UFD_OBJ_NR] = {
	[UFD_OBJ_IOAS] = { .destroy = ioas_destroy_obj },
	[UFD_OBJ_ACCESS] = { .destroy = access_destroy_obj },
	[UFD_OBJ_HWPT_PAGING] = { .destroy = hwpt_destroy_obj },
	[UFD_OBJ_DEVICE] = { .destroy = device_destroy_obj },
	[UFD_OBJ_SELFTEST] = { .destroy = mock_destroy_obj },
	[UFD_OBJ_HWPT_NESTED] = { .destroy = nested_destroy_obj },
	[UFD_OBJ_FAULT] = { .destroy = fault_destroy_obj },
	[UFD_OBJ_VIOMMU] = { .destroy = viommu_destroy_obj },
	[UFD_OBJ_VDEVICE] = { .destroy = vdevice_destroy_obj },
	[UFD_OBJ_VEVENTQ] = { .destroy = veventq_destroy_obj },
	[UFD_OBJ_HW_QUEUE] = { .destroy = hw_queue_destroy_obj },
	[UFD_OBJ_PASID_SET] = { .destroy = pasid_set_destroy_obj },
	[UFD_OBJ_MEM_REG] = { .destroy = mem_reg_destroy_obj,
			      .busy = mem_reg_busy },
};

/* What a tombstoned ID's slot holds: never visible, never freed. */
static struct ufd_obj tombstone = { .type = UFD_OBJ_NONE };

/* ---- credentials ---- */

/*
 * The calling thread's effective set, by one capget(2): a system call, so
 * that a capset() a moment ago is seen, and no file for a preload
 * library's wrappers to see.  false if it cannot be read.
 */
static bool cap_effective_set(uint64_t *eff)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct caps[2];

	if (syscall(SYS_capget, &hdr, caps))
		return false;
	*eff = caps[0].effective | (uint64_t)caps[1].effective << 32;
	return true;
}

void ufd_cred_self(struct ufd_cred *cred)
{
	struct rlimit rl;
	uint64_t eff;

	memset(cred, 0, sizeof(*cred));
	cred->pid = getpid();
	cred->uid = geteuid();
	if (cap_effective_set(&eff)) {
		cred->cap_sys_resource = (eff >> CAP_SYS_RESOURCE) & 1;
		cred->cap_ipc_lock = (eff >> CAP_IPC_LOCK) & 1;
	} else {
		cred->cap_sys_resource = cred->uid == 0;
		cred->cap_ipc_lock = cred->uid == 0;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		cred->memlock_limit = UINT64_MAX;
	else
		cred->memlock_limit = rl.rlim_cur;
}

/* ---- engines ---- */

/* What eng_lock() knows a thread by. */
__thread char ufd_thread_tag;

struct ufd_engine *ufd_engine_new(void)
{
	struct ufd_engine *eng;

	eng = ufd_zalloc(sizeof(*eng));
	if (!eng)
		return NULL;
	pthread_mutex_init(&eng->lock, NULL);
	eng->temp_memory_limit = 65536;
	eng->next_pages_id = 1;
	return eng;
}

void ufd_engine_free(struct ufd_engine *eng)
{
	if (!eng)
		return;
	free(eng->user_charge);
	free(eng->pid_charge);
	ufd_cache_drain(&eng->area_cache, sizeof(struct ufd_area));
	ufd_cache_drain(&eng->pages_cache, sizeof(struct ufd_pages));
	ufd_cache_drain(&eng->pin_cache, sizeof(struct pages_pin_user));
	pthread_mutex_destroy(&eng->lock);
	free(eng);
}

static struct ufd_engine *default_engine;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/*
 * fork() while another thread holds the default engine's lock would hand
 * the child a lock nobody can release: hold it across fork, and give the
 * (single-threaded) child a fresh one.
 */
static void engine_atfork_prepare(void)
{
	eng_lock(default_engine);
	dma_write_begin(default_engine);
}

static void engine_atfork_parent(void)
{
	dma_write_end(default_engine);
	eng_unlock(default_engine);
}

static void engine_atfork_child(void)
{
	pthread_mutex_init(&default_engine->lock, NULL);
	default_engine->lock_owner = 0;
	default_engine->lock_depth = 0;
	/* The child's only thread is this one: no walk is in progress. */
	default_engine->dma_write_depth = 0;
	__atomic_store_n(&default_engine->dma_writer, 0, __ATOMIC_RELAXED);
}

static void default_engine_init(void)
{
	default_engine = ufd_engine_new();
	if (default_engine)
		pthread_atfork(engine_atfork_prepare, engine_atfork_parent,
			       engine_atfork_child);
}

struct ufd_engine *ufd_engine_default(void)
{
	pthread_once(&default_once, default_engine_init);
	return default_engine;
}

/* ---- the ID allocator ---- */

static void heap_push(struct ufd_ctx *ctx, uint32_t id)
{
	uint32_t i = ctx->nr_free++;

	while (i) {
		uint32_t parent = (i - 1) / 2;

		if (ctx->free_ids[parent] <= id)
			break;
		ctx->free_ids[i] = ctx->free_ids[parent];
		i = parent;
	}
	ctx->free_ids[i] = id;
}

static uint32_t heap_pop(struct ufd_ctx *ctx)
{
	uint32_t top = ctx->free_ids[0];
	uint32_t last = ctx->free_ids[--ctx->nr_free];
	uint32_t i = 0;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= ctx->nr_free)
			break;
		if (c + 1 < ctx->nr_free &&
		    ctx->free_ids[c + 1] < ctx->free_ids[c])
			c++;
		if (last <= ctx->free_ids[c])
			break;
		ctx->free_ids[i] = ctx->free_ids[c];
		i = c;
	}
	if (ctx->nr_free)
		ctx->free_ids[i] = last;
	return top;
}

int obj_alloc(struct ufd_ctx *ctx, struct ufd_obj *obj,
	      enum ufd_obj_type type)
{
	uint32_t id;

	if (ctx->nr_free) {
		id = heap_pop(ctx);
	} else {
		if (ctx->next_unused == UINT32_MAX)
			return -ENOSPC;
		if (ctx->next_unused >= ctx->nr_slots) {
			uint32_t n = ctx->nr_slots ? ctx->nr_slots * 2 : 16;
			struct ufd_obj **objs;

			objs = ufd_realloc_array(ctx->objs, n, sizeof(*objs));
			if (!objs)
				return -ENOMEM;
			memset(objs + ctx->nr_slots, 0,
			       (n - ctx->nr_slots) * sizeof(*objs));
			ctx->objs = objs;
			ctx->nr_slots = n;
		}
		/* A freed id needs a heap slot: keep room for all of them. */
		if (ctx->cap_free < ctx->nr_slots) {
			uint32_t *h = ufd_realloc_array(ctx->free_ids,
							ctx->nr_slots,
							sizeof(*h));

			if (!h)
				return -ENOMEM;
			ctx->free_ids = h;
			ctx->cap_free = ctx->nr_slots;
		}
		id = ctx->next_unused++;
	}
	obj->id = id;
	obj->type = type;
	obj->users = 0;
	obj->visible = false;
	ctx->objs[id] = obj;
	ctx->nr_objs++;
	return 0;
}

static void obj_release_id(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	ctx->objs[obj->id] = NULL;
	ctx->nr_objs--;
	heap_push(ctx, obj->id);
}

/*
 * The publication window of this thread (ufd_publish_begin), or NULL.
 * Windows nest: each one records its ctx and the one it hides.
 */
static __thread struct ufd_publish *publish_window;

void obj_finalize(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_publish *pub = publish_window;

	if (pub && pub->ctx == ctx &&
	    pub->nr < sizeof(pub->ids) / sizeof(pub->ids[0])) {
		obj->pending = true;
		obj->pending_owner = pthread_self();
		pub->ids[pub->nr++] = obj->id;
		return;
	}
	obj->visible = true;
}

void ufd_publish_begin(struct ufd_ctx *ctx, struct ufd_publish *pub)
{
	memset(pub, 0, sizeof(*pub));
	pub->ctx = ctx;
	pub->outer = publish_window;
	publish_window = pub;
}

void ufd_publish_end(struct ufd_publish *pub, bool commit)
{
	struct ufd_ctx *ctx = pub->ctx;
	unsigned int i;

	publish_window = pub->outer;
	eng_lock(ctx->eng);
	/* Newest first: a later object may hold an earlier one. */
	for (i = pub->nr; i--;) {
		struct ufd_obj *obj = pub->ids[i] < ctx->next_unused ?
				      ctx->objs[pub->ids[i]] : NULL;

		/* Destroyed meanwhile by its own call: nothing to do. */
		if (!obj || !obj->pending ||
		    !pthread_equal(obj->pending_owner, pthread_self()))
			continue;
		obj->pending = false;
		if (commit)
			obj->visible = true;
		else
			obj_destroy(ctx, obj);
	}
	eng_unlock(ctx->eng);
}

void obj_abort(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	obj_release_id(ctx, obj);
}

struct ufd_obj *obj_find(struct ufd_ctx *ctx, uint32_t id,
			 enum ufd_obj_type type)
{
	struct ufd_obj *obj;

	if (!id || id >= ctx->next_unused)
		return NULL;
	obj = ctx->objs[id];
	if (!obj)
		return NULL;
	if (!obj->visible &&
	    !(obj->pending && pthread_equal(obj->pending_owner, pthread_self())))
		return NULL;
	if (type != UFD_OBJ_ANY && obj->type != type)
		return NULL;
	return obj;
}

void obj_destroy(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	obj_release_id(ctx, obj);
	obj_ops[obj->type].destroy(ctx, obj);
}

void obj_destroy_tombstone(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	ctx->objs[obj->id] = &tombstone;
	ctx->nr_objs--;
	obj_ops[obj->type].destroy(ctx, obj);
}

/* ---- contexts ---- */

int ufd_ctx_open(struct ufd_engine *eng, const struct ufd_cred *cred,
		 struct ufd_ctx **out)
{
	struct ufd_ctx *ctx;

	if (!eng)
		return -ENOMEM;
	ctx = ufd_zalloc(sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->eng = eng;
	ctx->refs = 1;
	ctx->next_unused = 1;
	ctx->account_mode = UFD_ACCOUNT_USER;
	ctx->cred = *cred;
	eng_lock(eng);
	eng->nr_ctx++;
	ctx->next = eng->ctx_list;
	if (ctx->next)
		ctx->next->prev = ctx;
	eng->ctx_list = ctx;
	eng_unlock(eng);
	*out = ctx;
	return 0;
}

struct ufd_engine *ufd_ctx_engine(struct ufd_ctx *ctx)
{
	return ctx->eng;
}

void ufd_ctx_get(struct ufd_ctx *ctx)
{
	eng_lock(ctx->eng);
	ctx->refs++;
	eng_unlock(ctx->eng);
}

/*
 * Destroy every object: accesses first, then whatever nothing holds, until
 * nothing is left.  A hold nobody released (its holder is gone with the
 * context) cannot stop it: what remains is destroyed holders first, by
 * type, so that no destroy touches a freed object.
 */
static void ctx_destroy_all(struct ufd_ctx *ctx)
{
	static const enum ufd_obj_type order[] = {
		UFD_OBJ_ACCESS,	     UFD_OBJ_HW_QUEUE,	  UFD_OBJ_VEVENTQ,
		UFD_OBJ_VDEVICE,     UFD_OBJ_SELFTEST,	  UFD_OBJ_DEVICE,
		UFD_OBJ_HWPT_NESTED, UFD_OBJ_VIOMMU,	  UFD_OBJ_HWPT_PAGING,
		UFD_OBJ_IOAS,	     UFD_OBJ_FAULT,	  UFD_OBJ_PASID_SET,
	};
	bool progress = true;
	unsigned int t;
	uint32_t id;

	for (id = 1; id < ctx->next_unused; id++) {
		struct ufd_obj *obj = ctx->objs[id];

		if (obj && obj->type == UFD_OBJ_ACCESS)
			obj_destroy(ctx, obj);
	}
	while (ctx->nr_objs && progress) {
		progress = false;
		for (id = 1; id < ctx->next_unused; id++) {
			struct ufd_obj *obj = ctx->objs[id];

			if (obj && obj->visible && !obj->users) {
				obj_destroy(ctx, obj);
				progress = true;
			}
		}
	}
	for (t = 0; ctx->nr_objs && t != sizeof(order) / sizeof(order[0]);
	     t++) {
		for (id = 1; id < ctx->next_unused; id++) {
			struct ufd_obj *obj = ctx->objs[id];

			if (obj && (obj->visible || obj->pending) &&
			    obj->type == order[t])
				obj_destroy(ctx, obj);
		}
	}
}

void ufd_ctx_put(struct ufd_ctx *ctx)
{
	struct ufd_engine *eng = ctx->eng;

	eng_lock(eng);
	if (--ctx->refs) {
		eng_unlock(eng);
		return;
	}
	ctx_destroy_all(ctx);
	eng->nr_ctx--;
	if (ctx->prev)
		ctx->prev->next = ctx->next;
	else
		eng->ctx_list = ctx->next;
	if (ctx->next)
		ctx->next->prev = ctx->prev;
	eng_unlock(eng);
	free(ctx->objs);
	free(ctx->free_ids);
	free(ctx);
}

void ufd_ctx_close(struct ufd_ctx *ctx)
{
	ufd_ctx_put(ctx);
}

enum ufd_obj_kind ufd_obj_kind(struct ufd_ctx *ctx, uint32_t id)
{
	static const enum ufd_obj_kind kinds[UFD_OBJ_NR] = {
		[UFD_OBJ_IOAS] = UFD_KIND_IOAS,
		[UFD_OBJ_HWPT_PAGING] = UFD_KIND_HWPT_PAGING,
		[UFD_OBJ_HWPT_NESTED] = UFD_KIND_HWPT_NESTED,
		[UFD_OBJ_DEVICE] = UFD_KIND_DEVICE,
		[UFD_OBJ_ACCESS] = UFD_KIND_ACCESS,
		[UFD_OBJ_FAULT] = UFD_KIND_FAULT,
		[UFD_OBJ_SELFTEST] = UFD_KIND_OTHER,
		[UFD_OBJ_VIOMMU] = UFD_KIND_VIOMMU,
		[UFD_OBJ_VDEVICE] = UFD_KIND_VDEVICE,
		[UFD_OBJ_VEVENTQ] = UFD_KIND_VEVENTQ,
		[UFD_OBJ_HW_QUEUE] = UFD_KIND_HW_QUEUE,
		[UFD_OBJ_PASID_SET] = UFD_KIND_PASID_SET,
		[UFD_OBJ_MEM_REG] = UFD_KIND_OTHER,
	};
	struct ufd_obj *obj;
	enum ufd_obj_kind kind;

	eng_lock(ctx->eng);
	obj = obj_find(ctx, id, UFD_OBJ_ANY);
	kind = obj ? kinds[obj->type] : UFD_KIND_NONE;
	eng_unlock(ctx->eng);
	return kind;
}

int ufd_destroy(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj;
	int rc = 0;

	eng_lock(ctx->eng);
	obj = obj_find(ctx, id, UFD_OBJ_ANY);
	if (!obj)
		rc = -ENOENT;
	else if (obj->users || obj->internal ||
		 (obj_ops[obj->type].busy && obj_ops[obj->type].busy(obj)))
		rc = -EBUSY;
	else
		obj_destroy(ctx, obj);
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ctx_set_rlimit_mode(struct ufd_ctx *ctx, const struct ufd_cred *cred,
			    uint64_t mode)
{
	int rc = 0;

	if (!cred->cap_sys_resource)
		return -EPERM;
	eng_lock(ctx->eng);
	if (ctx->nr_objs)
		rc = -EBUSY;
	else if (mode == 0)
		ctx->account_mode = UFD_ACCOUNT_USER;
	else if (mode == 1)
		ctx->account_mode = UFD_ACCOUNT_MM;
	else
		rc = -EINVAL;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ctx_get_rlimit_mode(struct ufd_ctx *ctx, uint64_t *mode)
{
	eng_lock(ctx->eng);
	*mode = ctx->account_mode == UFD_ACCOUNT_MM;
	eng_unlock(ctx->eng);
	return 0;
}

int ufd_ctx_get_compat_ioas(struct ufd_ctx *ctx, uint32_t *ioas_id)
{
	int rc = 0;

	eng_lock(ctx->eng);
	if (!ctx->compat_ioas_id ||
	    !obj_find(ctx, ctx->compat_ioas_id, UFD_OBJ_IOAS))
		rc = -ENODEV;
	else
		*ioas_id = ctx->compat_ioas_id;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_ctx_set_compat_ioas(struct ufd_ctx *ctx, uint32_t ioas_id)
{
	int rc = 0;

	eng_lock(ctx->eng);
	if (!obj_find(ctx, ioas_id, UFD_OBJ_IOAS))
		rc = -ENOENT;
	else
		ctx->compat_ioas_id = ioas_id;
	eng_unlock(ctx->eng);
	return rc;
}

void ufd_ctx_clear_compat_ioas(struct ufd_ctx *ctx)
{
	eng_lock(ctx->eng);
	ctx->compat_ioas_id = 0;
	eng_unlock(ctx->eng);
}
