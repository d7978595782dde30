// SPDX-License-Identifier: MIT
/*
 * The VFIO device file: /dev/vfio/devices/vfioM (a cdev, bound to an
 * iommufd with BIND_IOMMUFD) and the files a group's GET_DEVICE_FD makes,
 * with vfio-pci's regions, ioctls and access rules (vfio_main.c,
 * device_cdev.c, vfio_pci_core.c, vfio_pci_config.c, vfio_pci_rdwr.c).
 *
 * The model.  A device file (struct vfio_dfile, file->priv, shared by its
 * dups) has access once granted: a cdev file after its bind, a group's
 * file from the start; without access every call but BIND is -EINVAL.
 * Regions are at file offset index << 40: BARs 0-5, ROM 6 (none here),
 * config space 7 (4096 bytes, PCIe), VGA 8 (none).  Config space is the
 * model's, with vfio-pci's virtualization where it matters: the MSI and
 * MSI-X capabilities are read-only to the program (vfio owns them through
 * SET_IRQS), DevCtl's Initiate-FLR bit resets the function the way
 * VFIO_DEVICE_RESET does (config state kept), everything else reaches
 * the function.  Config accesses are cut into naturally aligned pieces
 * of 1, 2 or 4 bytes; BAR accesses of pread/pwrite into aligned pieces up
 * to 8 bytes, with the MSI-X table reading all-ones and ignoring writes
 * there (mmap reaches it: the BAR is reported MSIX_MAPPABLE).  BAR
 * accesses need COMMAND.MEMORY (-EIO).  The function sits alone in a
 * resettable slot (a hot reset affects only it); VFIO_DEVICE_RESET needs
 * the model's FLR.  Ioeventfds and the INTx unmask eventfd are watched by
 * vfio_virqfd.c.  Ranges are [off, off + len - 1].
 *
 * Locking: vfio_priv.h.  Binds and releases take the machine lock then
 * the device's; attach, detach, reset and features the device's alone;
 * region accesses no lock of ours (the model locks itself).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "uapi/vfio_priv.h"

struct vfio_dfile *vfio_dfile_new(struct vfio_dev *vdev, bool from_group)
{
	struct vfio_dfile *df = calloc(1, sizeof(*df));

	if (!df)
		return NULL;
	df->vdev = vdev;
	df->from_group = from_group;
	df->granted = from_group;
	return df;
}

static bool dfile_granted(const struct vfio_dfile *df)
{
	return __atomic_load_n(&df->granted, __ATOMIC_ACQUIRE);
}

/*
 * copy_struct_from_user(): @usize bytes of the caller at @src into the
 * @ksize bytes at @dst, zero-filled; bytes past @ksize must be zero
 * (-E2BIG).
 */
static int copy_struct_in(const struct ufd_caller *caller, void *dst,
			  size_t ksize, uint64_t src, uint32_t usize)
{
	uint8_t chunk[64];
	uint64_t at;
	int rc;

	memset(dst, 0, ksize);
	for (at = ksize; at < usize;) {
		size_t n = usize - at < sizeof(chunk) ? usize - at :
							 sizeof(chunk);
		size_t i;

		rc = copy_from_caller(caller, chunk, src + at, n);
		if (rc)
			return rc;
		for (i = 0; i < n; i++)
			if (chunk[i])
				return -E2BIG;
		at += n;
	}
	return copy_from_caller(caller, dst, src,
				usize < ksize ? usize : ksize);
}

/* Engaged in low power (written under vdev->lock, read anywhere). */
static bool low_power(struct vfio_dev *vdev)
{
	return __atomic_load_n(&vdev->low_power, __ATOMIC_RELAXED);
}

/* A device ioctl or access wakes a device in low power with a wake-up
 * eventfd (vfio_pci_core_runtime_resume). */
static void low_power_wake(struct vfio_dev *vdev)
{
	if (!low_power(vdev))
		return;
	pthread_mutex_lock(&vdev->lock);
	if (vdev->low_power && vdev->wake_efd >= 0) {
		vfio_signal_eventfd(vdev->wake_efd);
		close(vdev->wake_efd);
		vdev->wake_efd = -1;
		__atomic_store_n(&vdev->low_power, false, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&vdev->lock);
}

/* ---- open and release ------------------------------------------------------ */

static int device_open(struct ufd_file *file, const struct ufd_caller *caller,
		       uint32_t index, int flags)
{
	struct vfio_dev *vdev = vfio_dev_by_cdev(index);
	struct ufd_vfio_machine *m;
	int rc = 0;

	if (!vdev)
		return -ENOENT;
	/* Nothing happens to the device until BIND_IOMMUFD. */
	file->priv = vfio_dfile_new(vdev, false);
	if (!file->priv)
		return -ENOMEM;
	/* An open cdev file keeps a VF in existence. */
	m = vdev->m;
	pthread_mutex_lock(&m->lock);
	if (vdev->present)
		vdev->cdev_files++;
	else
		rc = -ENOENT; /* removed since the lookup */
	pthread_mutex_unlock(&m->lock);
	if (rc) {
		free(file->priv);
		file->priv = NULL;
	}
	return rc;
}

static void device_release(struct ufd_file *file, bool destroy_obj)
{
	struct vfio_dfile *df = file->priv;
	struct vfio_dev *vdev;
	struct ufd_vfio_machine *m;

	if (!df)
		return;
	vdev = df->vdev;
	m = vdev->m;
	pthread_mutex_lock(&m->lock);
	if (df->granted) {
		pthread_mutex_lock(&vdev->lock);
		vfio_dev_close(vdev);
		pthread_mutex_unlock(&vdev->lock);
		if (df->from_group)
			vfio_group_dev_file_closed_locked(vdev->group);
		else
			vdev->group->cdev_users--;
	}
	if (!df->from_group)
		vdev->cdev_files--;
	pthread_mutex_unlock(&m->lock);
	free(df);
	file->priv = NULL;
}

/* ---- iommufd: bind, attach, detach ------------------------------------------ */

static long dev_bind(struct vfio_dfile *df, const struct ufd_caller *caller,
		     uint64_t arg)
{
	const size_t minsz =
		offsetofend(struct vfio_device_bind_iommufd, out_devid);
	struct vfio_device_bind_iommufd bind;
	struct vfio_dev *vdev = df->vdev;
	struct ufd_vfio_machine *m = vdev->m;
	struct ufd_publish pub;
	struct ufd_file iommufd;
	uint32_t argsz;
	uint8_t uuid[16];
	int rc;

	rc = vfio_get_u32(caller, arg, &argsz);
	if (rc)
		return rc;
	if (argsz < minsz)
		return -EINVAL;
	rc = copy_struct_in(caller, &bind, sizeof(bind), arg, argsz);
	if (rc)
		return rc;
	if (bind.iommufd < 0 || (bind.flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN))
		return -EINVAL;
	/* Only a cdev file binds. */
	if (df->from_group)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	/* vfio_device_block_group(): the group path and this exclude. */
	if (vdev->group->file_open || vdev->group->dev_files) {
		pthread_mutex_unlock(&m->lock);
		return -EBUSY;
	}
	pthread_mutex_lock(&vdev->lock);
	if (df->granted) {
		rc = -EINVAL; /* one device cannot be bound twice */
	} else if (bind.flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
		rc = copy_from_caller(caller, uuid, bind.token_uuid_ptr,
				      sizeof(uuid));
		if (!rc)
			rc = vfio_sriov_check_token(vdev, uuid);
	} else {
		rc = vfio_sriov_check_token(vdev, NULL);
	}
	if (!rc) {
		rc = caller->ops->resolve_file ?
			     caller->ops->resolve_file(caller, bind.iommufd,
						       &iommufd) :
			     -EBADF;
		if (!rc && iommufd.kind != UFD_FD_IOMMUFD)
			rc = -EBADFD;
	}
	if (!rc) {
		ufd_publish_begin(iommufd.ctx, &pub);
		rc = vfio_dev_open(vdev, iommufd.ctx, true);
		if (!rc) {
			rc = copy_to_caller(
				caller,
				arg + offsetof(struct vfio_device_bind_iommufd,
					       out_devid),
				&vdev->dev_id, sizeof(vdev->dev_id));
			if (rc)
				vfio_dev_close(vdev);
		}
		ufd_publish_end(&pub, !rc);
	}
	if (!rc) {
		__atomic_store_n(&df->granted, true, __ATOMIC_RELEASE);
		vdev->group->cdev_users++;
	}
	pthread_mutex_unlock(&vdev->lock);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/*
 * The argsz, flags and optional PASID of ATTACH_ / DETACH_IOMMUFD_PT
 * (@minsz bytes read already; the u32 pasid follows them when
 * @pasid_flag is set): -EINVAL for a short struct, an unknown flag, a
 * PASID flag the personality's kernel does not know or a struct too short
 * for the PASID; 0 without the flag; 1 with *@pasid read.
 */
_Static_assert(offsetof(struct vfio_device_attach_iommufd_pt, pasid) ==
		       offsetofend(struct vfio_device_attach_iommufd_pt, pt_id),
	       "the PASID follows what ATTACH always reads");
_Static_assert(offsetof(struct vfio_device_detach_iommufd_pt, pasid) ==
		       offsetofend(struct vfio_device_detach_iommufd_pt, flags),
	       "the PASID follows what DETACH always reads");

static int pt_args_pasid(const struct ufd_caller *caller, uint64_t arg,
			 uint32_t argsz, uint32_t flags, uint32_t pasid_flag,
			 size_t minsz, uint32_t *pasid)
{
	int rc;

	if (argsz < minsz || (flags & ~pasid_flag))
		return -EINVAL;
	if (!(flags & pasid_flag))
		return 0;
	if (!ufd_caller_kernel(caller)->pasid ||
	    argsz < minsz + sizeof(*pasid))
		return -EINVAL;
	rc = copy_from_caller(caller, pasid, arg + minsz, sizeof(*pasid));
	return rc ? rc : 1;
}

/*
 * ATTACH_PASID: a HWPT to one PASID of the device, replacing what the
 * PASID had (vfio_iommufd_physical_pasid_attach_ioas); a reply that
 * cannot be written detaches the PASID.  The engine has the rules (a
 * device whose IOMMU has no PASID, as our VT-d model's: -EINVAL).
 */
static long dev_attach_pasid(struct vfio_dev *vdev,
			     const struct ufd_caller *caller, uint64_t arg,
			     const struct vfio_device_attach_iommufd_pt *attach)
{
	uint32_t cur = 0;
	int rc;

	pthread_mutex_lock(&vdev->lock);
	if (attach->pasid != UFD_NO_PASID)
		ufd_device_pasid_hwpt(vdev->ctx, vdev->dev_id, attach->pasid,
				      &cur);
	rc = cur ? ufd_device_pasid_replace(vdev->ctx, vdev->dev_id,
					    attach->pasid, attach->pt_id) :
		   ufd_device_pasid_attach(vdev->ctx, vdev->dev_id,
					   attach->pasid, attach->pt_id);
	/* No automatic HWPT for a PASID: pt_id comes back as it was. */
	if (!rc) {
		rc = copy_to_caller(
			caller,
			arg + offsetof(struct vfio_device_attach_iommufd_pt,
				       pt_id),
			&attach->pt_id, sizeof(attach->pt_id));
		if (rc)
			ufd_device_pasid_detach(vdev->ctx, vdev->dev_id,
						attach->pasid);
	}
	pthread_mutex_unlock(&vdev->lock);
	return rc;
}

static long dev_attach_pt(struct vfio_dev *vdev,
			  const struct ufd_caller *caller, uint64_t arg)
{
	const size_t minsz =
		offsetofend(struct vfio_device_attach_iommufd_pt, pt_id);
	struct vfio_device_attach_iommufd_pt attach;
	struct ufd_publish pub;
	uint32_t pt_id;
	int rc;

	rc = copy_from_caller(caller, &attach, arg, minsz);
	if (rc)
		return rc;
	rc = pt_args_pasid(caller, arg, attach.argsz, attach.flags,
			   VFIO_DEVICE_ATTACH_PASID, minsz, &attach.pasid);
	if (rc)
		return rc < 0 ? rc : dev_attach_pasid(vdev, caller, arg, &attach);
	pthread_mutex_lock(&vdev->lock);
	ufd_publish_begin(vdev->ctx, &pub);
	pt_id = attach.pt_id;
	/* Attached already: vfio_iommufd_physical_attach_ioas replaces. */
	rc = vdev->attached ? ufd_device_replace(vdev->ctx, vdev->dev_id, &pt_id)
			    : ufd_device_attach(vdev->ctx, vdev->dev_id, &pt_id);
	if (!rc) {
		rc = copy_to_caller(
			caller,
			arg + offsetof(struct vfio_device_attach_iommufd_pt,
				       pt_id),
			&pt_id, sizeof(pt_id));
		if (rc && !vdev->attached) {
			ufd_device_detach(vdev->ctx, vdev->dev_id);
		} else if (rc) {
			/* Back where it was; its automatic HWPT may be gone. */
			uint32_t back = vdev->pt_id;

			if (ufd_device_replace(vdev->ctx, vdev->dev_id, &back)) {
				back = vdev->pt_asked;
				if (ufd_device_replace(vdev->ctx, vdev->dev_id,
						       &back)) {
					ufd_device_detach(vdev->ctx,
							  vdev->dev_id);
					vdev->attached = false;
				} else {
					vdev->pt_id = back;
				}
			}
		}
	}
	/*
	 * Whatever is left of the window is the attachment in place now
	 * (a failed reply's new HWPT went with the device's leaving it).
	 */
	ufd_publish_end(&pub, true);
	if (!rc) {
		vdev->attached = true;
		vdev->pt_id = pt_id;
		vdev->pt_asked = attach.pt_id;
	}
	pthread_mutex_unlock(&vdev->lock);
	return rc;
}

static long dev_detach_pt(struct vfio_dev *vdev,
			  const struct ufd_caller *caller, uint64_t arg)
{
	const size_t minsz =
		offsetofend(struct vfio_device_detach_iommufd_pt, flags);
	struct vfio_device_detach_iommufd_pt detach;
	int rc;

	rc = copy_from_caller(caller, &detach, arg, minsz);
	if (rc)
		return rc;
	rc = pt_args_pasid(caller, arg, detach.argsz, detach.flags,
			   VFIO_DEVICE_DETACH_PASID, minsz, &detach.pasid);
	if (rc < 0)
		return rc;
	if (rc) {
		/* Detaching a PASID that is not attached does nothing. */
		pthread_mutex_lock(&vdev->lock);
		if (detach.pasid != UFD_NO_PASID)
			ufd_device_pasid_detach(vdev->ctx, vdev->dev_id,
						detach.pasid);
		pthread_mutex_unlock(&vdev->lock);
		return 0;
	}
	pthread_mutex_lock(&vdev->lock);
	if (vdev->attached)
		ufd_device_detach(vdev->ctx, vdev->dev_id);
	vdev->attached = false;
	vdev->pt_id = vdev->pt_asked = 0;
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

/* ---- info --------------------------------------------------------------------- */

static bool reset_works(const struct vfio_dev *vdev)
{
	return vdev->info.flr;
}

static long dev_get_info(struct vfio_dev *vdev, const struct ufd_caller *caller,
			 uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;
	int rc;

	memset(&info, 0, sizeof(info));
	rc = copy_from_caller(caller, &info, arg, minsz);
	if (rc)
		return rc;
	if (info.argsz < minsz)
		return -EINVAL;
	info.flags = VFIO_DEVICE_FLAGS_PCI;
	if (reset_works(vdev))
		info.flags |= VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	/* No capability (no zPCI, no AtomicOps completer): up to argsz. */
	return copy_to_caller(caller, arg, &info,
			      info.argsz < sizeof(info) ? info.argsz :
							  sizeof(info));
}

static bool bar_mmappable(const struct vfio_dev *vdev, unsigned int bar)
{
	return bar < UFD_PCI_NUM_BARS && vdev->info.bar[bar].size &&
	       (vdev->info.bar[bar].flags & UFD_PCI_BAR_MMAP);
}

static long dev_get_region_info(struct vfio_dev *vdev,
				const struct ufd_caller *caller, uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_info_cap_header cap = {
		.id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
		.version = 1,
	};
	struct vfio_region_info info;
	bool has_cap = false;
	int rc;

	rc = copy_from_caller(caller, &info, arg, minsz);
	if (rc)
		return rc;
	if (info.argsz < minsz)
		return -EINVAL;
	switch (info.index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		info.offset = VFIO_INDEX_TO_OFFSET(info.index);
		info.size = vdev->info.config_size;
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE;
		break;
	case VFIO_PCI_BAR0_REGION_INDEX ... VFIO_PCI_BAR5_REGION_INDEX:
		info.offset = VFIO_INDEX_TO_OFFSET(info.index);
		info.size = vdev->info.bar[info.index].size;
		if (!info.size) {
			info.flags = 0;
			break;
		}
		info.flags = VFIO_REGION_INFO_FLAG_READ |
			     VFIO_REGION_INFO_FLAG_WRITE;
		if (bar_mmappable(vdev, info.index)) {
			info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
			has_cap = vdev->info.msix_vectors &&
				  info.index == vdev->info.msix_table_bar;
		}
		break;
	case VFIO_PCI_ROM_REGION_INDEX:
		/* No option ROM. */
		info.offset = VFIO_INDEX_TO_OFFSET(info.index);
		info.flags = 0;
		info.size = 0;
		break;
	default:
		/* VGA: not a VGA device; nothing past it. */
		return -EINVAL;
	}
	if (has_cap) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + sizeof(cap)) {
			info.argsz = sizeof(info) + sizeof(cap);
			info.cap_offset = 0;
		} else {
			rc = copy_to_caller(caller, arg + sizeof(info), &cap,
					    sizeof(cap));
			if (rc)
				return rc;
			info.cap_offset = sizeof(info);
		}
	}
	return copy_to_caller(caller, arg, &info, minsz);
}

/* ---- resets ---------------------------------------------------------------------- */

static long dev_reset(struct vfio_dev *vdev)
{
	if (!reset_works(vdev))
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	vfio_dev_reset_keep_state(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

/*
 * The function sits alone in a slot that can be reset, so a hot reset
 * affects it and nothing else.
 */
static long dev_get_hot_reset_info(struct vfio_dfile *df,
				   const struct ufd_caller *caller,
				   uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_pci_hot_reset_info, count);
	struct vfio_pci_hot_reset_info hdr;
	struct vfio_pci_dependent_device dev;
	struct vfio_dev *vdev = df->vdev;
	int rc;

	rc = copy_from_caller(caller, &hdr, arg, minsz);
	if (rc)
		return rc;
	if (hdr.argsz < minsz)
		return -EINVAL;
	hdr.flags = 0;
	if ((hdr.argsz - sizeof(hdr)) / sizeof(dev) < 1) {
		hdr.count = 1;
		rc = copy_to_caller(caller, arg, &hdr, minsz);
		return rc ? rc : -ENOSPC;
	}
	memset(&dev, 0, sizeof(dev));
	dev.segment = vdev->segment;
	dev.bus = vdev->bus;
	dev.devfn = vdev->devfn;
	pthread_mutex_lock(&vdev->lock);
	if (!df->from_group) {
		/* Opened as a cdev: device IDs of our iommufd; ours is. */
		hdr.flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
			    VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
		dev.devid = vdev->dev_id;
	} else {
		dev.group_id = vdev->group->nr;
	}
	pthread_mutex_unlock(&vdev->lock);
	rc = copy_to_caller(caller, arg + sizeof(hdr), &dev, sizeof(dev));
	if (rc)
		return rc;
	hdr.count = 1;
	return copy_to_caller(caller, arg, &hdr, minsz);
}

static long dev_hot_reset(struct vfio_dfile *df,
			  const struct ufd_caller *caller, uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_pci_hot_reset, count);
	struct vfio_pci_hot_reset hdr;
	struct vfio_dev *vdev = df->vdev;
	bool owned = false;
	uint32_t i;
	int rc;

	rc = copy_from_caller(caller, &hdr, arg, minsz);
	if (rc)
		return rc;
	if (hdr.argsz < minsz || hdr.flags)
		return -EINVAL;
	/* A zero-length array is for cdev-opened devices only. */
	if (!!hdr.count == !df->from_group)
		return -EINVAL;
	if (hdr.count > 1) /* one device: at most one group */
		return -EINVAL;
	if (!hdr.count)
		owned = true; /* every affected device is bound to our iommufd */
	for (i = 0; i < hdr.count; i++) {
		struct ufd_file group;
		int32_t fd;

		rc = copy_from_caller(caller, &fd,
				      arg + minsz + i * sizeof(fd), sizeof(fd));
		if (rc)
			return rc;
		rc = caller->ops->resolve_file ?
			     caller->ops->resolve_file(caller, fd, &group) :
			     -EBADF;
		if (rc)
			return rc;
		if (group.kind != UFD_FD_VFIO_GROUP)
			return -EINVAL;
		if (group.priv == vdev->group)
			owned = true;
	}
	if (!owned)
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	vfio_dev_reset_keep_state(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

/* ---- ioeventfds ---------------------------------------------------------------- */

#define IOEVENTFD_MAX 1000 /* VFIO_PCI_IOEVENTFD_MAX */

static long dev_ioeventfd(struct vfio_dev *vdev, const struct ufd_caller *caller,
			  uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_device_ioeventfd, fd);
	struct vfio_device_ioeventfd ioe;
	unsigned int size, bar, count;
	uint64_t pos, bar_size, id = 0;
	int efd, rc;

	rc = copy_from_caller(caller, &ioe, arg, minsz);
	if (rc)
		return rc;
	if (ioe.argsz < minsz ||
	    (ioe.flags & ~VFIO_DEVICE_IOEVENTFD_SIZE_MASK))
		return -EINVAL;
	/* One width flag; its value is the width in bytes. */
	size = ioe.flags & VFIO_DEVICE_IOEVENTFD_SIZE_MASK;
	if (__builtin_popcount(size) != 1 || ioe.fd < -1)
		return -EINVAL;
	bar = (unsigned int)(ioe.offset >> VFIO_OFFSET_SHIFT);
	pos = ioe.offset & VFIO_OFFSET_MASK;
	if (bar > VFIO_PCI_BAR5_REGION_INDEX)
		return -EINVAL;
	bar_size = vdev->info.bar[bar].size;
	if (pos > bar_size || size > bar_size - pos)
		return -EINVAL;
	/* No way around the MSI-X table. */
	if (vdev->info.msix_vectors && bar == vdev->info.msix_table_bar &&
	    pos + size > vdev->info.msix_table_offset &&
	    pos < vdev->info.msix_table_offset + vdev->info.msix_table_size)
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	if (vfio_virqfd_find_ioeventfd(vdev, bar, pos, size, ioe.data, &id,
				       &count)) {
		if (ioe.fd == -1)
			vfio_virqfd_remove(id);
		else
			rc = -EEXIST;
	} else if (ioe.fd < 0) {
		rc = -ENODEV;
	} else if (count >= IOEVENTFD_MAX) {
		rc = -ENOSPC;
	} else {
		efd = vfio_take_eventfd(caller, ioe.fd);
		rc = efd < 0 ? efd :
			       vfio_virqfd_add(vdev, VFIO_VIRQFD_IOEVENTFD, efd,
					       bar, pos, size, ioe.data, &id);
		if (rc && efd >= 0)
			close(efd);
	}
	pthread_mutex_unlock(&vdev->lock);
	return rc;
}

/* ---- features ----------------------------------------------------------------- */

/* vfio_check_feature(): 1 to go on, 0 for a PROBE, or -EINVAL. */
static int check_feature(uint32_t flags, size_t argsz, uint32_t supported,
			 size_t minsz)
{
	if ((flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)) &
	    ~supported)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET)))
		return -EINVAL;
	if (argsz < minsz)
		return -EINVAL;
	return 1;
}

static long feature_low_power(struct vfio_dev *vdev,
			      const struct ufd_caller *caller,
			      uint32_t feature, uint32_t flags, uint64_t data,
			      size_t argsz)
{
	struct vfio_device_low_power_entry_with_wakeup entry;
	bool wakeup = feature ==
		      VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP;
	int efd = -1, rc;

	rc = check_feature(flags, argsz, VFIO_DEVICE_FEATURE_SET,
			   wakeup ? sizeof(entry) : 0);
	if (rc != 1)
		return rc;
	if (feature == VFIO_DEVICE_FEATURE_LOW_POWER_EXIT) {
		pthread_mutex_lock(&vdev->lock);
		__atomic_store_n(&vdev->low_power, false, __ATOMIC_RELAXED);
		efd = vdev->wake_efd;
		vdev->wake_efd = -1;
		pthread_mutex_unlock(&vdev->lock);
		if (efd >= 0)
			close(efd);
		return 0;
	}
	if (wakeup) {
		rc = copy_from_caller(caller, &entry, data, sizeof(entry));
		if (rc)
			return rc;
		if (entry.wakeup_eventfd < 0)
			return -EINVAL;
		efd = vfio_take_eventfd(caller, entry.wakeup_eventfd);
		if (efd < 0)
			return efd;
	}
	pthread_mutex_lock(&vdev->lock);
	if (vdev->low_power) {
		rc = -EINVAL;
	} else {
		__atomic_store_n(&vdev->low_power, true, __ATOMIC_RELAXED);
		vdev->wake_efd = efd;
		rc = 0;
	}
	pthread_mutex_unlock(&vdev->lock);
	if (rc && efd >= 0)
		close(efd);
	return rc;
}

static long dev_feature(struct vfio_dev *vdev, const struct ufd_caller *caller,
			uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_device_feature, flags);
	struct vfio_device_feature feature;
	uint32_t id;
	int rc;

	rc = copy_from_caller(caller, &feature, arg, minsz);
	if (rc)
		return rc;
	if (feature.argsz < minsz)
		return -EINVAL;
	if (feature.flags &
	    ~(VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_SET |
	      VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (!(feature.flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (feature.flags & VFIO_DEVICE_FEATURE_SET) &&
	    (feature.flags & VFIO_DEVICE_FEATURE_GET))
		return -EINVAL;
	id = feature.flags & VFIO_DEVICE_FEATURE_MASK;
	switch (id) {
	case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY:
	case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP:
	case VFIO_DEVICE_FEATURE_LOW_POWER_EXIT:
		return feature_low_power(vdev, caller, id, feature.flags,
					 arg + minsz, feature.argsz - minsz);
	case VFIO_DEVICE_FEATURE_PCI_VF_TOKEN:
		return vfio_sriov_feature_token(vdev, caller, feature.flags,
						arg + minsz,
						feature.argsz - minsz);
	default:
		/*
		 * Migration and DMA logging: no mig_ops or log_ops; DMA-buf
		 * export: not built in.  The kernel answers -ENOTTY.
		 */
		return -ENOTTY;
	}
}

/* ---- config space ------------------------------------------------------------------ */

static uint32_t bytes_le(const uint8_t *b, unsigned int n)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void le_bytes(uint8_t *b, uint64_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* The bytes of the MSI capability ([msi_cap, + len - 1]). */
static unsigned int msi_cap_len(struct vfio_dev *vdev)
{
	uint32_t flags = 0;
	unsigned int len = 10;

	ufd_pci_cfg_read(vdev->pdev, vdev->msi_cap + PCI_MSI_FLAGS, 2, &flags);
	if (flags & PCI_MSI_FLAGS_64BIT)
		len += 4;
	if (flags & PCI_MSI_FLAGS_MASKBIT)
		len += 10;
	return len;
}

/* Is [off, off + n - 1] in a capability only SET_IRQS may change? */
static bool cfg_owned_by_vfio(struct vfio_dev *vdev, unsigned int off,
			      unsigned int n)
{
	if (vdev->msi_cap && off + n > vdev->msi_cap &&
	    off < vdev->msi_cap + msi_cap_len(vdev))
		return true;
	return vdev->msix_cap && off + n > vdev->msix_cap &&
	       off < vdev->msix_cap + (unsigned int)PCI_CAP_MSIX_SIZEOF;
}

/*
 * vfio_exp_config_write(): DevCtl's Initiate-FLR bit is virtualized.  It is
 * taken out of the bytes @b written at [off, off + n - 1] (it always reads
 * 0); true if it was set and the function has FLR, so that the caller
 * resets it as pci_try_reset_function() would, its config state kept.
 */
static bool take_flr_bit(struct vfio_dev *vdev, unsigned int off,
			 unsigned int n, uint8_t *b)
{
	unsigned int at = vdev->pcie_cap + PCI_EXP_DEVCTL + 1;
	uint32_t devcap = 0;

	if (!vdev->pcie_cap || at < off || at >= off + n ||
	    !(b[at - off] & (PCI_EXP_DEVCTL_BCR_FLR >> 8)))
		return false;
	b[at - off] &= (uint8_t)~(PCI_EXP_DEVCTL_BCR_FLR >> 8);
	ufd_pci_cfg_read(vdev->pdev, vdev->pcie_cap + PCI_EXP_DEVCAP, 4,
			 &devcap);
	return devcap & PCI_EXP_DEVCAP_FLR;
}

static long config_rw(struct vfio_dev *vdev, const struct ufd_caller *caller,
		      uint64_t buf, uint64_t count, uint64_t off, bool write)
{
	uint64_t size = vdev->info.config_size, done;

	/* vfio_config_do_rw: out of range is -EFAULT. */
	if (off >= size || count > size - off)
		return -EFAULT;
	for (done = 0; done < count;) {
		uint64_t at = off + done, left = count - done;
		unsigned int n = left >= 4 && !(at & 3) ? 4 :
				 left >= 2 && !(at & 1) ? 2 : 1;
		uint8_t b[4];
		uint32_t v = 0;
		int rc;

		if (write) {
			bool flr;

			rc = copy_from_caller(caller, b, buf + done, n);
			if (rc)
				return rc;
			flr = take_flr_bit(vdev, (unsigned int)at, n, b);
			if (!cfg_owned_by_vfio(vdev, (unsigned int)at, n))
				ufd_pci_cfg_write(vdev->pdev, (unsigned int)at,
						  n, bytes_le(b, n));
			if (flr) {
				pthread_mutex_lock(&vdev->lock);
				vfio_dev_reset_keep_state(vdev);
				pthread_mutex_unlock(&vdev->lock);
			}
		} else {
			ufd_pci_cfg_read(vdev->pdev, (unsigned int)at, n, &v);
			le_bytes(b, v, n);
			rc = copy_to_caller(caller, buf + done, b, n);
			if (rc)
				return rc;
		}
		done += n;
	}
	return (long)done;
}

/* ---- BARs -------------------------------------------------------------------------- */

static long bar_rw(struct vfio_dev *vdev, const struct ufd_caller *caller,
		   unsigned int bar, uint64_t buf, uint64_t count, uint64_t off,
		   bool write)
{
	uint64_t size = vdev->info.bar[bar].size, done;
	uint64_t x_start = UINT64_MAX, x_end = UINT64_MAX;

	if (!size || off >= size)
		return -EINVAL;
	if (count > size - off)
		count = size - off;
	if (!vfio_dev_memory_enabled(vdev))
		return -EIO;
	if (vdev->info.msix_vectors && bar == vdev->info.msix_table_bar) {
		x_start = vdev->info.msix_table_offset;
		x_end = x_start + vdev->info.msix_table_size;
	}
	for (done = 0; done < count;) {
		uint64_t at = off + done, left = count - done;
		uint8_t b[8];
		unsigned int n;
		uint64_t v = 0;
		int rc;

		if (at >= x_start && at < x_end) {
			/* The MSI-X table: all-ones, writes dropped. */
			uint64_t fill = x_end - at < left ? x_end - at : left;

			memset(b, 0xff, sizeof(b));
			for (n = 0; !write && n < fill;) {
				unsigned int k = fill - n < 8 ? fill - n : 8;

				rc = copy_to_caller(caller, buf + done + n, b,
						    k);
				if (rc)
					return rc;
				n += k;
			}
			done += fill;
			continue;
		}
		if (at < x_start && x_start - at < left)
			left = x_start - at;
		n = left >= 8 && !(at & 7) ? 8 :
		    left >= 4 && !(at & 3) ? 4 :
		    left >= 2 && !(at & 1) ? 2 : 1;
		if (write) {
			rc = copy_from_caller(caller, b, buf + done, n);
			if (rc)
				return rc;
			v = (uint64_t)bytes_le(b, n < 4 ? n : 4);
			if (n == 8)
				v |= (uint64_t)bytes_le(b + 4, 4) << 32;
			ufd_pci_bar_write(vdev->pdev, bar, at, n, v);
		} else {
			ufd_pci_bar_read(vdev->pdev, bar, at, n, &v);
			le_bytes(b, v, n);
			rc = copy_to_caller(caller, buf + done, b, n);
			if (rc)
				return rc;
		}
		done += n;
	}
	return (long)done;
}

static long device_rw(const struct ufd_file *file,
		      const struct ufd_caller *caller, uint64_t buf,
		      uint64_t count, const uint64_t *pos, bool write)
{
	struct vfio_dfile *df = file->priv;
	struct vfio_dev *vdev = df->vdev;
	uint64_t at = pos ? *pos : __atomic_load_n(&df->f_pos, __ATOMIC_RELAXED);
	unsigned int index = (unsigned int)(at >> VFIO_OFFSET_SHIFT);
	uint64_t off = at & VFIO_OFFSET_MASK;
	long rc;

	if (!dfile_granted(df))
		return -EINVAL;
	if (!count)
		return 0;
	if (at >> VFIO_OFFSET_SHIFT >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	low_power_wake(vdev);
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		rc = config_rw(vdev, caller, buf, count, off, write);
		break;
	case VFIO_PCI_BAR0_REGION_INDEX ... VFIO_PCI_BAR5_REGION_INDEX:
		rc = bar_rw(vdev, caller, index, buf, count, off, write);
		break;
	default:
		/* No ROM (and never writable), no VGA. */
		rc = -EINVAL;
		break;
	}
	if (rc > 0 && !pos)
		__atomic_add_fetch(&df->f_pos, (uint64_t)rc, __ATOMIC_RELAXED);
	return rc;
}

static long device_read(const struct ufd_file *file,
			const struct ufd_caller *caller, uint64_t buf,
			uint64_t count, const uint64_t *pos)
{
	return device_rw(file, caller, buf, count, pos, false);
}

static long device_write(const struct ufd_file *file,
			 const struct ufd_caller *caller, uint64_t buf,
			 uint64_t count, const uint64_t *pos)
{
	return device_rw(file, caller, buf, count, pos, true);
}

/* ---- mmap and the trapped accesses ---------------------------------------------------- */

static int device_mmap(const struct ufd_file *file, uint64_t offset,
		       uint64_t len, int prot, struct ufd_file_mmap *out)
{
	struct vfio_dfile *df = file->priv;
	struct vfio_dev *vdev = df->vdev;
	uint64_t index = offset >> VFIO_OFFSET_SHIFT, start, phys_len;

	if (!dfile_granted(df))
		return -EINVAL;
	if (index >= VFIO_PCI_NUM_REGIONS || index >= VFIO_PCI_ROM_REGION_INDEX ||
	    !bar_mmappable(vdev, (unsigned int)index))
		return -EINVAL;
	if (!len || (offset & (VFIO_PAGE_SIZE - 1)))
		return -EINVAL;
	start = offset & VFIO_OFFSET_MASK;
	phys_len = (vdev->info.bar[index].size + VFIO_PAGE_SIZE - 1) &
		   ~(VFIO_PAGE_SIZE - 1);
	if (start > phys_len || len > phys_len - start)
		return -EINVAL;
	/* Regions are readable and writable: any protection is allowed. */
	out->region = (unsigned int)index;
	out->region_off = start;
	out->trapped = true;
	return 0;
}

static int device_mmio(const struct ufd_file *file, unsigned int region,
		       uint64_t off, unsigned int size, bool write,
		       uint64_t *val)
{
	struct vfio_dfile *df = file->priv;
	struct vfio_dev *vdev = df->vdev;

	if (!dfile_granted(df) || !bar_mmappable(vdev, region))
		return -EINVAL;
	if (off >= vdev->info.bar[region].size ||
	    size > vdev->info.bar[region].size - off)
		return -EINVAL;
	/* The fault handler's SIGBUS: decode off, or in low power. */
	if (low_power(vdev) || !vfio_dev_memory_enabled(vdev))
		return -EIO;
	if (write)
		return ufd_pci_bar_write(vdev->pdev, region, off, size, *val);
	return ufd_pci_bar_read(vdev->pdev, region, off, size, val);
}

/* ---- ioctl --------------------------------------------------------------------------- */

static long device_ioctl(const struct ufd_file *file,
			 const struct ufd_caller *caller, unsigned long cmd,
			 uint64_t arg)
{
	struct vfio_dfile *df = file->priv;
	struct vfio_dev *vdev = df->vdev;
	unsigned int nr = (unsigned int)cmd;

	if (nr == VFIO_DEVICE_BIND_IOMMUFD)
		return dev_bind(df, caller, arg);
	/* vfio_device_fops_unl_ioctl: nothing else before access. */
	if (!dfile_granted(df))
		return -EINVAL;
	low_power_wake(vdev);
	if (!df->from_group) {
		if (nr == VFIO_DEVICE_ATTACH_IOMMUFD_PT)
			return dev_attach_pt(vdev, caller, arg);
		if (nr == VFIO_DEVICE_DETACH_IOMMUFD_PT)
			return dev_detach_pt(vdev, caller, arg);
	}
	switch (nr) {
	case VFIO_DEVICE_FEATURE:
		return dev_feature(vdev, caller, arg);
	case VFIO_DEVICE_GET_INFO:
		return dev_get_info(vdev, caller, arg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return vfio_irq_get_info(vdev, caller, arg);
	case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
		return dev_get_hot_reset_info(df, caller, arg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return dev_get_region_info(vdev, caller, arg);
	case VFIO_DEVICE_PCI_HOT_RESET:
		return dev_hot_reset(df, caller, arg);
	case VFIO_DEVICE_RESET:
		return dev_reset(vdev);
	case VFIO_DEVICE_IOEVENTFD:
		return dev_ioeventfd(vdev, caller, arg);
	case VFIO_DEVICE_SET_IRQS:
		return vfio_irq_set(vdev, caller, arg);
	default:
		return -ENOTTY;
	}
}

static const char *device_ioctl_name(unsigned long cmd)
{
	switch ((unsigned int)cmd) {
	case VFIO_DEVICE_GET_INFO:
		return "VFIO_DEVICE_GET_INFO";
	case VFIO_DEVICE_GET_REGION_INFO:
		return "VFIO_DEVICE_GET_REGION_INFO";
	case VFIO_DEVICE_GET_IRQ_INFO:
		return "VFIO_DEVICE_GET_IRQ_INFO";
	case VFIO_DEVICE_SET_IRQS:
		return "VFIO_DEVICE_SET_IRQS";
	case VFIO_DEVICE_RESET:
		return "VFIO_DEVICE_RESET";
	case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
		return "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO";
	case VFIO_DEVICE_PCI_HOT_RESET:
		return "VFIO_DEVICE_PCI_HOT_RESET";
	case VFIO_DEVICE_QUERY_GFX_PLANE:
		return "VFIO_DEVICE_QUERY_GFX_PLANE";
	case VFIO_DEVICE_GET_GFX_DMABUF:
		return "VFIO_DEVICE_GET_GFX_DMABUF";
	case VFIO_DEVICE_IOEVENTFD:
		return "VFIO_DEVICE_IOEVENTFD";
	case VFIO_DEVICE_FEATURE:
		return "VFIO_DEVICE_FEATURE";
	case VFIO_DEVICE_BIND_IOMMUFD:
		return "VFIO_DEVICE_BIND_IOMMUFD";
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
		return "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
	case VFIO_DEVICE_DETACH_IOMMUFD_PT:
		return "VFIO_DEVICE_DETACH_IOMMUFD_PT";
	case VFIO_MIG_GET_PRECOPY_INFO:
		return "VFIO_MIG_GET_PRECOPY_INFO";
	default:
		return NULL;
	}
}

const struct ufd_file_ops ufd_vfio_device_ops = {
	.name = "vfio-device",
	.seekable = true,
	.open = device_open,
	.mmap = device_mmap,
	.mmio = device_mmio,
	.ioctl = device_ioctl,
	.read = device_read,
	.write = device_write,
	.release = device_release,
	.ioctl_name = device_ioctl_name,
};
