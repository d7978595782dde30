/* SPDX-License-Identifier: MIT */
/*
 * Virtual IOMMUs and what lives on them.
 *
 * Model.  A vIOMMU holds its nesting parent (a NEST_PARENT paging HWPT)
 * and is held by everything made on it: nested HWPTs, virtual devices,
 * event queues and HW queues, so IOMMU_DESTROY takes them down in that
 * order (-EBUSY otherwise).  Each mapping of its mmap range holds it too.
 *
 *  - A virtual device gives one device a guest-visible ID on the vIOMMU;
 *    a device has at most one, an ID names at most one device.  It does
 *    not hold its device: when the device goes, the virtual device goes
 *    with it and its object ID becomes a tombstone (never found, never
 *    reused while the context lives), as the kernel does.
 *  - An event queue keeps at most `depth` events, oldest first.  An event
 *    that finds the queue full is lost: the queue's own lost-events
 *    header (no data) goes to the tail instead, taking the next sequence
 *    number, and is taken off again when the next event is queued, so at
 *    most one is ever queued and it is always last.  Sequence numbers
 *    count 0..INT32_MAX and wrap to 0.
 *  - A HW queue pins [iova, last] of the parent's IOAS, page granular,
 *    marking the areas locked (num_locked: unmap and cut refuse them),
 *    and hands the host address of the first byte to the driver.
 *
 * Intervals are [start, last] inclusive; mmap ranges [offset, offset +
 * length).  Locking: eng->lock, taken by the entry points; the driver's
 * ops run under it and must not call the engine.
 */
#include <string.h>

#include "engine/engine.h"

struct ufd_vdevice {
	struct ufd_obj obj;        /* UFD_OBJ_VDEVICE */
	struct ufd_viommu *viommu; /* holds a user */
	struct ufd_device *dev;    /* dev->vdev is this */
	uint64_t virt_id;
	struct ufd_vdevice *next;  /* viommu->vdevs */
};

struct vevent {
	struct vevent *next;
	uint32_t flags;
	uint32_t seq;
	size_t len;
	unsigned char data[];
};

struct ufd_veventq {
	struct ufd_obj obj;        /* UFD_OBJ_VEVENTQ */
	struct ufd_viommu *viommu; /* holds a user */
	uint32_t type;
	uint32_t depth;
	uint32_t num_events;       /* queued, not counting the lost header */
	uint32_t sequence;         /* the next one */
	struct vevent *head, **tail;
	struct vevent *lost;       /* the lost-events header (no data) */
	bool lost_queued;
	void (*notify)(void *arg, bool pending);
	void *notify_arg;
	struct ufd_veventq *next;  /* viommu->veventqs */
};

struct hw_queue_pin {
	struct ufd_area *area;
	struct pages_pin_user *user;
};

struct ufd_hw_queue {
	struct ufd_obj obj;        /* UFD_OBJ_HW_QUEUE */
	struct ufd_viommu *viommu; /* holds a user */
	struct ufd_hw_queue *prev; /* holds a user of it, or NULL */
	uint32_t type, index;
	unsigned int nr_pins;
	struct hw_queue_pin *pins;
	struct ufd_hw_queue *next; /* viommu->hw_queues */
};

struct ufd_viommu *viommu_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_VIOMMU);

	return obj ? container_of(obj, struct ufd_viommu, obj) : NULL;
}

static struct ufd_veventq *veventq_find(struct ufd_ctx *ctx, uint32_t id)
{
	struct ufd_obj *obj = obj_find(ctx, id, UFD_OBJ_VEVENTQ);

	return obj ? container_of(obj, struct ufd_veventq, obj) : NULL;
}

/* Unlink @node from the singly linked list at @head (by its next field). */
#define LIST_UNLINK(head, node)                                    \
	do {                                                       \
		__typeof__(node) *pp_ = &(head);                   \
		while (*pp_ && *pp_ != (node))                     \
			pp_ = &(*pp_)->next;                       \
		if (*pp_)                                          \
			*pp_ = (node)->next;                       \
	} while (0)

/* ---- vIOMMUs ---- */

void viommu_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_viommu *viommu = container_of(obj, struct ufd_viommu, obj);

	(void)ctx;
	viommu->hwpt->obj.users--;
	if (viommu->ops && viommu->ops->destroy)
		viommu->ops->destroy(viommu->priv);
	free(viommu);
}

/* The lowest page-aligned offset from one page up where @length fits. */
static uint64_t mmap_offset_alloc(struct ufd_ctx *ctx, uint64_t length)
{
	uint64_t at = UFD_PAGE_SIZE;
	bool moved = true;
	uint32_t id;

	while (moved) {
		moved = false;
		for (id = 1; id < ctx->next_unused; id++) {
			struct ufd_obj *obj = ctx->objs[id];
			struct ufd_viommu *v;

			if (!obj || obj->type != UFD_OBJ_VIOMMU)
				continue;
			v = container_of(obj, struct ufd_viommu, obj);
			if (!v->mmap_length || v->mmap_offset >= at + length ||
			    v->mmap_offset + v->mmap_length <= at)
				continue;
			at = v->mmap_offset + v->mmap_length;
			moved = true;
		}
	}
	return at;
}

int ufd_viommu_alloc(struct ufd_ctx *ctx, uint32_t dev_id, uint32_t hwpt_id,
		     uint32_t type, const struct ufd_viommu_ops *ops,
		     void *priv, uint64_t mmap_length, uint64_t *mmap_offset,
		     uint32_t *out_viommu_id)
{
	struct ufd_viommu *viommu;
	struct ufd_device *dev;
	struct ufd_hwpt *hwpt;
	int rc;

	if (mmap_length % UFD_PAGE_SIZE || mmap_length > (1ULL << 40))
		return -EINVAL;
	viommu = ufd_zalloc(sizeof(*viommu));
	if (!viommu)
		return -ENOMEM;
	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	hwpt = hwpt_find(ctx, hwpt_id);
	if (!dev || !hwpt) {
		rc = -ENOENT;
		goto out_free;
	}
	if (!hwpt->nest_parent || hwpt->auto_domain) {
		rc = -EINVAL;
		goto out_free;
	}
	rc = obj_alloc(ctx, &viommu->obj, UFD_OBJ_VIOMMU);
	if (rc)
		goto out_free;
	viommu->hwpt = hwpt;
	viommu->type = type;
	viommu->iommu = dev->info.hw_info_type;
	viommu->ops = ops;
	viommu->priv = priv;
	if (mmap_length) {
		viommu->mmap_offset = mmap_offset_alloc(ctx, mmap_length);
		viommu->mmap_length = mmap_length;
		*mmap_offset = viommu->mmap_offset;
	}
	hwpt->obj.users++;
	obj_finalize(ctx, &viommu->obj);
	*out_viommu_id = viommu->obj.id;
	eng_unlock(ctx->eng);
	return 0;
out_free:
	eng_unlock(ctx->eng);
	free(viommu);
	return rc;
}

int ufd_viommu_priv(struct ufd_ctx *ctx, uint32_t viommu_id, uint32_t *type,
		    void **priv)
{
	struct ufd_viommu *viommu;

	eng_lock(ctx->eng);
	viommu = viommu_find(ctx, viommu_id);
	if (viommu) {
		if (type)
			*type = viommu->type;
		if (priv)
			*priv = viommu->priv;
	}
	eng_unlock(ctx->eng);
	return viommu ? 0 : -ENOENT;
}

/* The vIOMMU whose mmap range contains @offset, or NULL.  eng->lock. */
static struct ufd_viommu *mmap_lookup(struct ufd_ctx *ctx, uint64_t offset)
{
	uint32_t id;

	for (id = 1; id < ctx->next_unused; id++) {
		struct ufd_obj *obj = ctx->objs[id];
		struct ufd_viommu *v;

		if (!obj || obj->type != UFD_OBJ_VIOMMU || !obj->visible)
			continue;
		v = container_of(obj, struct ufd_viommu, obj);
		if (v->mmap_length && offset >= v->mmap_offset &&
		    offset - v->mmap_offset < v->mmap_length)
			return v;
	}
	return NULL;
}

int ufd_viommu_mmap_find(struct ufd_ctx *ctx, uint64_t offset,
			 uint64_t length, uint32_t *viommu_id)
{
	struct ufd_viommu *v;
	int rc = 0;

	eng_lock(ctx->eng);
	v = mmap_lookup(ctx, offset);
	/* Only the whole range, from its start, maps. */
	if (!v || v->mmap_offset != offset || v->mmap_length != length)
		rc = -ENXIO;
	else
		*viommu_id = v->obj.id;
	eng_unlock(ctx->eng);
	return rc;
}

int ufd_viommu_mmap_get(struct ufd_ctx *ctx, uint32_t viommu_id)
{
	struct ufd_viommu *v;

	eng_lock(ctx->eng);
	v = viommu_find(ctx, viommu_id);
	if (v && v->mmap_length)
		v->obj.users++;
	eng_unlock(ctx->eng);
	return v && v->mmap_length ? 0 : -ENXIO;
}

void ufd_viommu_mmap_put(struct ufd_ctx *ctx, uint32_t viommu_id)
{
	struct ufd_viommu *v;

	eng_lock(ctx->eng);
	v = viommu_find(ctx, viommu_id);
	if (v && v->obj.users)
		v->obj.users--;
	eng_unlock(ctx->eng);
}

int ufd_viommu_alloc_hwpt_nested(struct ufd_ctx *ctx, uint32_t dev_id,
				 uint32_t viommu_id, uint32_t fault_id,
				 unsigned int flags,
				 const struct ufd_nested_ops *ops, void *priv,
				 uint32_t *out_hwpt_id)
{
	return nested_alloc_on(ctx, dev_id, viommu_id, true, fault_id, flags,
			       ops, priv, out_hwpt_id);
}

/* ---- virtual devices ---- */

static void vdevice_unlink(struct ufd_vdevice *vdev)
{
	LIST_UNLINK(vdev->viommu->vdevs, vdev);
	vdev->viommu->obj.users--;
	vdev->dev->vdev = NULL;
}

void vdevice_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_vdevice *vdev = container_of(obj, struct ufd_vdevice, obj);

	(void)ctx;
	vdevice_unlink(vdev);
	free(vdev);
}

void vdevice_device_gone(struct ufd_ctx *ctx, struct ufd_device *dev)
{
	struct ufd_vdevice *vdev = dev->vdev;

	if (!vdev)
		return;
	if (vdev->obj.visible)
		obj_destroy_tombstone(ctx, &vdev->obj);
	else
		obj_destroy(ctx, &vdev->obj); /* not published yet */
}

int viommu_attach_check(const struct ufd_hwpt *hwpt,
			const struct ufd_device *dev)
{
	if (!hwpt->viommu)
		return 0;
	if (!dev->vdev || dev->vdev->viommu != hwpt->viommu)
		return -ENOENT;
	return 0;
}

int ufd_vdevice_alloc(struct ufd_ctx *ctx, uint32_t viommu_id,
		      uint32_t dev_id, uint64_t virt_id,
		      uint32_t *out_vdevice_id)
{
	struct ufd_viommu *viommu;
	struct ufd_vdevice *vdev, *v;
	struct ufd_device *dev;
	int rc;

	vdev = ufd_zalloc(sizeof(*vdev));
	if (!vdev)
		return -ENOMEM;
	eng_lock(ctx->eng);
	viommu = viommu_find(ctx, viommu_id);
	dev = viommu ? device_find(ctx, dev_id) : NULL;
	if (!dev) {
		rc = -ENOENT;
		goto out_free;
	}
	if (dev->info.hw_info_type != viommu->iommu) {
		rc = -EINVAL; /* behind another IOMMU */
		goto out_free;
	}
	rc = dev->vdev ? -EEXIST : 0;
	for (v = viommu->vdevs; v && !rc; v = v->next)
		if (v->virt_id == virt_id)
			rc = -EEXIST;
	if (rc)
		goto out_free;
	rc = obj_alloc(ctx, &vdev->obj, UFD_OBJ_VDEVICE);
	if (rc)
		goto out_free;
	vdev->viommu = viommu;
	vdev->dev = dev;
	vdev->virt_id = virt_id;
	vdev->next = viommu->vdevs;
	viommu->vdevs = vdev;
	viommu->obj.users++;
	dev->vdev = vdev;
	obj_finalize(ctx, &vdev->obj);
	*out_vdevice_id = vdev->obj.id;
	eng_unlock(ctx->eng);
	return 0;
out_free:
	eng_unlock(ctx->eng);
	free(vdev);
	return rc;
}

int ufd_viommu_find_dev(struct ufd_ctx *ctx, uint32_t viommu_id,
			uint64_t virt_id, uint32_t *dev_id)
{
	struct ufd_viommu *viommu;
	struct ufd_vdevice *v = NULL;

	eng_lock(ctx->eng);
	viommu = viommu_find(ctx, viommu_id);
	for (v = viommu ? viommu->vdevs : NULL; v; v = v->next)
		if (v->virt_id == virt_id)
			break;
	if (v)
		*dev_id = v->dev->obj.id;
	eng_unlock(ctx->eng);
	return v ? 0 : -ENOENT;
}

int ufd_device_viommu(struct ufd_ctx *ctx, uint32_t dev_id,
		      uint32_t *viommu_id, uint64_t *virt_id)
{
	struct ufd_device *dev;
	int rc = -ENOENT;

	eng_lock(ctx->eng);
	dev = device_find(ctx, dev_id);
	if (dev && dev->hwpt && dev->hwpt->viommu && dev->vdev &&
	    dev->vdev->viommu == dev->hwpt->viommu) {
		*viommu_id = dev->hwpt->viommu->obj.id;
		*virt_id = dev->vdev->virt_id;
		rc = 0;
	}
	eng_unlock(ctx->eng);
	return rc;
}

/* ---- event queues ---- */

static void veventq_notify(struct ufd_veventq *q)
{
	if (q->notify)
		q->notify(q->notify_arg, q->head != NULL);
}

void veventq_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_veventq *q = container_of(obj, struct ufd_veventq, obj);
	struct vevent *e, *next;

	(void)ctx;
	for (e = q->head; e; e = next) {
		next = e->next;
		if (e != q->lost)
			free(e);
	}
	free(q->lost);
	LIST_UNLINK(q->viommu->veventqs, q);
	q->viommu->obj.users--;
	free(q);
}

int ufd_veventq_alloc(struct ufd_ctx *ctx, uint32_t viommu_id, uint32_t type,
		      uint32_t depth, uint32_t *out_veventq_id)
{
	struct ufd_viommu *viommu;
	struct ufd_veventq *q, *o;
	int rc;

	if (!depth)
		return -EINVAL;
	q = ufd_zalloc(sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->lost = ufd_zalloc(sizeof(*q->lost));
	if (!q->lost) {
		free(q);
		return -ENOMEM;
	}
	eng_lock(ctx->eng);
	viommu = viommu_find(ctx, viommu_id);
	if (!viommu) {
		rc = -ENOENT;
		goto out_free;
	}
	for (o = viommu->veventqs; o; o = o->next)
		if (o->type == type)
			break;
	if (o) {
		rc = -EEXIST;
		goto out_free;
	}
	rc = obj_alloc(ctx, &q->obj, UFD_OBJ_VEVENTQ);
	if (rc)
		goto out_free;
	q->viommu = viommu;
	q->type = type;
	q->depth = depth;
	q->tail = &q->head;
	q->lost->flags = UFD_VEVENT_LOST_EVENTS;
	q->next = viommu->veventqs;
	viommu->veventqs = q;
	viommu->obj.users++;
	obj_finalize(ctx, &q->obj);
	*out_veventq_id = q->obj.id;
	eng_unlock(ctx->eng);
	return 0;
out_free:
	eng_unlock(ctx->eng);
	free(q->lost);
	free(q);
	return rc;
}

int ufd_veventq_hold_fd(struct ufd_ctx *ctx, uint32_t veventq_id)
{
	struct ufd_veventq *q;

	eng_lock(ctx->eng);
	q = veventq_find(ctx, veventq_id);
	if (q)
		q->obj.users++;
	eng_unlock(ctx->eng);
	return q ? 0 : -ENOENT;
}

void ufd_veventq_release_fd(struct ufd_ctx *ctx, uint32_t veventq_id)
{
	struct ufd_veventq *q;

	eng_lock(ctx->eng);
	q = veventq_find(ctx, veventq_id);
	if (q && q->obj.users)
		q->obj.users--;
	eng_unlock(ctx->eng);
}

/* Append @e (the lost header is taken off the tail first). */
static void veventq_push(struct ufd_veventq *q, struct vevent *e)
{
	if (q->lost_queued) {
		struct vevent **pp = &q->head;

		while (*pp != q->lost)
			pp = &(*pp)->next;
		*pp = NULL;
		q->tail = pp;
		q->lost_queued = false;
	}
	e->next = NULL;
	e->seq = q->sequence;
	q->sequence = (q->sequence + 1) & INT32_MAX;
	*q->tail = e;
	q->tail = &e->next;
	if (e == q->lost)
		q->lost_queued = true;
}

int ufd_viommu_report_event(struct ufd_ctx *ctx, uint32_t viommu_id,
			    uint32_t type, const void *data, size_t len)
{
	struct ufd_viommu *viommu;
	struct ufd_veventq *q = NULL;
	struct vevent *e;
	int rc = 0;

	if (!len || !data)
		return -EINVAL;
	eng_lock(ctx->eng);
	viommu = viommu_find(ctx, viommu_id);
	if (!viommu) {
		rc = -ENOENT;
		goto out;
	}
	for (q = viommu->veventqs; q; q = q->next)
		if (q->type == type)
			break;
	if (!q) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	e = NULL;
	if (q->num_events < q->depth) {
		e = ufd_zalloc(sizeof(*e) + len);
		if (!e)
			rc = -ENOMEM;
	}
	if (e) {
		memcpy(e->data, data, len);
		e->len = len;
		q->num_events++;
	} else {
		e = q->lost;
	}
	veventq_push(q, e);
	veventq_notify(q);
out:
	eng_unlock(ctx->eng);
	return rc;
}

long ufd_veventq_read(struct ufd_ctx *ctx, uint32_t veventq_id, void *buf,
		      size_t count)
{
	unsigned char *out = buf;
	struct ufd_veventq *q;
	size_t done = 0;
	long rc;

	if (count < 8)
		return -EINVAL;
	eng_lock(ctx->eng);
	q = veventq_find(ctx, veventq_id);
	if (!q) {
		eng_unlock(ctx->eng);
		return -ENOENT;
	}
	while (q->head) {
		struct vevent *e = q->head;
		uint32_t hdr[2] = { e->flags, e->seq };

		if (count - done < sizeof(hdr) + e->len)
			break;
		memcpy(out + done, hdr, sizeof(hdr));
		memcpy(out + done + sizeof(hdr), e->data, e->len);
		done += sizeof(hdr) + e->len;
		q->head = e->next;
		if (!q->head)
			q->tail = &q->head;
		if (e == q->lost) {
			q->lost_queued = false;
		} else {
			q->num_events--;
			free(e);
		}
	}
	rc = done || !q->head ? (long)done : -EINVAL;
	if (done)
		veventq_notify(q);
	eng_unlock(ctx->eng);
	return rc;
}

bool ufd_veventq_pending(struct ufd_ctx *ctx, uint32_t veventq_id)
{
	struct ufd_veventq *q;
	bool pending;

	eng_lock(ctx->eng);
	q = veventq_find(ctx, veventq_id);
	pending = q && q->head;
	eng_unlock(ctx->eng);
	return pending;
}

int ufd_veventq_set_notify(struct ufd_ctx *ctx, uint32_t veventq_id,
			   void (*fn)(void *arg, bool pending), void *arg)
{
	struct ufd_veventq *q;

	eng_lock(ctx->eng);
	q = veventq_find(ctx, veventq_id);
	if (q) {
		q->notify = fn;
		q->notify_arg = arg;
		veventq_notify(q);
	}
	eng_unlock(ctx->eng);
	return q ? 0 : -ENOENT;
}

/* ---- HW queues ---- */

static void hw_queue_unpin(struct ufd_hw_queue *hwq)
{
	while (hwq->nr_pins) {
		struct hw_queue_pin *p = &hwq->pins[--hwq->nr_pins];

		pages_unpin(p->area->pages, p->user);
		p->area->num_locked--;
	}
	free(hwq->pins);
	hwq->pins = NULL;
}

void hw_queue_destroy_obj(struct ufd_ctx *ctx, struct ufd_obj *obj)
{
	struct ufd_hw_queue *hwq = container_of(obj, struct ufd_hw_queue, obj);
	struct ufd_viommu *viommu = hwq->viommu;

	(void)ctx;
	if (viommu->ops && viommu->ops->hw_queue_destroy)
		viommu->ops->hw_queue_destroy(viommu->priv, hwq->type,
					      hwq->index);
	if (hwq->prev)
		hwq->prev->obj.users--;
	LIST_UNLINK(viommu->hw_queues, hwq);
	viommu->obj.users--;
	dma_write_begin(ctx->eng);
	hw_queue_unpin(hwq);
	dma_write_end(ctx->eng);
	free(hwq);
}

/*
 * Pin [iova, last] of @iopt for @hwq, page granular; *@base gets the host
 * address of @iova.  -ENOENT unless wholly mapped, -EFAULT unless
 * contiguous in host memory.
 */
static int hw_queue_pin(struct ufd_hw_queue *hwq, struct io_pagetable *iopt,
			uint64_t iova, uint64_t last, uint64_t *base)
{
	struct iopt_contig_iter it;
	struct ufd_area *area;
	uint64_t next_host = 0;
	bool first = true;
	int rc = 0;

	iopt_for_each_contig_area(&it, area, iopt, iova, last) {
		uint64_t l = last < area_last_iova(area) ? last :
							   area_last_iova(area);
		uint64_t fi = area_index(area, it.cur_iova);
		uint64_t li = area_index(area, l);
		struct hw_queue_pin *grown;
		struct pages_pin_user *user;
		uint64_t host;

		if (area->prevent_access)
			return -EINVAL;
		grown = ufd_realloc_array(hwq->pins, hwq->nr_pins + 1,
					  sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		hwq->pins = grown;
		rc = pages_pin(area->pages, fi, li, false, &user);
		if (rc)
			return rc;
		hwq->pins[hwq->nr_pins].area = area;
		hwq->pins[hwq->nr_pins].user = user;
		hwq->nr_pins++;
		area->num_locked++;
		host = area->pages->host_base +
		       area_start_byte(area, it.cur_iova);
		if (first)
			*base = host;
		else if (host != next_host)
			return -EFAULT;
		first = false;
		next_host = host + (l - it.cur_iova + 1);
	}
	return iopt_contig_done(&it) ? 0 : -ENOENT;
}

int ufd_hw_queue_alloc(struct ufd_ctx *ctx, uint32_t viommu_id,
		       uint32_t type, uint32_t index, uint64_t iova,
		       uint64_t length, uint32_t *out_hw_queue_id)
{
	struct ufd_hw_queue *hwq, *q;
	struct ufd_viommu *viommu;
	bool holds_prev = false;
	uint64_t last, base = 0;
	int rc;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	hwq = ufd_zalloc(sizeof(*hwq));
	if (!hwq)
		return -ENOMEM;
	eng_lock(ctx->eng);
	viommu = viommu_find(ctx, viommu_id);
	if (!viommu) {
		rc = -ENOENT;
		goto out_free;
	}
	if (!viommu->ops || !viommu->ops->hw_queue_init) {
		rc = -EOPNOTSUPP;
		goto out_free;
	}
	rc = obj_alloc(ctx, &hwq->obj, UFD_OBJ_HW_QUEUE);
	if (rc)
		goto out_free;
	hwq->viommu = viommu;
	hwq->type = type;
	hwq->index = index;
	rc = hw_queue_pin(hwq, &viommu->hwpt->ioas->iopt, iova, last, &base);
	if (!rc)
		rc = viommu->ops->hw_queue_init(viommu->priv, type, index, base,
						&holds_prev);
	if (rc) {
		hw_queue_unpin(hwq);
		obj_abort(ctx, &hwq->obj);
		goto out_free;
	}
	for (q = viommu->hw_queues; holds_prev && q; q = q->next)
		if (q->type == type && q->index + 1 == index)
			break;
	if (holds_prev && q) {
		hwq->prev = q;
		q->obj.users++;
	}
	hwq->next = viommu->hw_queues;
	viommu->hw_queues = hwq;
	viommu->obj.users++;
	obj_finalize(ctx, &hwq->obj);
	*out_hw_queue_id = hwq->obj.id;
	eng_unlock(ctx->eng);
	return 0;
out_free:
	eng_unlock(ctx->eng);
	free(hwq);
	return rc;
}
