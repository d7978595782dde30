// SPDX-License-Identifier: MIT
/*
 * Interrupts of a VFIO device: GET_IRQ_INFO, SET_IRQS and the delivery of
 * the model's interrupts into the program's eventfds, as vfio-pci's
 * vfio_pci_intrs.c does.
 *
 * The model.  At most one of INTx, MSI and MSI-X is enabled (irq_type);
 * an enabled MSI or MSI-X index has nvec vectors [0, nvec - 1], each with
 * an eventfd (ours, taken from the caller with take_fd) or -1.  INTx has
 * efds[0] and a mask: the device's rising edge, when INTx is enabled with
 * an eventfd and unmasked, signals it and masks (AUTOMASKED); while masked
 * the line stays asserted in the model, and UNMASK signals again at once
 * if it still is (the interrupt was pending).  ERR and REQ have one
 * eventfd each, which only SET_IRQS's loopback triggers signal here.
 * MSI-X grows on demand like on an x86 host (dynamic MSI-X, no NORESIZE):
 * an eventfd for a vector past nvec enables it; MSI cannot.
 *
 * Every eventfd a call would install is taken and checked before anything
 * changes, so a failed SET_IRQS leaves the configuration as it was.
 *
 * Locking: configuration changes hold vdev->lock (the kernel's igate) and
 * take irq_lock only around the table; delivery (the model's threads)
 * takes irq_lock alone and writes the eventfd under it, so a replaced or
 * disabled eventfd is never written after it was closed.  No ufd_pci_*
 * call is made with irq_lock held (they may deliver interrupts).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "uapi/vfio_priv.h"

unsigned int vfio_irq_count(const struct vfio_dev *vdev, unsigned int index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return vdev->info.intx_pin ? 1 : 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return vdev->info.msi_vectors;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return vdev->info.msix_vectors;
	case VFIO_PCI_ERR_IRQ_INDEX:
		return vdev->pcie_cap ? 1 : 0;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	default:
		return 0;
	}
}

long vfio_irq_get_info(struct vfio_dev *vdev, const struct ufd_caller *caller,
		       uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;
	int rc;

	rc = copy_from_caller(caller, &info, arg, minsz);
	if (rc)
		return rc;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	if (info.index == VFIO_PCI_ERR_IRQ_INDEX && !vdev->pcie_cap)
		return -EINVAL;
	info.flags = VFIO_IRQ_INFO_EVENTFD;
	info.count = vfio_irq_count(vdev, info.index);
	if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
		info.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	else if (info.index != VFIO_PCI_MSIX_IRQ_INDEX)
		info.flags |= VFIO_IRQ_INFO_NORESIZE;
	return copy_to_caller(caller, arg, &info, minsz);
}

/* ---- delivery ---------------------------------------------------------- */

void vfio_irq_deliver(void *host, unsigned int index, unsigned int vector)
{
	struct vfio_dev *vdev = host;

	pthread_mutex_lock(&vdev->irq_lock);
	if (index == VFIO_PCI_INTX_IRQ_INDEX) {
		vdev->intx_edges++;
		if (vdev->irq_type == index && !vdev->intx_masked &&
		    vdev->efds[0] >= 0) {
			vdev->intx_masked = true;
			vfio_signal_eventfd(vdev->efds[0]);
		}
	} else if (vdev->irq_type == index && vector < vdev->nvec) {
		vfio_signal_eventfd(vdev->efds[vector]);
	}
	pthread_mutex_unlock(&vdev->irq_lock);
}

/* ---- INTx -------------------------------------------------------------- */

static void intx_mask(struct vfio_dev *vdev)
{
	pthread_mutex_lock(&vdev->irq_lock);
	vdev->intx_masked = true;
	pthread_mutex_unlock(&vdev->irq_lock);
}

/*
 * Unmask; if the device still asserts the line (or raised it meanwhile)
 * the interrupt is sent again and stays masked, as vfio's
 * pci_check_and_unmask_intx() path does.
 */
static void intx_unmask(struct vfio_dev *vdev)
{
	uint64_t edges;
	bool asserted;

	pthread_mutex_lock(&vdev->irq_lock);
	if (vdev->irq_type != VFIO_PCI_INTX_IRQ_INDEX || !vdev->intx_masked) {
		pthread_mutex_unlock(&vdev->irq_lock);
		return;
	}
	edges = vdev->intx_edges;
	pthread_mutex_unlock(&vdev->irq_lock);
	asserted = ufd_pci_intx_asserted(vdev->pdev);
	pthread_mutex_lock(&vdev->irq_lock);
	if (vdev->irq_type == VFIO_PCI_INTX_IRQ_INDEX && vdev->intx_masked) {
		if ((asserted || edges != vdev->intx_edges) &&
		    vdev->efds[0] >= 0)
			vfio_signal_eventfd(vdev->efds[0]);
		else
			vdev->intx_masked = false;
	}
	pthread_mutex_unlock(&vdev->irq_lock);
}

/* Replace INTx's eventfd (-1: none) and give the old one back to close. */
static int intx_swap(struct vfio_dev *vdev, int efd)
{
	int old;

	pthread_mutex_lock(&vdev->irq_lock);
	old = vdev->efds[0];
	vdev->efds[0] = efd;
	pthread_mutex_unlock(&vdev->irq_lock);
	return old;
}

static void intx_disable(struct vfio_dev *vdev)
{
	int old;

	pthread_mutex_lock(&vdev->irq_lock);
	old = vdev->efds[0];
	vdev->efds[0] = -1;
	vdev->irq_type = VFIO_PCI_NUM_IRQS;
	vdev->intx_masked = false;
	pthread_mutex_unlock(&vdev->irq_lock);
	if (old >= 0)
		close(old);
}

static int set_intx_mask(struct vfio_dev *vdev, unsigned int start,
			 unsigned int count, uint32_t flags, const uint8_t *data)
{
	if (vdev->irq_type != VFIO_PCI_INTX_IRQ_INDEX || start || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE)
		intx_mask(vdev);
	else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (data[0])
			intx_mask(vdev);
	} else
		return -ENOTTY; /* a mask eventfd: vfio-pci has none either */
	return 0;
}

static int set_intx_unmask(struct vfio_dev *vdev, unsigned int start,
			   unsigned int count, uint32_t flags,
			   const uint8_t *data)
{
	if (vdev->irq_type != VFIO_PCI_INTX_IRQ_INDEX || start || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE)
		intx_unmask(vdev);
	else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (data[0])
			intx_unmask(vdev);
	} else {
		int32_t fd;

		memcpy(&fd, data, sizeof(fd));
		/* An unmask eventfd (virqfd) is not emulated. */
		if (fd >= 0)
			return -EOPNOTSUPP;
	}
	return 0;
}

static int set_intx_trigger(struct vfio_dev *vdev,
			    const struct ufd_caller *caller,
			    unsigned int start, unsigned int count,
			    uint32_t flags, const uint8_t *data)
{
	bool is_intx = vdev->irq_type == VFIO_PCI_INTX_IRQ_INDEX;

	if (is_intx && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
		intx_disable(vdev);
		return 0;
	}
	if (!(is_intx || vdev->irq_type == VFIO_PCI_NUM_IRQS) || start ||
	    count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd;
		int efd = -1, old;

		memcpy(&fd, data, sizeof(fd));
		if (fd >= 0) {
			efd = vfio_take_eventfd(caller, fd);
			if (efd < 0)
				return efd;
		}
		if (!is_intx) {
			pthread_mutex_lock(&vdev->irq_lock);
			vdev->intx_masked = false;
			vdev->irq_type = VFIO_PCI_INTX_IRQ_INDEX;
			pthread_mutex_unlock(&vdev->irq_lock);
		}
		old = intx_swap(vdev, efd);
		if (old >= 0)
			close(old);
		return 0;
	}
	if (!is_intx)
		return -EINVAL;
	if ((flags & VFIO_IRQ_SET_DATA_NONE) || data[0]) {
		pthread_mutex_lock(&vdev->irq_lock);
		vfio_signal_eventfd(vdev->efds[0]);
		pthread_mutex_unlock(&vdev->irq_lock);
	}
	return 0;
}

/* ---- MSI and MSI-X ----------------------------------------------------- */

static void msi_disable(struct vfio_dev *vdev)
{
	unsigned int index = vdev->irq_type, i, n;
	int *old;

	pthread_mutex_lock(&vdev->irq_lock);
	n = vdev->nvec;
	old = malloc((n ? n : 1) * sizeof(*old));
	for (i = 0; i < n; i++) {
		if (old)
			old[i] = vdev->efds[i];
		else if (vdev->efds[i] >= 0)
			close(vdev->efds[i]); /* no memory: close under the lock */
		vdev->efds[i] = -1;
	}
	vdev->nvec = 0;
	vdev->irq_type = VFIO_PCI_NUM_IRQS;
	pthread_mutex_unlock(&vdev->irq_lock);
	for (i = 0; old && i < n; i++)
		if (old[i] >= 0)
			close(old[i]);
	free(old);
	ufd_pci_set_irq_enable(vdev->pdev, index, false);
}

/*
 * Install eventfds for vectors [start, start + count - 1] of the enabled
 * (or, with @enable, newly enabled) MSI/MSI-X index: all taken first.
 */
static int msi_set_block(struct vfio_dev *vdev, const struct ufd_caller *caller,
			 unsigned int index, unsigned int start,
			 unsigned int count, const int32_t *fds, bool enable)
{
	bool msix = index == VFIO_PCI_MSIX_IRQ_INDEX;
	unsigned int nvec = enable ? start + count : vdev->nvec, i;
	int *efds, rc = 0;

	/* pci_alloc_irq_vectors(1, 0): no vector at all is -ERANGE. */
	if (enable && !nvec)
		return -ERANGE;
	/* Vectors past the enabled ones: only MSI-X grows (dynamic). */
	for (i = 0; i < count; i++) {
		int32_t fd;

		memcpy(&fd, &fds[i], sizeof(fd));
		if (start + i >= nvec && fd >= 0 && !msix)
			return -EINVAL;
	}
	efds = malloc((count ? count : 1) * sizeof(*efds));
	if (!efds)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		int32_t fd;

		memcpy(&fd, &fds[i], sizeof(fd));
		efds[i] = fd >= 0 ? vfio_take_eventfd(caller, fd) : -1;
		if (efds[i] < -1 || (fd >= 0 && efds[i] < 0)) {
			rc = efds[i];
			break;
		}
	}
	if (rc) {
		while (i--)
			if (efds[i] >= 0)
				close(efds[i]);
		free(efds);
		return rc;
	}
	pthread_mutex_lock(&vdev->irq_lock);
	if (enable) {
		vdev->irq_type = index;
		vdev->nvec = nvec;
	}
	for (i = 0; i < count; i++) {
		int old = vdev->efds[start + i];

		vdev->efds[start + i] = efds[i];
		efds[i] = old;
		if (vdev->efds[start + i] >= 0 && start + i >= vdev->nvec)
			vdev->nvec = start + i + 1;
	}
	pthread_mutex_unlock(&vdev->irq_lock);
	for (i = 0; i < count; i++)
		if (efds[i] >= 0)
			close(efds[i]);
	free(efds);
	if (enable)
		ufd_pci_set_irq_enable(vdev->pdev, index, true);
	return 0;
}

static int set_msi_trigger(struct vfio_dev *vdev,
			   const struct ufd_caller *caller, unsigned int index,
			   unsigned int start, unsigned int count,
			   uint32_t flags, const uint8_t *data)
{
	bool is_index = vdev->irq_type == index;
	unsigned int i;

	if (is_index && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
		msi_disable(vdev);
		return 0;
	}
	if (!(is_index || vdev->irq_type == VFIO_PCI_NUM_IRQS))
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return msi_set_block(vdev, caller, index, start, count,
				     (const int32_t *)data, !is_index);
	if (!is_index)
		return -EINVAL;
	pthread_mutex_lock(&vdev->irq_lock);
	for (i = start; i < start + count && i < vdev->nvec; i++)
		if ((flags & VFIO_IRQ_SET_DATA_NONE) || data[i - start])
			vfio_signal_eventfd(vdev->efds[i]);
	pthread_mutex_unlock(&vdev->irq_lock);
	return 0;
}

/* ---- ERR and REQ: one eventfd each --------------------------------------- */

static int set_single_trigger(struct vfio_dev *vdev,
			      const struct ufd_caller *caller, int *slot,
			      unsigned int start, unsigned int count,
			      uint32_t flags, const uint8_t *data)
{
	int old = -1;

	if (start || count > 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE) {
		/* Loopback (count 1) or release (count 0); nothing: EINVAL. */
		pthread_mutex_lock(&vdev->irq_lock);
		if (*slot < 0) {
			pthread_mutex_unlock(&vdev->irq_lock);
			return -EINVAL;
		}
		if (count) {
			vfio_signal_eventfd(*slot);
		} else {
			old = *slot;
			*slot = -1;
		}
		pthread_mutex_unlock(&vdev->irq_lock);
	} else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (!count)
			return -EINVAL;
		pthread_mutex_lock(&vdev->irq_lock);
		if (data[0])
			vfio_signal_eventfd(*slot);
		pthread_mutex_unlock(&vdev->irq_lock);
	} else {
		int32_t fd;
		int efd = -1;

		if (!count)
			return -EINVAL;
		memcpy(&fd, data, sizeof(fd));
		if (fd < -1)
			return 0;
		if (fd >= 0) {
			efd = vfio_take_eventfd(caller, fd);
			if (efd < 0)
				return efd;
		}
		pthread_mutex_lock(&vdev->irq_lock);
		old = *slot;
		*slot = efd;
		pthread_mutex_unlock(&vdev->irq_lock);
	}
	if (old >= 0)
		close(old);
	return 0;
}

/* ---- SET_IRQS ------------------------------------------------------------ */

long vfio_irq_set(struct vfio_dev *vdev, const struct ufd_caller *caller,
		  uint64_t arg)
{
	const size_t minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	uint8_t *data = NULL;
	size_t size, data_size = 0;
	unsigned int max;
	long rc;

	rc = copy_from_caller(caller, &hdr, arg, minsz);
	if (rc)
		return rc;
	/* vfio_set_irqs_validate_and_prepare(), in its order. */
	max = vfio_irq_count(vdev, hdr.index);
	if (hdr.argsz < minsz || hdr.index >= VFIO_PCI_NUM_IRQS ||
	    hdr.count >= UINT32_MAX - hdr.start ||
	    (hdr.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK |
			   VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	if (hdr.start >= max || hdr.start + hdr.count > max)
		return -EINVAL;
	switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		size = 0;
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		size = sizeof(uint8_t);
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		size = sizeof(int32_t);
		break;
	default:
		return -EINVAL;
	}
	if (size) {
		if (hdr.argsz - minsz < hdr.count * size)
			return -EINVAL;
		data_size = hdr.count * size;
		data = malloc(data_size ? data_size : 1);
		if (!data)
			return -ENOMEM;
		rc = copy_from_caller(caller, data, arg + minsz, data_size);
		if (rc) {
			free(data);
			return rc;
		}
	}

	pthread_mutex_lock(&vdev->lock);
	rc = -ENOTTY;
	switch (hdr.index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		switch (hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) {
		case VFIO_IRQ_SET_ACTION_MASK:
			rc = set_intx_mask(vdev, hdr.start, hdr.count,
					   hdr.flags, data);
			break;
		case VFIO_IRQ_SET_ACTION_UNMASK:
			rc = set_intx_unmask(vdev, hdr.start, hdr.count,
					     hdr.flags, data);
			break;
		case VFIO_IRQ_SET_ACTION_TRIGGER:
			rc = set_intx_trigger(vdev, caller, hdr.start,
					      hdr.count, hdr.flags, data);
			break;
		}
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		/* MSI and MSI-X masking: vfio-pci has no support either. */
		if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) ==
		    VFIO_IRQ_SET_ACTION_TRIGGER)
			rc = set_msi_trigger(vdev, caller, hdr.index, hdr.start,
					     hdr.count, hdr.flags, data);
		break;
	case VFIO_PCI_ERR_IRQ_INDEX:
		if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) ==
		    VFIO_IRQ_SET_ACTION_TRIGGER)
			rc = set_single_trigger(vdev, caller, &vdev->err_efd,
						hdr.start, hdr.count, hdr.flags,
						data);
		break;
	case VFIO_PCI_REQ_IRQ_INDEX:
		if ((hdr.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) ==
		    VFIO_IRQ_SET_ACTION_TRIGGER)
			rc = set_single_trigger(vdev, caller, &vdev->req_efd,
						hdr.start, hdr.count, hdr.flags,
						data);
		break;
	}
	pthread_mutex_unlock(&vdev->lock);
	free(data);
	return rc;
}

/* ---- the device's lifetime ------------------------------------------------- */

void vfio_irq_release(struct vfio_dev *vdev)
{
	int err, req;

	if (vdev->irq_type == VFIO_PCI_INTX_IRQ_INDEX)
		intx_disable(vdev);
	else if (vdev->irq_type != VFIO_PCI_NUM_IRQS)
		msi_disable(vdev);
	pthread_mutex_lock(&vdev->irq_lock);
	err = vdev->err_efd;
	req = vdev->req_efd;
	vdev->err_efd = vdev->req_efd = -1;
	pthread_mutex_unlock(&vdev->irq_lock);
	if (err >= 0)
		close(err);
	if (req >= 0)
		close(req);
}

void vfio_irq_restore(struct vfio_dev *vdev)
{
	if (vdev->irq_type == VFIO_PCI_MSI_IRQ_INDEX ||
	    vdev->irq_type == VFIO_PCI_MSIX_IRQ_INDEX)
		ufd_pci_set_irq_enable(vdev->pdev, vdev->irq_type, true);
}
