// SPDX-License-Identifier: MIT
/*
 * The emulated devices' sysfs, as a directory tree for libumockdev
 * (testbed.h has the layout).  Files hold what the kernel prints, with the
 * same formats ("0x8086\n", resource lines of three 0x%016llx fields).
 * The tree is the launcher's: made before the program starts, removed
 * after it ends.  No locking.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launcher/testbed.h"

/* mkdir -p of @root/@rel. */
static int mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX];
	size_t i, n;

	n = (size_t)snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	for (i = strlen(root) + 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != 0)
			continue;
		path[i] = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		if (i != n)
			path[i] = '/';
	}
	return 0;
}

__attribute__((format(printf, 3, 4)))
static int put_file(const char *root, const char *rel, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "we");
	if (!f)
		return -errno;
	va_start(ap, fmt);
	rc = vfprintf(f, fmt, ap) < 0 ? -EIO : 0;
	va_end(ap);
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

static int put_bytes(const char *root, const char *rel, const void *buf,
		     size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	int rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fwrite(buf, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

static int put_link(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if (symlink(target, path) && errno != EEXIST)
		return -errno;
	return 0;
}

static int make_device(const char *root, const struct ufd_testbed_dev *d)
{
	char dev[128], rel[256], tgt[256], res[7 * 64 + 1];
	size_t off = 0;
	unsigned int i;
	int rc;

	snprintf(dev, sizeof(dev), "sys/devices/pci0000:00/%s", d->bdf);
	snprintf(rel, sizeof(rel), "%s/vfio-dev/vfio%u", dev, d->cdev);
	rc = mkdirs(root, rel);
	if (!rc) {
		snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/devices",
			 d->group);
		rc = mkdirs(root, rel);
	}
	if (!rc)
		rc = mkdirs(root, "sys/bus/pci/devices");
	if (!rc)
		rc = mkdirs(root, "sys/bus/pci/drivers/vfio-pci");
	if (!rc)
		rc = mkdirs(root, "sys/class/vfio-dev");
	if (rc)
		return rc;

#define FILE_OF(name, ...)                                                  \
	do {                                                                \
		snprintf(rel, sizeof(rel), "%s/%s", dev, name);             \
		rc = put_file(root, rel, __VA_ARGS__);                      \
		if (rc)                                                     \
			return rc;                                          \
	} while (0)

	FILE_OF("vendor", "0x%04x\n", d->vendor);
	FILE_OF("device", "0x%04x\n", d->device);
	FILE_OF("subsystem_vendor", "0x%04x\n", d->subsystem_vendor);
	FILE_OF("subsystem_device", "0x%04x\n", d->subsystem_device);
	FILE_OF("class", "0x%06x\n", d->class_code & 0xffffff);
	FILE_OF("revision", "0x%02x\n", d->revision);
	FILE_OF("numa_node", "-1\n");
	FILE_OF("irq", "0\n");
	FILE_OF("enable", "1\n");
	FILE_OF("driver_override", "(null)\n");
	FILE_OF("modalias", "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n",
		d->vendor, d->device, d->subsystem_vendor,
		d->subsystem_device, (d->class_code >> 16) & 0xff,
		(d->class_code >> 8) & 0xff, d->class_code & 0xff);
	FILE_OF("uevent",
		"DRIVER=vfio-pci\nPCI_CLASS=%X\nPCI_ID=%04X:%04X\n"
		"PCI_SUBSYS_ID=%04X:%04X\nPCI_SLOT_NAME=%s\n",
		d->class_code & 0xffffff, d->vendor, d->device,
		d->subsystem_vendor, d->subsystem_device, d->bdf);
	/* Six BARs, the ROM, as the kernel prints start, end, flags. */
	for (i = 0; i < 7; i++) {
		uint64_t start = 0, end = 0, flags = 0;

		if (i < UFD_TESTBED_MAX_BARS && d->bar[i].size) {
			start = d->bar[i].start;
			end = start + d->bar[i].size - 1;
			flags = d->bar[i].flags;
		}
		off += (size_t)snprintf(res + off, sizeof(res) - off,
					"0x%016llx 0x%016llx 0x%016llx\n",
					(unsigned long long)start,
					(unsigned long long)end,
					(unsigned long long)flags);
	}
	FILE_OF("resource", "%s", res);
	if (d->sriov_total_vfs) {
		FILE_OF("sriov_totalvfs", "%u\n", d->sriov_total_vfs);
		FILE_OF("sriov_numvfs", "0\n");
		FILE_OF("sriov_offset", "%u\n", d->sriov_offset);
		FILE_OF("sriov_stride", "%u\n", d->sriov_stride);
		FILE_OF("sriov_vf_device", "%x\n", d->sriov_vf_device);
		FILE_OF("sriov_drivers_autoprobe", "1\n");
	}
#undef FILE_OF
	snprintf(rel, sizeof(rel), "%s/config", dev);
	rc = put_bytes(root, rel, d->config, sizeof(d->config));
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "%s/vfio-dev/vfio%u/dev", dev, d->cdev);
	rc = put_file(root, rel, "%u:%u\n", UFD_TESTBED_VFIO_CDEV_MAJOR,
		      d->cdev);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "%s/vfio-dev/vfio%u/uevent", dev, d->cdev);
	rc = put_file(root, rel, "MAJOR=%u\nMINOR=%u\nDEVNAME=vfio/devices/vfio%u\n",
		      UFD_TESTBED_VFIO_CDEV_MAJOR, d->cdev, d->cdev);
	if (rc)
		return rc;

	snprintf(rel, sizeof(rel), "%s/driver", dev);
	rc = put_link(root, rel, "../../../bus/pci/drivers/vfio-pci");
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "%s/iommu_group", dev);
	snprintf(tgt, sizeof(tgt), "../../../kernel/iommu_groups/%u",
		 d->group);
	rc = put_link(root, rel, tgt);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "sys/bus/pci/devices/%s", d->bdf);
	snprintf(tgt, sizeof(tgt), "../../../devices/pci0000:00/%s", d->bdf);
	rc = put_link(root, rel, tgt);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "sys/bus/pci/drivers/vfio-pci/%s", d->bdf);
	snprintf(tgt, sizeof(tgt), "../../../../devices/pci0000:00/%s",
		 d->bdf);
	rc = put_link(root, rel, tgt);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u/devices/%s",
		 d->group, d->bdf);
	rc = put_link(root, rel, tgt);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "sys/class/vfio-dev/vfio%u", d->cdev);
	snprintf(tgt, sizeof(tgt), "../../devices/pci0000:00/%s/vfio-dev/vfio%u",
		 d->bdf, d->cdev);
	return put_link(root, rel, tgt);
}

int ufd_testbed_create(const struct ufd_testbed_dev *devs, unsigned int n,
		       char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	unsigned int i;
	int rc = 0;

	if ((size_t)snprintf(dir, size, "%s/uiommufd-sys-XXXXXX",
			     tmp && *tmp ? tmp : "/tmp") >= size)
		return -ENAMETOOLONG;
	if (!mkdtemp(dir))
		return -errno;
	for (i = 0; i < n && !rc; i++)
		rc = make_device(dir, &devs[i]);
	if (rc)
		ufd_testbed_remove(dir);
	return rc;
}

int ufd_testbed_set_num_vfs(const char *dir, const char *pf_bdf,
			    unsigned int num_vfs)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/sriov_numvfs",
		 pf_bdf);
	return put_file(dir, rel, "%u\n", num_vfs);
}

/* unlink @dir/@fmt..., ignoring what is not there. */
__attribute__((format(printf, 2, 3)))
static void unlink_rel(const char *dir, const char *fmt, ...)
{
	char rel[256], path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) <
	    sizeof(path))
		unlink(path);
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw);

/* rm -r of @dir/@rel. */
static void remove_tree(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) <
	    sizeof(path))
		nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void ufd_testbed_remove_vf(const char *dir, const char *pf_bdf,
			   unsigned int index, const char *vf_bdf,
			   unsigned int group, unsigned int cdev)
{
	char rel[128];

	unlink_rel(dir, "sys/devices/pci0000:00/%s/virtfn%u", pf_bdf, index);
	unlink_rel(dir, "sys/class/vfio-dev/vfio%u", cdev);
	unlink_rel(dir, "sys/bus/pci/drivers/vfio-pci/%s", vf_bdf);
	unlink_rel(dir, "sys/bus/pci/devices/%s", vf_bdf);
	snprintf(rel, sizeof(rel), "sys/kernel/iommu_groups/%u", group);
	remove_tree(dir, rel);
	snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s", vf_bdf);
	remove_tree(dir, rel);
}

int ufd_testbed_add_vf(const char *dir, const char *pf_bdf,
		       unsigned int index, const struct ufd_testbed_dev *vf)
{
	char rel[128], tgt[64];
	int rc;

	rc = make_device(dir, vf);
	if (!rc) {
		snprintf(rel, sizeof(rel), "sys/devices/pci0000:00/%s/physfn",
			 vf->bdf);
		snprintf(tgt, sizeof(tgt), "../%s", pf_bdf);
		rc = put_link(dir, rel, tgt);
	}
	if (!rc) {
		snprintf(rel, sizeof(rel),
			 "sys/devices/pci0000:00/%s/virtfn%u", pf_bdf, index);
		snprintf(tgt, sizeof(tgt), "../%s", vf->bdf);
		rc = put_link(dir, rel, tgt);
	}
	if (rc)
		ufd_testbed_remove_vf(dir, pf_bdf, index, vf->bdf, vf->group,
				      vf->cdev);
	return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void ufd_testbed_remove(const char *dir)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
