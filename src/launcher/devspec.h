/* SPDX-License-Identifier: MIT */
/*
 * The launcher's --device options (devspec.c): MODEL[,bdf=D:B:D.F]
 * [,group=N][,MODEL-ARGS], repeatable.  Devices get, in order, the BDFs
 * 0000:00:04.0, 0000:00:05.0, ... unless told, each its own IOMMU group
 * (the lowest number not taken) unless told, and VFIO cdevs vfio0,
 * vfio1, ... in order.  No locking: the launcher's main thread only.
 */
#ifndef UFD_LAUNCHER_DEVSPEC_H
#define UFD_LAUNCHER_DEVSPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "launcher/testbed.h"

#define UFD_MAX_DEVICES 32

struct ufd_devspec {
	char model[32];
	char args[256];          /* what the model gets, "" for none */
	char bdf[16];            /* "" until assigned */
	int group;               /* -1 until assigned */
	unsigned int cdev;
};

struct ufd_devspecs {
	struct ufd_devspec dev[UFD_MAX_DEVICES];
	unsigned int n;
};

/*
 * Add the device of one --device argument.  false, with a message in
 * @err, for an unknown model, a malformed or duplicate BDF, too many.
 */
bool ufd_devspec_add(struct ufd_devspecs *s, const char *arg, char *err,
		     size_t errlen);

/* Assign what was not given (BDFs, groups, cdevs).  false on a clash. */
bool ufd_devspec_finish(struct ufd_devspecs *s, char *err, size_t errlen);

/* "BDF BDF ..." for UIOMMUFD_DEVICES; malloc'ed, NULL on ENOMEM. */
char *ufd_devspec_bdfs(const struct ufd_devspecs *s);

/* "model;bdf;group;cdev;args|..." for the daemon; malloc'ed. */
char *ufd_devspec_encode(const struct ufd_devspecs *s);

/*
 * What the sysfs tree shows of function @pdev called @bdf, in IOMMU group
 * @group with cdev @cdev, its BARs placed downwards from @addr_top.
 */
struct ufd_pci_dev;
void ufd_devspec_describe(struct ufd_pci_dev *pdev, const char *bdf,
			  unsigned int group, unsigned int cdev,
			  uint64_t addr_top, struct ufd_testbed_dev *out);

/* What the sysfs tree shows of device @i (an instance is made to ask). */
int ufd_devspec_testbed(const struct ufd_devspecs *s, unsigned int i,
			struct ufd_testbed_dev *out);

#endif
