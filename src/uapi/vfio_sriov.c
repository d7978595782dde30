// SPDX-License-Identifier: MIT
/*
 * SR-IOV on the emulated machine: a physical function's sriov_numvfs file
 * in sysfs, which makes and removes its virtual functions, and the VF
 * token, the UUID through which vfio-pci makes the users of a PF and of
 * its VFs show that they cooperate.
 *
 * The model.  A PF whose function has an SR-IOV capability got TotalVFs
 * slots at setup (vfio_platform.c), each with its BDF (the PF's routing
 * ID + First VF Offset + n * VF Stride), IOMMU group and cdev number.
 * Writing N to sriov_numvfs does what the kernel's sriov_numvfs_store and
 * vfio-pci's sriov_configure do: N > TotalVFs is -ERANGE, N equal to what
 * is enabled changes nothing, N > 0 while VFs are enabled is -EBUSY (the
 * kernel wants 0 first), N > 0 programs the capability and makes VFs
 * 0..N-1, each bound to vfio-pci, 0 removes them.  Where the kernel would
 * wait for a VF's user to let go (vfio's device release request), the
 * write fails with -EBUSY while any file of a VF or of its group is open.
 * The sysfs tree follows through the platform's hooks before the write
 * returns.
 *
 * The token (vfio_pci_validate_vf_token): every PF with SR-IOV has one,
 * all zeros at first, kept across the PF's close.  Opening a VF needs it
 * (-EACCES without it or with another); opening the PF needs it while a
 * VF is open, and otherwise a token given with the PF's open becomes the
 * new one; VFIO_DEVICE_FEATURE_PCI_VF_TOKEN sets it (SET only: reading a
 * token back would show it to the next user).  A token given for a
 * function that is neither is -EINVAL.
 *
 * Locking: everything here under the machine lock (vfio_priv.h), which
 * the sysfs write holds while it makes or removes VFs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uapi/vfio_priv.h"

/* ---- the VF token ----------------------------------------------------------- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool vfio_uuid_parse(const char *s, uint8_t uuid[16])
{
	unsigned int i, n = 0;

	for (i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		int hi, lo;

		if (dash) {
			if (s[i] != '-')
				return false;
			continue;
		}
		hi = hex_digit(s[i]);
		lo = hi < 0 ? -1 : hex_digit(s[i + 1]);
		if (lo < 0)
			return false;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return n == 16;
}

int vfio_sriov_check_token(struct vfio_dev *vdev, const uint8_t *uuid)
{
	struct vfio_dev *pf = vdev->pf;

	if (pf) {
		/* The PF is always bound to (our) vfio-pci. */
		if (!uuid || memcmp(uuid, pf->vf_token, sizeof(pf->vf_token)))
			return -EACCES;
		return 0;
	}
	if (vdev->total_vfs) {
		if (vdev->vf_token_users) {
			if (!uuid || memcmp(uuid, vdev->vf_token,
					    sizeof(vdev->vf_token)))
				return -EACCES;
		} else if (uuid) {
			memcpy(vdev->vf_token, uuid, sizeof(vdev->vf_token));
		}
		return 0;
	}
	return uuid ? -EINVAL : 0;
}

long vfio_sriov_feature_token(struct vfio_dev *vdev,
			      const struct ufd_caller *caller, uint32_t flags,
			      uint64_t data, size_t argsz)
{
	struct ufd_vfio_machine *m = vdev->m;
	uint8_t uuid[16];
	int rc;

	if (!vdev->total_vfs)
		return -ENOTTY;
	/* vfio_check_feature(flags, argsz, SET, sizeof(uuid)). */
	if (flags & VFIO_DEVICE_FEATURE_GET)
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (!(flags & VFIO_DEVICE_FEATURE_SET) || argsz < sizeof(uuid))
		return -EINVAL;
	rc = copy_from_caller(caller, uuid, data, sizeof(uuid));
	if (rc)
		return rc;
	pthread_mutex_lock(&m->lock);
	memcpy(vdev->vf_token, uuid, sizeof(uuid));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void vfio_sriov_opened(struct vfio_dev *vdev)
{
	if (vdev->pf)
		vdev->pf->vf_token_users++;
}

void vfio_sriov_closed(struct vfio_dev *vdev)
{
	if (vdev->pf && vdev->pf->vf_token_users)
		vdev->pf->vf_token_users--;
}

/* ---- making and removing VFs ---------------------------------------------- */

/* Is anything of VF @vf open: a device file, its group's file? */
static bool vf_busy(const struct vfio_dev *vf)
{
	return vf->open_count || vf->cdev_files || vf->group->file_open ||
	       vf->group->dev_files;
}

static void vfs_remove_locked(struct vfio_dev *pf, unsigned int from)
{
	const struct ufd_vfio_sysfs_ops *ops;
	void *arg;
	unsigned int i;

	ops = vfio_sysfs_ops(&arg);
	for (i = pf->num_vfs; i-- > from;) {
		struct vfio_dev *vf = &pf->vfs[i];

		if (ops && ops->vf_remove)
			ops->vf_remove(arg, pf->bdf, i, vf->bdf, vf->group->nr,
				       vf->cdev_nr);
		vfio_dev_vf_unmake(vf);
	}
	pf->num_vfs = from;
}

/* sriov_numvfs_store() and vfio_pci_core_sriov_configure(), m->lock. */
static int set_num_vfs_locked(struct vfio_dev *pf, unsigned int n)
{
	const struct ufd_vfio_sysfs_ops *ops;
	void *arg;
	unsigned int i;
	int rc;

	if (n > pf->total_vfs)
		return -ERANGE;
	if (n == pf->num_vfs)
		return 0;
	if (n && pf->num_vfs)
		return -EBUSY; /* "VFs already enabled. Disable before ..." */
	ops = vfio_sysfs_ops(&arg);
	if (!n) {
		for (i = 0; i < pf->num_vfs; i++)
			if (vf_busy(&pf->vfs[i]))
				return -EBUSY;
		vfs_remove_locked(pf, 0);
		ufd_pci_sriov_set_num_vfs(pf->pdev, 0);
		if (ops && ops->num_vfs)
			ops->num_vfs(arg, pf->bdf, 0);
		return 0;
	}
	rc = ufd_pci_sriov_set_num_vfs(pf->pdev, n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		struct vfio_dev *vf = &pf->vfs[i];

		rc = vfio_dev_vf_make(vf);
		if (!rc && ops && ops->vf_add) {
			rc = ops->vf_add(arg, pf->bdf, i, vf->bdf,
					 vf->group->nr, vf->cdev_nr, vf->pdev);
			if (rc)
				vfio_dev_vf_unmake(vf);
		}
		if (rc)
			break;
		pf->num_vfs = i + 1;
	}
	if (rc) {
		vfs_remove_locked(pf, 0);
		ufd_pci_sriov_set_num_vfs(pf->pdev, 0);
		return rc;
	}
	if (ops && ops->num_vfs)
		ops->num_vfs(arg, pf->bdf, n);
	return 0;
}

/* ---- the sysfs file ----------------------------------------------------------- */

/* The file's state (file->priv), shared by its dups. */
struct numvfs_file {
	struct vfio_dev *pf;
	uint64_t f_pos;
};

static struct vfio_dev *pf_by_routing(uint32_t index)
{
	struct ufd_vfio_machine *m = vfio_machine_get();
	unsigned int i;

	for (i = 0; m && i < m->ndevs; i++) {
		struct vfio_dev *v = &m->devs[i];

		if (v->total_vfs &&
		    ufd_vfio_routing_index(v->segment, v->bus, v->devfn) ==
			    index)
			return v;
	}
	return NULL;
}

static int numvfs_open(struct ufd_file *file, const struct ufd_caller *caller,
		       uint32_t index, int flags)
{
	struct vfio_dev *pf = pf_by_routing(index);
	struct numvfs_file *nf;

	if (!pf)
		return -ENOENT;
	nf = calloc(1, sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	nf->pf = pf;
	file->priv = nf;
	return 0;
}

static void numvfs_release(struct ufd_file *file, bool destroy_obj)
{
	free(file->priv);
	file->priv = NULL;
}

/* sysfs: the attribute's text, read from @pos (or the file position). */
static long numvfs_read(const struct ufd_file *file,
			const struct ufd_caller *caller, uint64_t buf,
			uint64_t count, const uint64_t *pos)
{
	struct numvfs_file *nf = file->priv;
	struct ufd_vfio_machine *m = nf->pf->m;
	uint64_t at;
	char text[16];
	size_t len;
	int rc;

	pthread_mutex_lock(&m->lock);
	len = (size_t)snprintf(text, sizeof(text), "%u\n", nf->pf->num_vfs);
	at = pos ? *pos : nf->f_pos;
	if (at >= len) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	if (count > len - at)
		count = len - at;
	rc = copy_to_caller(caller, buf, text + at, (size_t)count);
	if (!rc && !pos)
		nf->f_pos = at + count;
	pthread_mutex_unlock(&m->lock);
	return rc ? rc : (long)count;
}

/* kstrtou16(): decimal (or 0x hex, 0 octal), one trailing newline. */
static bool parse_u16(const char *s, size_t len, unsigned int *out)
{
	unsigned int base = 10, v = 0;
	size_t i = 0;

	if (len && s[len - 1] == '\n')
		len--;
	if (i < len && s[i] == '+')
		i++;
	if (len - i >= 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		base = 16;
		i += 2;
	} else if (len - i >= 2 && s[i] == '0') {
		base = 8;
		i++;
	}
	if (i >= len)
		return false;
	for (; i < len; i++) {
		int d = hex_digit(s[i]);

		if (d < 0 || (unsigned int)d >= base)
			return false;
		v = v * base + (unsigned int)d;
		if (v > 0xffff)
			return false;
	}
	*out = v;
	return true;
}

static long numvfs_write(const struct ufd_file *file,
			 const struct ufd_caller *caller, uint64_t buf,
			 uint64_t count, const uint64_t *pos)
{
	struct numvfs_file *nf = file->priv;
	struct vfio_dev *pf = nf->pf;
	struct ufd_vfio_machine *m = pf->m;
	char text[32];
	unsigned int n;
	int rc;

	/* sysfs hands the store at most a page; a number fits in 32. */
	if (count >= sizeof(text))
		return -EINVAL;
	rc = copy_from_caller(caller, text, buf, (size_t)count);
	if (rc)
		return rc;
	if (!parse_u16(text, (size_t)count, &n))
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = set_num_vfs_locked(pf, n);
	pthread_mutex_unlock(&m->lock);
	return rc ? rc : (long)count;
}

const struct ufd_file_ops ufd_vfio_sriov_numvfs_ops = {
	.name = "sriov_numvfs",
	.seekable = true,
	.open = numvfs_open,
	.read = numvfs_read,
	.write = numvfs_write,
	.release = numvfs_release,
};
