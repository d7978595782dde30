// SPDX-License-Identifier: MIT
/*
 * A virtual function of the Intel 82576 (igbvf, 8086:10ca): what SR-IOV
 * makes of the 82576 physical function (igb.c) when its sriov_numvfs is
 * written.  Written from the 82576 datasheet's VF register map (section
 * 8.27) and from what Linux's igbvf and DPDK's e1000 VF driver expect of
 * it; the register offsets and bits below are facts of that map.
 *
 * The model.  A VF is its own PCI function with its own IOMMU group
 * (the VFIO layer makes it from the PF's SR-IOV capability): config space
 * with MSI-X (3 vectors) and a PCIe capability with FLR, no MSI and no
 * INTx (VFs have neither); BAR0 (64-bit, 16 KiB) the VF's registers, BAR3
 * (64-bit, 16 KiB) the MSI-X table at 0 and the PBA at 0x2000.  Registers:
 *  - VTCTRL (0x0000): RST resets the VF (self-clearing): its registers
 *    here and, in the PF, its queues and mailbox bits (RSTD set, VFLRE);
 *    an FLR does the same;
 *  - VTSTATUS (0x0008): the link as the PF's STATUS shows it;
 *  - VTEICS/VTEIMS/VTEIMC/VTEIAC/VTEIAM/VTEICR, VTIVAR, VTIVAR_MISC,
 *    VTEITR: the extended interrupt causes of the VF's three MSI-X
 *    vectors (cause bit n is vector n), with the PF's semantics: EICS sets
 *    causes, an enabled (EIMS) cause sends its vector, EIAC clears and
 *    EIAM masks the cause on delivery, EICR is write-1-to-clear and read
 *    clears it when EIAC is zero.  VTIVAR maps queue 0's receive (byte 0)
 *    and transmit (byte 1) events, and queue 1's (bytes 2, 3), to causes;
 *    VTIVAR_MISC the mailbox's;
 *  - V2PMAILBOX (0x0c40), VMBMEM (0x0800, 16 dwords), and the queue
 *    registers of its two queues (RDBAL 0x2800 ... TXDCTL 0x3828, queue 1
 *    at +0x100): served by the PF model (igb.c), whose state they are:
 *    the mailbox is shared with the PF's PFMAILBOX(n)/VMBMEM(n), and the
 *    queues are the PF's queues n and n + 8, moved by the PF's worker
 *    with this function's DMA;
 *  - its statistics (VFGPRC 0x0f10, VFGPTC 0x0f14, VFGORC 0x0f18,
 *    VFGOTC 0x0f34, VFMPRC 0x0f3c; counted by the PF per pool, wrapping,
 *    not cleared by a VF reset); the loopback counters read 0.
 * The PF tells the VF of mailbox messages (ufd_igbvf_event()) and of its
 * queues' write-backs (ufd_igbvf_cause_begin/end: the cause is set
 * before the write-back and held back, unseen and unsent, until it is
 * made), from its worker thread.
 *
 * Registers are 32 bits wide; an access of 1, 2, 4 or 8 bytes at any
 * offset is split over the dwords it covers (a partial write merges into
 * the dword's current value, read without side effects); unknown offsets
 * read 0 and ignore writes.  Ranges are [off, off + size - 1].
 *
 * Locking (pci.h, igb_vf.h): this VF's registers are under pdev->lock;
 * what the PF serves is under the PF's lock, taken inside this one (VF
 * lock, then PF lock; the PF never takes a VF's lock holding its own).
 * ufd_igbvf_event() is called with no lock held and takes this one.  No
 * thread of its own: the PF's worker delivers its events.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "devices/igb_vf.h"
#include "devices/pci.h"
#include "engine/engine.h" /* allocation with fault injection */

/* ---- register facts (ABI) ---------------------------------------------- */

#define VF_BAR_SIZE 0x4000
#define VF_MSIX_VECTORS 3
#define VF_MSIX_BAR 3
#define VF_MSIX_TABLE_OFF 0x0000
#define VF_MSIX_PBA_OFF 0x2000

#define VTCTRL 0x0000
#define VTEICS 0x1520
#define VTEIMS 0x1524
#define VTEIMC 0x1528
#define VTEIAC 0x152c
#define VTEIAM 0x1530
#define VTEICR 0x1580
#define VTEITR0 0x1680 /* three, 4 bytes apart */
#define VTIVAR 0x1700
#define VTIVAR_MISC 0x1740
#define PSRTYPE 0x0c00

#define CTRL_RST (1u << 26)

#define EIxx_MASK ((1u << VF_MSIX_VECTORS) - 1)
#define IVAR_VALID 0x80u
#define IVAR_VECTOR 0x03u

/* ---- state ----------------------------------------------------------------- */

struct igbvf {
	struct ufd_pci_dev *pdev;
	uint32_t eicr, eims, eiac, eiam;
	uint32_t eitr[VF_MSIX_VECTORS];
	uint32_t ivar, ivar_misc;
	uint32_t psrtype;
	/* Queue causes held back while their write-back is made (a count per
	 * cause bit: several queue events may share one), and the resets
	 * this VF has had (a held cause from before one is forgotten). */
	uint8_t held[VF_MSIX_VECTORS];
	unsigned int resets;
};

/* The cause bits held back now. */
static uint32_t held_mask(struct igbvf *vf)
{
	uint32_t m = 0;
	unsigned int v;

	for (v = 0; v < VF_MSIX_VECTORS; v++)
		if (vf->held[v])
			m |= 1u << v;
	return m;
}

/* Power-on (and VTCTRL.RST) values of what the VF itself keeps. */
static void igbvf_poweron(struct igbvf *vf)
{
	vf->eicr = vf->eims = vf->eiac = vf->eiam = 0;
	memset(vf->eitr, 0, sizeof(vf->eitr));
	vf->ivar = vf->ivar_misc = 0;
	vf->psrtype = 0;
	memset(vf->held, 0, sizeof(vf->held));
	vf->resets++;
}

/* Send the enabled causes of @causes (lock held). */
static void igbvf_interrupt(struct igbvf *vf, uint32_t causes)
{
	uint32_t fire;
	unsigned int v;

	vf->eicr |= causes & EIxx_MASK;
	fire = vf->eicr & vf->eims & EIxx_MASK & ~held_mask(vf);
	for (v = 0; fire; v++, fire >>= 1) {
		if (!(fire & 1))
			continue;
		vf->eicr &= ~(vf->eiac & (1u << v));
		vf->eims &= ~(vf->eiam & (1u << v));
		ufd_pci_raise_irq(vf->pdev, v);
	}
}

/* The VTEICR bit an IVAR entry names (0: none, not valid). */
static uint32_t ivar_cause(uint32_t entry)
{
	if (!(entry & IVAR_VALID))
		return 0;
	return 1u << (entry & IVAR_VECTOR);
}

/* The VTEICR bits of @events, as VTIVAR and VTIVAR_MISC map them. */
static uint32_t event_causes(struct igbvf *vf, unsigned int events)
{
	uint32_t causes = 0;

	if (events & IGBVF_EV_MAILBOX)
		causes |= ivar_cause(vf->ivar_misc);
	if (events & IGBVF_EV_RX0)
		causes |= ivar_cause(vf->ivar);
	if (events & IGBVF_EV_TX0)
		causes |= ivar_cause(vf->ivar >> 8);
	if (events & IGBVF_EV_RX1)
		causes |= ivar_cause(vf->ivar >> 16);
	if (events & IGBVF_EV_TX1)
		causes |= ivar_cause(vf->ivar >> 24);
	return causes & EIxx_MASK;
}

/* Lock held: has the VF been reset since @epoch (the PF's count)?  The
 * VF's lock orders this against its resets, which take it. */
static bool reset_since(struct ufd_pci_dev *pdev, unsigned int epoch)
{
	return ufd_igb_vf_epoch(pdev->physfn, pdev->vf_index) != epoch;
}

void ufd_igbvf_event(struct ufd_pci_dev *pdev, unsigned int events,
		     unsigned int epoch)
{
	struct igbvf *vf;
	uint32_t causes;

	ufd_pci_lock(pdev);
	vf = pdev->priv;
	if (!reset_since(pdev, epoch)) {
		causes = event_causes(vf, events);
		if (causes)
			igbvf_interrupt(vf, causes);
	}
	ufd_pci_unlock(pdev);
}

void ufd_igbvf_cause_begin(struct ufd_pci_dev *pdev, unsigned int events,
			   unsigned int epoch, struct igbvf_cause *c)
{
	struct igbvf *vf;
	unsigned int v;

	memset(c, 0, sizeof(*c));
	ufd_pci_lock(pdev);
	vf = pdev->priv;
	if (!reset_since(pdev, epoch)) {
		c->set = event_causes(vf, events);
		c->fresh = c->set & ~vf->eicr;
		c->resets = vf->resets;
		c->vf = c->set ? pdev : NULL;
		vf->eicr |= c->set;
		for (v = 0; v < VF_MSIX_VECTORS; v++)
			if (c->set & (1u << v))
				vf->held[v]++;
	}
	ufd_pci_unlock(pdev);
}

void ufd_igbvf_cause_end(struct igbvf_cause *c, bool made)
{
	struct igbvf *vf;
	unsigned int v;

	if (!c->vf)
		return;
	ufd_pci_lock(c->vf);
	vf = c->vf->priv;
	if (vf->resets == c->resets) {
		for (v = 0; v < VF_MSIX_VECTORS; v++)
			if (c->set & (1u << v))
				vf->held[v]--;
		if (!made)
			vf->eicr &= ~c->fresh;
		igbvf_interrupt(vf, 0);
	}
	ufd_pci_unlock(c->vf);
	c->vf = NULL;
}

/* A VF reset (VTCTRL.RST, FLR): its registers, then the PF's side. */
static void igbvf_reset_all(struct igbvf *vf)
{
	igbvf_poweron(vf);
	ufd_igb_vf_reset(vf->pdev->physfn, vf->pdev->vf_index);
}

static uint32_t reg_read(struct igbvf *vf, uint64_t off, bool side_effects)
{
	struct ufd_pci_dev *pdev = vf->pdev;
	uint32_t v;

	if (ufd_igb_vf_read(pdev->physfn, pdev->vf_index, (uint32_t)off,
			    side_effects, &v))
		return v;
	if (off >= VTEITR0 && off < VTEITR0 + sizeof(vf->eitr))
		return vf->eitr[(off - VTEITR0) / 4];
	switch (off) {
	case VTCTRL:
		return 0;
	case VTEICS:
	case VTEIMS:
		return vf->eims;
	case VTEIAC:
		return vf->eiac;
	case VTEIAM:
		return vf->eiam;
	case VTEICR:
		/* Held causes are not seen yet; read-to-clear only when no
		 * cause auto-clears. */
		v = vf->eicr & ~held_mask(vf);
		if (side_effects && !vf->eiac)
			vf->eicr &= held_mask(vf);
		return v;
	case VTIVAR:
		return vf->ivar;
	case VTIVAR_MISC:
		return vf->ivar_misc;
	case PSRTYPE:
		return vf->psrtype;
	default:
		return 0; /* loopback counters: not counted; unknown: reserved */
	}
}

static void reg_write(struct igbvf *vf, uint64_t off, uint32_t v)
{
	struct ufd_pci_dev *pdev = vf->pdev;

	if (off == VTCTRL) {
		if (v & CTRL_RST)
			igbvf_reset_all(vf);
		return;
	}
	if (ufd_igb_vf_write(pdev->physfn, pdev->vf_index, (uint32_t)off, v))
		return;
	if (off >= VTEITR0 && off < VTEITR0 + sizeof(vf->eitr)) {
		vf->eitr[(off - VTEITR0) / 4] = v & 0x7ffc;
		return;
	}
	switch (off) {
	case VTEICS:
		igbvf_interrupt(vf, v);
		return;
	case VTEIMS:
		vf->eims |= v & EIxx_MASK;
		igbvf_interrupt(vf, 0);
		return;
	case VTEIMC:
		vf->eims &= ~v;
		return;
	case VTEIAC:
		vf->eiac = v & EIxx_MASK;
		return;
	case VTEIAM:
		vf->eiam = v & EIxx_MASK;
		return;
	case VTEICR:
		vf->eicr &= ~v;
		return;
	case VTIVAR:
		/* Four causes (queue 0 and 1, receive and transmit). */
		vf->ivar = v & 0x83838383u;
		return;
	case VTIVAR_MISC:
		vf->ivar_misc = v & 0x83u;
		return;
	case PSRTYPE:
		vf->psrtype = v;
		return;
	default:
		return;
	}
}

/* ---- the model's ops ------------------------------------------------------- */

static uint64_t igbvf_bar_read(struct ufd_pci_dev *pdev, unsigned int bar,
			       uint64_t off, unsigned int size)
{
	struct igbvf *vf = pdev->priv;
	uint64_t first = off & ~3ULL, at, value = 0;
	unsigned int shift = (unsigned int)(off & 3) * 8;
	unsigned __int128 acc = 0;

	if (bar != 0)
		return 0;
	for (at = first; at < off + size; at += 4)
		acc |= (unsigned __int128)reg_read(vf, at, true)
		       << ((at - first) * 8);
	value = (uint64_t)(acc >> shift);
	return size == 8 ? value : value & ((1ULL << (8 * size)) - 1);
}

static void igbvf_bar_write(struct ufd_pci_dev *pdev, unsigned int bar,
			    uint64_t off, unsigned int size, uint64_t value)
{
	struct igbvf *vf = pdev->priv;
	uint64_t at;

	if (bar != 0)
		return;
	for (at = off & ~3ULL; at < off + size; at += 4) {
		uint64_t lo = at > off ? at : off;
		uint64_t hi = at + 4 < off + size ? at + 4 : off + size;
		uint32_t mask = 0, bits = 0, cur;
		uint64_t b;

		for (b = lo; b < hi; b++) {
			mask |= 0xffu << ((b - at) * 8);
			bits |= (uint32_t)((value >> ((b - off) * 8)) & 0xff)
				<< ((b - at) * 8);
		}
		if (mask == 0xffffffffu) {
			reg_write(vf, at, bits);
			continue;
		}
		/* A partial write merges into the register's contents, as
		 * read without side effects (write-only strobes read 0). */
		cur = at == VTEIMS || at == VTEICS || at == VTEICR ?
			      0 :
			      reg_read(vf, at, false);
		reg_write(vf, at, (cur & ~mask) | bits);
	}
}

/* FLR (bus mastering is already off): the VF reset, as VTCTRL.RST. */
static void igbvf_reset(struct ufd_pci_dev *pdev)
{
	igbvf_reset_all(pdev->priv);
}

static int igbvf_create(struct ufd_pci_dev *pdev, const char *args)
{
	struct igbvf *vf;
	int rc;

	/* Only an 82576 PF's SR-IOV makes one (the PF serves its queues
	 * and mailbox), with no options. */
	if (!pdev->physfn || pdev->physfn->model != &ufd_pci_model_igb ||
	    (args && *args))
		return -EINVAL;
	vf = ufd_zalloc(sizeof(*vf));
	if (!vf)
		return -ENOMEM;
	vf->pdev = pdev;
	rc = ufd_pci_add_bar(pdev, 0, VF_BAR_SIZE,
			     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_bar(pdev, VF_MSIX_BAR, VF_BAR_SIZE,
				     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_msix_cap(pdev, 0x70, VF_MSIX_VECTORS,
					  VF_MSIX_BAR, VF_MSIX_TABLE_OFF,
					  VF_MSIX_BAR, VF_MSIX_PBA_OFF);
	if (!rc)
		rc = ufd_pci_add_pcie_cap(pdev, 0xa0, PCI_EXP_TYPE_ENDPOINT);
	if (rc) {
		free(vf);
		return rc;
	}
	igbvf_poweron(vf);
	pdev->priv = vf;
	return 0;
}

static void igbvf_destroy(struct ufd_pci_dev *pdev)
{
	free(pdev->priv);
	pdev->priv = NULL;
}

/*
 * The PF's SR-IOV capability as the 82576 has it: eight VFs, the first at
 * routing ID offset 0x180 and then every second function (VF n of a PF at
 * 00:04.0 is 01:14.0 + 2n functions), VF BAR0 and BAR3 of 16 KiB each.
 * (On the 82576 the capability sits at 0x160 behind AER and ARI, which
 * this model does not have: here it is the first extended capability.)
 */
int ufd_igb_add_sriov_cap(struct ufd_pci_dev *pf)
{
	const struct ufd_pci_sriov sriov = {
		.vf_model = &ufd_pci_model_igbvf,
		.total_vfs = 8,
		.first_vf_offset = 0x180,
		.vf_stride = 2,
		.vf_bar = { [0] = { VF_BAR_SIZE, UFD_PCI_BAR_MEM64 },
			    [VF_MSIX_BAR] = { VF_BAR_SIZE, UFD_PCI_BAR_MEM64 } },
	};

	return ufd_pci_add_sriov_cap(pf, 0x100, &sriov);
}

const struct ufd_pci_model ufd_pci_model_igbvf = {
	.name = "igbvf",
	.description = "Intel 82576 virtual function (made by the igb "
		       "model's SR-IOV, not by --device)",
	.vendor_id = 0x8086,
	.device_id = 0x10ca,
	.subsystem_vendor_id = 0x8086,
	.subsystem_id = 0x0000,
	.class_code = 0x020000,
	.revision = 0x01,
	.create = igbvf_create,
	.destroy = igbvf_destroy,
	.reset = igbvf_reset,
	.bar_read = igbvf_bar_read,
	.bar_write = igbvf_bar_write,
};
