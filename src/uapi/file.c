// SPDX-License-Identifier: MIT
/*
 * The kinds of emulated file and what each does: one ops table per kind,
 * as the kernel's file_operations, so that every transport (the in-process
 * shim, the daemon) and the fuzzer reach a file the same way and get the
 * same errno for a call the file does not have.  The dispatch layer's
 * general rules (sizes, E2BIG, ENOTTY) stay in dispatch.c; this is the
 * level above: which table of commands, which read and write, what the
 * last close releases.
 *
 * No locking here: the engine locks, and the transport keeps a file alive
 * while a call on it is in flight.
 */
#include <errno.h>
#include <poll.h>

#include "uapi/ucmd.h"
#include "uapi/vfio.h"

/* ---- /dev/iommu (and /dev/vfio/vfio served by iommufd) -------------------- */

static const char *iommufd_ioctl_name(unsigned long cmd)
{
	const struct ufd_ioctl_desc *desc = ufd_ioctl_lookup(cmd);

	return desc ? desc->name : vfio_compat_ioctl_name(cmd);
}

static long iommufd_file_ioctl(const struct ufd_file *file,
			       const struct ufd_caller *caller,
			       unsigned long cmd, uint64_t arg)
{
	return ufd_dispatch_ioctl(file->ctx, caller, cmd, arg);
}

/* The file's credentials are the opener's at open time. */
static int iommufd_file_open(struct ufd_file *file,
			     const struct ufd_caller *caller, uint32_t index,
			     int flags)
{
	struct ufd_cred cred;

	if (index)
		return -ENOENT;
	ufd_caller_cred(caller, &cred);
	return ufd_ctx_open(caller->eng, &cred, &file->ctx);
}

static void iommufd_file_release(struct ufd_file *file, bool destroy_obj)
{
	/* The context's own reference, taken at open, is the file's. */
	ufd_ctx_close(file->ctx);
	file->ctx = NULL;
}

/* ---- the selftest's access object --------------------------------------- */

static void access_file_release(struct ufd_file *file, bool destroy_obj)
{
	if (destroy_obj)
		ufd_access_destroy(file->ctx, file->obj_id);
	ufd_ctx_put(file->ctx);
	file->ctx = NULL;
}

/* ---- fault queues -------------------------------------------------------- */

static long fault_file_read(const struct ufd_file *file,
			    const struct ufd_caller *caller, uint64_t buf,
			    uint64_t count, const uint64_t *pos)
{
	return ufd_dispatch_fault_read(file->ctx, caller, file->obj_id, buf,
				       count);
}

static long fault_file_write(const struct ufd_file *file,
			     const struct ufd_caller *caller, uint64_t buf,
			     uint64_t count, const uint64_t *pos)
{
	return ufd_dispatch_fault_write(file->ctx, caller, file->obj_id, buf,
					count);
}

static unsigned int fault_file_poll(const struct ufd_file *file)
{
	unsigned int mask = POLLOUT;

	if (ufd_fault_pending(file->ctx, file->obj_id))
		mask |= POLLIN;
	return mask;
}

static void fault_file_release(struct ufd_file *file, bool destroy_obj)
{
	if (destroy_obj) {
		/* No more notifications; then the queue may be destroyed. */
		ufd_fault_set_notify(file->ctx, file->obj_id, NULL, NULL);
		ufd_fault_release_fd(file->ctx, file->obj_id);
	}
	ufd_ctx_put(file->ctx);
	file->ctx = NULL;
}

/* A vIOMMU's page: trapped, each access read from the mock's page. */
static int iommufd_file_mmap(const struct ufd_file *file, uint64_t offset,
			     uint64_t len, int prot, struct ufd_file_mmap *out)
{
	return viommu_file_mmap(file->ctx, offset, len, prot, out);
}

static int iommufd_file_mmio(const struct ufd_file *file, unsigned int region,
			     uint64_t off, unsigned int size, bool write,
			     uint64_t *val)
{
	return viommu_file_mmio(file->ctx, region, off, size, write, val);
}

static int iommufd_file_map_get(const struct ufd_file *file,
				unsigned int region)
{
	return ufd_viommu_mmap_get(file->ctx, region);
}

static void iommufd_file_map_put(const struct ufd_file *file,
				 unsigned int region)
{
	ufd_viommu_mmap_put(file->ctx, region);
}

/* ---- vIOMMU event queues ------------------------------------------------ */

static long veventq_file_read(const struct ufd_file *file,
			      const struct ufd_caller *caller, uint64_t buf,
			      uint64_t count, const uint64_t *pos)
{
	return ufd_dispatch_veventq_read(file->ctx, caller, file->obj_id, buf,
					 count);
}

static unsigned int veventq_file_poll(const struct ufd_file *file)
{
	return ufd_veventq_pending(file->ctx, file->obj_id) ? POLLIN : 0;
}

static void veventq_file_release(struct ufd_file *file, bool destroy_obj)
{
	if (destroy_obj) {
		ufd_veventq_set_notify(file->ctx, file->obj_id, NULL, NULL);
		ufd_veventq_release_fd(file->ctx, file->obj_id);
	}
	ufd_ctx_put(file->ctx);
	file->ctx = NULL;
}

static const struct ufd_file_ops veventq_file_ops = {
	.name = "veventq",
	.read = veventq_file_read,
	.poll = veventq_file_poll,
	.release = veventq_file_release,
};

static const struct ufd_file_ops iommufd_file_ops = {
	.name = "iommufd",
	.open = iommufd_file_open,
	.mmap = iommufd_file_mmap,
	.mmio = iommufd_file_mmio,
	.map_get = iommufd_file_map_get,
	.map_put = iommufd_file_map_put,
	.ioctl = iommufd_file_ioctl,
	.release = iommufd_file_release,
	.ioctl_name = iommufd_ioctl_name,
};

static const struct ufd_file_ops access_file_ops = {
	.name = "access",
	.release = access_file_release,
};

static const struct ufd_file_ops fault_file_ops = {
	.name = "fault",
	.read = fault_file_read,
	.write = fault_file_write,
	.poll = fault_file_poll,
	.release = fault_file_release,
};

static const struct ufd_file_ops *const file_ops[UFD_FD_NR_KINDS] = {
	[UFD_FD_IOMMUFD] = &iommufd_file_ops,
	[UFD_FD_ACCESS] = &access_file_ops,
	[UFD_FD_FAULT] = &fault_file_ops,
	[UFD_FD_VFIO_CONTAINER] = &ufd_vfio_container_ops,
	[UFD_FD_VFIO_GROUP] = &ufd_vfio_group_ops,
	[UFD_FD_VFIO_DEVICE] = &ufd_vfio_device_ops,
	[UFD_FD_DMABUF] = &ufd_dmabuf_file_ops,
	[UFD_FD_VEVENTQ] = &veventq_file_ops,
	[UFD_FD_SRIOV_NUMVFS] = &ufd_vfio_sriov_numvfs_ops,
};

const struct ufd_file_ops *ufd_file_ops(enum ufd_fd_kind kind)
{
	if ((unsigned int)kind >= UFD_FD_NR_KINDS)
		kind = UFD_FD_ACCESS; /* nothing but a release */
	return file_ops[kind];
}

int ufd_file_open(struct ufd_file *file, const struct ufd_caller *caller,
		  enum ufd_fd_kind kind, uint32_t index, int flags)
{
	const struct ufd_file_ops *ops;

	if ((unsigned int)kind >= UFD_FD_NR_KINDS)
		return -ENODEV;
	ops = file_ops[kind];
	file->kind = kind;
	file->ctx = NULL;
	file->obj_id = index;
	file->priv = NULL;
	if (!ops->open)
		return -ENODEV;
	return ops->open(file, caller, index, flags);
}

int ufd_file_mmap(const struct ufd_file *file, uint64_t offset, uint64_t len,
		  int prot, struct ufd_file_mmap *out)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	return ops->mmap ? ops->mmap(file, offset, len, prot, out) : -ENODEV;
}

int ufd_file_mmio(const struct ufd_file *file, unsigned int region,
		  uint64_t off, unsigned int size, bool write, uint64_t *val)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	return ops->mmio ? ops->mmio(file, region, off, size, write, val) :
			   -EIO;
}

int ufd_file_map_get(const struct ufd_file *file, unsigned int region)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	return ops->map_get ? ops->map_get(file, region) : 0;
}

void ufd_file_map_put(const struct ufd_file *file, unsigned int region)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	if (ops->map_put)
		ops->map_put(file, region);
}

long ufd_file_ioctl(const struct ufd_file *file,
		    const struct ufd_caller *caller, unsigned long cmd,
		    uint64_t arg)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	if (!ops->ioctl)
		return -ENOTTY;
	return ops->ioctl(file, caller, cmd, arg);
}

long ufd_file_read(const struct ufd_file *file,
		   const struct ufd_caller *caller, uint64_t buf,
		   uint64_t count, const uint64_t *pos)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	if (pos && !ops->seekable)
		return -ESPIPE;
	if (!ops->read)
		return -EINVAL;
	return ops->read(file, caller, buf, count, pos);
}

long ufd_file_write(const struct ufd_file *file,
		    const struct ufd_caller *caller, uint64_t buf,
		    uint64_t count, const uint64_t *pos)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	if (pos && !ops->seekable)
		return -ESPIPE;
	if (!ops->write)
		return -EINVAL;
	return ops->write(file, caller, buf, count, pos);
}

unsigned int ufd_file_poll(const struct ufd_file *file)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	return ops->poll ? ops->poll(file) : 0;
}

void ufd_file_release(struct ufd_file *file, bool destroy_obj)
{
	const struct ufd_file_ops *ops = ufd_file_ops(file->kind);

	/* A VFIO file may have state without a context. */
	if ((file->ctx || file->priv) && ops->release)
		ops->release(file, destroy_obj);
}

const char *ufd_file_ioctl_name(enum ufd_fd_kind kind, unsigned long cmd)
{
	const struct ufd_file_ops *ops = ufd_file_ops(kind);
	const char *name = ops->ioctl_name ? ops->ioctl_name(cmd) : NULL;

	return name ? name : "?";
}
