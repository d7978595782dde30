// SPDX-License-Identifier: MIT
/*
 * The generic PCI function under every device model: configuration space
 * with write masks, write-1-to-clear masks and a capability list, memory
 * BARs with the standard sizing semantics, INTx / MSI / MSI-X delivery,
 * function level reset, and the registry of models.
 *
 * Model of configuration space: a byte array; a config write of byte b at
 * o stores (old & ~wmask[o]) | (b & wmask[o]) and then clears
 * b & w1cmask[o].  Everything that behaves differently (COMMAND.BME
 * mirrored for the DMA path, INTx disable, MSI and MSI-X control and mask
 * bits, PMCSR power states, PCIe Initiate-FLR) is a side effect applied
 * after the bytes are stored.  BAR sizing falls out of the masks: the
 * address bits below the BAR's size are not writable, so writing all-ones
 * reads back the size mask.
 *
 * Interrupts: ufd_pci_raise_irq() decides (MSI-X, else MSI, else INTx) and
 * records what to send in pdev->deliver_*; ufd_pci_unlock() sends it after
 * releasing the lock, so host ops are never called with the device lock
 * held.
 *
 * Ranges are [off, off + size - 1]; sizes are checked before any
 * addition that could wrap.  Locking: see pci.h (one mutex per instance;
 * every entry point here takes it; DMA runs without it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "devices/pci.h"
#include "engine/engine.h" /* allocation with fault injection */

_Static_assert((int)UFD_PCI_IRQ_INTX == (int)VFIO_PCI_INTX_IRQ_INDEX,
	       "INTx index");
_Static_assert((int)UFD_PCI_IRQ_MSI == (int)VFIO_PCI_MSI_IRQ_INDEX,
	       "MSI index");
_Static_assert((int)UFD_PCI_IRQ_MSIX == (int)VFIO_PCI_MSIX_IRQ_INDEX,
	       "MSI-X index");

/* Sizes of the capabilities this layer builds. */
#define PM_CAP_LEN PCI_PM_SIZEOF	 /* 8 */
#define MSI_CAP_LEN 0x18		 /* 64-bit with mask and pending */
#define MSIX_CAP_LEN PCI_CAP_MSIX_SIZEOF /* 12 */
#define PCIE_CAP_LEN 0x3c		 /* version 2, through Slot Status 2 */
#define SRIOV_CAP_LEN PCI_EXT_CAP_SRIOV_SIZEOF /* 0x40 */
#define EXT_CAP_BASE 0x100
/* The page sizes an SR-IOV capability offers: 4K, 8K, 64K, 256K, 1M, 4M. */
#define SRIOV_PGSIZES 0x553u
#define MSIX_ENTRY_LEN 16
#define MSIX_ENTRY_CTRL 12 /* vector control: bit 0 masks */

/* COMMAND bits a write may change (no I/O BARs, so no I/O space). */
#define CMD_WMASK                                                              \
	(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |        \
	 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
/* STATUS bits that are write-1-to-clear error flags. */
#define STATUS_W1C                                                             \
	(PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |                     \
	 PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |           \
	 PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY)
/* DevCtl bits software may write: error reporting, relaxed ordering,
 * payload, extended tags, no snoop, read request size, Initiate FLR. */
#define DEVCTL_WMASK 0xf9ffu
#define DEVCTL_POWERON                                                         \
	(PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN |                 \
	 PCI_EXP_DEVCTL_READRQ_512B)

static const struct ufd_pci_model *const models[] = {
	&ufd_pci_model_ioat,
	&ufd_pci_model_igb,
};

/* ---- registry ---------------------------------------------------------- */

const struct ufd_pci_model *ufd_pci_model_find(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (!strcmp(models[i]->name, name))
			return models[i];
	return NULL;
}

const struct ufd_pci_model *ufd_pci_model_next(const struct ufd_pci_model *prev)
{
	size_t i, n = sizeof(models) / sizeof(models[0]);

	if (!prev)
		return n ? models[0] : NULL;
	for (i = 0; i + 1 < n; i++)
		if (models[i] == prev)
			return models[i + 1];
	return NULL;
}

/* ---- raw configuration bytes ------------------------------------------- */

static uint32_t bytes_get(const uint8_t *a, unsigned int off, unsigned int size)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < size; i++)
		v |= (uint32_t)a[off + i] << (8 * i);
	return v;
}

static void bytes_put(uint8_t *a, unsigned int off, unsigned int size,
		      uint32_t v)
{
	unsigned int i;

	for (i = 0; i < size; i++)
		a[off + i] = (uint8_t)(v >> (8 * i));
}

uint32_t ufd_pci_cfg_get(struct ufd_pci_dev *pdev, unsigned int off,
			 unsigned int size)
{
	if (size > 4 || off >= UFD_PCI_CFG_SIZE ||
	    size > UFD_PCI_CFG_SIZE - off)
		return 0;
	return bytes_get(pdev->cfg, off, size);
}

void ufd_pci_cfg_set(struct ufd_pci_dev *pdev, unsigned int off,
		     unsigned int size, uint32_t value)
{
	if (size > 4 || off >= UFD_PCI_CFG_SIZE ||
	    size > UFD_PCI_CFG_SIZE - off)
		return;
	bytes_put(pdev->cfg, off, size, value);
}

static uint16_t cfg16(struct ufd_pci_dev *pdev, unsigned int off)
{
	return (uint16_t)bytes_get(pdev->cfg, off, 2);
}

static void cfg16_set(struct ufd_pci_dev *pdev, unsigned int off, uint16_t v)
{
	bytes_put(pdev->cfg, off, 2, v);
}

/* Define bytes: value and masks.  The caller checked the range. */
static void define(struct ufd_pci_dev *pdev, unsigned int off,
		   unsigned int size, uint32_t value, uint32_t wmask,
		   uint32_t w1cmask)
{
	bytes_put(pdev->cfg, off, size, value);
	bytes_put(pdev->wmask, off, size, wmask);
	bytes_put(pdev->w1cmask, off, size, w1cmask);
}

/* ---- locking and interrupt delivery ------------------------------------ */

struct deliveries {
	bool intx;
	uint32_t msi;
	uint64_t msix[UFD_PCI_MSIX_MAX_VECTORS / 64];
};

static bool deliveries_take(struct ufd_pci_dev *pdev, struct deliveries *d)
{
	if (!pdev->deliver_any)
		return false;
	d->intx = pdev->deliver_intx;
	d->msi = pdev->deliver_msi;
	memcpy(d->msix, pdev->deliver_msix, sizeof(d->msix));
	pdev->deliver_any = false;
	pdev->deliver_intx = false;
	pdev->deliver_msi = 0;
	memset(pdev->deliver_msix, 0, sizeof(pdev->deliver_msix));
	return true;
}

static void deliveries_send(struct ufd_pci_dev *pdev,
			    const struct deliveries *d)
{
	const struct ufd_pci_host_ops *ops = pdev->host_ops;
	unsigned int i, v;

	if (!ops || !ops->irq)
		return;
	if (d->intx)
		ops->irq(pdev->host, UFD_PCI_IRQ_INTX, 0);
	for (v = 0; v < UFD_PCI_MSI_MAX_VECTORS; v++)
		if (d->msi & (1u << v))
			ops->irq(pdev->host, UFD_PCI_IRQ_MSI, v);
	for (i = 0; i < UFD_PCI_MSIX_MAX_VECTORS / 64; i++) {
		uint64_t bits = d->msix[i];

		while (bits) {
			v = (unsigned int)__builtin_ctzll(bits);
			bits &= bits - 1;
			ops->irq(pdev->host, UFD_PCI_IRQ_MSIX, i * 64 + v);
		}
	}
}

void ufd_pci_lock(struct ufd_pci_dev *pdev)
{
	pthread_mutex_lock(&pdev->lock);
}

void ufd_pci_unlock(struct ufd_pci_dev *pdev)
{
	struct deliveries d;
	bool any = deliveries_take(pdev, &d);

	pthread_mutex_unlock(&pdev->lock);
	if (any)
		deliveries_send(pdev, &d);
}

void ufd_pci_wait(struct ufd_pci_dev *pdev, pthread_cond_t *cond)
{
	struct deliveries d;

	if (deliveries_take(pdev, &d)) {
		pthread_mutex_unlock(&pdev->lock);
		deliveries_send(pdev, &d);
		pthread_mutex_lock(&pdev->lock);
		return; /* the caller's loop looks again */
	}
	pthread_cond_wait(cond, &pdev->lock);
}

/* ---- interrupt state --------------------------------------------------- */

static bool msi_enabled(struct ufd_pci_dev *pdev)
{
	return pdev->msi_cap && (cfg16(pdev, pdev->msi_cap + PCI_MSI_FLAGS) &
				 PCI_MSI_FLAGS_ENABLE);
}

static bool msix_enabled(struct ufd_pci_dev *pdev)
{
	return pdev->msix_cap && (cfg16(pdev, pdev->msix_cap + PCI_MSIX_FLAGS) &
				  PCI_MSIX_FLAGS_ENABLE);
}

static unsigned int msi_enabled_count(struct ufd_pci_dev *pdev)
{
	uint16_t flags = cfg16(pdev, pdev->msi_cap + PCI_MSI_FLAGS);

	return 1u << ((flags & PCI_MSI_FLAGS_QSIZE) >> 4);
}

static bool msix_vector_masked(struct ufd_pci_dev *pdev, unsigned int v)
{
	return pdev->msix_table[v * MSIX_ENTRY_LEN + MSIX_ENTRY_CTRL] &
	       PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

static void deliver_msix(struct ufd_pci_dev *pdev, unsigned int v)
{
	pdev->deliver_msix[v / 64] |= 1ULL << (v % 64);
	pdev->deliver_any = true;
}

/* INTx on the wire: the model's level, unless disabled or MSI(-X) is on. */
static void intx_update(struct ufd_pci_dev *pdev)
{
	bool line = pdev->intx_level &&
		    !(cfg16(pdev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) &&
		    !msi_enabled(pdev) && !msix_enabled(pdev);

	if (line && !pdev->intx_line) {
		pdev->deliver_intx = true;
		pdev->deliver_any = true;
	}
	pdev->intx_line = line;
}

/* Send MSI vectors held pending that are now enabled and unmasked. */
static void msi_update(struct ufd_pci_dev *pdev)
{
	unsigned int base = pdev->msi_cap, count;
	uint32_t pending, mask, send;

	if (!msi_enabled(pdev))
		return;
	count = msi_enabled_count(pdev);
	pending = bytes_get(pdev->cfg, base + PCI_MSI_PENDING_64, 4);
	mask = bytes_get(pdev->cfg, base + PCI_MSI_MASK_64, 4);
	send = pending & ~mask;
	if (count < 32)
		send &= (1u << count) - 1;
	if (!send)
		return;
	bytes_put(pdev->cfg, base + PCI_MSI_PENDING_64, 4, pending & ~send);
	pdev->deliver_msi |= send;
	pdev->deliver_any = true;
}

/* Send MSI-X vectors whose PBA bit is set and that are now unmasked. */
static void msix_update(struct ufd_pci_dev *pdev)
{
	unsigned int v;

	if (!msix_enabled(pdev) ||
	    (cfg16(pdev, pdev->msix_cap + PCI_MSIX_FLAGS) &
	     PCI_MSIX_FLAGS_MASKALL))
		return;
	for (v = 0; v < pdev->msix_vectors; v++) {
		uint64_t bit = 1ULL << (v % 64);

		if (!(pdev->msix_pba[v / 64] & bit) ||
		    msix_vector_masked(pdev, v))
			continue;
		pdev->msix_pba[v / 64] &= ~bit;
		deliver_msix(pdev, v);
	}
}

static void msix_table_reset(struct ufd_pci_dev *pdev)
{
	unsigned int v;

	if (!pdev->msix_vectors)
		return;
	memset(pdev->msix_table, 0,
	       (size_t)pdev->msix_vectors * MSIX_ENTRY_LEN);
	memset(pdev->msix_pba, 0,
	       (size_t)(pdev->msix_vectors + 63) / 64 * sizeof(uint64_t));
	for (v = 0; v < pdev->msix_vectors; v++)
		pdev->msix_table[v * MSIX_ENTRY_LEN + MSIX_ENTRY_CTRL] =
			PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

static void msix_mask_all(struct ufd_pci_dev *pdev, bool masked)
{
	unsigned int v;

	for (v = 0; v < pdev->msix_vectors; v++) {
		uint8_t *ctrl =
			&pdev->msix_table[v * MSIX_ENTRY_LEN + MSIX_ENTRY_CTRL];

		if (masked)
			*ctrl |= PCI_MSIX_ENTRY_CTRL_MASKBIT;
		else
			*ctrl &= (uint8_t)~PCI_MSIX_ENTRY_CTRL_MASKBIT;
	}
}

void ufd_pci_raise_irq(struct ufd_pci_dev *pdev, unsigned int vector)
{
	if (msix_enabled(pdev)) {
		uint16_t flags = cfg16(pdev, pdev->msix_cap + PCI_MSIX_FLAGS);

		if (vector >= pdev->msix_vectors)
			return;
		if ((flags & PCI_MSIX_FLAGS_MASKALL) ||
		    msix_vector_masked(pdev, vector))
			pdev->msix_pba[vector / 64] |= 1ULL << (vector % 64);
		else
			deliver_msix(pdev, vector);
		return;
	}
	if (msi_enabled(pdev)) {
		unsigned int base = pdev->msi_cap;
		uint32_t mask = bytes_get(pdev->cfg, base + PCI_MSI_MASK_64, 4);

		if (vector >= msi_enabled_count(pdev))
			return;
		if (mask & (1u << vector)) {
			uint32_t pending = bytes_get(
				pdev->cfg, base + PCI_MSI_PENDING_64, 4);

			bytes_put(pdev->cfg, base + PCI_MSI_PENDING_64, 4,
				  pending | (1u << vector));
		} else {
			pdev->deliver_msi |= 1u << vector;
			pdev->deliver_any = true;
		}
		return;
	}
	if (!pdev->cfg[PCI_INTERRUPT_PIN])
		return;
	pdev->intx_level = true;
	pdev->cfg[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	intx_update(pdev);
}

void ufd_pci_lower_intx(struct ufd_pci_dev *pdev)
{
	pdev->intx_level = false;
	pdev->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	intx_update(pdev);
}

bool ufd_pci_intx_asserted(struct ufd_pci_dev *pdev)
{
	bool line;

	ufd_pci_lock(pdev);
	line = pdev->intx_line;
	ufd_pci_unlock(pdev);
	return line;
}

int ufd_pci_set_irq_enable(struct ufd_pci_dev *pdev, unsigned int index,
			   bool enable)
{
	unsigned int at;
	uint16_t flags;
	int rc = 0;

	ufd_pci_lock(pdev);
	switch (index) {
	case UFD_PCI_IRQ_INTX:
		if (!pdev->cfg[PCI_INTERRUPT_PIN])
			rc = -EINVAL;
		break;
	case UFD_PCI_IRQ_MSI:
		if (!pdev->msi_cap) {
			rc = -EINVAL;
			break;
		}
		at = pdev->msi_cap + PCI_MSI_FLAGS;
		flags = cfg16(pdev, at);
		if (enable) {
			/* All the vectors the function has (QSIZE = QMASK). */
			flags &= (uint16_t)~PCI_MSI_FLAGS_QSIZE;
			flags |= (uint16_t)((flags & PCI_MSI_FLAGS_QMASK) << 3);
			flags |= PCI_MSI_FLAGS_ENABLE;
		} else {
			flags &= (uint16_t)~PCI_MSI_FLAGS_ENABLE;
		}
		cfg16_set(pdev, at, flags);
		msi_update(pdev);
		break;
	case UFD_PCI_IRQ_MSIX:
		if (!pdev->msix_cap) {
			rc = -EINVAL;
			break;
		}
		at = pdev->msix_cap + PCI_MSIX_FLAGS;
		flags = cfg16(pdev, at);
		if (enable)
			flags = (uint16_t)((flags | PCI_MSIX_FLAGS_ENABLE) &
					   ~PCI_MSIX_FLAGS_MASKALL);
		else
			flags &= (uint16_t)~PCI_MSIX_FLAGS_ENABLE;
		cfg16_set(pdev, at, flags);
		msix_mask_all(pdev, !enable);
		msix_update(pdev);
		break;
	default:
		rc = -EINVAL;
	}
	intx_update(pdev);
	ufd_pci_unlock(pdev);
	return rc;
}

/* ---- DMA ----------------------------------------------------------------- */

int ufd_pci_dma_read(struct ufd_pci_dev *pdev, uint64_t iova, void *buf,
		     size_t len)
{
	const struct ufd_pci_host_ops *ops = pdev->host_ops;
	int rc;

	if (!__atomic_load_n(&pdev->bus_master, __ATOMIC_ACQUIRE) || !ops ||
	    !ops->dma_read)
		return -EIO;
	rc = ops->dma_read(pdev->host, iova, buf, len);
	if (rc) {
		ufd_pci_lock(pdev);
		pdev->cfg[PCI_STATUS + 1] |= PCI_STATUS_REC_MASTER_ABORT >> 8;
		ufd_pci_unlock(pdev);
	}
	return rc;
}

int ufd_pci_dma_write(struct ufd_pci_dev *pdev, uint64_t iova, const void *buf,
		      size_t len)
{
	const struct ufd_pci_host_ops *ops = pdev->host_ops;

	if (!__atomic_load_n(&pdev->bus_master, __ATOMIC_ACQUIRE) || !ops ||
	    !ops->dma_write)
		return -EIO;
	return ops->dma_write(pdev->host, iova, buf, len);
}

/* ---- function level reset ---------------------------------------------- */

static void flr_locked(struct ufd_pci_dev *pdev)
{
	uint8_t bars[PCI_ROM_ADDRESS - PCI_BASE_ADDRESS_0];
	uint8_t sriov[SRIOV_CAP_LEN];
	uint8_t line;

	pdev->resetting++;
	/* DMA stops first: a request after this point is never made. */
	__atomic_store_n(&pdev->bus_master, false, __ATOMIC_RELEASE);
	if (pdev->model->reset)
		pdev->model->reset(pdev); /* may wait, dropping the lock */
	memcpy(bars, &pdev->cfg[PCI_BASE_ADDRESS_0], sizeof(bars));
	line = pdev->cfg[PCI_INTERRUPT_LINE];
	/*
	 * The VFs outlive a reset of their PF: the host kernel's reset path
	 * restores the SR-IOV registers (pci_restore_iov_state).
	 */
	if (pdev->sriov_cap)
		memcpy(sriov, &pdev->cfg[pdev->sriov_cap], sizeof(sriov));
	memcpy(pdev->cfg, pdev->cfg_poweron, sizeof(pdev->cfg));
	memcpy(&pdev->cfg[PCI_BASE_ADDRESS_0], bars, sizeof(bars));
	pdev->cfg[PCI_INTERRUPT_LINE] = line;
	if (pdev->sriov_cap)
		memcpy(&pdev->cfg[pdev->sriov_cap], sriov, sizeof(sriov));
	__atomic_store_n(&pdev->bus_master, false, __ATOMIC_RELEASE);
	msix_table_reset(pdev);
	pdev->intx_level = false;
	pdev->intx_line = false;
	/* Messages not yet sent die with the function's state. */
	pdev->deliver_any = false;
	pdev->deliver_intx = false;
	pdev->deliver_msi = 0;
	memset(pdev->deliver_msix, 0, sizeof(pdev->deliver_msix));
	pdev->resetting--;
}

void ufd_pci_flr(struct ufd_pci_dev *pdev)
{
	ufd_pci_lock(pdev);
	flr_locked(pdev);
	ufd_pci_unlock(pdev);
}

/* ---- configuration space entry points ---------------------------------- */

static bool cfg_access_ok(unsigned int off, unsigned int size)
{
	return (size == 1 || size == 2 || size == 4) &&
	       off < UFD_PCI_CFG_SIZE && size <= UFD_PCI_CFG_SIZE - off;
}

static bool touches(unsigned int off, unsigned int size, unsigned int at,
		    unsigned int len)
{
	return off < at + len && at < off + size;
}

int ufd_pci_cfg_read(struct ufd_pci_dev *pdev, unsigned int off,
		     unsigned int size, uint32_t *val)
{
	if (!cfg_access_ok(off, size))
		return -EINVAL;
	ufd_pci_lock(pdev);
	*val = bytes_get(pdev->cfg, off, size);
	ufd_pci_unlock(pdev);
	return 0;
}

/* Side effects of a config write that stored its bytes already. */
static void cfg_written(struct ufd_pci_dev *pdev, unsigned int off,
			unsigned int size, uint16_t old_pmcsr)
{
	if (touches(off, size, PCI_COMMAND, 2)) {
		__atomic_store_n(&pdev->bus_master,
				 (cfg16(pdev, PCI_COMMAND) &
				  PCI_COMMAND_MASTER) != 0,
				 __ATOMIC_RELEASE);
		intx_update(pdev);
	}
	if (pdev->pm_cap && touches(off, size, pdev->pm_cap + PCI_PM_CTRL, 2)) {
		unsigned int at = pdev->pm_cap + PCI_PM_CTRL;
		uint16_t pmcsr = cfg16(pdev, at);
		unsigned int state = pmcsr & PCI_PM_CTRL_STATE_MASK;

		/* D1 and D2 are not supported: the field keeps its value. */
		if (state == 1 || state == 2)
			cfg16_set(pdev, at,
				  (uint16_t)((pmcsr & ~PCI_PM_CTRL_STATE_MASK) |
					     (old_pmcsr &
					      PCI_PM_CTRL_STATE_MASK)));
	}
	if (pdev->msi_cap && touches(off, size, pdev->msi_cap, MSI_CAP_LEN)) {
		unsigned int at = pdev->msi_cap + PCI_MSI_FLAGS;
		uint16_t flags = cfg16(pdev, at);
		unsigned int mmc = (flags & PCI_MSI_FLAGS_QMASK) >> 1;
		unsigned int mme = (flags & PCI_MSI_FLAGS_QSIZE) >> 4;

		if (mme > mmc)
			cfg16_set(pdev, at,
				  (uint16_t)((flags & ~PCI_MSI_FLAGS_QSIZE) |
					     (mmc << 4)));
		msi_update(pdev);
		intx_update(pdev);
	}
	if (pdev->msix_cap &&
	    touches(off, size, pdev->msix_cap, MSIX_CAP_LEN)) {
		msix_update(pdev);
		intx_update(pdev);
	}
	if (pdev->pcie_cap &&
	    touches(off, size, pdev->pcie_cap + PCI_EXP_DEVCTL, 2)) {
		unsigned int at = pdev->pcie_cap + PCI_EXP_DEVCTL;
		uint16_t devctl = cfg16(pdev, at);

		if (devctl & PCI_EXP_DEVCTL_BCR_FLR) {
			cfg16_set(pdev, at,
				  (uint16_t)(devctl & ~PCI_EXP_DEVCTL_BCR_FLR));
			flr_locked(pdev);
		}
	}
}

int ufd_pci_cfg_write(struct ufd_pci_dev *pdev, unsigned int off,
		      unsigned int size, uint32_t val)
{
	uint16_t old_pmcsr = 0;
	unsigned int i;

	if (!cfg_access_ok(off, size))
		return -EINVAL;
	ufd_pci_lock(pdev);
	if (pdev->pm_cap)
		old_pmcsr = cfg16(pdev, pdev->pm_cap + PCI_PM_CTRL);
	for (i = 0; i < size; i++) {
		unsigned int o = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));
		uint8_t v = pdev->cfg[o];

		v = (uint8_t)((v & ~pdev->wmask[o]) | (b & pdev->wmask[o]));
		v &= (uint8_t) ~(b & pdev->w1cmask[o]);
		pdev->cfg[o] = v;
	}
	cfg_written(pdev, off, size, old_pmcsr);
	ufd_pci_unlock(pdev);
	return 0;
}

/* ---- BAR entry points -------------------------------------------------- */

enum bar_target { IN_MODEL, IN_MSIX_TABLE, IN_MSIX_PBA, STRADDLING };

static uint64_t msix_pba_len(struct ufd_pci_dev *pdev)
{
	return (uint64_t)(pdev->msix_vectors + 63) / 64 * 8;
}

static enum bar_target region_of(struct ufd_pci_dev *pdev, unsigned int bar,
				 uint64_t off, unsigned int size, uint64_t *rel)
{
	uint64_t at, len;

	if (!pdev->msix_cap)
		return IN_MODEL;
	at = pdev->msix_table_off;
	len = (uint64_t)pdev->msix_vectors * MSIX_ENTRY_LEN;
	if (bar == pdev->msix_table_bar && off < at + len && at < off + size) {
		if (off < at || off + size > at + len)
			return STRADDLING;
		*rel = off - at;
		return IN_MSIX_TABLE;
	}
	at = pdev->msix_pba_off;
	len = msix_pba_len(pdev);
	if (bar == pdev->msix_pba_bar && off < at + len && at < off + size) {
		if (off < at || off + size > at + len)
			return STRADDLING;
		*rel = off - at;
		return IN_MSIX_PBA;
	}
	return IN_MODEL;
}

static int bar_access_ok(struct ufd_pci_dev *pdev, unsigned int bar,
			 uint64_t off, unsigned int size)
{
	if (bar >= UFD_PCI_NUM_BARS || !pdev->bar[bar].size)
		return -EINVAL;
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	if (off >= pdev->bar[bar].size || size > pdev->bar[bar].size - off)
		return -EINVAL;
	return 0;
}

static uint64_t size_mask(unsigned int size)
{
	return size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
}

/* The bits of each byte of an MSI-X table entry that software may write. */
static uint8_t msix_entry_wmask(unsigned int byte)
{
	if (byte == 0)
		return 0xfc; /* message address is dword aligned */
	if (byte < MSIX_ENTRY_CTRL)
		return 0xff;
	if (byte == MSIX_ENTRY_CTRL)
		return PCI_MSIX_ENTRY_CTRL_MASKBIT;
	return 0;
}

int ufd_pci_bar_read(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t off,
		     unsigned int size, uint64_t *val)
{
	uint64_t v = 0, rel = 0;
	unsigned int i;
	int rc;

	rc = bar_access_ok(pdev, bar, off, size);
	if (rc)
		return rc;
	ufd_pci_lock(pdev);
	if (pdev->resetting) {
		v = ~0ULL;
	} else {
		switch (region_of(pdev, bar, off, size, &rel)) {
		case IN_MSIX_TABLE:
			for (i = 0; i < size; i++)
				v |= (uint64_t)pdev->msix_table[rel + i]
				     << (8 * i);
			break;
		case IN_MSIX_PBA:
			for (i = 0; i < size; i++) {
				uint64_t b = rel + i;

				v |= ((pdev->msix_pba[b / 8] >> (8 * (b % 8))) &
				      0xff)
				     << (8 * i);
			}
			break;
		case STRADDLING:
			v = ~0ULL;
			break;
		case IN_MODEL:
			if (pdev->model->bar_read)
				v = pdev->model->bar_read(pdev, bar, off, size);
			break;
		}
	}
	ufd_pci_unlock(pdev);
	*val = v & size_mask(size);
	return 0;
}

int ufd_pci_bar_write(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t off,
		      unsigned int size, uint64_t val)
{
	uint64_t rel = 0;
	unsigned int i;
	int rc;

	rc = bar_access_ok(pdev, bar, off, size);
	if (rc)
		return rc;
	val &= size_mask(size);
	ufd_pci_lock(pdev);
	if (!pdev->resetting) {
		switch (region_of(pdev, bar, off, size, &rel)) {
		case IN_MSIX_TABLE:
			for (i = 0; i < size; i++) {
				uint64_t b = rel + i;
				uint8_t m =
					msix_entry_wmask(b % MSIX_ENTRY_LEN);
				uint8_t *p = &pdev->msix_table[b];

				*p = (uint8_t)((*p & ~m) |
					       ((uint8_t)(val >> (8 * i)) & m));
			}
			msix_update(pdev);
			break;
		case IN_MSIX_PBA: /* read-only */
		case STRADDLING:
			break;
		case IN_MODEL:
			if (pdev->model->bar_write)
				pdev->model->bar_write(pdev, bar, off, size,
						       val);
			break;
		}
	}
	ufd_pci_unlock(pdev);
	return 0;
}

/* ---- building a function ----------------------------------------------- */

/* Are [off, off + len - 1] defined by no one (zero, no masks)? */
static bool cfg_range_free(struct ufd_pci_dev *pdev, unsigned int off,
			   unsigned int len)
{
	unsigned int i;

	for (i = off; i < off + len; i++)
		if (pdev->wmask[i] || pdev->w1cmask[i] || pdev->cfg[i])
			return false;
	return true;
}

static unsigned int cap_len(uint8_t id)
{
	switch (id) {
	case PCI_CAP_ID_PM:
		return PM_CAP_LEN;
	case PCI_CAP_ID_MSI:
		return MSI_CAP_LEN;
	case PCI_CAP_ID_MSIX:
		return MSIX_CAP_LEN;
	default:
		return PCIE_CAP_LEN;
	}
}

/*
 * Does [off, off + len - 1] meet a capability of the list, or is a
 * capability with ID @id (0: any ID matches none) there already?  Walks
 * the real list: a capability's bytes may read all zero.
 */
static int cap_conflict(struct ufd_pci_dev *pdev, unsigned int off,
			unsigned int len, uint8_t id)
{
	unsigned int at;

	for (at = pdev->cfg[PCI_CAPABILITY_LIST]; at; at = pdev->cfg[at + 1]) {
		if (id && pdev->cfg[at] == id)
			return -EEXIST;
		if (off < at + cap_len(pdev->cfg[at]) && at < off + len)
			return -EBUSY;
	}
	return cfg_range_free(pdev, off, len) ? 0 : -EBUSY;
}

/* Claim [off, off + len - 1] for capability @id; link it last. */
static int cap_add(struct ufd_pci_dev *pdev, unsigned int off, unsigned int len,
		   uint8_t id)
{
	int rc;

	if ((off & 3) || off < PCI_STD_HEADER_SIZEOF || off > 0xff ||
	    len > 0x100 - off)
		return -EINVAL;
	rc = cap_conflict(pdev, off, len, id);
	if (rc)
		return rc;
	pdev->cfg[off] = id;
	pdev->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	if (pdev->cap_last)
		pdev->cfg[pdev->cap_last + PCI_CAP_LIST_NEXT] = (uint8_t)off;
	else
		pdev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
	pdev->cap_last = (uint8_t)off;
	pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	return 0;
}

int ufd_pci_add_bar(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t size,
		    unsigned int flags)
{
	unsigned int at = PCI_BASE_ADDRESS_0 + 4 * bar;
	bool mem64 = flags & UFD_PCI_BAR_MEM64;
	uint32_t type = 0;
	uint64_t addr_mask;

	if (bar >= UFD_PCI_NUM_BARS || size < 4096 || (size & (size - 1)) ||
	    (flags &
	     ~(UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_PREFETCH | UFD_PCI_BAR_MMAP)))
		return -EINVAL;
	if (mem64 ? (bar == UFD_PCI_NUM_BARS - 1 || size > (1ULL << 48)) :
		    size > (1ULL << 31))
		return -EINVAL;
	/* Neither this BAR nor (for 64 bits) the next may be in use. */
	if (pdev->bar[bar].size ||
	    (bar && (pdev->bar[bar - 1].flags & UFD_PCI_BAR_MEM64)) ||
	    (mem64 && pdev->bar[bar + 1].size))
		return -EBUSY;
	if (mem64)
		type |= PCI_BASE_ADDRESS_MEM_TYPE_64;
	if (flags & UFD_PCI_BAR_PREFETCH)
		type |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	addr_mask = ~(size - 1);
	define(pdev, at, 4, type, (uint32_t)addr_mask, 0);
	if (mem64)
		define(pdev, at + 4, 4, 0, (uint32_t)(addr_mask >> 32), 0);
	pdev->bar[bar].size = size;
	pdev->bar[bar].flags = flags;
	return 0;
}

int ufd_pci_add_pm_cap(struct ufd_pci_dev *pdev, unsigned int off)
{
	int rc = cap_add(pdev, off, PM_CAP_LEN, PCI_CAP_ID_PM);

	if (rc)
		return rc;
	define(pdev, off + PCI_PM_PMC, 2, 3 /* version 3 */, 0, 0);
	define(pdev, off + PCI_PM_CTRL, 2, PCI_PM_CTRL_NO_SOFT_RESET,
	       PCI_PM_CTRL_STATE_MASK, 0);
	pdev->pm_cap = (uint8_t)off;
	return 0;
}

int ufd_pci_add_msi_cap(struct ufd_pci_dev *pdev, unsigned int off,
			unsigned int vectors)
{
	unsigned int log2 = 0;
	uint32_t mask_bits;
	int rc;

	if (!vectors || vectors > UFD_PCI_MSI_MAX_VECTORS ||
	    (vectors & (vectors - 1)))
		return -EINVAL;
	while ((1u << log2) < vectors)
		log2++;
	rc = cap_add(pdev, off, MSI_CAP_LEN, PCI_CAP_ID_MSI);
	if (rc)
		return rc;
	mask_bits = vectors == 32 ? ~0u : (1u << vectors) - 1;
	define(pdev, off + PCI_MSI_FLAGS, 2,
	       PCI_MSI_FLAGS_MASKBIT | PCI_MSI_FLAGS_64BIT | (log2 << 1),
	       PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE, 0);
	define(pdev, off + PCI_MSI_ADDRESS_LO, 4, 0, 0xfffffffc, 0);
	define(pdev, off + PCI_MSI_ADDRESS_HI, 4, 0, 0xffffffff, 0);
	define(pdev, off + PCI_MSI_DATA_64, 2, 0, 0xffff, 0);
	define(pdev, off + PCI_MSI_MASK_64, 4, 0, mask_bits, 0);
	define(pdev, off + PCI_MSI_PENDING_64, 4, 0, 0, 0);
	pdev->msi_cap = (uint8_t)off;
	pdev->msi_vectors = vectors;
	return 0;
}

static bool bar_holds(struct ufd_pci_dev *pdev, unsigned int bar, uint64_t off,
		      uint64_t len)
{
	return bar < UFD_PCI_NUM_BARS && pdev->bar[bar].size &&
	       off < pdev->bar[bar].size && len <= pdev->bar[bar].size - off;
}

int ufd_pci_add_msix_cap(struct ufd_pci_dev *pdev, unsigned int off,
			 unsigned int vectors, unsigned int table_bar,
			 uint64_t table_off, unsigned int pba_bar,
			 uint64_t pba_off)
{
	uint64_t table_len = (uint64_t)vectors * MSIX_ENTRY_LEN;
	uint64_t pba_len = (uint64_t)(vectors + 63) / 64 * 8;
	uint8_t *table;
	uint64_t *pba;
	int rc;

	if (!vectors || vectors > UFD_PCI_MSIX_MAX_VECTORS || (table_off & 7) ||
	    (pba_off & 7) || table_off > UINT32_MAX || pba_off > UINT32_MAX ||
	    !bar_holds(pdev, table_bar, table_off, table_len) ||
	    !bar_holds(pdev, pba_bar, pba_off, pba_len))
		return -EINVAL;
	if (table_bar == pba_bar && table_off < pba_off + pba_len &&
	    pba_off < table_off + table_len)
		return -EINVAL;
	if (pdev->msix_cap)
		return -EEXIST;
	table = ufd_calloc(vectors, MSIX_ENTRY_LEN);
	pba = ufd_calloc((vectors + 63) / 64, sizeof(*pba));
	if (!table || !pba) {
		free(table);
		free(pba);
		return -ENOMEM;
	}
	rc = cap_add(pdev, off, MSIX_CAP_LEN, PCI_CAP_ID_MSIX);
	if (rc) {
		free(table);
		free(pba);
		return rc;
	}
	define(pdev, off + PCI_MSIX_FLAGS, 2, vectors - 1,
	       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 0);
	define(pdev, off + PCI_MSIX_TABLE, 4, (uint32_t)table_off | table_bar,
	       0, 0);
	define(pdev, off + PCI_MSIX_PBA, 4, (uint32_t)pba_off | pba_bar, 0, 0);
	pdev->msix_cap = (uint8_t)off;
	pdev->msix_vectors = vectors;
	pdev->msix_table_bar = table_bar;
	pdev->msix_table_off = table_off;
	pdev->msix_pba_bar = pba_bar;
	pdev->msix_pba_off = pba_off;
	pdev->msix_table = table;
	pdev->msix_pba = pba;
	msix_table_reset(pdev);
	return 0;
}

int ufd_pci_add_pcie_cap(struct ufd_pci_dev *pdev, unsigned int off,
			 unsigned int port_type)
{
	uint32_t devcap;
	int rc;

	if (port_type > 0xf)
		return -EINVAL;
	rc = cap_add(pdev, off, PCIE_CAP_LEN, PCI_CAP_ID_EXP);
	if (rc)
		return rc;
	define(pdev, off + PCI_EXP_FLAGS, 2, 2 | (port_type << 4), 0, 0);
	/* 256-byte payloads, role-based error reporting, FLR. */
	devcap = 1 | PCI_EXP_DEVCAP_RBER | PCI_EXP_DEVCAP_FLR;
	define(pdev, off + PCI_EXP_DEVCAP, 4, devcap, 0, 0);
	define(pdev, off + PCI_EXP_DEVCTL, 2, DEVCTL_POWERON, DEVCTL_WMASK, 0);
	define(pdev, off + PCI_EXP_DEVSTA, 2, 0, 0,
	       PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED | PCI_EXP_DEVSTA_FED |
		       PCI_EXP_DEVSTA_URD);
	if (port_type != PCI_EXP_TYPE_RC_END) {
		/* A x1 2.5 GT/s link, up. */
		define(pdev, off + PCI_EXP_LNKCAP, 4, 0x11, 0, 0);
		define(pdev, off + PCI_EXP_LNKSTA, 2, 0x11, 0, 0);
	}
	pdev->pcie_cap = (uint8_t)off;
	return 0;
}

int ufd_pci_set_intx_pin(struct ufd_pci_dev *pdev, unsigned int pin)
{
	if (pin > 4)
		return -EINVAL;
	pdev->cfg[PCI_INTERRUPT_PIN] = (uint8_t)pin;
	return 0;
}

int ufd_pci_cfg_define(struct ufd_pci_dev *pdev, unsigned int off,
		       unsigned int size, uint32_t value, uint32_t wmask,
		       uint32_t w1cmask)
{
	if (!cfg_access_ok(off, size) || off < PCI_STD_HEADER_SIZEOF ||
	    cap_conflict(pdev, off, size, 0))
		return -EINVAL;
	define(pdev, off, size, value, wmask, w1cmask);
	return 0;
}

/* Are BAR sizes and flags @bar[0..5] a valid set (as ufd_pci_add_bar)? */
static bool bars_valid(const struct ufd_pci_bar *bar)
{
	const unsigned int known =
		UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_PREFETCH | UFD_PCI_BAR_MMAP;
	unsigned int i;

	for (i = 0; i < UFD_PCI_NUM_BARS; i++) {
		uint64_t size = bar[i].size;
		bool mem64 = bar[i].flags & UFD_PCI_BAR_MEM64;

		if (!size) {
			if (bar[i].flags)
				return false;
			continue;
		}
		if (size < 4096 || (size & (size - 1)) ||
		    (bar[i].flags & ~known))
			return false;
		if (mem64 ? (i == UFD_PCI_NUM_BARS - 1 || bar[i + 1].size ||
			     bar[i + 1].flags || size > (1ULL << 48)) :
			    size > (1ULL << 31))
			return false;
		if (mem64)
			i++;
	}
	return true;
}

int ufd_pci_add_sriov_cap(struct ufd_pci_dev *pdev, unsigned int off,
			  const struct ufd_pci_sriov *sriov)
{
	const uint16_t ctrl_wmask =
		PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE | PCI_SRIOV_CTRL_ARI;
	unsigned int i;

	if (!sriov || !sriov->vf_model || !sriov->total_vfs ||
	    sriov->total_vfs > 256 || !sriov->vf_stride ||
	    !bars_valid(sriov->vf_bar) || pdev->sriov_cap || pdev->physfn ||
	    (off & 3) || off < EXT_CAP_BASE ||
	    off > UFD_PCI_CFG_SIZE - SRIOV_CAP_LEN ||
	    (!pdev->ext_cap_last && off != EXT_CAP_BASE) ||
	    (pdev->ext_cap_last && off <= pdev->ext_cap_last))
		return -EINVAL;
	if (!cfg_range_free(pdev, off, SRIOV_CAP_LEN))
		return -EBUSY;
	pdev->vfs = ufd_zalloc(sriov->total_vfs * sizeof(*pdev->vfs));
	if (!pdev->vfs)
		return -ENOMEM;
	define(pdev, off, 4, PCI_EXT_CAP_ID_SRIOV | 1u << 16, 0, 0);
	if (pdev->ext_cap_last)
		bytes_put(pdev->cfg, pdev->ext_cap_last, 4,
			  (bytes_get(pdev->cfg, pdev->ext_cap_last, 4) &
			   0xfffffu) | (uint32_t)off << 20);
	pdev->ext_cap_last = (uint16_t)off;
	define(pdev, off + PCI_SRIOV_CTRL, 2, 0, ctrl_wmask, 0);
	define(pdev, off + PCI_SRIOV_STATUS, 2, 0, 0, PCI_SRIOV_STATUS_VFM);
	define(pdev, off + PCI_SRIOV_INITIAL_VF, 2, sriov->total_vfs, 0, 0);
	define(pdev, off + PCI_SRIOV_TOTAL_VF, 2, sriov->total_vfs, 0, 0);
	define(pdev, off + PCI_SRIOV_NUM_VF, 2, 0, 0xffff, 0);
	define(pdev, off + PCI_SRIOV_VF_OFFSET, 2, sriov->first_vf_offset, 0,
	       0);
	define(pdev, off + PCI_SRIOV_VF_STRIDE, 2, sriov->vf_stride, 0, 0);
	define(pdev, off + PCI_SRIOV_VF_DID, 2, sriov->vf_model->device_id, 0,
	       0);
	define(pdev, off + PCI_SRIOV_SUP_PGSIZE, 4, SRIOV_PGSIZES, 0, 0);
	define(pdev, off + PCI_SRIOV_SYS_PGSIZE, 4, 1, SRIOV_PGSIZES, 0);
	for (i = 0; i < PCI_SRIOV_NUM_BARS; i++) {
		const struct ufd_pci_bar *b = &sriov->vf_bar[i];
		unsigned int at = off + PCI_SRIOV_BAR + 4 * i;
		uint64_t mask = ~(b->size - 1);
		uint32_t type = 0;

		if (!b->size)
			continue;
		if (b->flags & UFD_PCI_BAR_MEM64)
			type |= PCI_BASE_ADDRESS_MEM_TYPE_64;
		if (b->flags & UFD_PCI_BAR_PREFETCH)
			type |= PCI_BASE_ADDRESS_MEM_PREFETCH;
		define(pdev, at, 4, type, (uint32_t)mask, 0);
		if (b->flags & UFD_PCI_BAR_MEM64)
			define(pdev, at + 4, 4, 0, (uint32_t)(mask >> 32), 0);
	}
	pdev->sriov = *sriov;
	pdev->sriov_cap = (uint16_t)off;
	return 0;
}

int ufd_pci_sriov_set_num_vfs(struct ufd_pci_dev *pf, unsigned int num_vfs)
{
	const uint16_t on = PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE;
	unsigned int at;
	uint16_t ctrl;

	if (!pf->sriov_cap || num_vfs > pf->sriov.total_vfs)
		return -EINVAL;
	ufd_pci_lock(pf);
	at = pf->sriov_cap;
	ctrl = cfg16(pf, at + PCI_SRIOV_CTRL);
	if (num_vfs) {
		cfg16_set(pf, at + PCI_SRIOV_NUM_VF, (uint16_t)num_vfs);
		cfg16_set(pf, at + PCI_SRIOV_CTRL, ctrl | on);
	} else {
		cfg16_set(pf, at + PCI_SRIOV_CTRL, ctrl & (uint16_t)~on);
		cfg16_set(pf, at + PCI_SRIOV_NUM_VF, 0);
	}
	ufd_pci_unlock(pf);
	return 0;
}

/* ---- instances --------------------------------------------------------- */

static void header_init(struct ufd_pci_dev *pdev, const struct ufd_pci_model *m)
{
	define(pdev, PCI_VENDOR_ID, 2, m->vendor_id, 0, 0);
	define(pdev, PCI_DEVICE_ID, 2, m->device_id, 0, 0);
	define(pdev, PCI_COMMAND, 2, 0, CMD_WMASK, 0);
	define(pdev, PCI_STATUS, 2, 0, 0, STATUS_W1C);
	define(pdev, PCI_REVISION_ID, 1, m->revision, 0, 0);
	define(pdev, PCI_CLASS_PROG, 3, m->class_code & 0xffffff, 0, 0);
	define(pdev, PCI_CACHE_LINE_SIZE, 1, 0, 0xff, 0);
	define(pdev, PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL, 0, 0);
	define(pdev, PCI_SUBSYSTEM_VENDOR_ID, 2, m->subsystem_vendor_id, 0, 0);
	define(pdev, PCI_SUBSYSTEM_ID, 2, m->subsystem_id, 0, 0);
	define(pdev, PCI_INTERRUPT_LINE, 1, 0, 0xff, 0);
}

static int dev_create(const struct ufd_pci_model *model, const char *args,
		      const struct ufd_pci_host_ops *ops, void *host,
		      struct ufd_pci_dev *physfn, unsigned int vf_index,
		      struct ufd_pci_dev **out)
{
	struct ufd_pci_dev *pdev;
	int rc;

	if (!model || !out)
		return -EINVAL;
	pdev = ufd_zalloc(sizeof(*pdev));
	if (!pdev)
		return -ENOMEM;
	rc = ufd_inject_fail() ? EAGAIN : pthread_mutex_init(&pdev->lock, NULL);
	if (rc) {
		free(pdev);
		return -rc;
	}
	pdev->model = model;
	pdev->host_ops = ops;
	pdev->host = host;
	pdev->physfn = physfn;
	pdev->vf_index = vf_index;
	header_init(pdev, model);
	rc = model->create ? model->create(pdev, args) : 0;
	if (rc) {
		pthread_mutex_destroy(&pdev->lock);
		free(pdev->msix_table);
		free(pdev->msix_pba);
		free(pdev->vfs);
		free(pdev);
		return rc;
	}
	memcpy(pdev->cfg_poweron, pdev->cfg, sizeof(pdev->cfg));
	*out = pdev;
	return 0;
}

int ufd_pci_dev_create(const struct ufd_pci_model *model, const char *args,
		       const struct ufd_pci_host_ops *ops, void *host,
		       struct ufd_pci_dev **out)
{
	return dev_create(model, args, ops, host, NULL, 0, out);
}

int ufd_pci_vf_create(struct ufd_pci_dev *pf, unsigned int index,
		      const struct ufd_pci_host_ops *ops, void *host,
		      struct ufd_pci_dev **out)
{
	struct ufd_pci_dev *vf;
	unsigned int num_vfs = 0;
	bool taken;
	int rc;

	if (!pf || !out || !pf->sriov_cap)
		return -EINVAL;
	ufd_pci_lock(pf);
	if (cfg16(pf, pf->sriov_cap + PCI_SRIOV_CTRL) & PCI_SRIOV_CTRL_VFE)
		num_vfs = cfg16(pf, pf->sriov_cap + PCI_SRIOV_NUM_VF);
	taken = index < pf->sriov.total_vfs && pf->vfs[index];
	ufd_pci_unlock(pf);
	if (index >= num_vfs)
		return -EINVAL;
	if (taken)
		return -EBUSY;
	rc = dev_create(pf->sriov.vf_model, NULL, ops, host, pf, index, &vf);
	if (rc)
		return rc;
	ufd_pci_lock(pf);
	taken = pf->vfs[index] != NULL;
	if (!taken)
		pf->vfs[index] = vf;
	ufd_pci_unlock(pf);
	if (taken) {
		/* Another caller made it meanwhile (this one was never in
		 * vfs[], so destroying it leaves the PF alone). */
		ufd_pci_dev_destroy(vf);
		return -EBUSY;
	}
	*out = vf;
	return 0;
}

void ufd_pci_dev_destroy(struct ufd_pci_dev *pdev)
{
	struct ufd_pci_dev *pf;

	if (!pdev)
		return;
	pf = pdev->physfn;
	if (pf && pdev->vf_index < pf->sriov.total_vfs) {
		ufd_pci_lock(pf);
		if (pf->vfs[pdev->vf_index] == pdev) {
			pf->vfs[pdev->vf_index] = NULL;
			if (pf->model->vf_gone)
				pf->model->vf_gone(pf, pdev->vf_index);
		}
		ufd_pci_unlock(pf);
	}
	if (pdev->model->destroy)
		pdev->model->destroy(pdev);
	pthread_mutex_destroy(&pdev->lock);
	free(pdev->msix_table);
	free(pdev->msix_pba);
	free(pdev->vfs);
	free(pdev);
}

void ufd_pci_dev_info(struct ufd_pci_dev *pdev, struct ufd_pci_dev_info *info)
{
	const struct ufd_pci_model *m = pdev->model;

	memset(info, 0, sizeof(*info));
	ufd_pci_lock(pdev);
	info->vendor_id = m->vendor_id;
	info->device_id = m->device_id;
	info->subsystem_vendor_id = m->subsystem_vendor_id;
	info->subsystem_id = m->subsystem_id;
	info->class_code = m->class_code;
	info->revision = m->revision;
	info->config_size = UFD_PCI_CFG_SIZE;
	memcpy(info->bar, pdev->bar, sizeof(info->bar));
	info->intx_pin = pdev->cfg[PCI_INTERRUPT_PIN];
	info->msi_vectors = pdev->msi_vectors;
	info->msix_vectors = pdev->msix_vectors;
	if (pdev->msix_vectors) {
		info->msix_table_bar = pdev->msix_table_bar;
		info->msix_table_offset = pdev->msix_table_off;
		info->msix_table_size =
			(uint64_t)pdev->msix_vectors * MSIX_ENTRY_LEN;
		info->msix_pba_bar = pdev->msix_pba_bar;
		info->msix_pba_offset = pdev->msix_pba_off;
		info->msix_pba_size = msix_pba_len(pdev);
	}
	info->flr = pdev->pcie_cap != 0;
	info->pm = pdev->pm_cap != 0;
	if (pdev->sriov_cap) {
		info->sriov_total_vfs = pdev->sriov.total_vfs;
		info->sriov_first_vf_offset = pdev->sriov.first_vf_offset;
		info->sriov_vf_stride = pdev->sriov.vf_stride;
		info->sriov_vf_device_id = pdev->sriov.vf_model->device_id;
	}
	info->is_vf = pdev->physfn != NULL;
	info->vf_index = pdev->vf_index;
	ufd_pci_unlock(pdev);
}
