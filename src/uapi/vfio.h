/* SPDX-License-Identifier: MIT */
/*
 * The VFIO files (vfio_*.c): the legacy container (/dev/vfio/vfio), the
 * groups (/dev/vfio/N) and the devices (/dev/vfio/devices/vfioM, and the
 * fds a group's GET_DEVICE_FD hands out), each a kind of file with its
 * own ops table beside iommufd's (file.c), over the emulated machine's
 * PCI devices (src/devices/).
 *
 * The machine ("platform") is made once per process that serves the
 * files (the daemon in server mode) from the launcher's device spec.
 */
#ifndef UFD_UAPI_VFIO_H
#define UFD_UAPI_VFIO_H

#include "uapi/dispatch.h"

/* The environment variable the launcher passes the spec in. */
#define UFD_ENV_DEVICE_SPEC "UIOMMUFD_DEVICE_SPEC"

/*
 * Make the machine's devices from @spec ("model;bdf;group;cdev;args"
 * items separated by '|'; NULL or "" for none).  Each device's DMA goes
 * through @eng.  0 or -errno (then no device is made).
 */
int ufd_vfio_platform_setup(struct ufd_engine *eng, const char *spec);
/*
 * The machine as text for people (uiommufd dump): one line per device
 * (model, BDF, group, cdev, whether and how it is open, the device ID it
 * is bound as and the page table it is attached to, its interrupts), one
 * per group (open, container).  Always NUL-terminated within @size;
 * returns the length written (cut at @size - 1).
 */
long ufd_vfio_platform_describe(char *buf, size_t size);

/*
 * What the machine's sysfs shows changes when SR-IOV makes or removes a
 * VF: the hooks that keep a sysfs tree (the launcher's testbed) in step.
 * Called under the machine's lock, before the write of sriov_numvfs that
 * caused them returns; they must not call back into the machine.
 *  vf_add: VF @index of the PF called @pf_bdf now exists as function
 *    @vf_bdf in IOMMU group @group with cdev vfio@cdev; @vf is its
 *    function (config space, BARs) for what the tree shows.  0 or -errno
 *    (the VFs are then not enabled).
 *  vf_remove: that VF is gone.
 *  num_vfs: the PF's sriov_numvfs now reads @num_vfs.
 */
struct ufd_pci_dev;
struct ufd_vfio_sysfs_ops {
	int (*vf_add)(void *arg, const char *pf_bdf, unsigned int index,
		      const char *vf_bdf, unsigned int group,
		      unsigned int cdev, struct ufd_pci_dev *vf);
	void (*vf_remove)(void *arg, const char *pf_bdf, unsigned int index,
			  const char *vf_bdf, unsigned int group,
			  unsigned int cdev);
	void (*num_vfs)(void *arg, const char *pf_bdf, unsigned int num_vfs);
};

/* Set the hooks (before ufd_vfio_platform_setup; NULL: none). */
void ufd_vfio_platform_set_sysfs(const struct ufd_vfio_sysfs_ops *ops,
				 void *arg);

/*
 * The number a sysfs file of function DDDD:BB:DD.F is opened with
 * (UFD_FD_SRIOV_NUMVFS's index): segment << 16 | bus << 8 | devfn.
 */
static inline uint32_t ufd_vfio_routing_index(unsigned int segment,
					      unsigned int bus,
					      unsigned int devfn)
{
	return (uint32_t)segment << 16 | (bus & 0xff) << 8 | (devfn & 0xff);
}

/* Tear the machine down (tests; the daemon just exits). */
void ufd_vfio_platform_teardown(void);

extern const struct ufd_file_ops ufd_vfio_container_ops;
extern const struct ufd_file_ops ufd_vfio_group_ops;
extern const struct ufd_file_ops ufd_vfio_device_ops;
extern const struct ufd_file_ops ufd_vfio_sriov_numvfs_ops;

#endif
