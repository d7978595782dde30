/* SPDX-License-Identifier: MIT */
/*
 * The sysfs a program under the launcher sees for its emulated PCI
 * devices (testbed.c): a directory tree in the shape of the kernel's
 * /sys, which libumockdev's preload library shows the program in place of
 * the real /sys (UMOCKDEV_DIR).  Only what the tree holds is redirected;
 * every other path reaches the real file system.
 *
 * Per device, as the kernel lays it out for a PCI function bound to
 * vfio-pci in IOMMU group N with VFIO cdev vfioM:
 *   sys/devices/pci0000:00/BDF/{vendor,device,subsystem_vendor,
 *       subsystem_device,class,revision,numa_node,irq,resource,config,
 *       uevent,modalias,enable,driver_override}
 *   sys/devices/pci0000:00/BDF/driver -> ../../../bus/pci/drivers/vfio-pci
 *   sys/devices/pci0000:00/BDF/iommu_group -> ../../../kernel/iommu_groups/N
 *   sys/devices/pci0000:00/BDF/vfio-dev/vfioM/{dev,uevent}
 *   sys/bus/pci/devices/BDF -> ../../../devices/pci0000:00/BDF
 *   sys/bus/pci/drivers/vfio-pci/BDF -> (the device)
 *   sys/kernel/iommu_groups/N/devices/BDF -> (the device)
 *   sys/class/vfio-dev/vfioM -> (the device's vfio-dev/vfioM)
 * and for a physical function with SR-IOV:
 *   sys/devices/pci0000:00/BDF/{sriov_totalvfs,sriov_numvfs,sriov_offset,
 *       sriov_stride,sriov_vf_device,sriov_drivers_autoprobe}
 *   sys/devices/pci0000:00/BDF/virtfnN -> ../VF_BDF (while VF N exists)
 *   sys/devices/pci0000:00/VF_BDF/physfn -> ../BDF
 * Locking: none.  Built by the launcher before the program starts; the
 * VF calls come from the daemon's threads under the VFIO machine's lock,
 * which serialises them.
 */
#ifndef UFD_LAUNCHER_TESTBED_H
#define UFD_LAUNCHER_TESTBED_H

#include <stddef.h>
#include <stdint.h>

#define UFD_TESTBED_MAX_BARS 6

struct ufd_testbed_dev {
	char bdf[16];             /* "0000:00:04.0" */
	unsigned int group;       /* IOMMU group number (/dev/vfio/N) */
	unsigned int cdev;        /* VFIO cdev number (/dev/vfio/devices/vfioM) */
	uint16_t vendor, device, subsystem_vendor, subsystem_device;
	uint32_t class_code;      /* 24 bits: base, sub, prog-if */
	uint8_t revision;
	uint8_t config[256];      /* config space at power-on */
	struct {
		uint64_t start, size; /* size 0: no BAR */
		uint64_t flags;       /* IORESOURCE_* as the kernel prints */
	} bar[UFD_TESTBED_MAX_BARS];
	/* SR-IOV (a PF's capability): 0 TotalVFs for none. */
	unsigned int sriov_total_vfs;
	unsigned int sriov_offset, sriov_stride;
	uint16_t sriov_vf_device;
};

/*
 * Make the tree for @devs in a new directory under $TMPDIR (or /tmp),
 * whose path goes to @dir.  0 or -errno (nothing left behind on failure).
 */
int ufd_testbed_create(const struct ufd_testbed_dev *devs, unsigned int n,
		       char *dir, size_t size);

/*
 * VF @index of PF @pf_bdf appears (@vf, made as a device of its own, and
 * the physfn and virtfnN links) or goes; the PF's sriov_numvfs reads
 * @num_vfs.  0 or -errno (add: nothing left behind on failure).
 */
int ufd_testbed_add_vf(const char *dir, const char *pf_bdf,
		       unsigned int index, const struct ufd_testbed_dev *vf);
void ufd_testbed_remove_vf(const char *dir, const char *pf_bdf,
			   unsigned int index, const char *vf_bdf,
			   unsigned int group, unsigned int cdev);
int ufd_testbed_set_num_vfs(const char *dir, const char *pf_bdf,
			    unsigned int num_vfs);

/* Remove a tree ufd_testbed_create() made. */
void ufd_testbed_remove(const char *dir);

/* The VFIO cdev major number the tree reports (dynamic on real kernels). */
#define UFD_TESTBED_VFIO_CDEV_MAJOR 511

#endif
