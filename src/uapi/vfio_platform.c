// SPDX-License-Identifier: MIT
/*
 * The emulated machine behind the VFIO files: the PCI functions the
 * launcher's device spec names, their IOMMU groups and cdev numbers, and
 * what a function needs from its host: DMA through the IOMMU (the engine's
 * DMA port of the device's binding) and interrupts into the eventfds the
 * program gave with VFIO_DEVICE_SET_IRQS.  Also the device's open and
 * close as vfio-pci does them (enable: reset, memory decode on; disable:
 * bus master off, interrupts off, reset), which the cdev and the group
 * paths share.
 *
 * The model: see vfio_priv.h.  A device's DMA port is opened when it is
 * bound and closed before it is unbound; DMA calls count themselves in
 * under dma_lock, and closing the port first takes it away from new calls
 * and then waits until none is in flight, so ufd_dma_close() never runs
 * under a DMA.  With no port, or no attachment, DMA fails -EFAULT: the
 * IOMMU blocks it as an IO page fault.
 *
 * DMA ranges are the model's [iova, iova + len - 1]; the IOMMU's aperture
 * and reserved window are [start, last] inclusive.
 *
 * Threads: the models' workers are started with every signal blocked, so
 * that they never take a signal meant for the process.
 *
 * Locking: vfio_priv.h.  Setup and teardown run alone (no file open).
 */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>

#include "uapi/vfio_priv.h"

static struct ufd_vfio_machine *machine;
static const struct ufd_vfio_sysfs_ops *sysfs_ops;
static void *sysfs_arg;

struct ufd_vfio_machine *vfio_machine_get(void)
{
	return machine;
}

void ufd_vfio_platform_set_sysfs(const struct ufd_vfio_sysfs_ops *ops,
				 void *arg)
{
	sysfs_ops = ops;
	sysfs_arg = arg;
}

const struct ufd_vfio_sysfs_ops *vfio_sysfs_ops(void **arg)
{
	*arg = sysfs_arg;
	return sysfs_ops;
}

static bool dev_present(const struct vfio_dev *vdev)
{
	return __atomic_load_n(&vdev->present, __ATOMIC_ACQUIRE);
}

/* Absent VFs are no device: their cdev does not exist. */
struct vfio_dev *vfio_dev_by_cdev(uint32_t cdev_nr)
{
	unsigned int i;

	for (i = 0; machine && i < machine->ndevs; i++)
		if (machine->devs[i].cdev_nr == cdev_nr &&
		    dev_present(&machine->devs[i]))
			return &machine->devs[i];
	return NULL;
}

bool vfio_group_present(const struct vfio_group *g)
{
	unsigned int i;

	for (i = 0; i < g->ndevs; i++)
		if (dev_present(g->devs[i]))
			return true;
	return false;
}

struct vfio_group *vfio_group_by_nr(uint32_t nr)
{
	unsigned int i;

	for (i = 0; machine && i < machine->ngroups; i++)
		if (machine->groups[i].nr == nr &&
		    vfio_group_present(&machine->groups[i]))
			return &machine->groups[i];
	return NULL;
}

/* ---- the IOMMU a device sits behind ------------------------------------ */

/*
 * A VT-d-like IOMMU: a 48-bit (4-level) second-stage aperture with 4 KiB,
 * 2 MiB and 1 GiB pages, the x86 interrupt window [0xfee00000, 0xfeefffff]
 * reserved, no PASID.  GET_HW_INFO reports capability registers with the
 * bits of that: CAP.ND = 6 (64K domains), SAGAW bit 2 (4-level), MGAW = 47,
 * ZLR, SLLPS 2M|1G, PSI, FL1GP; ECAP.C, QI, DT, IR, EIM, PT, SC, NEST,
 * SMTS, SLTS, FLTS (first-stage tables, which nesting needs).
 */
static const struct ufd_iova_range vtd_msi_window = { 0xfee00000,
						      0xfeefffff };

static const struct iommu_hw_info_vtd vtd_regs = {
	.cap_reg = 6ULL | (1ULL << 10) | (47ULL << 16) | (1ULL << 22) |
		   (3ULL << 34) | (1ULL << 39) | (1ULL << 56),
	.ecap_reg = (1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 3) |
		    (1ULL << 4) | (1ULL << 6) | (1ULL << 7) | (1ULL << 26) |
		    (1ULL << 43) | (1ULL << 46) | (1ULL << 47),
};

static const struct ufd_device_info vtd_device_info = {
	.aperture_start = 0,
	.aperture_last = (1ULL << 48) - 1,
	.pgsize_bitmap = (1ULL << 12) | (1ULL << 21) | (1ULL << 30),
	.reserved = &vtd_msi_window,
	.nr_reserved = 1,
	.hw_info_type = IOMMU_HW_INFO_TYPE_INTEL_VTD,
	.hw_info = &vtd_regs,
	.hw_info_len = sizeof(vtd_regs),
};

/* ---- host ops: DMA and interrupts -------------------------------------- */

static int host_dma(struct vfio_dev *vdev, uint64_t iova, void *buf,
		    size_t len, bool write)
{
	struct ufd_dma *dma;
	int rc;

	pthread_mutex_lock(&vdev->dma_lock);
	dma = vdev->dma;
	if (dma)
		vdev->dma_inflight++;
	pthread_mutex_unlock(&vdev->dma_lock);
	if (!dma)
		return -EFAULT;
	rc = write ? ufd_dma_write(dma, iova, buf, len) :
		     ufd_dma_read(dma, iova, buf, len);
	pthread_mutex_lock(&vdev->dma_lock);
	if (!--vdev->dma_inflight)
		pthread_cond_broadcast(&vdev->dma_idle);
	pthread_mutex_unlock(&vdev->dma_lock);
	/* Attached to nothing (a blocking domain), or no stage-1 format:
	 * the IOMMU faults the request like any other. */
	if (rc == -ENODEV || rc == -EOPNOTSUPP)
		rc = -EFAULT;
	return rc;
}

static int host_dma_read(void *host, uint64_t iova, void *buf, size_t len)
{
	return host_dma(host, iova, buf, len, false);
}

static int host_dma_write(void *host, uint64_t iova, const void *buf,
			  size_t len)
{
	return host_dma(host, iova, (void *)buf, len, true);
}

static const struct ufd_pci_host_ops vfio_host_ops = {
	.dma_read = host_dma_read,
	.dma_write = host_dma_write,
	.irq = vfio_irq_deliver,
};

static void dma_port_set(struct vfio_dev *vdev, struct ufd_dma *dma)
{
	pthread_mutex_lock(&vdev->dma_lock);
	vdev->dma = dma;
	pthread_mutex_unlock(&vdev->dma_lock);
}

/* Take the port from new DMA calls, wait for those in flight, close it. */
static void dma_port_close(struct vfio_dev *vdev)
{
	struct ufd_dma *dma;

	pthread_mutex_lock(&vdev->dma_lock);
	dma = vdev->dma;
	vdev->dma = NULL;
	while (vdev->dma_inflight)
		pthread_cond_wait(&vdev->dma_idle, &vdev->dma_lock);
	pthread_mutex_unlock(&vdev->dma_lock);
	ufd_dma_close(dma);
}

/* ---- eventfds ------------------------------------------------------------ */

int vfio_take_eventfd(const struct ufd_caller *caller, int fd)
{
	char path[40], link[32];
	ssize_t n;
	int efd;

	if (fd < 0 || !caller->ops->take_fd)
		return -EBADF;
	efd = caller->ops->take_fd(caller, fd);
	if (efd < 0)
		return efd;
	/* eventfd_ctx_fdget: anything but an eventfd is -EINVAL. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", efd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n >= 0) {
		link[n] = '\0';
		if (strcmp(link, "anon_inode:[eventfd]")) {
			close(efd);
			return -EINVAL;
		}
	}
	return efd;
}

void vfio_signal_eventfd(int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLOUT };
	uint64_t one = 1;

	if (efd < 0)
		return;
	/*
	 * eventfd_signal() never blocks; a write would if the program filled
	 * the counter.  Then it is readable anyway: the signal adds nothing.
	 */
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT))
		return;
	while (write(efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* ---- config space helpers ------------------------------------------------ */

static uint32_t cfg_get(struct vfio_dev *vdev, unsigned int off,
			unsigned int size)
{
	uint32_t v = 0;

	ufd_pci_cfg_read(vdev->pdev, off, size, &v);
	return v;
}

static void cfg_put(struct vfio_dev *vdev, unsigned int off,
		    unsigned int size, uint32_t v)
{
	ufd_pci_cfg_write(vdev->pdev, off, size, v);
}

bool vfio_dev_memory_enabled(struct vfio_dev *vdev)
{
	return cfg_get(vdev, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;
}

/* The offset of capability @id in the standard list, or 0. */
static uint8_t find_cap(struct vfio_dev *vdev, uint8_t id)
{
	unsigned int at, n;

	if (!(cfg_get(vdev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	at = cfg_get(vdev, PCI_CAPABILITY_LIST, 1) & ~3u;
	for (n = 0; at >= PCI_STD_HEADER_SIZEOF && n < 48; n++) {
		if (cfg_get(vdev, at + PCI_CAP_LIST_ID, 1) == id)
			return (uint8_t)at;
		at = cfg_get(vdev, at + PCI_CAP_LIST_NEXT, 1) & ~3u;
	}
	return 0;
}

/* ---- open and close -------------------------------------------------------- */

/* vfio_pci_core_enable: bus master off, reset, memory decode on. */
static void dev_enable(struct vfio_dev *vdev)
{
	cfg_put(vdev, PCI_COMMAND, 2,
		cfg_get(vdev, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER);
	if (vdev->info.flr)
		ufd_pci_flr(vdev->pdev);
	cfg_put(vdev, PCI_COMMAND, 2,
		cfg_get(vdev, PCI_COMMAND, 2) | PCI_COMMAND_MEMORY);
}

/* vfio_pci_core_disable: DMA off, interrupts off, reset. */
static void dev_disable(struct vfio_dev *vdev)
{
	cfg_put(vdev, PCI_COMMAND, 2,
		cfg_get(vdev, PCI_COMMAND, 2) & ~PCI_COMMAND_MASTER);
	vfio_irq_release(vdev);
	vfio_virqfd_remove_dev(vdev); /* the ioeventfds */
	__atomic_store_n(&vdev->low_power, false, __ATOMIC_RELAXED);
	if (vdev->wake_efd >= 0) {
		close(vdev->wake_efd);
		vdev->wake_efd = -1;
	}
	cfg_put(vdev, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	if (vdev->info.flr)
		ufd_pci_flr(vdev->pdev);
	else
		cfg_put(vdev, PCI_COMMAND, 2, 0);
}

int vfio_dev_open(struct vfio_dev *vdev, struct ufd_ctx *ctx, bool cdev)
{
	struct ufd_dma *dma;
	uint32_t dev_id;
	int rc;

	/* Only the group path opens a device more than once. */
	if (vdev->open_count) {
		if (cdev || vdev->cdev_open)
			return -EINVAL;
		vdev->open_count++;
		return 0;
	}
	rc = ufd_device_bind(ctx, &vtd_device_info, &dev_id);
	if (rc)
		return rc;
	rc = ufd_dma_open(ctx, dev_id, &dma);
	if (rc) {
		ufd_device_unbind(ctx, dev_id);
		return rc;
	}
	ufd_ctx_get(ctx);
	vdev->ctx = ctx;
	vdev->dev_id = dev_id;
	vdev->attached = false;
	vdev->pt_id = 0;
	vdev->pt_asked = 0;
	vdev->cdev_open = cdev;
	vdev->open_count = 1;
	vfio_sriov_opened(vdev);
	dma_port_set(vdev, dma);
	dev_enable(vdev);
	return 0;
}

void vfio_dev_close(struct vfio_dev *vdev)
{
	if (!vdev->open_count || --vdev->open_count)
		return;
	dev_disable(vdev);
	dma_port_close(vdev);
	/* Unbinding detaches; the device object was ours alone. */
	ufd_device_unbind(vdev->ctx, vdev->dev_id);
	ufd_ctx_put(vdev->ctx);
	vdev->ctx = NULL;
	vdev->dev_id = 0;
	vdev->attached = false;
	vdev->pt_id = 0;
	vdev->pt_asked = 0;
	vdev->cdev_open = false;
	vfio_sriov_closed(vdev);
}

void vfio_dev_reset_keep_state(struct vfio_dev *vdev)
{
	/* What pci_save_state keeps: the header, PCIe control registers. */
	static const uint8_t exp_ctl[] = { PCI_EXP_DEVCTL, PCI_EXP_LNKCTL,
					   PCI_EXP_DEVCTL2, PCI_EXP_LNKCTL2 };
	uint32_t header[PCI_STD_HEADER_SIZEOF / 4];
	uint16_t exp[sizeof(exp_ctl)];
	unsigned int i;

	for (i = 1; i < PCI_STD_HEADER_SIZEOF / 4; i++)
		header[i] = cfg_get(vdev, 4 * i, 4);
	for (i = 0; vdev->pcie_cap && i < sizeof(exp_ctl); i++)
		exp[i] = (uint16_t)cfg_get(vdev, vdev->pcie_cap + exp_ctl[i], 2);
	ufd_pci_flr(vdev->pdev);
	/* pci_restore_config_space's order: BARs before COMMAND. */
	for (i = PCI_STD_HEADER_SIZEOF / 4; --i >= 1;)
		if (cfg_get(vdev, 4 * i, 4) != header[i])
			cfg_put(vdev, 4 * i, 4, header[i]);
	for (i = 0; vdev->pcie_cap && i < sizeof(exp_ctl); i++)
		cfg_put(vdev, vdev->pcie_cap + exp_ctl[i], 2, exp[i]);
	vfio_irq_restore(vdev);
}

/* ---- the spec ---------------------------------------------------------------- */

/* "DDDD:BB:DD.F" into @vdev; false if it is not one. */
static bool parse_bdf(const char *s, struct vfio_dev *vdev)
{
	unsigned int dom, bus, dev, fn;
	char tail;

	if (sscanf(s, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail) != 4 ||
	    dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7)
		return false;
	snprintf(vdev->bdf, sizeof(vdev->bdf), "%04x:%02x:%02x.%x", dom, bus,
		 dev, fn);
	vdev->segment = (uint16_t)dom;
	vdev->bus = (uint8_t)bus;
	vdev->devfn = (uint8_t)(dev << 3 | fn);
	return true;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

/*
 * One "model;bdf;group;cdev;args" item (in place: @item is cut at the
 * separators) into @vdev; the model instance is made later.
 */
static int parse_item(char *item, struct vfio_dev *vdev, uint32_t *group,
		      char **args)
{
	char *field[5];
	unsigned int n;

	for (n = 0; n < 4; n++) {
		char *semi = strchr(item, ';');

		if (!semi)
			return -EINVAL;
		*semi = '\0';
		field[n] = item;
		item = semi + 1;
	}
	field[4] = item;
	if (!ufd_pci_model_find(field[0]) ||
	    strlen(field[0]) >= sizeof(vdev->model))
		return -ENODEV;
	strcpy(vdev->model, field[0]);
	if (!parse_bdf(field[1], vdev) ||
	    !parse_u32(field[2], INT32_MAX, group) ||
	    !parse_u32(field[3], INT32_MAX, &vdev->cdev_nr))
		return -EINVAL;
	*args = field[4];
	return 0;
}

/* The function's state: what only exists while the function does. */
static void dev_unmake(struct vfio_dev *vdev)
{
	if (vdev->pdev)
		ufd_pci_dev_destroy(vdev->pdev);
	vdev->pdev = NULL;
	free(vdev->efds);
	vdev->efds = NULL;
}

static void dev_free(struct vfio_dev *vdev)
{
	dev_unmake(vdev);
	pthread_mutex_destroy(&vdev->lock);
	pthread_mutex_destroy(&vdev->dma_lock);
	pthread_cond_destroy(&vdev->dma_idle);
	pthread_mutex_destroy(&vdev->irq_lock);
}

static void dev_init(struct vfio_dev *vdev)
{
	pthread_mutex_init(&vdev->lock, NULL);
	pthread_mutex_init(&vdev->dma_lock, NULL);
	pthread_cond_init(&vdev->dma_idle, NULL);
	pthread_mutex_init(&vdev->irq_lock, NULL);
	vdev->irq_type = VFIO_PCI_NUM_IRQS;
	vdev->wake_efd = vdev->err_efd = vdev->req_efd = -1;
}

/* What the VFIO layer keeps of a new function @vdev->pdev. */
static int dev_adopt(struct vfio_dev *vdev)
{
	unsigned int i;

	ufd_pci_dev_info(vdev->pdev, &vdev->info);
	vdev->msi_cap = find_cap(vdev, PCI_CAP_ID_MSI);
	vdev->msix_cap = find_cap(vdev, PCI_CAP_ID_MSIX);
	vdev->pcie_cap = find_cap(vdev, PCI_CAP_ID_EXP);
	vdev->irq_slots = 1;
	if (vdev->info.msi_vectors > vdev->irq_slots)
		vdev->irq_slots = vdev->info.msi_vectors;
	if (vdev->info.msix_vectors > vdev->irq_slots)
		vdev->irq_slots = vdev->info.msix_vectors;
	vdev->efds = malloc(vdev->irq_slots * sizeof(*vdev->efds));
	if (!vdev->efds)
		return -ENOMEM;
	for (i = 0; i < vdev->irq_slots; i++)
		vdev->efds[i] = -1;
	return 0;
}

/* Make the function of @vdev (fields parsed) and its state. */
static int dev_make(struct vfio_dev *vdev, const char *args)
{
	int rc;

	dev_init(vdev);
	rc = ufd_pci_dev_create(ufd_pci_model_find(vdev->model),
				*args ? args : NULL, &vfio_host_ops, vdev,
				&vdev->pdev);
	if (rc) {
		vdev->pdev = NULL;
		return rc;
	}
	rc = dev_adopt(vdev);
	if (!rc)
		vdev->present = true;
	return rc;
}

int vfio_dev_vf_make(struct vfio_dev *vf)
{
	sigset_t all, old_mask;
	int rc;

	/* A VF model's threads take no signal either (see the setup). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old_mask);
	rc = ufd_pci_vf_create(vf->pf->pdev, vf->vf_index, &vfio_host_ops, vf,
			       &vf->pdev);
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	if (rc) {
		vf->pdev = NULL;
		return rc;
	}
	rc = dev_adopt(vf);
	if (rc) {
		dev_unmake(vf);
		return rc;
	}
	vf->irq_type = VFIO_PCI_NUM_IRQS;
	__atomic_store_n(&vf->present, true, __ATOMIC_RELEASE);
	return 0;
}

void vfio_dev_vf_unmake(struct vfio_dev *vf)
{
	__atomic_store_n(&vf->present, false, __ATOMIC_RELEASE);
	dev_unmake(vf);
	memset(&vf->info, 0, sizeof(vf->info));
}

/*
 * How many VFs the function @model makes with @args can have (its SR-IOV
 * capability's TotalVFs), asked of a throwaway instance with no host.
 */
static int model_total_vfs(const char *model, const char *args,
			   unsigned int *total)
{
	struct ufd_pci_dev_info info;
	struct ufd_pci_dev *pdev;
	int rc;

	rc = ufd_pci_dev_create(ufd_pci_model_find(model),
				*args ? args : NULL, NULL, NULL, &pdev);
	if (rc)
		return rc;
	ufd_pci_dev_info(pdev, &info);
	ufd_pci_dev_destroy(pdev);
	*total = info.sriov_total_vfs;
	return 0;
}

/*
 * Fill the VF slots of PF @pf (parsed) from @slot on: BDFs by the
 * capability's offset and stride, groups and cdevs from *@next_group
 * and *@next_cdev on.  -ERANGE if a routing ID leaves the segment.
 */
static int vf_slots(struct vfio_dev *pf, struct vfio_dev *slot,
		    uint32_t *group_nrs, uint32_t *next_group,
		    uint32_t *next_cdev)
{
	struct ufd_pci_dev_info info;
	unsigned int i, rid;

	ufd_pci_dev_info(pf->pdev, &info);
	pf->vfs = slot;
	pf->total_vfs = info.sriov_total_vfs;
	for (i = 0; i < pf->total_vfs; i++) {
		struct vfio_dev *vf = &slot[i];

		rid = ((unsigned int)pf->bus << 8 | pf->devfn) +
		      info.sriov_first_vf_offset + i * info.sriov_vf_stride;
		if (rid > 0xffff)
			return -ERANGE;
		vf->m = pf->m;
		snprintf(vf->model, sizeof(vf->model), "%s",
			 pf->pdev->sriov.vf_model->name);
		vf->segment = pf->segment;
		vf->bus = (uint8_t)(rid >> 8);
		vf->devfn = (uint8_t)rid;
		snprintf(vf->bdf, sizeof(vf->bdf), "%04x:%02x:%02x.%x",
			 vf->segment, vf->bus, vf->devfn >> 3, vf->devfn & 7);
		vf->pf = pf;
		vf->vf_index = i;
		vf->cdev_nr = (*next_cdev)++;
		group_nrs[slot - pf->m->devs + i] = (*next_group)++;
		dev_init(vf);
	}
	return 0;
}

static void machine_free(struct ufd_vfio_machine *m, unsigned int made)
{
	unsigned int i;

	/* The VFs (after the PFs) go first: they refer to their PF. */
	for (i = made; i-- > 0;)
		dev_free(&m->devs[i]);
	for (i = 0; i < m->ngroups; i++)
		free(m->groups[i].devs);
	free(m->groups);
	free(m->devs);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Put every device into its group (made on first sight). */
static int machine_group(struct ufd_vfio_machine *m, const uint32_t *nrs)
{
	unsigned int i, g;

	m->groups = calloc(m->ndevs, sizeof(*m->groups));
	if (!m->groups)
		return -ENOMEM;
	for (i = 0; i < m->ndevs; i++) {
		struct vfio_group *grp = NULL;
		struct vfio_dev **devs;

		for (g = 0; g < m->ngroups; g++)
			if (m->groups[g].nr == nrs[i])
				grp = &m->groups[g];
		if (!grp) {
			grp = &m->groups[m->ngroups++];
			grp->nr = nrs[i];
		}
		devs = realloc(grp->devs, (grp->ndevs + 1) * sizeof(*devs));
		if (!devs)
			return -ENOMEM;
		devs[grp->ndevs++] = &m->devs[i];
		grp->devs = devs;
		m->devs[i].group = grp;
	}
	return 0;
}

int ufd_vfio_platform_setup(struct ufd_engine *eng, const char *spec)
{
	struct ufd_vfio_machine *m;
	struct vfio_dev *parsed = NULL;
	sigset_t all, old_mask;
	uint32_t *group_nrs = NULL, *spec_groups = NULL;
	uint32_t next_group = 0, next_cdev = 0;
	char *copy = NULL, *item, **args = NULL;
	unsigned int n = 1, i, j, made = 0, nvfs = 0, slot, *total = NULL;
	const char *p;
	int rc = 0;

	if (machine)
		return -EBUSY;
	if (!spec || !*spec)
		return 0;
	for (p = spec; *p; p++)
		n += *p == '|';
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->eng = eng;
	parsed = calloc(n, sizeof(*parsed));
	total = calloc(n, sizeof(*total));
	spec_groups = calloc(n, sizeof(*spec_groups));
	args = calloc(n, sizeof(*args));
	copy = strdup(spec);
	if (!parsed || !total || !spec_groups || !args || !copy) {
		rc = -ENOMEM;
		goto out;
	}
	/* The spec's devices, and how many VF slots each needs. */
	for (i = 0, item = copy; i < n; i++) {
		char *bar = strchr(item, '|');
		uint32_t group;

		if (bar)
			*bar = '\0';
		rc = parse_item(item, &parsed[i], &spec_groups[i], &args[i]);
		group = spec_groups[i];
		if (!rc)
			rc = model_total_vfs(parsed[i].model, args[i],
					     &total[i]);
		if (rc)
			goto out;
		for (j = 0; j < i; j++)
			if (!strcmp(parsed[j].bdf, parsed[i].bdf) ||
			    parsed[j].cdev_nr == parsed[i].cdev_nr) {
				rc = -EINVAL;
				goto out;
			}
		if (group >= next_group)
			next_group = group + 1;
		if (parsed[i].cdev_nr >= next_cdev)
			next_cdev = parsed[i].cdev_nr + 1;
		nvfs += total[i];
		item = bar ? bar + 1 : item + strlen(item);
	}
	m->ndevs = n + nvfs;
	m->devs = calloc(m->ndevs, sizeof(*m->devs));
	group_nrs = calloc(m->ndevs, sizeof(*group_nrs));
	if (!m->devs || !group_nrs) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		m->devs[i] = parsed[i];
		m->devs[i].m = m;
		group_nrs[i] = spec_groups[i];
	}
	/*
	 * The models start threads; they must take none of the process's
	 * signals (a SIGCHLD that the launcher waits for with sigwaitinfo
	 * would be lost on a thread where it is not blocked): they are made
	 * with every signal blocked, and inherit that.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old_mask);
	for (made = 0; made < n; made++) {
		rc = dev_make(&m->devs[made], args[made]);
		if (rc) {
			made++; /* its locks exist: dev_free undoes them */
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	/* The VF slots, absent until sriov_numvfs makes them. */
	for (i = 0, slot = n; !rc && i < n; slot += total[i], i++) {
		if (!total[i])
			continue;
		rc = vf_slots(&m->devs[i], &m->devs[slot], group_nrs,
			      &next_group, &next_cdev);
		made = slot + total[i];
	}
	if (!rc)
		rc = machine_group(m, group_nrs);
out:
	free(copy);
	free(args);
	free(total);
	free(spec_groups);
	free(parsed);
	free(group_nrs);
	if (rc)
		machine_free(m, made);
	else
		machine = m;
	return rc;
}

void ufd_vfio_platform_teardown(void)
{
	struct ufd_vfio_machine *m = machine;
	unsigned int i;

	if (!m)
		return;
	machine = NULL;
	for (i = m->ndevs; i-- > 0;) {
		struct vfio_dev *vdev = &m->devs[i];

		/* Files still open (a test gave up): close them here. */
		if (vdev->open_count) {
			vdev->open_count = 1;
			vfio_dev_close(vdev);
		}
	}
	vfio_virqfd_stop();
	machine_free(m, m->ndevs);
}

/* ---- a description for people ---------------------------------------- */

__attribute__((format(printf, 4, 5)))
static void describe_add(char *buf, size_t size, size_t *off,
			 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n < size - *off ? (size_t)n : size - *off - 1;
}

long ufd_vfio_platform_describe(char *buf, size_t size)
{
	static const char *const irq_names[] = { "INTx", "MSI", "MSI-X",
						 "ERR", "REQ" };
	struct ufd_vfio_machine *m = vfio_machine_get();
	size_t off = 0;
	unsigned int i;

	if (!size)
		return 0;
	buf[0] = 0;
	if (!m) {
		describe_add(buf, size, &off, "no emulated devices\n");
		return (long)off;
	}
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->ndevs; i++) {
		struct vfio_dev *v = &m->devs[i];

		if (!v->present)
			continue;
		pthread_mutex_lock(&v->lock);
		describe_add(buf, size, &off,
			     "device %s  %s %04x:%04x  group %u  "
			     "/dev/vfio/devices/vfio%u: ",
			     v->bdf, v->model, v->info.vendor_id,
			     v->info.device_id, v->group->nr, v->cdev_nr);
		if (!v->open_count) {
			describe_add(buf, size, &off, "closed\n");
		} else {
			describe_add(buf, size, &off,
				     "open %u time(s) (%s), bound as device %u",
				     v->open_count, v->cdev_open ? "cdev" :
								   "group",
				     v->dev_id);
			if (v->attached)
				describe_add(buf, size, &off,
					     ", attached to HWPT %u (asked %u)",
					     v->pt_id, v->pt_asked);
			else
				describe_add(buf, size, &off, ", not attached");
			pthread_mutex_lock(&v->irq_lock);
			if (v->irq_type < sizeof(irq_names) /
						  sizeof(irq_names[0]))
				describe_add(buf, size, &off, ", %s x%u",
					     irq_names[v->irq_type], v->nvec);
			pthread_mutex_unlock(&v->irq_lock);
			describe_add(buf, size, &off, "\n");
		}
		pthread_mutex_unlock(&v->lock);
	}
	for (i = 0; i < m->ngroups; i++) {
		struct vfio_group *g = &m->groups[i];

		if (!vfio_group_present(g))
			continue;
		describe_add(buf, size, &off, "group %u  /dev/vfio/%u: %s, ",
			     g->nr, g->nr, g->file_open ? "open" : "closed");
		if (g->container)
			describe_add(buf, size, &off,
				     "legacy container (type %lu, IOAS %u)",
				     g->container->iommu_type,
				     g->container->ioas_id);
		else if (g->iommufd)
			describe_add(buf, size, &off, "an iommufd as container");
		else
			describe_add(buf, size, &off, "no container");
		describe_add(buf, size, &off, ", %u device file(s) open\n",
			     g->dev_files);
	}
	pthread_mutex_unlock(&m->lock);
	return (long)off;
}
