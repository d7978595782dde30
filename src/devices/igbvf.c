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
 *  - VTCTRL (0x0000): RST resets the VF (self-clearing); afterwards the
 *    mailbox shows RSTD (reset done), as the PF's hardware sets it;
 *  - VTSTATUS (0x0008): the link as the PF's STATUS shows it (read through
 *    the PF's BAR0, so it follows the PF's PHY and forced link);
 *  - VTEICS/VTEIMS/VTEIMC/VTEIAC/VTEIAM/VTEICR, VTIVAR, VTIVAR_MISC,
 *    VTEITR: the extended interrupt causes of the VF's three MSI-X
 *    vectors (cause bit n is vector n), with the PF's semantics: EICS sets
 *    causes, an enabled (EIMS) cause sends its vector, EIAC clears and
 *    EIAM masks the cause on delivery, EICR is write-1-to-clear and read
 *    clears it when EIAC is zero;
 *  - V2PMAILBOX (0x0c40) and VMBMEM (0x0800, 16 dwords): the VF's side of
 *    the PF mailbox: the buffer, the VFU/PFU ownership bits, REQ/ACK
 *    written by the VF, PFSTS/PFACK/RSTD read-to-clear;
 *  - the queue registers of its one queue pair (RDBAL 0x2800 ... TXDCTL
 *    0x3828) and its statistics (0x0f10 ...), kept as written.
 * Limits, stated in docs/devices-igb.md: the queue pair does not move
 * frames (RXDCTL/TXDCTL.ENABLE never read back as set, so a driver sees
 * a queue that does not start rather than one that silently drops), and
 * the PF's side of the mailbox is not connected: messages a VF posts get
 * no answer.
 *
 * Registers are 32 bits wide; an access of 1, 2, 4 or 8 bytes at any
 * offset is split over the dwords it covers (a partial write merges into
 * the dword's current value); unknown offsets read 0 and ignore writes.
 * Ranges are [off, off + size - 1].
 *
 * Locking (pci.h): everything under pdev->lock.  VTSTATUS reads the PF's
 * STATUS through ufd_pci_bar_read(), which takes the PF's lock inside
 * the VF's: the order is VF lock, then PF lock, and the PF never takes a
 * VF's lock.  No thread: the VF does nothing on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "devices/pci.h"
#include "engine/engine.h" /* allocation with fault injection */

/* ---- register facts (ABI) ---------------------------------------------- */

#define VF_BAR_SIZE 0x4000
#define VF_MSIX_VECTORS 3
#define VF_MSIX_BAR 3
#define VF_MSIX_TABLE_OFF 0x0000
#define VF_MSIX_PBA_OFF 0x2000

#define VTCTRL 0x0000
#define VTSTATUS 0x0008
#define VTFRTIMER 0x1048
#define VTEICS 0x1520
#define VTEIMS 0x1524
#define VTEIMC 0x1528
#define VTEIAC 0x152c
#define VTEIAM 0x1530
#define VTEICR 0x1580
#define VTEITR0 0x1680 /* three, 4 bytes apart */
#define VTIVAR 0x1700
#define VTIVAR_MISC 0x1740
#define VMBMEM 0x0800  /* 16 dwords */
#define V2PMAILBOX 0x0c40
#define PSRTYPE 0x0c00
#define RDBAL 0x2800
#define RDBAH 0x2804
#define RDLEN 0x2808
#define SRRCTL 0x280c
#define RDH 0x2810
#define RDT 0x2818
#define RXDCTL 0x2828
#define TDBAL 0x3800
#define TDBAH 0x3804
#define TDLEN 0x3808
#define TDH 0x3810
#define TDT 0x3818
#define TXDCTL 0x3828
#define TDWBAL 0x3838
#define TDWBAH 0x383c
#define VFSTATS_FIRST 0x0f10
#define VFSTATS_LAST 0x0f3f

#define CTRL_RST (1u << 26)
#define PF_STATUS 0x0008 /* the PF's STATUS, in its BAR0 */
#define QUEUE_ENABLE (1u << 25)

#define MBX_REQ (1u << 0)
#define MBX_ACK (1u << 1)
#define MBX_VFU (1u << 2)
#define MBX_PFU (1u << 3)
#define MBX_PFSTS (1u << 4)
#define MBX_PFACK (1u << 5)
#define MBX_RSTI (1u << 6)
#define MBX_RSTD (1u << 7)
#define MBX_READ_CLEAR (MBX_PFSTS | MBX_PFACK | MBX_RSTD)

#define EIxx_MASK ((1u << VF_MSIX_VECTORS) - 1)
#define IVAR_VALID 0x80u

/* ---- state ----------------------------------------------------------------- */

struct igbvf {
	struct ufd_pci_dev *pdev;
	uint32_t eicr, eims, eiac, eiam;
	uint32_t eitr[VF_MSIX_VECTORS];
	uint32_t ivar, ivar_misc;
	uint32_t mbx;       /* V2PMAILBOX bits */
	uint32_t mbmem[16]; /* VMBMEM */
	uint32_t psrtype;
	/* The queue pair's registers, indexed by (offset - base) / 4. */
	uint32_t rxq[16], txq[16];
};

/* Power-on (and VTCTRL.RST) values. */
static void igbvf_poweron(struct igbvf *vf)
{
	vf->eicr = vf->eims = vf->eiac = vf->eiam = 0;
	memset(vf->eitr, 0, sizeof(vf->eitr));
	vf->ivar = vf->ivar_misc = 0;
	vf->psrtype = 0;
	memset(vf->mbmem, 0, sizeof(vf->mbmem));
	memset(vf->rxq, 0, sizeof(vf->rxq));
	memset(vf->txq, 0, sizeof(vf->txq));
	/* RXDCTL and TXDCTL power-on thresholds (datasheet 8.27). */
	vf->rxq[(RXDCTL - RDBAL) / 4] = 0x00040000;
	vf->txq[(TXDCTL - TDBAL) / 4] = 0x00000000;
	/* SRRCTL: a 2 KiB packet buffer, legacy descriptors. */
	vf->rxq[(SRRCTL - RDBAL) / 4] = 0x00000002;
	/* The PF has finished the VF's reset. */
	vf->mbx = MBX_RSTD;
}

/* Send the enabled causes of @causes (lock held). */
static void igbvf_interrupt(struct igbvf *vf, uint32_t causes)
{
	uint32_t fire;
	unsigned int v;

	vf->eicr |= causes & EIxx_MASK;
	fire = vf->eicr & vf->eims & EIxx_MASK;
	for (v = 0; fire; v++, fire >>= 1) {
		if (!(fire & 1))
			continue;
		vf->eicr &= ~(vf->eiac & (1u << v));
		vf->eims &= ~(vf->eiam & (1u << v));
		ufd_pci_raise_irq(vf->pdev, v);
	}
}

static uint32_t *queue_reg(struct igbvf *vf, uint64_t off)
{
	if (off >= RDBAL && off < RDBAL + sizeof(vf->rxq))
		return &vf->rxq[(off - RDBAL) / 4];
	if (off >= TDBAL && off < TDBAL + sizeof(vf->txq))
		return &vf->txq[(off - TDBAL) / 4];
	return NULL;
}

static uint32_t reg_read(struct igbvf *vf, uint64_t off)
{
	uint32_t *q, v;
	uint64_t pf_status = 0;

	if (off >= VMBMEM && off < VMBMEM + sizeof(vf->mbmem))
		return vf->mbmem[(off - VMBMEM) / 4];
	if (off >= VTEITR0 && off < VTEITR0 + sizeof(vf->eitr))
		return vf->eitr[(off - VTEITR0) / 4];
	q = queue_reg(vf, off);
	if (q) {
		v = *q;
		/* No datapath: the queue never reports itself enabled. */
		if (off == RXDCTL || off == TXDCTL)
			v &= ~QUEUE_ENABLE;
		return v;
	}
	switch (off) {
	case VTCTRL:
		return 0;
	case VTSTATUS:
		if (ufd_pci_bar_read(vf->pdev->physfn, 0, PF_STATUS, 4,
				     &pf_status))
			return 0;
		return (uint32_t)pf_status;
	case VTEICS:
	case VTEIMS:
		return vf->eims;
	case VTEIAC:
		return vf->eiac;
	case VTEIAM:
		return vf->eiam;
	case VTEICR:
		v = vf->eicr;
		/* Read-to-clear only when no cause auto-clears. */
		if (!vf->eiac)
			vf->eicr = 0;
		return v;
	case VTIVAR:
		return vf->ivar;
	case VTIVAR_MISC:
		return vf->ivar_misc;
	case V2PMAILBOX:
		v = vf->mbx;
		vf->mbx &= ~MBX_READ_CLEAR;
		return v;
	case PSRTYPE:
		return vf->psrtype;
	default:
		return 0; /* statistics: nothing moves; unknown: reserved */
	}
}

static void reg_write(struct igbvf *vf, uint64_t off, uint32_t v)
{
	uint32_t *q;

	if (off >= VMBMEM && off < VMBMEM + sizeof(vf->mbmem)) {
		vf->mbmem[(off - VMBMEM) / 4] = v;
		return;
	}
	if (off >= VTEITR0 && off < VTEITR0 + sizeof(vf->eitr)) {
		vf->eitr[(off - VTEITR0) / 4] = v & 0x7ffc;
		return;
	}
	q = queue_reg(vf, off);
	if (q) {
		*q = v;
		return;
	}
	switch (off) {
	case VTCTRL:
		if (v & CTRL_RST)
			igbvf_poweron(vf);
		return;
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
		vf->ivar = v & 0x00008383u; /* two causes: vector and valid */
		return;
	case VTIVAR_MISC:
		vf->ivar_misc = v & 0x83u;
		return;
	case V2PMAILBOX:
		/*
		 * VFU is the VF's claim on the buffer (refused while the PF
		 * holds it); REQ and ACK are strobes towards the PF, whose
		 * side is not connected (see the top of the file).
		 */
		if ((v & MBX_VFU) && !(vf->mbx & MBX_PFU))
			vf->mbx |= MBX_VFU;
		else if (!(v & MBX_VFU))
			vf->mbx &= ~MBX_VFU;
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
		acc |= (unsigned __int128)reg_read(vf, at) << ((at - first) * 8);
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
		 * read without side effects. */
		cur = 0;
		if (queue_reg(vf, at))
			cur = *queue_reg(vf, at);
		else if (at >= VMBMEM && at < VMBMEM + sizeof(vf->mbmem))
			cur = vf->mbmem[(at - VMBMEM) / 4];
		else if (at == VTEIMS || at == VTEICS)
			cur = 0;
		reg_write(vf, at, (cur & ~mask) | bits);
	}
}

static void igbvf_reset(struct ufd_pci_dev *pdev)
{
	igbvf_poweron(pdev->priv);
}

static int igbvf_create(struct ufd_pci_dev *pdev, const char *args)
{
	struct igbvf *vf;
	int rc;

	if (!pdev->physfn || (args && *args))
		return -EINVAL; /* only SR-IOV makes a VF, with no options */
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
