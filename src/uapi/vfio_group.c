// SPDX-License-Identifier: MIT
/*
 * The VFIO group file, /dev/vfio/N (obj_id N): the legacy way to a device
 * (drivers/vfio/group.c).  A group is set into a container, a legacy one
 * (/dev/vfio/vfio) or an iommufd used as one, and hands out device files
 * by device name.
 *
 * The model.  A group is open while its one file is open or device files
 * it made are (in the kernel those hold the group file); opening it again
 * meanwhile is -EBUSY, and so is opening it while one of its devices is
 * bound through its cdev (and that bind while the group is open: the two
 * paths exclude each other).  Its container stays until the group is no
 * longer open, or UNSET_CONTAINER (-EBUSY for a legacy container while
 * its devices are open; an iommufd is simply let go, the open devices
 * keep their own reference).  GET_DEVICE_FD opens the device in the
 * container's context and attaches it to the context's compat IOAS; the
 * first open of a device binds it, later ones share the binding.
 *
 * The device name is read as [arg, arg + len] up to its NUL, at most
 * 4096 bytes, a page at a time.
 *
 * Locking: vfio_priv.h; everything here under the machine lock, with the
 * device's lock inside it for GET_DEVICE_FD.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uapi/vfio_priv.h"

#define NAME_MAX_LEN 4096 /* strndup_user(arg, PAGE_SIZE) */
#define UUID_STRING_LEN 36

static bool group_has_iommu(const struct vfio_group *g)
{
	return g->container || g->iommufd;
}

static void group_drop_container_locked(struct vfio_group *g)
{
	if (g->container) {
		vfio_container_detach_locked(g->container);
		g->container = NULL;
	}
	if (g->iommufd) {
		ufd_ctx_put(g->iommufd);
		g->iommufd = NULL;
	}
}

void vfio_group_dev_file_closed_locked(struct vfio_group *g)
{
	if (!--g->dev_files && !g->file_open)
		group_drop_container_locked(g);
}

static int group_open(struct ufd_file *file, const struct ufd_caller *caller,
		      uint32_t index, int flags)
{
	struct ufd_vfio_machine *m = vfio_machine_get();
	struct vfio_group *g = vfio_group_by_nr(index);
	int rc = 0;

	if (!g)
		return -ENOENT;
	pthread_mutex_lock(&m->lock);
	/* One open group file; none while a device is used as a cdev. */
	if (!vfio_group_present(g))
		rc = -ENOENT; /* its VF was removed since the lookup */
	else if (g->file_open || g->dev_files || g->cdev_users)
		rc = -EBUSY;
	else
		g->file_open = true;
	pthread_mutex_unlock(&m->lock);
	if (!rc)
		file->priv = g;
	return rc;
}

static void group_release(struct ufd_file *file, bool destroy_obj)
{
	struct ufd_vfio_machine *m = vfio_machine_get();
	struct vfio_group *g = file->priv;

	if (!g || !m)
		return;
	pthread_mutex_lock(&m->lock);
	g->file_open = false;
	if (!g->dev_files)
		group_drop_container_locked(g);
	pthread_mutex_unlock(&m->lock);
	file->priv = NULL;
}

static long group_get_status(struct ufd_vfio_machine *m, struct vfio_group *g,
			     const struct ufd_caller *caller, uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_group_status, flags);
	struct vfio_group_status status;
	int rc;

	rc = copy_from_caller(caller, &status, arg, minsz);
	if (rc)
		return rc;
	if (status.argsz < minsz)
		return -EINVAL;
	status.flags = 0;
	pthread_mutex_lock(&m->lock);
	if (group_has_iommu(g))
		status.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET |
				VFIO_GROUP_FLAGS_VIABLE;
	else if (!g->cdev_users) /* no one else owns the group's DMA */
		status.flags |= VFIO_GROUP_FLAGS_VIABLE;
	pthread_mutex_unlock(&m->lock);
	return copy_to_caller(caller, arg, &status, minsz);
}

/* iommufd_vfio_compat_ioas_create(): the compat IOAS, made if none. */
static int compat_ioas_create(struct ufd_ctx *ctx)
{
	uint32_t ioas_id;
	int rc;

	if (!ufd_ctx_get_compat_ioas(ctx, &ioas_id))
		return 0;
	rc = ufd_ioas_alloc(ctx, &ioas_id);
	if (rc)
		return rc;
	rc = ufd_ctx_set_compat_ioas(ctx, ioas_id);
	if (rc)
		ufd_destroy(ctx, ioas_id);
	return rc;
}

static long group_set_container(struct ufd_vfio_machine *m,
				struct vfio_group *g,
				const struct ufd_caller *caller, uint64_t arg)
{
	struct ufd_file f;
	int32_t fd;
	int rc;

	rc = copy_from_caller(caller, &fd, arg, sizeof(fd));
	if (rc)
		return rc;
	rc = caller->ops->resolve_file ?
		     caller->ops->resolve_file(caller, fd, &f) : -EBADF;
	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	if (group_has_iommu(g)) {
		rc = -EINVAL;
	} else if (f.kind == UFD_FD_VFIO_CONTAINER && f.priv) {
		struct vfio_container *c = f.priv;

		/* Attaching to a container with its IOMMU set: nothing to
		 * do, the devices attach to its IOAS when opened. */
		c->refs++;
		c->groups++;
		g->container = c;
	} else if (f.kind == UFD_FD_IOMMUFD && f.ctx) {
		rc = compat_ioas_create(f.ctx);
		if (!rc) {
			ufd_ctx_get(f.ctx);
			g->iommufd = f.ctx;
		}
	} else {
		rc = -EBADFD; /* not a file a group can be set into */
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static long group_unset_container(struct ufd_vfio_machine *m,
				  struct vfio_group *g)
{
	int rc = 0;

	pthread_mutex_lock(&m->lock);
	if (!group_has_iommu(g))
		rc = -EINVAL;
	else if (g->container && g->dev_files)
		rc = -EBUSY; /* container_users != 1 */
	else
		group_drop_container_locked(g);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* strndup_user(arg, PAGE_SIZE), a page at a time. */
static int read_name(const struct ufd_caller *caller, uint64_t arg,
		     char *name)
{
	size_t have = 0;

	while (have < NAME_MAX_LEN) {
		uint64_t at = arg + have;
		size_t n = VFIO_PAGE_SIZE - (at & (VFIO_PAGE_SIZE - 1));
		int rc;

		if (n > NAME_MAX_LEN - have)
			n = NAME_MAX_LEN - have;
		rc = copy_from_caller(caller, name + have, at, n);
		if (rc)
			return rc;
		if (memchr(name + have, '\0', n))
			return 0;
		have += n;
	}
	return -EINVAL;
}

static bool uuid_string_ok(const char *s)
{
	unsigned int i;

	for (i = 0; i < UUID_STRING_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' :
			   !((s[i] >= '0' && s[i] <= '9') ||
			     (s[i] >= 'a' && s[i] <= 'f') ||
			     (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	}
	return true;
}

/*
 * vfio_pci_core_match()'s parsing: 1 if @buf names @vdev ("BDF" or "BDF
 * vf_token=UUID", the token then in @uuid and *@token true), 0 if not,
 * -EINVAL for bad or repeated options.  The token is checked by the
 * caller, under the machine lock.
 */
static int name_match(const struct vfio_dev *vdev, const char *buf,
		      uint8_t uuid[16], bool *token)
{
	size_t len = strlen(vdev->bdf);

	*token = false;
	if (strncmp(vdev->bdf, buf, len))
		return 0;
	buf += len;
	if (*buf && *buf != ' ')
		return 0;
	while (*buf) {
		if (*buf == ' ') {
			buf++;
			continue;
		}
		if (*token || strncmp(buf, "vf_token=", 9))
			return -EINVAL; /* unknown or repeated option */
		buf += 9;
		if (strlen(buf) < UUID_STRING_LEN || !uuid_string_ok(buf) ||
		    !vfio_uuid_parse(buf, uuid))
			return -EINVAL;
		*token = true;
		buf += UUID_STRING_LEN;
	}
	return 1;
}

static long group_get_device_fd(struct ufd_vfio_machine *m,
				struct vfio_group *g,
				const struct ufd_caller *caller, uint64_t arg)
{
	struct vfio_dev *vdev = NULL;
	struct vfio_dfile *df = NULL;
	struct ufd_publish pub;
	struct ufd_ctx *ctx = NULL;
	struct ufd_file file;
	uint8_t uuid[16];
	char *name;
	unsigned int i;
	bool first, token = false;
	int rc, fd;

	name = malloc(NAME_MAX_LEN);
	if (!name)
		return -ENOMEM;
	rc = read_name(caller, arg, name);
	for (i = 0; !rc && i < g->ndevs; i++) {
		rc = name_match(g->devs[i], name, uuid, &token);
		if (rc > 0)
			vdev = g->devs[i];
	}
	free(name);
	if (rc < 0)
		return rc;
	if (!vdev)
		return -ENODEV;

	pthread_mutex_lock(&m->lock);
	rc = vfio_sriov_check_token(vdev, token ? uuid : NULL);
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	if (g->container)
		ctx = g->container->iommu_type ? g->container->ctx : NULL;
	else
		ctx = g->iommufd;
	if (!ctx) {
		/* No container, or a legacy one without its IOMMU set. */
		pthread_mutex_unlock(&m->lock);
		return -EINVAL;
	}
	pthread_mutex_lock(&vdev->lock);
	first = !vdev->open_count;
	ufd_publish_begin(ctx, &pub);
	rc = vfio_dev_open(vdev, ctx, false);
	if (!rc && first) {
		uint32_t ioas_id, pt_id;

		/* The legacy path attaches to the compat IOAS. */
		rc = ufd_ctx_get_compat_ioas(ctx, &ioas_id);
		pt_id = ioas_id;
		if (!rc)
			rc = ufd_device_attach(ctx, vdev->dev_id, &pt_id);
		if (!rc) {
			vdev->attached = true;
			vdev->pt_id = pt_id;
			vdev->pt_asked = ioas_id;
		} else {
			vfio_dev_close(vdev);
		}
	}
	if (!rc) {
		df = vfio_dfile_new(vdev, true);
		if (!df) {
			vfio_dev_close(vdev);
			rc = -ENOMEM;
		}
	}
	if (!rc)
		g->dev_files++;
	/*
	 * No ID of what was made reaches the program (the reply is an fd),
	 * so it is published now, while the device is ours alone: a
	 * concurrent open of the same device must not see it vanish.
	 */
	ufd_publish_end(&pub, !rc);
	pthread_mutex_unlock(&vdev->lock);
	pthread_mutex_unlock(&m->lock);
	if (rc)
		return rc;

	/* The new fd is the reply; without it, the open is undone. */
	memset(&file, 0, sizeof(file));
	file.kind = UFD_FD_VFIO_DEVICE;
	file.obj_id = vdev->cdev_nr;
	file.priv = df;
	fd = caller->ops->make_file ? caller->ops->make_file(caller, &file) :
				      -ENOMEM;
	if (fd < 0) {
		pthread_mutex_lock(&m->lock);
		pthread_mutex_lock(&vdev->lock);
		vfio_dev_close(vdev);
		pthread_mutex_unlock(&vdev->lock);
		vfio_group_dev_file_closed_locked(g);
		pthread_mutex_unlock(&m->lock);
		free(df);
	}
	return fd;
}

static long group_ioctl(const struct ufd_file *file,
			const struct ufd_caller *caller, unsigned long cmd,
			uint64_t arg)
{
	struct ufd_vfio_machine *m = vfio_machine_get();
	struct vfio_group *g = file->priv;

	switch ((unsigned int)cmd) {
	case VFIO_GROUP_GET_DEVICE_FD:
		return group_get_device_fd(m, g, caller, arg);
	case VFIO_GROUP_GET_STATUS:
		return group_get_status(m, g, caller, arg);
	case VFIO_GROUP_SET_CONTAINER:
		return group_set_container(m, g, caller, arg);
	case VFIO_GROUP_UNSET_CONTAINER:
		return group_unset_container(m, g);
	default:
		return -ENOTTY;
	}
}

static const char *group_ioctl_name(unsigned long cmd)
{
	switch ((unsigned int)cmd) {
	case VFIO_GROUP_GET_STATUS:
		return "VFIO_GROUP_GET_STATUS";
	case VFIO_GROUP_SET_CONTAINER:
		return "VFIO_GROUP_SET_CONTAINER";
	case VFIO_GROUP_UNSET_CONTAINER:
		return "VFIO_GROUP_UNSET_CONTAINER";
	case VFIO_GROUP_GET_DEVICE_FD:
		return "VFIO_GROUP_GET_DEVICE_FD";
	default:
		return NULL;
	}
}

const struct ufd_file_ops ufd_vfio_group_ops = {
	.name = "vfio-group",
	.open = group_open,
	.ioctl = group_ioctl,
	.release = group_release,
	.ioctl_name = group_ioctl_name,
};
