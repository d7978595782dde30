// SPDX-License-Identifier: MIT
/*
 * The legacy VFIO container, /dev/vfio/vfio, with the type1 IOMMU driver
 * (drivers/vfio/container.c, vfio_iommu_type1.c), built on an iommufd
 * context of its own.
 *
 * The model.  A container is a context (opened with the file) with no
 * IOAS until SET_IOMMU, which needs a group set into the container and
 * may succeed once: it makes the context's compat IOAS, where the type1
 * calls (GET_INFO, MAP_DMA, UNMAP_DMA: vfio_compat.c, shared with
 * /dev/iommu used as a container) then work.  Before it, every call but
 * GET_API_VERSION, CHECK_EXTENSION and SET_IOMMU is -EINVAL, as the
 * container has no driver to pass it to.  When its last group leaves,
 * the container loses its IOMMU (the IOAS and every mapping go) and may
 * be given one again.  The container lives while its file or a group
 * holds it (refs); its context while the container, or a device opened
 * in it, does.
 *
 * Peer-to-peer: a MAP_DMA of a vaddr range inside one mmap of a device
 * BAR (the transport's bar_lookup says so) maps the IOVA range to that
 * BAR's MMIO (vfio_mmio_source.c), as type1 maps a PFNMAP vma; only here,
 * not through an iommufd (vfio_compat.c).
 *
 * IOVA ranges (GET_INFO, MAP_DMA, UNMAP_DMA) are vfio_compat.c's,
 * [start, last] inclusive.
 *
 * Locking: vfio_priv.h; the container's fields are under the machine
 * lock.  The type1 calls run without it (the engine locks), so a MAP_DMA
 * racing the container's last group leaving sees the IOAS or not.
 */
#include <errno.h>
#include <stdlib.h>

#include "uapi/vfio_priv.h"

/* With no devices, there is still a machine lock to take. */
static pthread_mutex_t no_machine_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t *container_lock(void)
{
	struct ufd_vfio_machine *m = vfio_machine_get();

	return m ? &m->lock : &no_machine_lock;
}

/* The IOMMU goes (SET_IOMMU's IOAS and its mappings). */
static void container_deprivilege_locked(struct vfio_container *c)
{
	if (!c->iommu_type)
		return;
	ufd_ctx_clear_compat_ioas(c->ctx);
	ufd_destroy(c->ctx, c->ioas_id);
	c->iommu_type = 0;
	c->ioas_id = 0;
}

void vfio_container_put_locked(struct vfio_container *c)
{
	if (--c->refs)
		return;
	container_deprivilege_locked(c);
	ufd_ctx_close(c->ctx);
	free(c);
}

void vfio_container_detach_locked(struct vfio_container *c)
{
	if (!--c->groups)
		container_deprivilege_locked(c);
	vfio_container_put_locked(c);
}

static int container_open(struct ufd_file *file,
			  const struct ufd_caller *caller, uint32_t index,
			  int flags)
{
	struct vfio_container *c;
	struct ufd_cred cred;
	int rc;

	if (index)
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	ufd_caller_cred(caller, &cred);
	rc = ufd_ctx_open(caller->eng, &cred, &c->ctx);
	if (rc) {
		free(c);
		return rc;
	}
	c->refs = 1;
	file->ctx = c->ctx;
	file->priv = c;
	return 0;
}

static void container_release(struct ufd_file *file, bool destroy_obj)
{
	struct vfio_container *c = file->priv;
	pthread_mutex_t *lock = container_lock();

	if (!c)
		return;
	pthread_mutex_lock(lock);
	vfio_container_put_locked(c);
	pthread_mutex_unlock(lock);
	file->priv = NULL;
	file->ctx = NULL;
}

/* The type1 driver's answer (vfio_iommu_type1_check_extension). */
static long check_extension(struct vfio_container *c, uint64_t ext)
{
	switch (ext) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_DMA_CC_IOMMU:
		/* Once a domain exists: the model's DMA is coherent. */
		return c->iommu_type ? 1 : 0;
	default:
		/* VFIO_UPDATE_VADDR too: vaddr updates are not emulated. */
		return 0;
	}
}

static long set_iommu(struct vfio_container *c,
		      const struct ufd_caller *caller, uint64_t type)
{
	uint32_t ioas_id;
	long rc;

	/* Only a container with a group gets an IOMMU, and only once. */
	if (!c->groups || c->iommu_type)
		return -EINVAL;
	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		/* type1 reports the extension but cannot open it as that
		 * (-EINVAL); no driver knows anything else (-ENODEV). */
		return type == VFIO_UNMAP_ALL ? -EINVAL : -ENODEV;
	rc = ufd_ioas_alloc(c->ctx, &ioas_id);
	if (rc)
		return rc;
	rc = ufd_ctx_set_compat_ioas(c->ctx, ioas_id);
	/* v1 may unmap inside a mapping (vfio_compat.c sets it up). */
	if (!rc)
		rc = vfio_compat_ioctl(c->ctx, caller, VFIO_SET_IOMMU, type);
	if (rc) {
		ufd_ctx_clear_compat_ioas(c->ctx);
		ufd_destroy(c->ctx, ioas_id);
		return rc;
	}
	c->iommu_type = type;
	c->ioas_id = ioas_id;
	return 0;
}

static long container_ioctl(const struct ufd_file *file,
			    const struct ufd_caller *caller,
			    unsigned long cmd, uint64_t arg)
{
	struct vfio_container *c = file->priv;
	pthread_mutex_t *lock = container_lock();
	unsigned int nr = (unsigned int)cmd;
	long rc;

	switch (nr) {
	case VFIO_GET_API_VERSION:
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		pthread_mutex_lock(lock);
		rc = check_extension(c, arg);
		pthread_mutex_unlock(lock);
		return rc;
	case VFIO_SET_IOMMU:
		pthread_mutex_lock(lock);
		rc = set_iommu(c, caller, arg);
		pthread_mutex_unlock(lock);
		return rc;
	default:
		pthread_mutex_lock(lock);
		rc = c->iommu_type ? 0 : -EINVAL;
		pthread_mutex_unlock(lock);
		if (rc)
			return rc; /* no IOMMU driver to pass it to */
		/* type1: GET_INFO, MAP_DMA, UNMAP_DMA; the rest -ENOTTY. */
		return vfio_compat_ioctl_p2p(c->ctx, caller, nr, arg,
					     vfio_p2p_source);
	}
}

static const char *container_ioctl_name(unsigned long cmd)
{
	const char *name = vfio_compat_ioctl_name(cmd);

	if (name)
		return name;
	switch ((unsigned int)cmd) {
	case VFIO_IOMMU_DIRTY_PAGES:
		return "VFIO_IOMMU_DIRTY_PAGES";
	case VFIO_IOMMU_ENABLE:
		return "VFIO_IOMMU_ENABLE";
	case VFIO_IOMMU_DISABLE:
		return "VFIO_IOMMU_DISABLE";
	default:
		return NULL;
	}
}

const struct ufd_file_ops ufd_vfio_container_ops = {
	.name = "vfio-container",
	.open = container_open,
	.ioctl = container_ioctl,
	.release = container_release,
	.ioctl_name = container_ioctl_name,
};
