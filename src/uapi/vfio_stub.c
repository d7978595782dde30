// SPDX-License-Identifier: MIT
/*
 * Placeholder for the VFIO files until vfio_container.c, vfio_group.c and
 * vfio_device.c land: no device exists, every VFIO node is absent.
 */
#include <errno.h>

#include "uapi/vfio.h"

int ufd_vfio_platform_setup(struct ufd_engine *eng, const char *spec)
{
	return 0; /* no device is made: every node is absent */
}

void ufd_vfio_platform_teardown(void)
{
}

static int vfio_absent_open(struct ufd_file *file,
			    const struct ufd_caller *caller, uint32_t index,
			    int flags)
{
	return -ENOENT;
}

const struct ufd_file_ops ufd_vfio_container_ops = {
	.name = "vfio-container",
	.open = vfio_absent_open,
};

const struct ufd_file_ops ufd_vfio_group_ops = {
	.name = "vfio-group",
	.open = vfio_absent_open,
};

const struct ufd_file_ops ufd_vfio_device_ops = {
	.name = "vfio-device",
	.open = vfio_absent_open,
};
