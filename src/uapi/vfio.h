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

/* Tear the machine down (tests; the daemon just exits). */
void ufd_vfio_platform_teardown(void);

extern const struct ufd_file_ops ufd_vfio_container_ops;
extern const struct ufd_file_ops ufd_vfio_group_ops;
extern const struct ufd_file_ops ufd_vfio_device_ops;

#endif
